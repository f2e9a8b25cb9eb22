"""Subcommands of adowner.simulate (registered by adowner.cli): ``adowner simulate``."""

from __future__ import annotations

import argparse
from pathlib import Path

from adowner.defaults import SIMULATE, fields_of


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``simulate`` to sub."""
    p = sub.add_parser(
        "simulate",
        help="write the synthetic marketplace (ads, owners, chain, ground truth)",
        description=(
            "Simulate an escort-ad marketplace with full ground truth: independent advertisers "
            "and operators (many personas, several cities, burner phones), each writing in "
            "their own style. Writes OUT/ads.parquet and OUT/ads.csv (ad_id, title, body, "
            "posted_at, site, location, price_usd, sponsored, persona, true_owner), "
            "OUT/owners.parquet, OUT/ad_truth.parquet, OUT/truth.json and, unless --no-chain, "
            "the Bitcoin side under OUT/chain/. All phone numbers are fictional (NXX-555-01xx)."
        ),
    )
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.add_argument("--owners", type=int, help="number of true owners (default %(default)s)")
    p.add_argument("--seed", type=int, help="random seed (default %(default)s)")
    p.add_argument(
        "--operator-share",
        type=float,
        help="share of owners who are operators (default %(default)s)",
    )
    p.add_argument("--start", help="first day, YYYY-MM-DD (default %(default)s)")
    p.add_argument("--days", type=int, help="length of the period in days (default %(default)s)")
    p.add_argument("--no-chain", action="store_true", help="do not simulate the Bitcoin side")
    p.add_argument(
        "--difficulty",
        action="store_true",
        help="also measure char n-gram TF-IDF same-owner retrieval (writes OUT/difficulty.json)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_simulate, **fields_of(SIMULATE))


def _simulate(args: argparse.Namespace) -> int:
    from adowner.simulate.run import run_simulation

    run_simulation(
        args.out,
        n_owners=args.owners,
        seed=args.seed,
        operator_share=args.operator_share,
        start=args.start,
        days=args.days,
        chain=not args.no_chain,
        difficulty=args.difficulty,
        progress=not args.no_progress,
    )
    return 0
