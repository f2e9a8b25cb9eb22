"""Subcommands of adowner.evaluation: ``evaluate`` and ``compare`` (registered by adowner.cli)."""

from __future__ import annotations

import argparse

from adowner.defaults import EVALUATE, PAIRS, fields_of


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data",
        required=True,
        help="a folder written by `prepare` (test is scored, train fits baselines, val picks the "
        "grouping threshold) or one file with text and label columns",
    )
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--train", help="train file for baselines that fit (with a single --data file)")
    p.add_argument(
        "--test",
        help="score this file (a prepared split or a labelled file) instead of the --data "
        "folder's test split; the folder's train and val still fit baselines and thresholds",
    )
    p.add_argument("--label-column", help="owner label column (default: %(default)s)")
    p.add_argument("--seed", type=int, help="seed of the pair sample and bootstrap")
    p.add_argument(
        "--neg-ratio", type=int, help="different- per same-owner pair (default %(default)s)"
    )
    p.add_argument("--bootstrap", type=int, help="owner resamples for 95%% intervals (0: none)")
    p.add_argument(
        "--max-pos-per-owner",
        type=int,
        help="cap on one owner's same-owner pairs (a seeded sample above it; default %(default)s)",
    )
    p.set_defaults(**fields_of(PAIRS), **fields_of(EVALUATE))


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add this subpackage's subcommands to sub."""
    p = sub.add_parser(
        "evaluate",
        help="score one model or baseline on held-out owners",
        description="Verification (ROC AUC, EER, TPR@FPR), retrieval (P@1, R-Precision, MRR, "
        "Recall@8, MAP@10) and grouping (B-cubed F1, ARI, NMI) of one model.",
    )
    p.add_argument(
        "--model",
        required=True,
        help="paper-pairwise, tfidf-char, zero-shot[:PATH], a .ckpt checkpoint or an exported folder",
    )
    _common(p)
    p.set_defaults(func=_evaluate)

    c = sub.add_parser(
        "compare",
        help="evaluate several models; write a table, ROC plot and HTML report",
    )
    c.add_argument("--models", required=True, help="comma-separated model specs (as --model)")
    _common(c)
    c.set_defaults(func=_compare)


def _check_args(args: argparse.Namespace) -> None:
    from adowner.errors import InputError

    if args.neg_ratio < 1:
        raise InputError("must be at least 1", field="--neg-ratio")
    if args.max_pos_per_owner < 1:
        raise InputError("must be at least 1", field="--max-pos-per-owner")
    if args.bootstrap < 0:
        raise InputError("must be 0 or more", field="--bootstrap")


def _evaluate(args: argparse.Namespace) -> int:
    from adowner.evaluation.data import load_eval_data
    from adowner.evaluation.resolve import check_model_spec
    from adowner.evaluation.runner import evaluate_model

    _check_args(args)
    check_model_spec(args.model)
    data = load_eval_data(args.data, args.train, args.label_column, test=args.test)
    m = evaluate_model(
        args.model,
        data,
        args.out,
        seed=args.seed,
        neg_ratio=args.neg_ratio,
        bootstrap=args.bootstrap,
        max_pos_per_owner=args.max_pos_per_owner,
    )
    shown = ", ".join(f"{k}={v:.4f}" for k, v in m.items() if isinstance(v, float))
    print(f"{args.model}: {shown}")
    print(f"wrote {args.out}/metrics.json and metrics.md")
    return 0


def _compare(args: argparse.Namespace) -> int:
    from adowner.evaluation.compare import compare_models
    from adowner.evaluation.data import load_eval_data
    from adowner.evaluation.resolve import check_model_spec

    _check_args(args)
    specs = [s.strip() for s in args.models.split(",") if s.strip()]
    for spec in specs:  # fail on a bad name before any slow work
        check_model_spec(spec)
    data = load_eval_data(args.data, args.train, args.label_column, test=args.test)
    compare_models(
        specs,
        data,
        args.out,
        seed=args.seed,
        neg_ratio=args.neg_ratio,
        bootstrap=args.bootstrap,
        max_pos_per_owner=args.max_pos_per_owner,
    )
    print(f"wrote {args.out}/table.md, table.csv, roc.png, report.html")
    return 0
