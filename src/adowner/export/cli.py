"""Subcommands of adowner.export (``COMMANDS``, added by adowner.cli): ``export``, ``distill``,
``embed``."""

from __future__ import annotations

import argparse

from adowner.cli_options import ENCODER_OPTIONS, Command, data, flag, model, opt, out, seed
from adowner.defaults import DISTILL, fields_of
from adowner.export.encoder_args import load_encoder


def _export(args: argparse.Namespace) -> int:
    from pathlib import Path

    from adowner.errors import InputError
    from adowner.export.export import export_checkpoint

    if args.migrate is not None:
        return _migrate(args)
    if args.checkpoint is None:
        raise InputError("give a training checkpoint (or --migrate OLD_DIR)", field="checkpoint")
    if args.out is None:
        raise InputError("give the model folder to write", field="--out")
    training = Path(args.training_data).read_text(encoding="utf-8") if args.training_data else None
    config = export_checkpoint(
        args.checkpoint,
        args.out,
        data=args.data,
        onnx=args.onnx,
        int8=args.int8,
        hybrid=args.hybrid,
        hybrid_location=args.hybrid_location == "auto",
        metrics=args.metrics,
        metrics_model=args.metrics_model,
        dataset=args.dataset,
        training_data=training,
        card_template=args.card_template,
    )
    th = (
        ", ".join(f"FPR {t['fpr']:g}: {t['threshold']:.4f}" for t in config["thresholds"]) or "none"
    )
    print(f"wrote {args.out} (dim {config['embedding_dim']}, thresholds {th})")
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from adowner.errors import InputError
    from adowner.export.folder import FORMAT_VERSION, migrate_folder

    given = [o.flags[-1] for o in _CHECKPOINT_OPTIONS if getattr(args, o.dest) != o.default]
    if args.checkpoint is not None:
        given.insert(0, "checkpoint")
    if given:
        raise InputError(f"takes only --out, not {', '.join(given)}", field="--migrate")
    migrate_folder(args.migrate, args.out)
    where = args.out or args.migrate
    print(f"wrote {where} (adowner.json format {FORMAT_VERSION}, from {args.migrate})")
    return 0


def _distill(args: argparse.Namespace) -> int:
    from adowner.defaults import DistillDefaults
    from adowner.export.distill import distill_model

    settings = DistillDefaults(**{name: getattr(args, name) for name in fields_of(DISTILL)})
    config = distill_model(
        args.model,
        args.out,
        data=args.data,
        settings=settings,
        onnx=not args.no_onnx,
        work=args.work,
        metrics=args.metrics,
        dataset=args.dataset,
    )
    info = config["distillation"]
    after = info.get("val_after") or {}
    tpr = info["val_tpr_at_fpr_1pct"]
    print(
        f"wrote {args.out} ({info['layers']} of {info['teacher_layers']} layers; val MSE "
        f"{after.get('mse', float('nan')):.2e}, mean cosine to the teacher "
        f"{after.get('cosine_mean', float('nan')):.4f}; val TPR@1% teacher {tpr['teacher']:.3f}, "
        f"student {tpr['student']:.3f}: {'offered' if info['offered'] else 'not offered'})"
    )
    return 0


def _embed(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    import numpy as np

    from adowner._io import atomic_path
    from adowner.io.ads import read_ad_texts

    encoder = load_encoder(args)
    out = Path(args.out)
    ids, texts = read_ad_texts(
        args.data, quarantine=out.with_suffix(".quarantine.jsonl"), field="--data"
    )
    t0 = time.perf_counter()
    emb = encoder.embed(texts, progress=True)
    seconds = time.perf_counter() - t0
    with atomic_path(out) as tmp, open(tmp, "wb") as fh:
        np.save(fh, emb)
    with atomic_path(out.with_suffix(".ids.txt")) as tmp:
        tmp.write_text("".join(f"{i}\n" for i in ids), encoding="utf-8")
    rate = len(texts) / seconds if seconds > 0 else float("inf")
    print(
        f"wrote {out} ({len(texts)} ads x {emb.shape[1]}, {rate:.1f} ads/s, "
        f"path {encoder.path.name}: {encoder.path.reason})"
    )
    return 0


#: the options of exporting a checkpoint (``--migrate`` takes none of them)
_CHECKPOINT_OPTIONS = (
    flag("--onnx", "also write model.onnx (parity-checked)"),
    flag(
        "--int8",
        "with --onnx: also write model_qint8.onnx (ONNX Runtime dynamic int8, opt-in: "
        "load with --precision int8)",
    ),
    data(
        "prepared folder (`adowner prepare`); its val.parquet calibrates the thresholds",
        required=False,
    ),
    flag(
        "--hybrid",
        "also fit the hybrid same-owner score (cosine + char n-grams + pairwise "
        "features; needs --data with train and val) and store it as hybrid.json",
    ),
    opt(
        "--hybrid-location",
        choices=("auto", "off"),
        default="auto",
        help="auto: the hybrid also compares the ads' location fields where at least "
        "half of val has one (callers then pass locations); off: texts only",
    ),
    opt(
        "--metrics",
        action="append",
        help="compare table.csv or evaluate/train metrics.json for the card (repeatable)",
    ),
    opt("--metrics-model", help="the row of --metrics that is this model"),
    opt("--dataset", help="name of the evaluation data, for the card"),
    opt(
        "--training-data",
        help="Markdown file describing the training data and labels (card)",
    ),
    opt("--card-template", help="model card template (default: the packaged model_card.md)"),
)

COMMANDS = (
    Command(
        "export",
        help="write a portable model folder (safetensors, tokenizer, ST files, thresholds, card)",
        description="Export a training checkpoint to one folder that loads in adowner, "
        "sentence-transformers and (with --onnx) ONNX Runtime.",
        run=_export,
        options=(
            opt(
                "checkpoint",
                nargs="?",
                help="training checkpoint (.ckpt written by `adowner train`)",
            ),
            opt(
                "--out",
                help="model folder to write (replaced atomically); with --migrate, the "
                "migrated copy (default: OLD_DIR in place)",
            ),
            opt(
                "--migrate",
                metavar="OLD_DIR",
                help="instead of exporting, rewrite an older exported folder's adowner.json in "
                "the current format (to --out, or in place)",
            ),
            *_CHECKPOINT_OPTIONS,
        ),
    ),
    Command(
        "distill",
        help="train a shallower student of a model to match its embeddings; export it",
        description="Drop transformer layers of MODEL (the kept ones initialised from it), train "
        "the student to match MODEL's embeddings of the training ads (MSE), and export it as a "
        "model folder (ONNX, thresholds calibrated on val, card with the teacher and the loss). "
        "The card offers it only where its validation TPR@1% is within 0.01 of the teacher's.",
        run=_distill,
        options=(
            opt("model", help="teacher: training checkpoint, exported folder, or 'minilm'"),
            opt("--layers", type=int, help="transformer layers the student keeps (%(default)s)"),
            data("prepared folder (train.parquet, val.parquet)"),
            out("model folder to write (replaced atomically)"),
            opt("--steps", type=int, help="optimiser steps (%(default)s)"),
            opt("--batch-size", type=int, help="ads a step (%(default)s)"),
            opt("--lr", type=float, help="peak AdamW learning rate (%(default)s)"),
            opt("--warmup", type=float, help="warm-up fraction of the steps (%(default)s)"),
            opt("--max-length", type=int, help="training word pieces an ad (%(default)s)"),
            seed(),
            flag("--no-onnx", "do not write model.onnx"),
            opt("--work", help="student checkpoint and distill.json (default: OUT.distill)"),
            opt("--metrics", action="append", help="as for export: results for the card"),
            opt("--dataset", help="name of the evaluation data, for the card"),
        ),
        defaults=fields_of(DISTILL),
    ),
    Command(
        "embed",
        help="embed every ad of a file with an exported model (fast path)",
        description="Embed an ads file (prepared parquet with a text column, or any file "
        "`adowner prepare` reads) into a float32 .npy, one L2-normalised row an ad.",
        run=_embed,
        options=(
            model(),
            data("ads file (.parquet, .csv, .jsonl, .xlsx)"),
            out("output .npy (ad ids go to OUT.ids.txt)"),
            *ENCODER_OPTIONS,
        ),
    ),
)
