"""Subcommands of adowner.evaluation (``COMMANDS``, added by adowner.cli): ``evaluate``, ``compare``."""

from __future__ import annotations

import argparse
from typing import Any

from adowner.cli_options import Command, commas, opt, out, seed
from adowner.defaults import EVALUATE, PAIRS, fields_of

#: the options of the pair protocol and the bootstrap, named as ``PAIRS``' and ``EVALUATE``'s
#: fields and as the keyword arguments of ``evaluate_model`` and ``compare_models``
PROTOCOL = (*fields_of(PAIRS), "seed", "bootstrap")

_COMMON = (
    opt(
        "--data",
        required=True,
        help="a folder written by `prepare` (test is scored, train fits baselines, val picks the "
        "grouping threshold) or one file with text and label columns",
    ),
    out("output folder"),
    opt("--train", help="train file for baselines that fit (with a single --data file)"),
    opt(
        "--test",
        help="score this file (a prepared split or a labelled file) instead of the --data "
        "folder's test split; the folder's train and val still fit baselines and thresholds",
    ),
    opt("--label-column", help="owner label column (default: %(default)s)"),
    seed("seed of the pair sample and bootstrap"),
    opt("--neg-ratio", type=int, help="different- per same-owner pair (default %(default)s)"),
    opt("--bootstrap", type=int, help="owner resamples for 95%% intervals (0: none)"),
    opt(
        "--max-pos-per-owner",
        type=int,
        help="cap on one owner's same-owner pairs (a seeded sample above it; default %(default)s)",
    ),
)


def _protocol(args: argparse.Namespace) -> dict[str, Any]:
    """The checked :data:`PROTOCOL` options, as keyword arguments of the runner."""
    from adowner.errors import InputError

    if args.neg_ratio < 1:
        raise InputError("must be at least 1", field="--neg-ratio")
    if args.max_pos_per_owner < 1:
        raise InputError("must be at least 1", field="--max-pos-per-owner")
    if args.bootstrap < 0:
        raise InputError("must be 0 or more", field="--bootstrap")
    return {k: getattr(args, k) for k in PROTOCOL}


def _evaluate(args: argparse.Namespace) -> int:
    from adowner.evaluation.data import load_eval_data
    from adowner.evaluation.resolve import check_model_spec
    from adowner.evaluation.runner import evaluate_model

    protocol = _protocol(args)
    check_model_spec(args.model)
    data = load_eval_data(args.data, args.train, args.label_column, test=args.test)
    m = evaluate_model(args.model, data, args.out, **protocol)
    shown = ", ".join(f"{k}={v:.4f}" for k, v in m.items() if isinstance(v, float))
    print(f"{args.model}: {shown}")
    print(f"wrote {args.out}/metrics.json and metrics.md")
    return 0


def _compare(args: argparse.Namespace) -> int:
    from adowner.evaluation.compare import compare_models
    from adowner.evaluation.data import load_eval_data
    from adowner.evaluation.resolve import check_model_spec

    protocol = _protocol(args)
    specs = commas(args.models)
    for spec in specs:  # fail on a bad name before any slow work
        check_model_spec(spec)
    data = load_eval_data(args.data, args.train, args.label_column, test=args.test)
    compare_models(specs, data, args.out, **protocol)
    print(f"wrote {args.out}/table.md, table.csv, roc.png, report.html")
    return 0


_DEFAULTS = {**fields_of(PAIRS), **fields_of(EVALUATE)}

COMMANDS = (
    Command(
        "evaluate",
        help="score one model or baseline on held-out owners",
        description="Verification (ROC AUC, EER, TPR@FPR), retrieval (P@1, R-Precision, MRR, "
        "Recall@8, MAP@10) and grouping (B-cubed F1, ARI, NMI) of one model.",
        run=_evaluate,
        options=(
            opt(
                "--model",
                required=True,
                help="paper-pairwise, tfidf-char, zero-shot[:PATH], a .ckpt checkpoint or an "
                "exported folder",
            ),
            *_COMMON,
        ),
        defaults=_DEFAULTS,
    ),
    Command(
        "compare",
        help="evaluate several models; write a table, ROC plot and HTML report",
        run=_compare,
        options=(
            opt("--models", required=True, help="comma-separated model specs (as --model)"),
            *_COMMON,
        ),
        defaults=_DEFAULTS,
    ),
)
