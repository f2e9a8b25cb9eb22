"""The opt-in int8 path: ``adowner export --onnx --int8`` and ``load(DIR, precision="int8")``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import adowner
from adowner.cli import main
from adowner.errors import AdownerError, InputError
from adowner.export.export import export_checkpoint
from test_export_fixtures import cosines, generated_ads, make_checkpoint, make_prepared

#: Bound on the cosine between int8 and fp32 embeddings of the tiny random model. Dynamic int8
#: rounds each weight to 1/127 of its column's largest magnitude and each activation matrix to
#: 1/255 of its range: a relative error of ~0.5-1% per MatMul, which a cosine turns into a loss
#: of about half its square, ~1e-4 per layer. 0.99 leaves two orders of magnitude for the two
#: layers and random weights (measured here: min ~0.999); a graph that was not the same network
#: (wrong weights, a missing layer) gives cosines near 0 on random weights.
INT8_MIN_COSINE = 0.99


@pytest.fixture(scope="module")
def ckpt(tiny_backbone, tmp_path_factory) -> Path:
    return make_checkpoint(tiny_backbone, tmp_path_factory.mktemp("int8-ckpt"))


@pytest.fixture(scope="module")
def folder(ckpt: Path, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("int8")
    out = root / "tiny-int8"
    argv = ["export", str(ckpt), "--out", str(out), "--data", str(make_prepared(root / "p"))]
    assert main([*argv, "--onnx", "--int8"]) == 0
    return out


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return generated_ads(40, seed=5)["text"].tolist()


def test_export_writes_and_records_the_int8_model(folder: Path) -> None:
    config = json.loads((folder / "adowner.json").read_text())
    onnx = config["onnx"]
    assert onnx["int8_file"] == "model_qint8.onnx"
    assert (folder / "model_qint8.onnx").is_file()
    assert INT8_MIN_COSINE <= onnx["int8_min_cosine"] < 1.0  # measured at export, lossy
    assert onnx["min_cosine"] >= 0.9999  # the fp32 graphs still held to their own bound
    import onnx as onnx_lib

    graph = onnx_lib.load(str(folder / "model_qint8.onnx")).graph
    ops = {node.op_type for node in graph.node}
    assert "DynamicQuantizeLinear" in ops or "MatMulInteger" in ops  # really quantised
    gate = onnx["int8_gate"]  # measured on the prepared folder's val split, per model
    assert gate["data"] == "val"
    assert gate["ads"] > 0
    drops = [gate["fp32"][k] - gate["int8"][k] for k in ("tpr@fpr=0.01", "r_precision")]
    assert gate["offered"] == all(d <= 0.005 for d in drops)
    card = (folder / "README.md").read_text()
    assert "`model_qint8.onnx` (ONNX dynamic int8" in card
    verdict = "offered:" if gate["offered"] else "**not offered**:"
    assert f"{verdict} on the {gate['ads']} validation ads TPR@1%" in card


@pytest.mark.parametrize("offered", [True, False, None])
def test_loading_int8_warns_unless_this_model_passed_the_gate(
    folder: Path, tmp_path: Path, caplog, offered: bool | None
) -> None:
    copy = tmp_path / "m"
    shutil.copytree(folder, copy)
    config = json.loads((copy / "adowner.json").read_text())
    if offered is None:
        config["onnx"].pop("int8_gate")  # exported without --data: never measured
    else:
        config["onnx"]["int8_gate"]["offered"] = offered
    (copy / "adowner.json").write_text(json.dumps(config))
    with caplog.at_level("WARNING", logger="adowner"):
        adowner.load(copy, precision="int8")
    warned = [r.getMessage() for r in caplog.records if "int8 is" in r.getMessage()]
    if offered:
        assert warned == []
    else:
        expected = "not offered" if offered is False else "not measured on labelled ads"
        assert len(warned) == 1
        assert expected in warned[0]


def test_int8_loads_and_stays_close_to_fp32(folder: Path, texts: list[str]) -> None:
    fp32 = adowner.load(folder, backend="onnx", precision="fp32")
    int8 = adowner.load(folder, precision="int8")
    assert int8.path.name == "onnx-int8-cpu"
    assert (int8.backend, int8.precision, int8.net_file) == ("onnx", "int8", "model_qint8.onnx")
    a, b = fp32.embed(texts), int8.embed(texts)
    assert b.shape == a.shape
    assert b.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-5)
    assert cosines(a, b).min() >= INT8_MIN_COSINE
    assert not np.allclose(a, b, atol=1e-6)  # it ran the int8 graph, not the fp32 one


def test_auto_never_picks_int8(folder: Path, monkeypatch) -> None:
    from adowner import hardware

    for bf16 in (False, True):
        monkeypatch.setattr(hardware, "native_bf16_cpu", lambda bf16=bf16: bf16)
        enc = adowner.load(folder, device="cpu")
        assert enc.precision != "int8"
        assert enc.net_file != "model_qint8.onnx"


def test_a_folder_without_int8_names_the_file(folder: Path, tmp_path: Path) -> None:
    bare = tmp_path / "bare"
    shutil.copytree(folder, bare)
    (bare / "model_qint8.onnx").unlink()
    with pytest.raises(InputError, match=r"model_qint8\.onnx") as err:
        adowner.load(bare, precision="int8")
    assert str(bare / "model_qint8.onnx") in str(err.value)
    assert "--int8" in str(err.value)
    adowner.load(bare, backend="onnx")  # the fp32 path of the same folder still loads


def test_int8_needs_onnx_and_the_cpu(ckpt: Path, folder: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="--onnx"):
        export_checkpoint(ckpt, tmp_path / "x", int8=True)
    assert not (tmp_path / "x").exists()
    with pytest.raises(AdownerError, match="int8"):
        adowner.load(folder, backend="torch", precision="int8")
    with pytest.raises(AdownerError, match="int8"):
        adowner.load(folder, device="cuda", precision="int8")


def test_embed_cli_and_evaluate_spec_take_int8(
    folder: Path, texts: list[str], tmp_path: Path, capsys
) -> None:
    generated_ads(12, seed=2).to_parquet(tmp_path / "ads.parquet", index=False)
    out = tmp_path / "emb.npy"
    argv = ["embed", "--model", str(folder), "--data", str(tmp_path / "ads.parquet")]
    assert main([*argv, "--out", str(out), "--precision", "int8"]) == 0
    assert "path onnx-int8-cpu" in capsys.readouterr().out
    ref = adowner.load(folder, precision="int8").embed(generated_ads(12, seed=2)["text"].tolist())
    np.testing.assert_allclose(np.load(out), ref, atol=1e-6)

    from adowner.evaluation.resolve import check_model_spec, resolve_model

    scorer = resolve_model(f"int8:{folder}")
    assert scorer.name == f"int8:{folder}"
    with pytest.raises(InputError, match="int8:DIR needs an exported model folder"):
        check_model_spec(f"int8:{tmp_path}")
