"""``adowner distill``: a layer-dropped student of a tiny model, trained and exported."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import adowner
from adowner.cli import main
from adowner.errors import InputError
from adowner.model.distill import keep_layers, make_student
from test_export_fixtures import cosines, generated_ads, make_checkpoint


def test_keep_layers_spreads_the_kept_layers() -> None:
    assert keep_layers(6, 3) == [0, 2, 5]
    assert keep_layers(12, 6) == [0, 2, 4, 7, 9, 11]
    assert keep_layers(6, 2) == [0, 5]
    assert keep_layers(2, 1) == [1]
    for bad in (0, 6, 7):
        with pytest.raises(InputError, match="--layers must be between 1 and 5"):
            keep_layers(6, bad)


def test_student_starts_from_the_teachers_layers(tiny_backbone: Path) -> None:
    import torch

    from adowner.model.encoder import AuthorshipEncoder

    teacher = AuthorshipEncoder(str(tiny_backbone), projection_dim=8).eval()
    student, keep = make_student(teacher, 1)
    assert keep == [1]
    assert student.backbone.config.num_hidden_layers == 1
    assert len(student.backbone.encoder.layer) == 1
    assert len(teacher.backbone.encoder.layer) == 2
    t_layer, s_layer = teacher.backbone.encoder.layer[1], student.backbone.encoder.layer[0]
    for (name, a), (_, b) in zip(
        t_layer.state_dict().items(), s_layer.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name
    assert s_layer is not t_layer  # a copy: training the student leaves the teacher alone
    assert torch.equal(student.projection.weight, teacher.projection.weight)


def test_distill_trains_and_exports_a_student(tiny_backbone: Path, tmp_path: Path, capsys) -> None:
    ckpt = make_checkpoint(tiny_backbone, tmp_path)
    data = tmp_path / "prepared"
    data.mkdir()
    generated_ads(120, seed=3).to_parquet(data / "train.parquet", index=False)
    generated_ads(60, seed=1).to_parquet(data / "val.parquet", index=False)
    out = tmp_path / "student"
    args = ["distill", str(ckpt), "--layers", "1", "--data", str(data), "--out", str(out)]
    rc = main([*args, "--steps", "30", "--batch-size", "8", "--lr", "1e-3"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "1 of 2 layers" in printed
    assert "offered" in printed

    # a normal model folder: one layer, ONNX, calibrated thresholds, a card naming the teacher
    assert json.loads((out / "config.json").read_text())["num_hidden_layers"] == 1
    cfg = json.loads((out / "adowner.json").read_text())
    info = cfg["distillation"]
    assert info["teacher_model"] == str(ckpt)
    assert info["kept_layers"] == [1]
    # it learns the teacher (training loss falls; dropout is on in training) and stays close
    # to it on held-out ads (a random tiny teacher leaves little to learn there)
    assert info["train_loss_last"] < info["train_loss_first"]
    assert info["val_after"]["cosine_mean"] > 0.99
    assert info["val_before"]["mse"] > 0
    assert isinstance(info["offered"], bool)
    assert {t["fpr"] for t in cfg["thresholds"]} >= {0.01}
    assert (out / "model.onnx").is_file()
    card = (out / "README.md").read_text()
    assert "### Distilled student" in card
    assert str(ckpt) in card
    assert ("**Offered**" in card) == info["offered"]
    report = json.loads((tmp_path / "student.distill" / "distill.json").read_text())
    assert [p["step"] for p in report["loss_curve"]] == [10, 20, 30]

    texts = generated_ads(20, seed=9)["text"].tolist()
    enc = adowner.load(out, device="cpu")
    emb = enc.embed(texts)
    assert emb.shape == (20, 16)
    exact = adowner.load(out, backend="torch", precision="fp32", device="cpu").embed(texts)
    assert cosines(adowner.load(out, backend="onnx").embed(texts), exact).min() >= 0.9999
    assert np.isfinite(emb).all()


def test_teacher_from_an_exported_folder(tiny_backbone: Path, tmp_path: Path) -> None:
    """An exported folder is a teacher too: loaded back, it embeds as the folder does."""
    from adowner.export.distill import load_teacher
    from adowner.export.export import export_checkpoint

    folder = tmp_path / "exported"
    export_checkpoint(make_checkpoint(tiny_backbone, tmp_path), folder)
    teacher = load_teacher(folder)
    texts = generated_ads(12, seed=4)["text"].tolist()
    ref = adowner.load(folder, backend="torch", precision="fp32", device="cpu").embed(texts)
    assert cosines(teacher.embed(texts, precision="fp32"), ref).min() >= 0.9999
    with pytest.raises(InputError, match="not a checkpoint or an exported model folder"):
        load_teacher(tmp_path)
