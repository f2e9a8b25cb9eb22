"""Every inference path this machine can run is exact (min cosine >= 0.999 against PyTorch
fp32) on real escort ads, with the real MiniLM backbone. Skipped without ../shared/data."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import adowner
from conftest import shared_file
from test_export_fixtures import cosines
from test_inference import runnable_paths

ESCORT = "escort_ads/backpage_ca_dev.parquet"
pytestmark = [pytest.mark.slow, pytest.mark.real_data]


@pytest.fixture(scope="module")
def minilm_folder(tmp_path_factory) -> Path:
    """The packaged all-MiniLM-L6-v2 exported as a model folder with plain and fused ONNX."""
    from adowner.export.folder import update_config, write_folder
    from adowner.export.onnx_export import export_onnx, fuse_for_ort
    from adowner.model.encoder import AuthorshipEncoder

    out = tmp_path_factory.mktemp("minilm") / "all-MiniLM-L6-v2"
    enc = AuthorshipEncoder("minilm").eval()
    write_folder(enc, out, meta={"model_id": "all-MiniLM-L6-v2"})
    export_onnx(enc, out / "model.onnx")
    fused = fuse_for_ort(enc, out / "model.onnx", out / "model_ort.onnx")
    onnx = {"file": "model.onnx", **({"fused_file": fused.name} if fused else {})}
    update_config(out, onnx=onnx)
    return out


@pytest.mark.parametrize(("backend", "precision", "device"), runnable_paths())
def test_every_path_is_exact_on_escort_ads(
    minilm_folder: Path, backend: str, precision: str, device: str
) -> None:
    df = pd.read_parquet(shared_file(ESCORT))
    # 96 ads, the longest included (cut at 256 word pieces), where bf16 error is largest
    texts = df["text"].astype(str)
    order = texts.str.len().sort_values().index
    pick = list(order[:: max(1, len(order) // 80)]) + list(order[-16:])
    sample = texts.loc[pick].tolist()
    ref = adowner.load(minilm_folder, backend="torch", precision="fp32", device="cpu")
    enc = adowner.load(minilm_folder, backend=backend, precision=precision, device=device)
    assert enc.path.name == f"{backend}-{precision}-{device}"
    assert cosines(enc.embed(sample), ref.embed(sample)).min() >= 0.999
