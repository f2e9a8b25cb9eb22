"""Shared fixtures. Real-data tests skip with a reason when ../shared/data is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("ADOWNER_SHARED_DATA", REPO.parent / "shared" / "data"))

os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real data files (``ADOWNER_SHARED_DATA``, default ``../shared/data``)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent (set ADOWNER_SHARED_DATA)")
    return SHARED_DATA


def shared_file(relpath: str) -> Path:
    """A file under the shared data folder, or skip the test with the reason."""
    path = SHARED_DATA / relpath
    if not path.is_file():
        pytest.skip(f"real data file {path} is absent (set ADOWNER_SHARED_DATA)")
    return path


@pytest.fixture(scope="session")
def tiny_backbone(tmp_path_factory) -> Path:
    """A randomly initialised 2-layer BERT (hidden 32) with the MiniLM tokenizer, saved once."""
    from adowner.backbones import build_tiny_bert

    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def review_link(tiny_backbone, tmp_path_factory) -> Path:
    """One link folder for the workbench tests: a simulated marketplace of 12 owners, linked with
    chain payments by the (untrained, calibrated) tiny BERT. Built once a session (~15 s)."""
    import pandas as pd

    from adowner.chain.ingest import ingest
    from adowner.cli import main
    from adowner.export.calibrate import calibrate
    from adowner.export.folder import update_config, write_folder
    from adowner.export.inference import load
    from adowner.model.encoder import AuthorshipEncoder
    from adowner.simulate.run import run_simulation

    root = tmp_path_factory.mktemp("review")
    market = root / "market"
    run_simulation(market, n_owners=12, seed=3, progress=False)
    model = root / "model"
    write_folder(AuthorshipEncoder(str(tiny_backbone), max_length=64), model)
    ads = pd.read_parquet(market / "ads.parquet")
    emb = load(model).embed((ads["title"] + "\n" + ads["body"]).tolist())
    update_config(
        model, thresholds=calibrate(emb, ads["true_owner"].astype(str).to_numpy())["thresholds"]
    )
    chain = market / "chain"
    ingest(
        sorted((chain / "chain").glob("*")), root / "tables", mempool_log=chain / "mempool.jsonl"
    )
    argv = ["link", "--ads", str(market / "ads.parquet"), "--model", str(model), "-k", "8"]
    argv += ["--chain", str(root / "tables"), "--rates", str(chain / "rates.csv")]
    argv += ["--site-addresses", str(chain / "site_addresses.txt"), "--out", str(root / "link")]
    assert main(argv) == 0
    return root / "link"
