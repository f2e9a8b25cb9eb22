"""Subcommands of adowner.model (registered by adowner.cli): ``adowner train`` and ``cv``."""

from __future__ import annotations

import argparse

from adowner.defaults import EVALUATE


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add this subpackage's subcommands to sub."""
    p = sub.add_parser(
        "train",
        help="fine-tune the authorship model (Lightning, SupCon, P owners x K ads)",
        description="Fine-tune the authorship encoder on prepared splits. Extra arguments are "
        "config overrides: trainer.max_epochs=2 model.lr=3e-5 logger=wandb-online",
    )
    p.add_argument(
        "--config",
        required=True,
        help="experiment: a packaged name (ads, tiny, minilm-agora, ...) or a YAML path",
    )
    p.add_argument("--data", required=True, help="prepared folder with {train,val,test}.parquet")
    p.add_argument("--out", required=True, help="run folder (checkpoints, metrics, logs)")
    p.add_argument(
        "--test",
        help="a prepared split to test on (DIR or DIR/test.parquet from `prepare --split 0 0 1`) "
        "instead of the --data folder's test split",
    )
    p.add_argument(
        "--resume", action="store_true", help="continue from RUN_DIR/checkpoints/last.ckpt"
    )
    p.add_argument(
        "overrides", nargs="*", help="key.sub=value config overrides (after all the options)"
    )
    p.set_defaults(func=_train)

    c = sub.add_parser(
        "cv",
        help="owner-disjoint k-fold cross-validation of a training recipe beside the baselines",
        description="Pool a prepared folder's splits, deal its owners into folds, train the "
        "recipe on all folds but one and score it (and its hybrid, and the baselines) on the "
        "held-out fold; writes OUT/cv.md and cv.json. Extra arguments are config overrides.",
    )
    c.add_argument("--config", required=True, help="experiment name or YAML path (as for train)")
    c.add_argument("--data", required=True, help="prepared folder (best with --dedup eval)")
    c.add_argument("--out", required=True, help="output folder (resumable)")
    c.add_argument("--folds", type=int, default=3, help="owner folds (default 3)")
    c.add_argument(
        "--only-folds", type=int, nargs="+", help="run only these folds (0-based); default all"
    )
    c.add_argument(
        "--baselines",
        default="paper-pairwise,tfidf-char",
        help="comma-separated baseline specs scored beside the model ('' for none)",
    )
    c.add_argument(
        "--checkpoints",
        default="best",
        help="which checkpoints of each fold's run to score, comma-separated: best, last, "
        "avgN (the mean weights of the last N epochs; needs --curve)",
    )
    c.add_argument("--no-hybrid", action="store_true", help="do not score the hybrid")
    c.add_argument(
        "--curve",
        action="store_true",
        help="keep a checkpoint every epoch and score each on the held-out fold (learning curve)",
    )
    c.add_argument("--val-fraction", type=float, default=0.15, help="val owners (0.15)")
    c.add_argument("--seed", type=int, help="seed of the folds and pair samples")
    c.add_argument("--bootstrap", type=int, help="owner resamples (0: none)")
    c.set_defaults(seed=EVALUATE.seed, bootstrap=EVALUATE.bootstrap)
    c.add_argument("overrides", nargs="*", help="key.sub=value config overrides (last)")
    c.set_defaults(func=_cv)


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
        cfg,
        args.data,
        args.out,
        folds=args.folds,
        baselines=[b.strip() for b in args.baselines.split(",") if b.strip()],
        checkpoints=[c.strip() for c in args.checkpoints.split(",") if c.strip()],
        hybrid=not args.no_hybrid,
        val_fraction=args.val_fraction,
        seed=args.seed,
        bootstrap=args.bootstrap,
        only_folds=args.only_folds,
        curve=args.curve,
    )
    for name, m in summary["models"].items():
        shown = ", ".join(f"{k}={m['mean'][k]:.3f}" for k in ("tpr@fpr=0.01", "r_precision"))
        print(f"{name}: {shown}")
    print(f"wrote {args.out}/cv.md and cv.json")
    return 0
