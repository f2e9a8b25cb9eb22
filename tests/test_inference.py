"""Fast inference (``adowner.load``) and ``adowner embed`` on a tiny exported model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import adowner
from adowner.cli import main
from adowner.errors import AdownerError, InputError
from adowner.export.export import export_checkpoint
from test_export_fixtures import cosines, generated_ads, make_checkpoint, make_prepared


@pytest.fixture(scope="module")
def folder(tiny_backbone, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("inference")
    out = root / "tiny-model"
    export_checkpoint(
        make_checkpoint(tiny_backbone, root), out, data=make_prepared(root / "p"), onnx=True
    )
    return out


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return generated_ads(50, seed=11)["text"].tolist()


def test_embed_contract(folder: Path, texts: list[str], monkeypatch) -> None:
    from adowner import hardware

    monkeypatch.setattr(hardware, "native_bf16_cpu", lambda: False)
    enc = adowner.load(str(folder), device="cpu")
    assert enc.backend == "onnx"  # auto picks ONNX when model.onnx is there (no native bf16)
    assert enc.path.name == "onnx-fp32-cpu"
    assert "no native bf16" in enc.path.reason
    emb = enc.embed(texts)
    assert emb.shape == (50, 16)
    assert emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    assert enc.embed([]).shape == (0, 16)
    with pytest.raises(TypeError):
        enc.embed("one string")


@pytest.mark.parametrize("openvino", [True, False])
def test_auto_takes_bf16_on_a_native_bf16_cpu(
    folder: Path, texts: list[str], monkeypatch, openvino: bool
) -> None:
    """Where the CPU has native bf16, auto is OpenVINO bf16 (PyTorch under bf16 autocast where
    OpenVINO is not installed): faster than ONNX fp32 there, close to fp32; an explicit fp32
    still gets ONNX."""
    from adowner import hardware
    from adowner.export import inference

    if openvino:
        pytest.importorskip("openvino")
    monkeypatch.setattr(inference, "native_bf16_cpu", lambda: True)
    monkeypatch.setattr(hardware, "native_bf16_cpu", lambda: True)
    monkeypatch.setattr(hardware, "openvino_available", lambda: openvino)
    enc = adowner.load(str(folder))
    assert (enc.backend, enc.precision) == ("openvino" if openvino else "torch", "bf16")
    exact = adowner.load(str(folder), precision="fp32")
    assert (exact.backend, exact.precision) == ("onnx", "fp32")
    assert cosines(enc.embed(texts), exact.embed(texts)).min() >= 0.99
    monkeypatch.setattr(inference, "native_bf16_cpu", lambda: False)
    monkeypatch.setattr(hardware, "native_bf16_cpu", lambda: False)
    assert adowner.load(str(folder)).backend == "onnx"


def test_fastest_exact_path_follows_the_machine(monkeypatch) -> None:
    """auto decides from the machine: CUDA -> torch fp16; native bf16 CPU -> torch bf16;
    AVX2-only CPU -> ONNX fp32 (PyTorch fp32 without model.onnx); explicit choices are kept."""
    import torch

    from adowner import hardware

    path = hardware.fastest_exact_path
    monkeypatch.setattr(hardware, "native_bf16_cpu", lambda: True)
    monkeypatch.setattr(hardware, "cpu_flags", lambda: {"avx2", "avx512f", "avx512_bf16"})
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(hardware, "openvino_available", lambda: True)
    bf16 = path(has_onnx=True)
    assert bf16.name == "openvino-bf16-cpu"
    assert "avx512_bf16" in bf16.reason
    assert path(has_onnx=False).name == "torch-bf16-cpu"  # OpenVINO compiles model.onnx
    assert path(backend="openvino", has_onnx=True).name == "openvino-bf16-cpu"
    assert path(backend="openvino", precision="fp32", has_onnx=True).name == "openvino-fp32-cpu"
    monkeypatch.setattr(hardware, "openvino_available", lambda: False)
    assert path(has_onnx=True).name == "torch-bf16-cpu"  # a trimmed install without OpenVINO
    assert path(precision="fp32", has_onnx=True).name == "onnx-fp32-cpu"
    assert path(backend="onnx", has_onnx=True).name == "onnx-fp32-cpu"
    assert path(backend="torch", precision="fp32", has_onnx=True).name == "torch-fp32-cpu"
    monkeypatch.setattr(hardware, "native_bf16_cpu", lambda: False)
    monkeypatch.setattr(hardware, "cpu_flags", lambda: {"avx2"})
    monkeypatch.setattr(hardware, "openvino_available", lambda: True)
    assert path(has_onnx=True).name == "onnx-fp32-cpu"
    assert path(backend="openvino", has_onnx=True).name == "openvino-fp32-cpu"
    with pytest.raises(AdownerError, match="OpenVINO bf16 needs a CPU with native bf16"):
        path(backend="openvino", precision="bf16", has_onnx=True)
    with pytest.raises(AdownerError, match=r"compiles model\.onnx"):
        path(backend="openvino", has_onnx=False)
    no_onnx = path(has_onnx=False)
    assert no_onnx.name == "torch-fp32-cpu"
    assert "no model.onnx" in no_onnx.reason
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert path(has_onnx=True).name == "torch-fp16-cuda"
    assert path(device="cpu", has_onnx=True).name == "onnx-fp32-cpu"
    assert path(backend="onnx", has_onnx=True).device == "cpu"  # ONNX Runtime here is CPU-only
    with pytest.raises(AdownerError, match="ONNX backend runs fp32"):
        path(backend="onnx", precision="bf16", has_onnx=True)
    with pytest.raises(AdownerError, match="unknown device"):
        path(device="tpu", has_onnx=True)


def runnable_paths() -> list[tuple[str, str, str]]:
    """(backend, precision, device) of every path this machine can run, fp32 reference aside."""
    import torch

    from adowner.hardware import native_bf16_cpu, openvino_available

    paths = [("onnx", "fp32", "cpu")]
    if openvino_available():
        paths.append(("openvino", "fp32", "cpu"))
    if native_bf16_cpu():
        paths.append(("torch", "bf16", "cpu"))
        if openvino_available():
            paths.append(("openvino", "bf16", "cpu"))
    if torch.cuda.is_available():
        paths += [("torch", "fp32", "cuda"), ("torch", "fp16", "cuda")]
        if torch.cuda.is_bf16_supported():
            paths.append(("torch", "bf16", "cuda"))
    return paths


@pytest.mark.parametrize(("backend", "precision", "device"), runnable_paths())
def test_every_path_this_machine_runs_is_exact(
    folder: Path, texts: list[str], backend: str, precision: str, device: str
) -> None:
    """Exact: min cosine >= 0.999 against PyTorch fp32 on the CPU, for each path auto may take."""
    ref = adowner.load(folder, backend="torch", precision="fp32", device="cpu").embed(texts)
    enc = adowner.load(folder, backend=backend, precision=precision, device=device)
    assert enc.path.name == f"{backend}-{precision}-{device}"
    assert cosines(enc.embed(texts), ref).min() >= 0.999


@pytest.mark.parametrize("backend", ["torch", "onnx", "openvino"])
def test_batching_does_not_change_embeddings(folder: Path, texts: list[str], backend: str) -> None:
    """Length-sorted, token-budget batches give each ad the embedding it gets alone."""
    enc = adowner.load(folder, backend=backend, token_budget=300)
    together = enc.embed(texts)
    alone = np.stack([enc.embed([t])[0] for t in texts[:12]])
    assert cosines(together[:12], alone).min() >= 0.9999


@pytest.mark.parametrize("backend", ["torch", "onnx", "openvino"])
def test_padded_widths_keep_embeddings_and_bound_the_shapes(
    folder: Path, texts: list[str], backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``pad_multiple`` (the service's default 16) rounds every batch's width up to a multiple,
    never past ``max_length``, and gives each ad the embedding it gets unpadded."""
    plain = adowner.load(folder, backend=backend, precision="fp32")
    padded = adowner.load(folder, backend=backend, precision="fp32", pad_multiple=16)
    widths: list[int] = []
    net = padded._net

    def spy(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        widths.append(ids.shape[1])
        return net(ids, mask)

    monkeypatch.setattr(padded, "_net", spy)
    assert cosines(padded.embed(texts), plain.embed(texts)).min() >= 0.9999
    assert widths
    assert all(w % 16 == 0 or w == padded.max_length for w in widths)
    assert max(widths) <= padded.max_length


@pytest.mark.parametrize("backend", ["onnx", "torch"])
def test_parallel_streams_give_each_ad_its_own_embedding(
    folder: Path, texts: list[str], backend: str
) -> None:
    """Batches run on several ONNX Runtime or PyTorch streams at once land in the right rows."""
    mixed = texts + texts[:7]  # repeats: embedded once, copied to each row
    opts = {"backend": backend, "precision": "fp32", "token_budget": 200, "max_batch": 4}
    one = adowner.load(folder, threads=1, **opts)
    two = adowner.load(folder, threads=2, **opts)
    assert (one.workers, two.workers) == (1, 2)
    sequential, parallel = one.embed(mixed), two.embed(mixed)
    assert cosines(parallel, sequential).min() >= 0.9999
    np.testing.assert_array_equal(parallel[len(texts) :], parallel[:7])
    alone = np.stack([one.embed([t])[0] for t in texts])  # every row is its own ad's
    assert cosines(parallel[: len(texts)], alone).min() >= 0.9999
    assert adowner.load(folder, backend=backend, threads=1, workers=4).workers == 1
    # PyTorch on the CPU: one single-threaded stream per core by default (issue 18)
    assert adowner.load(folder, backend=backend, threads=2, workers=1).workers == 1


def test_matches_training_encoder(folder: Path, texts: list[str]) -> None:
    """The fast path equals AuthorshipEncoder.embed of the checkpoint (normalisation included)."""
    from adowner.model.checkpoint import load_encoder

    cfg = json.loads((folder / "adowner.json").read_text())
    ref = load_encoder(cfg["source_checkpoint"]).embed(texts)
    for backend in ("torch", "onnx"):
        assert cosines(adowner.load(folder, backend=backend).embed(texts), ref).min() >= 0.9999


def test_normalisation_is_applied(folder: Path) -> None:
    enc = adowner.load(folder, backend="torch")
    raw = ["HOT NEW GIRL in town!!!!!! 💋💋💋💋💋"]
    assert enc.normalize(raw) != raw
    np.testing.assert_allclose(
        enc.embed(raw), enc.embed(enc.normalize(raw), normalized=True), atol=1e-6
    )
    assert cosines(enc.embed(raw), enc.embed(raw, normalized=True)).min() < 0.9999


def test_same_owner_uses_threshold(folder: Path, texts: list[str]) -> None:
    enc = adowner.load(folder)
    score, decision = enc.same_owner(texts[0], texts[1])
    emb = enc.embed(texts[:2])
    assert score == pytest.approx(float(emb[0] @ emb[1]), abs=1e-6)
    assert decision == (score >= enc.threshold(0.01))
    assert enc.same_owner(texts[0], texts[0])[1] is True  # identical ads: cosine 1
    s_strict, d_strict = enc.same_owner(texts[0], texts[1], fpr=0.001)
    assert d_strict == (s_strict >= enc.threshold(0.001))
    with pytest.raises(AdownerError, match=r"no threshold calibrated for FPR 0\.05"):
        enc.same_owner("a", "b", fpr=0.05)


def test_load_errors(tmp_path: Path, folder: Path) -> None:
    with pytest.raises(InputError, match="not an adowner model folder"):
        adowner.load(tmp_path)
    (tmp_path / "adowner.json").write_text("{not json")
    with pytest.raises(InputError, match="invalid JSON"):
        adowner.load(tmp_path)
    with pytest.raises(AdownerError, match="unknown backend"):
        adowner.load(folder, backend="tpu")


def test_precision_resolution(monkeypatch) -> None:
    """auto: fp16 on CUDA, bf16 only where the CPU has native bf16, else fp32."""
    from adowner import hardware
    from adowner.export import inference

    monkeypatch.setattr(hardware, "native_bf16_cpu", lambda: False)
    assert inference.resolve_precision("auto", "cpu") == "fp32"
    monkeypatch.setattr(hardware, "native_bf16_cpu", lambda: True)
    assert inference.resolve_precision("auto", "cpu") == "bf16"
    assert inference.resolve_precision("auto", "cuda:0") == "fp16"
    assert inference.resolve_precision("fp32", "cuda") == "fp32"
    with pytest.raises(AdownerError, match="fp16 runs on CUDA only"):
        inference.resolve_precision("fp16", "cpu")
    with pytest.raises(AdownerError, match="unknown precision"):
        inference.resolve_precision("int4", "cpu")


def test_bf16_autocast_stays_close_to_fp32(folder: Path, texts: list[str]) -> None:
    """bf16 runs the network under autocast (emulated on CPUs without it): still the same
    embeddings to within bf16's 8-bit mantissa, and the output is fp32 and unit-norm."""
    fp32 = adowner.load(folder, backend="torch", precision="fp32")
    bf16 = adowner.load(folder, backend="torch", precision="bf16")
    assert (fp32.precision, bf16.precision) == ("fp32", "bf16")
    a, b = fp32.embed(texts), bf16.embed(texts)
    assert b.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-5)
    assert cosines(a, b).min() >= 0.99
    assert not np.array_equal(a, b)  # it really ran in reduced precision
    assert "precision='bf16'" in repr(bf16)


def test_device_and_precision_errors(folder: Path) -> None:
    import torch

    with pytest.raises(AdownerError, match="ONNX backend runs fp32"):
        adowner.load(folder, backend="onnx", precision="bf16")
    with pytest.raises(AdownerError, match="unknown device"):
        adowner.load(folder, device="tpu")
    # the auto backend on a GPU is PyTorch; ONNX Runtime here is the CPU build
    if not torch.cuda.is_available():
        with pytest.raises(AdownerError, match="no CUDA device"):
            adowner.load(folder, device="cuda")


def test_embed_cli_parquet(folder: Path, tmp_path: Path, capsys) -> None:
    df = generated_ads(30, seed=4)
    df.loc[3, "text"] = None  # unusable row: quarantined, not lost
    df.to_parquet(tmp_path / "ads.parquet", index=False)
    out = tmp_path / "emb.npy"
    assert (
        main(
            [
                "embed",
                "--model",
                str(folder),
                "--data",
                str(tmp_path / "ads.parquet"),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    emb = np.load(out)
    ids = (tmp_path / "emb.ids.txt").read_text().split()
    assert emb.shape == (29, 16)
    assert len(ids) == 29
    assert "ad3" not in ids
    quarantine = [
        json.loads(line) for line in (tmp_path / "emb.quarantine.jsonl").read_text().splitlines()
    ]
    assert quarantine[0]["row"] == 4
    assert quarantine[0]["field"] == "text"
    keep = df.drop(index=3)
    ref = adowner.load(folder).embed(keep["text"].tolist())
    assert cosines(emb, ref).min() >= 0.9999
    printed = capsys.readouterr().out
    assert "29 ads x 16" in printed
    from adowner.hardware import fastest_exact_path

    taken = fastest_exact_path(has_onnx=True)  # the CLI names the path auto took, and why
    assert f"path {taken.name}: {taken.reason}" in printed


def test_embed_cli_csv_masks_and_quarantines(folder: Path, tmp_path: Path) -> None:
    pd.DataFrame(
        {
            "ad_id": ["a1", "a2", "a3"],
            "title": ["Sweet girl", "", "Party tonight"],
            "body": ["call 202-555-0143 now", "", "text me at 312 555 0187"],
        }
    ).to_csv(tmp_path / "ads.csv", index=False)
    out = tmp_path / "e.npy"
    assert (
        main(
            [
                "embed",
                "--model",
                str(folder),
                "--data",
                str(tmp_path / "ads.csv"),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert np.load(out).shape == (2, 16)
    assert (tmp_path / "e.ids.txt").read_text().split() == ["a1", "a3"]
    assert (tmp_path / "e.quarantine.jsonl").is_file()


def test_embed_cli_missing_file(folder: Path, tmp_path: Path, capsys) -> None:
    rc = main(
        [
            "embed",
            "--model",
            str(folder),
            "--data",
            str(tmp_path / "no.csv"),
            "--out",
            str(tmp_path / "e.npy"),
        ]
    )
    assert rc == 2
    assert "ads file not found" in capsys.readouterr().err


def test_openvino_backend_never_starts_openvino_telemetry(
    folder: Path, texts: list[str], monkeypatch
) -> None:
    """Data is sensitive: the OpenVINO path loads and embeds without ever building OpenVINO's
    telemetry sender (which lives in its conversion tools, not in the runtime adowner uses)."""
    pytest.importorskip("openvino")
    telemetry = pytest.importorskip("openvino_telemetry")

    def refuse(*args, **kwargs):
        raise AssertionError("OpenVINO telemetry was started")

    monkeypatch.setattr(telemetry.Telemetry, "__init__", refuse)
    monkeypatch.setattr(telemetry.Telemetry, "__new__", refuse)
    enc = adowner.load(folder, backend="openvino", precision="fp32")
    assert enc.path.name == "openvino-fp32-cpu"
    assert enc.embed(texts[:4]).shape == (4, enc.dimension)
