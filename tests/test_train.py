"""Whole fits of the tiny experiment: outputs, seeds, resume after SIGKILL, DDP, checkpoints."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from adowner.errors import InputError
from adowner.model.checkpoint import load_encoder
from adowner.model.config import load_config
from adowner.model.train import train

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "configs" / "experiment" / "tiny.yaml"
FAST = ["trainer.max_epochs=2", "data.batches_per_epoch=4", "callbacks.last_every_n_steps=2"]
METRICS = ("val/r_precision", "val/tpr@fpr=0.01", "test/r_precision", "test/roc_auc")
WORDS = [
    "sweet",
    "new",
    "girl",
    "in",
    "town",
    "call",
    "now",
    "available",
    "tonight",
    "real",
    "pics",
    "no",
    "games",
    "discreet",
    "upscale",
    "fun",
]


def _owner_ads(rng, o: int, n: int) -> list[dict]:
    """Ads of one fictional owner: a signature phrase, an emoji habit, caps or not."""
    sig = " ".join(rng.choice(WORDS, 3))
    emo = ["😘", "🔥", "💋", ""][o % 4]
    rows = []
    for k in range(n):
        body = " ".join(rng.choice(WORDS, 8))
        head = sig.upper() if o % 2 == 0 else sig
        text = f"{head} {emo}\n{body} {'!!!' if o % 3 == 0 else '.'} 202-555-01{o % 100:02d}"
        rows.append(
            {"ad_id": f"o{o}-{k}", "text": text, "owner": f"owner{o}", "dup_group": f"o{o}-{k}"}
        )
    return rows


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    """A prepared folder in the contract's layout: owner-disjoint train/val/test Parquet."""
    out = tmp_path_factory.mktemp("prepared")
    rng = np.random.default_rng(0)
    for split, owners in (("train", range(16)), ("val", range(16, 24)), ("test", range(24, 32))):
        rows = [r for o in owners for r in _owner_ads(rng, o, 3 + o % 3)]
        pd.DataFrame(rows).to_parquet(out / f"{split}.parquet", index=False)
    return out


def _cfg(prepared: Path, run_dir: Path, *overrides: str) -> dict:
    cfg = load_config(TINY, [*FAST, *overrides])
    cfg.update(data_dir=str(prepared), run_dir=str(run_dir))
    return cfg


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "adowner", "train", *args]


def _env() -> dict[str, str]:
    return {**os.environ, "WANDB_MODE": "disabled", "HF_HUB_OFFLINE": "1"}


def _weights(ckpt: Path) -> dict[str, torch.Tensor]:
    return torch.load(ckpt, map_location="cpu", weights_only=True)["state_dict"]


@pytest.fixture(scope="module")
def reference_run(prepared, tmp_path_factory) -> tuple[dict, Path]:
    run = tmp_path_factory.mktemp("runs") / "ref"
    metrics, _ = train(_cfg(prepared, run))
    return metrics, run


@pytest.mark.slow
def test_fit_writes_checkpoints_config_and_metrics(reference_run) -> None:
    metrics, run = reference_run
    assert (run / "checkpoints" / "best.ckpt").is_file()
    assert (run / "checkpoints" / "last.ckpt").is_file()
    assert (run / "csv" / "metrics.csv").is_file()
    assert "max_epochs: 2" in (run / "config.yaml").read_text()
    saved = json.loads((run / "metrics.json").read_text())
    for key in METRICS:
        assert 0.0 <= saved[key] <= 1.0
    assert saved["global_step"] == 8
    assert saved["ads_per_s"] > 0
    assert list((run / "cache").glob("tokens-train-*.arrow"))
    # The tiny model learns the owners' habits: far above chance retrieval on held-out owners.
    assert metrics["test/roc_auc"] > 0.7


@pytest.mark.slow
def test_same_seed_reproduces_metrics(prepared, reference_run, tmp_path) -> None:
    ref, _ = reference_run
    again, _ = train(_cfg(prepared, tmp_path / "again"))
    for key in METRICS:
        assert again[key] == pytest.approx(ref[key], abs=1e-6)
    other, _ = train(_cfg(prepared, tmp_path / "other", "seed=7"))
    assert any(other[k] != pytest.approx(ref[k], abs=1e-6) for k in METRICS)


@pytest.mark.slow
def test_resume_after_sigkill_ends_like_an_uninterrupted_run(
    prepared, reference_run, tmp_path
) -> None:
    ref, ref_run = reference_run
    run = tmp_path / "killed"
    cmd = _cli("--config", str(TINY), "--data", str(prepared), "--out", str(run), *FAST)
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last = run / "checkpoints" / "last.ckpt"
    deadline = time.time() + 900  # generous: CI machines may be shared
    while not last.is_file() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert last.is_file(), "no checkpoint appeared before the kill"
    step = torch.load(last, map_location="cpu", weights_only=True)["global_step"]
    assert step < 8, "the run finished before it could be killed"
    assert not (run / "metrics.json").exists()

    done = subprocess.run([*cmd, "--resume"], env=_env(), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    resumed = json.loads((run / "metrics.json").read_text())
    assert resumed["resumed"] is True
    assert list((run / "csv").glob("metrics.session-*.csv"))  # the killed session's log is kept
    for key in METRICS:
        assert resumed[key] == pytest.approx(ref[key], abs=1e-5)
    a, b = _weights(ref_run / "checkpoints" / "last.ckpt"), _weights(last)
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=1e-5, rtol=1e-4)


@pytest.mark.slow
def test_ddp_two_cpu_processes_give_a_valid_checkpoint(prepared, tmp_path) -> None:
    run = tmp_path / "ddp"
    cmd = _cli(
        "--config", str(TINY), "--data", str(prepared), "--out", str(run),
        "trainer.devices=2", "trainer.strategy=ddp", "trainer.accelerator=cpu",
        "trainer.max_epochs=1", "data.batches_per_epoch=4",
    )  # fmt: skip
    done = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    ckpt = torch.load(run / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=True)
    assert ckpt["global_step"] == 2  # 4 batches shared by 2 ranks
    enc = load_encoder(run / "checkpoints" / "best.ckpt")
    vecs = enc.embed(["HOT new girl", "call now"])
    assert np.isfinite(vecs).all()
    assert json.loads((run / "metrics.json").read_text())["test/r_precision"] >= 0


@pytest.mark.slow
def test_load_encoder_matches_the_trained_module(reference_run, prepared) -> None:
    _, run = reference_run
    enc = load_encoder(run / "checkpoints" / "best.ckpt")
    assert not enc.training
    texts = pd.read_parquet(prepared / "test.parquet")["text"].tolist()[:6]
    vecs = enc.embed(texts)
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    assert enc.embedding_dim == 16
    assert enc.normalizer.config.enabled


def test_load_encoder_rejects_other_files(tmp_path) -> None:
    bad = tmp_path / "x.ckpt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match=r"x\.ckpt"):
        load_encoder(bad)
    torch.save({"state_dict": {}}, tmp_path / "y.ckpt")
    with pytest.raises(InputError, match="no encoder settings"):
        load_encoder(tmp_path / "y.ckpt")
    with pytest.raises(InputError, match="not found"):
        load_encoder(tmp_path / "missing.ckpt")


def test_cli_reports_missing_split_in_one_line(tmp_path) -> None:
    from adowner.cli import main

    (tmp_path / "prep").mkdir()
    rc = main(
        [
            "train",
            "--config",
            str(TINY),
            "--data",
            str(tmp_path / "prep"),
            "--out",
            str(tmp_path / "r"),
        ]
    )
    assert rc == 2


def test_missing_column_names_file_and_field(tmp_path, tiny_backbone) -> None:
    from adowner.model.datamodule import AdDataModule
    from adowner.model.encoder import AuthorshipEncoder

    for split in ("train", "val", "test"):
        pd.DataFrame({"text": ["a"], "owner": ["o"]}).to_parquet(tmp_path / f"{split}.parquet")
    enc = AuthorshipEncoder(str(tiny_backbone))
    dm = AdDataModule(tmp_path, enc.tokenizer, enc.normalizer, cache_dir=tmp_path / "c")
    with pytest.raises(InputError, match=r"train\.parquet.*field 'dup_group'"):
        dm.setup()
