"""Subcommands of adowner.simulate (``COMMANDS``, added by adowner.cli): ``adowner simulate``."""

from __future__ import annotations

import argparse
from pathlib import Path

from adowner.cli_options import Command, flag, no_progress, opt, out, seed
from adowner.defaults import SIMULATE, fields_of


def _simulate(args: argparse.Namespace) -> int:
    from adowner.simulate.run import run_simulation

    settings = {k: getattr(args, k) for k in fields_of(SIMULATE)}  # SimConfig's fields, but:
    settings["n_owners"] = settings.pop("owners")
    run_simulation(
        args.out,
        chain=not args.no_chain,
        difficulty=args.difficulty,
        progress=not args.no_progress,
        **settings,
    )
    return 0


COMMANDS = (
    Command(
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
        run=_simulate,
        options=(
            out("output folder", type=Path),
            opt("--owners", type=int, help="number of true owners (default %(default)s)"),
            seed("random seed (default %(default)s)"),
            opt(
                "--operator-share",
                type=float,
                help="share of owners who are operators (default %(default)s)",
            ),
            opt("--start", help="first day, YYYY-MM-DD (default %(default)s)"),
            opt("--days", type=int, help="length of the period in days (default %(default)s)"),
            flag("--no-chain", "do not simulate the Bitcoin side"),
            flag(
                "--difficulty",
                "also measure char n-gram TF-IDF same-owner retrieval (writes OUT/difficulty.json)",
            ),
            no_progress("no progress bar"),
        ),
        defaults=fields_of(SIMULATE),
    ),
)
