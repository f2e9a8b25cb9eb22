"""Subcommands of adowner.export (``COMMANDS``, added by adowner.cli): ``export``, ``embed``."""

from __future__ import annotations

import argparse

from adowner.cli_options import ENCODER_OPTIONS, Command, data, flag, model, opt, out
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
        f"wrote {out} ({len(texts)} ads x {emb.shape[1]}, {rate:.1f} ads/s, {encoder.backend}, {encoder.precision})"
    )
    return 0


#: the options of exporting a checkpoint (``--migrate`` takes none of them)
_CHECKPOINT_OPTIONS = (
    flag("--onnx", "also write model.onnx (parity-checked)"),
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
