"""A shallower student of a fine-tuned authorship encoder, trained to match its embeddings.

The student is the teacher with transformer layers dropped: it keeps ``layers`` of the
teacher's ``L`` layers, evenly spaced with the first and the last kept (every other layer for
``L/2``), each one initialised from the teacher's layer, with the teacher's embeddings, pooling,
projection, normaliser and tokenizer. This is the initialisation of DistilBERT (Sanh et al.,
2019, "DistilBERT, a distilled version of BERT") and of sentence-transformers' layer-reduction
distillation example (``examples/sentence_transformer/training/distillation/
model_distillation_layer_reduction.py``).

It is then trained to give the teacher's embedding for each training ad: mean squared error
between the two L2-normalised vectors (sentence-transformers' ``MSELoss``, Reimers & Gurevych,
EMNLP 2020, "Making monolingual sentence embeddings multilingual using knowledge
distillation"), AdamW with linear warm-up and decay (``transformers.
get_linear_schedule_with_warmup``), bf16 autocast on CPUs with native bf16, dropout off (the
target is deterministic). No owner labels are used: the teacher's embedding is the whole
target.

==================  ===================================================================
input               meaning
==================  ===================================================================
``teacher``         the fine-tuned :class:`AuthorshipEncoder`
``train_texts``     the training ads (raw text: the teacher's normaliser is applied once)
``val_texts``       held-out ads on which the loss is measured before and after training
``layers``          how many transformer layers the student keeps
``steps``           optimiser steps, ``batch_size`` ads each (distinct texts, reshuffled)
``max_length``      word pieces per ad in training, for student and teacher targets alike
==================  ===================================================================

Example::

    student, report = distill(teacher, train["text"], val["text"], replace(DISTILL, layers=3, steps=300))
    save_student_checkpoint(student, Path("runs/distill-work"))  # for ``adowner export``
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from adowner.defaults import DISTILL, DistillDefaults
from adowner.errors import InputError
from adowner.log import get_logger
from adowner.model.encoder import AuthorshipEncoder

log = get_logger(__name__)


def keep_layers(teacher_layers: int, layers: int) -> list[int]:
    """Indices of the ``layers`` teacher layers the student keeps: evenly spaced, first and last
    kept (6 -> 3: ``[0, 2, 5]``; 12 -> 6: ``[0, 2, 4, 7, 9, 11]``)."""
    if not 1 <= layers < teacher_layers:
        raise InputError(
            f"--layers must be between 1 and {teacher_layers - 1} (the teacher has "
            f"{teacher_layers} layers); got {layers}",
            field="--layers",
        )
    if layers == 1:
        return [teacher_layers - 1]
    return sorted({round(i * (teacher_layers - 1) / (layers - 1)) for i in range(layers)})


def _layer_list(encoder: AuthorshipEncoder) -> nn.ModuleList:
    layer = getattr(getattr(encoder.backbone, "encoder", None), "layer", None)
    if not isinstance(layer, nn.ModuleList):
        raise InputError(
            f"cannot drop layers of a {type(encoder.backbone).__name__} backbone "
            "(distill needs a BERT-like backbone with encoder.layer)",
            field="MODEL",
        )
    return layer


def make_student(teacher: AuthorshipEncoder, layers: int) -> tuple[AuthorshipEncoder, list[int]]:
    """A copy of ``teacher`` that keeps only ``layers`` of its transformer layers."""
    student = copy.deepcopy(teacher)
    old = _layer_list(student)
    keep = keep_layers(len(old), layers)
    student.backbone.encoder.layer = nn.ModuleList([old[i] for i in keep])
    student.backbone.config.num_hidden_layers = len(keep)
    for new_idx, layer in enumerate(student.backbone.encoder.layer):
        for module in layer.modules():  # transformers 5 layers know their index (caches)
            if hasattr(module, "layer_idx"):
                module.layer_idx = new_idx
    return student, keep


def _embed(encoder: AuthorshipEncoder, texts: list[str], max_length: int) -> np.ndarray:
    """``encoder.embed`` of already-normalised texts at ``max_length`` word pieces."""
    kept = encoder.max_length
    encoder.max_length = max_length
    try:
        return encoder.embed(texts, normalize_text=False, batch_size=32)
    finally:
        encoder.max_length = kept


def _val_loss(student: np.ndarray, teacher: np.ndarray) -> dict[str, float]:
    cos = np.einsum("ij,ij->i", student, teacher)
    return {
        "mse": float(np.mean((student - teacher) ** 2)),
        "cosine_mean": float(cos.mean()),
        "cosine_min": float(cos.min()),
    }


def distill(
    teacher: AuthorshipEncoder,
    train_texts: Sequence[str],
    val_texts: Sequence[str],
    settings: DistillDefaults = DISTILL,
    *,
    progress: bool = False,
) -> tuple[AuthorshipEncoder, dict[str, Any]]:
    """Train the layer-dropped student of ``teacher``; return it (eval mode) and a report
    (kept layers, settings, loss curve, the validation loss before and after training).

    ``settings`` (layers, steps, batch size, lr, warm-up, max length, seed) defaults to
    :data:`adowner.defaults.DISTILL`; change one with ``dataclasses.replace(DISTILL, steps=50)``.
    """
    layers, steps, batch_size, lr = (
        settings.layers,
        settings.steps,
        settings.batch_size,
        settings.lr,
    )
    warmup, max_length, seed = settings.warmup, settings.max_length, settings.seed
    from transformers import get_linear_schedule_with_warmup

    from adowner.hardware import native_bf16_cpu
    from adowner.progress import track

    started = time.perf_counter()
    teacher = teacher.eval()
    max_length = min(max_length, teacher.max_length)  # never past what the teacher embeds
    norm = teacher.normalizer.normalize_batch
    train = list(dict.fromkeys(norm([str(t or "") for t in train_texts])))
    val = list(dict.fromkeys(norm([str(t or "") for t in val_texts])))
    if len(train) < 2:
        raise InputError(f"need at least 2 distinct training ads, got {len(train)}", field="--data")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    student, keep = make_student(teacher, layers)
    log.info(
        "student keeps layers %s of %d; teacher targets for %d training ads",
        keep,
        len(_layer_list(teacher)),
        len(train),
    )
    targets = torch.from_numpy(_embed(teacher, train, max_length))
    val_teacher = _embed(teacher, val, teacher.max_length) if val else np.zeros((0, 0))
    before = _val_loss(_embed(student, val, student.max_length), val_teacher) if val else None

    # Dropout stays off: the target is the teacher's deterministic embedding, and dropout noise
    # set a floor 90x the held-out loss on the tiny model (train MSE 6e-4 vs val 7e-6)
    student.eval()
    params = [p for p in student.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    sched = get_linear_schedule_with_warmup(opt, math.ceil(warmup * steps), steps)
    bf16 = native_bf16_cpu()
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16)
    order = rng.permutation(len(train))
    pos, curve, window = 0, [], []
    for step in track(range(steps), "distilling", disable=not progress):
        if pos + batch_size > len(order):
            order, pos = rng.permutation(len(train)), 0
        idx = order[pos : pos + batch_size]
        pos += batch_size
        batch = student.tokenizer(
            [train[i] for i in idx],
            padding=True,
            truncation=True,
            max_length=max_length,
            return_tensors="pt",
        )
        with autocast:
            states = student.backbone(
                input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
            ).last_hidden_state
        emb = student._pool(states.float(), batch["attention_mask"])
        loss = nn.functional.mse_loss(emb, targets[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        window.append(float(loss.detach()))
        if len(window) == 10 or step == steps - 1:
            curve.append({"step": step + 1, "mse": float(np.mean(window))})
            window = []
    student.eval()
    after = _val_loss(_embed(student, val, student.max_length), val_teacher) if val else None
    report: dict[str, Any] = {
        "teacher": teacher.backbone_name,
        "teacher_layers": len(_layer_list(teacher)),
        "layers": len(keep),
        "kept_layers": keep,
        "loss": "MSE between L2-normalised student and teacher embeddings (sentence-transformers MSELoss)",
        **dataclasses.asdict(settings),
        "max_length": max_length,
        "precision": "bf16-mixed" if bf16 else "32-true",
        "train_texts": len(train),
        "train_loss_first": curve[0]["mse"] if curve else None,
        "train_loss_last": curve[-1]["mse"] if curve else None,
        "loss_curve": curve,
        "val_texts": len(val),
        "val_before": before,
        "val_after": after,
        "seconds": round(time.perf_counter() - started, 1),
    }
    if after is not None:
        log.info(
            "distilled in %.0f s: val MSE %.2e -> %.2e, mean cosine to the teacher %.4f -> %.4f",
            report["seconds"],
            before["mse"] if before else float("nan"),
            after["mse"],
            before["cosine_mean"] if before else float("nan"),
            after["cosine_mean"],
        )
    return student, report


def save_student_checkpoint(student: AuthorshipEncoder, work: Path) -> Path:
    """Write the student as a checkpoint that ``adowner export`` reads
    (:func:`adowner.model.checkpoint.load_encoder`): its backbone as a Hugging Face folder
    (``work/backbone``, safetensors) and ``work/student.ckpt`` (settings and weights)."""
    work.mkdir(parents=True, exist_ok=True)
    backbone = work / "backbone"
    student.backbone.save_pretrained(str(backbone), safe_serialization=True)
    student.tokenizer.save_pretrained(str(backbone))
    encoder = {
        "backbone": str(backbone),
        "projection_dim": student.projection.out_features if student.projection else None,
        "normalizer": student.normalizer.to_dict(),
        "max_length": student.max_length,
    }
    state = {f"encoder.{k}": v.detach().cpu() for k, v in student.state_dict().items()}
    path = work / "student.ckpt"
    from adowner._io import atomic_path

    with atomic_path(path) as tmp:
        torch.save({"state_dict": state, "hyper_parameters": {"encoder": encoder}}, tmp)
    return path
