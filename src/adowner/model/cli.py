"""Subcommands of adowner.model (registered by adowner.cli): ``adowner train``."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add this subpackage's subcommands to sub."""
    p = sub.add_parser(
        "train",
        help="fine-tune the authorship model (Lightning, SupCon, P owners x K ads)",
        description="Fine-tune the authorship encoder on prepared splits. Extra arguments are "
        "config overrides: trainer.max_epochs=2 model.lr=3e-5 logger=wandb-online",
    )
    p.add_argument(
        "--config", required=True, help="experiment YAML, e.g. configs/experiment/minilm-agora.yaml"
    )
    p.add_argument("--data", required=True, help="prepared folder with {train,val,test}.parquet")
    p.add_argument("--out", required=True, help="run folder (checkpoints, metrics, logs)")
    p.add_argument(
        "--resume", action="store_true", help="continue from RUN_DIR/checkpoints/last.ckpt"
    )
    p.add_argument(
        "overrides", nargs="*", help="key.sub=value config overrides (after all the options)"
    )
    p.set_defaults(func=_train)


def _train(args: argparse.Namespace) -> int:
    import json

    from adowner.model.config import load_config
    from adowner.model.train import train

    cfg = load_config(args.config, args.overrides)
    cfg.update(data_dir=args.data, run_dir=args.out, resume=bool(args.resume))
    metrics, _ = train(cfg)
    keys = ("val/r_precision", "val/tpr@fpr=0.01", "test/r_precision", "test/tpr@fpr=0.01")
    print(json.dumps({k: metrics[k] for k in keys if k in metrics}, indent=2))
    return 0
