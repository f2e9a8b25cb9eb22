"""Subcommands of adowner.model (``COMMANDS``, added by adowner.cli): ``train`` and ``cv``."""

from __future__ import annotations

import argparse

from adowner.cli_options import (
    Command,
    Option,
    arguments,
    commas,
    config,
    data,
    flag,
    opt,
    out,
    seed,
)
from adowner.defaults import EVALUATE


def _train(args: argparse.Namespace) -> int:
    import json

    from adowner.model.config import load_config
    from adowner.model.train import train

    cfg = load_config(args.config, args.overrides)
    cfg.update(data_dir=args.data, run_dir=args.out, resume=bool(args.resume))
    if args.test:
        cfg["test_file"] = args.test
    metrics, _ = train(cfg)
    keys = ("val/r_precision", "val/tpr@fpr=0.01", "test/r_precision", "test/tpr@fpr=0.01")
    print(json.dumps({k: metrics[k] for k in keys if k in metrics}, indent=2))
    return 0


def _cv(args: argparse.Namespace) -> int:
    from adowner.model.config import load_config
    from adowner.model.crossval import cross_validate

    cfg = load_config(args.config, args.overrides)
    summary = cross_validate(
        **arguments(
            cross_validate,
            args,
            cfg=cfg,
            data_dir=args.data,
            out_dir=args.out,
            baselines=commas(args.baselines),
            checkpoints=commas(args.checkpoints),
            hybrid=not args.no_hybrid,
        )
    )
    for name, m in summary["models"].items():
        shown = ", ".join(f"{k}={m['mean'][k]:.3f}" for k in ("tpr@fpr=0.01", "r_precision"))
        print(f"{name}: {shown}")
    print(f"wrote {args.out}/cv.md and cv.json")
    return 0


def _overrides(where: str) -> Option:
    return opt("overrides", nargs="*", help=f"key.sub=value config overrides ({where})")


COMMANDS = (
    Command(
        "train",
        help="fine-tune the authorship model (Lightning, SupCon, P owners x K ads)",
        description="Fine-tune the authorship encoder on prepared splits. Extra arguments are "
        "config overrides: trainer.max_epochs=2 model.lr=3e-5 logger=wandb-online",
        run=_train,
        options=(
            config(
                "experiment: a packaged name (ads, tiny, minilm-agora, ...) or a YAML path",
                required=True,
            ),
            data("prepared folder with {train,val,test}.parquet"),
            out("run folder (checkpoints, metrics, logs)"),
            opt(
                "--test",
                help="a prepared split to test on (DIR or DIR/test.parquet from `prepare --split "
                "0 0 1`) instead of the --data folder's test split",
            ),
            flag("--resume", "continue from RUN_DIR/checkpoints/last.ckpt"),
            _overrides("after all the options"),
        ),
    ),
    Command(
        "cv",
        help="owner-disjoint k-fold cross-validation of a training recipe beside the baselines",
        description="Pool a prepared folder's splits, deal its owners into folds, train the "
        "recipe on all folds but one and score it (and its hybrid, and the baselines) on the "
        "held-out fold; writes OUT/cv.md and cv.json. Extra arguments are config overrides.",
        run=_cv,
        options=(
            config("experiment name or YAML path (as for train)", required=True),
            data("prepared folder (best with --dedup eval)"),
            out("output folder (resumable)"),
            opt("--folds", type=int, default=3, help="owner folds (default 3)"),
            opt(
                "--only-folds",
                type=int,
                nargs="+",
                help="run only these folds (0-based); default all",
            ),
            opt(
                "--baselines",
                default="paper-pairwise,tfidf-char",
                help="comma-separated baseline specs scored beside the model ('' for none)",
            ),
            opt(
                "--checkpoints",
                default="best",
                help="which checkpoints of each fold's run to score, comma-separated: best, last, "
                "avgN (the mean weights of the last N epochs; needs --curve)",
            ),
            flag("--no-hybrid", "do not score the hybrid"),
            flag(
                "--curve",
                "keep a checkpoint every epoch and score each on the held-out fold "
                "(learning curve)",
            ),
            opt("--val-fraction", type=float, default=0.15, help="val owners (0.15)"),
            seed("seed of the folds and pair samples"),
            opt("--bootstrap", type=int, help="owner resamples (0: none)"),
            _overrides("last"),
        ),
        defaults={"seed": EVALUATE.seed, "bootstrap": EVALUATE.bootstrap},
    ),
)
