"""``adowner distill``: a shallower student of a fine-tuned model, exported as a model folder.

1. load the teacher: a training checkpoint (``.ckpt``), an exported model folder
   (``adowner.json``) or a backbone name (``minilm``, the untuned base model);
2. train the layer-dropped student on the training ads of ``DATA`` to match the teacher's
   embeddings (:func:`adowner.model.distill.distill`), measuring the loss on ``DATA/val``;
3. gate: the cosine TPR at FPR 1% of student and teacher on the validation split (thresholds
   as :mod:`adowner.export.calibrate` computes them). The student is *offered* (``adowner.json``
   ``distillation.offered``, and the card says so) only where its TPR@1% is within
   :data:`OFFER_TPR_DROP` (0.01) of the teacher's, the rule of issue 18;
4. export it like any checkpoint (:func:`adowner.export.export.export_checkpoint`:
   safetensors, sentence-transformers layout, ONNX, calibrated thresholds, model card), with the
   teacher, the kept layers and the measured loss in ``adowner.json`` (``distillation``) and in
   the card.

The student's checkpoint and backbone stay in ``work`` (default ``OUT.distill/``) with
``distill.json`` (the full report and loss curve), so the export can be re-run.

Example::

    distill_model("runs/ads/checkpoints/best.ckpt", "runs/export/ads-3l", data="runs/prepared/escort",
                  settings=dataclasses.replace(DISTILL, layers=3))
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from adowner.defaults import DISTILL, DistillDefaults
from adowner.errors import InputError
from adowner.log import get_logger

log = get_logger(__name__)

OFFER_TPR_DROP = 0.01  # issue 18: offered only where TPR@1% stays within 0.01 of the teacher


def load_teacher(model: str | os.PathLike[str]) -> Any:
    """The teacher :class:`~adowner.model.encoder.AuthorshipEncoder` of ``model``: a ``.ckpt``,
    an exported folder, or a backbone name."""
    from adowner.model.encoder import AuthorshipEncoder

    path = Path(model)
    if path.is_file():
        from adowner.model.checkpoint import load_encoder

        return load_encoder(path)
    if path.is_dir() and (path / "adowner.json").is_file():
        from safetensors.torch import load_file

        from adowner.export.folder import DENSE_DIR, ModelFolder

        folder = ModelFolder.read(path)
        cfg = folder.config
        enc = AuthorshipEncoder(
            str(path),
            projection_dim=cfg.get("projection_dim") if cfg.get("projection") else None,
            normalizer=folder.normalization,
            max_length=folder.max_length,
        )
        enc.backbone_name = folder.model_id
        if enc.projection is not None:
            state = load_file(str(path / DENSE_DIR / "model.safetensors"))
            enc.projection.weight.data.copy_(state["linear.weight"])
            enc.projection.bias.data.copy_(state["linear.bias"])
        return enc.eval()
    if path.exists():
        raise InputError(
            "not a checkpoint or an exported model folder (no adowner.json)", path=str(path)
        )
    return AuthorshipEncoder(str(model)).eval()


def _tpr_at_1pct(emb: Any, val: Any) -> float:
    from adowner.export.calibrate import calibrate

    dup = val["dup_group"].astype(str).to_numpy() if "dup_group" in val.columns else None
    result = calibrate(emb, val["owner"].astype(str).to_numpy(), dup, fprs=[0.01])
    return float(result["thresholds"][0]["tpr"])


def distill_model(
    model: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    data: str | os.PathLike[str],
    settings: DistillDefaults = DISTILL,
    onnx: bool = True,
    work: str | os.PathLike[str] | None = None,
    metrics: list[str | os.PathLike[str]] | None = None,
    dataset: str | None = None,
) -> dict[str, Any]:
    """Distil ``model`` into a ``layers``-layer student and export it to ``out``; return the
    folder's ``adowner.json``."""
    from adowner._io import write_json
    from adowner.export.export import export_checkpoint
    from adowner.io.splits import read_split
    from adowner.model.distill import distill, save_student_checkpoint

    out = Path(out)
    data = Path(data)
    work_dir = Path(work) if work else out.with_name(out.name + ".distill")
    train = read_split(data / "train.parquet", required=("text", "owner"), field="--data")
    val = read_split(data / "val.parquet", required=("text", "owner"), field="--data")
    teacher = load_teacher(model)
    student, report = distill(
        teacher,
        train["text"].fillna("").astype(str).tolist(),
        val["text"].fillna("").astype(str).tolist(),
        settings,
        progress=True,
    )
    val_texts = val["text"].fillna("").astype(str).tolist()
    # fp32 on every machine, as export calibrates
    t_tpr = _tpr_at_1pct(teacher.embed(val_texts, precision="fp32"), val)
    s_tpr = _tpr_at_1pct(student.embed(val_texts, precision="fp32"), val)
    offered = s_tpr >= t_tpr - OFFER_TPR_DROP
    report.update(
        teacher_model=str(model),
        val_tpr_at_fpr_1pct={"teacher": t_tpr, "student": s_tpr},
        offered=bool(offered),
        offer_rule=f"offered only where the student's TPR@1% on the validation split is within "
        f"{OFFER_TPR_DROP} of the teacher's",
    )
    log.info(
        "val TPR@1%%: teacher %.3f, student %.3f -> %s",
        t_tpr,
        s_tpr,
        "offered" if offered else "NOT offered (drop over 0.01)",
    )
    ckpt = save_student_checkpoint(student, work_dir)
    write_json(report, work_dir / "distill.json")
    summary = {k: v for k, v in report.items() if k != "loss_curve"}
    if not metrics and dataset is None:
        dataset = data.name
    return export_checkpoint(
        ckpt,
        out,
        data=data,
        onnx=onnx,
        metrics=metrics,
        dataset=dataset,
        extra_meta={"distillation": summary},
    )
