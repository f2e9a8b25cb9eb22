"""Subcommands of adowner.link (``COMMANDS``, added by adowner.cli): ``link``, ``quickstart``."""

from __future__ import annotations

import argparse

from adowner.cli_options import Command, arguments, config, flag, fpr, model, opt, out, seed
from adowner.defaults import CHAIN, LINK, QUICKSTART, fields_of


def _link(args: argparse.Namespace) -> int:
    from adowner.link.pipeline import link_command

    summary = link_command(**arguments(link_command, args, payee_change=not args.no_payee_change))
    _print_summary(summary, args.out)
    return 0


def _print_summary(summary: dict, out: str) -> None:
    edges = ", ".join(f"{k} {v:,}" for k, v in summary.get("edges", {}).items()) or "none"
    print(
        f"linked {summary['n_ads']:,} ads into {summary['n_groups']:,} groups "
        f"({summary['n_groups_2plus']:,} with 2+ ads; largest {summary['largest_group']:,})"
    )
    print(f"edges: {edges}; ambiguous payment matches: {summary['ambiguous_matches']:,}")
    m = summary.get("metrics_vs_true_owner")
    if m:
        print(f"vs true_owner: B-cubed F1 {m['bcubed_f1']:.3f}, ARI {m['ari']:.3f}")
    print(f"report: {out}/report.html")


def _quickstart(args: argparse.Namespace) -> int:
    from adowner.link.quickstart import quickstart

    return quickstart(**arguments(quickstart, args))


COMMANDS = (
    Command(
        "link",
        help="fuse writing style, payments and identifiers into owner groups; analyst report",
        description="Embed ads with an exported model, join them by text k-NN (calibrated "
        "threshold), shared identifiers and payments from one wallet cluster, form owner "
        "groups, and write groups/edges/owners Parquet plus report.html.",
        run=_link,
        options=(
            opt(
                "--ads", required=True, help="ads file (raw csv/jsonl/parquet, or a prepared split)"
            ),
            model("exported model folder (adowner export)"),
            opt("--chain", help="chain tables folder (adowner chain ingest)"),
            opt("--rates", help="BTC/USD rates CSV (with --chain)"),
            opt(
                "--site-addresses",
                help="the ad site's payment addresses, one a line (with --chain)",
            ),
            opt(
                "--clusters",
                help="address clusters Parquet (default: CHAIN/clusters.parquet, built if absent)",
            ),
            opt(
                "--matches",
                help="precomputed matches Parquet (adowner chain match), instead of --chain",
            ),
            fpr("FPR of the text threshold: %(default)g (default) or 0.001 (strict)"),
            opt(
                "--threshold",
                type=float,
                help="text threshold (cosine, or hybrid probability); overrides the calibrated one",
            ),
            flag(
                "--no-payee-change",
                "cluster the chain without the known-payee change rule (on by default with "
                "--chain)",
            ),
            opt(
                "--heuristics",
                help="clustering rules with --chain (chain.policy; the same default as chain "
                "cluster and chain match: %(default)s)",
            ),
            opt(
                "--text-score",
                choices=("auto", "cosine", "hybrid"),
                help="score of text candidates: the model's hybrid.json (cosine + char n-grams + "
                "pairwise features) or the cosine alone; auto = hybrid where the folder has one",
            ),
            opt("-k", "--neighbours", dest="k", type=int, help="k-NN per ad (default %(default)s)"),
            opt(
                "--method",
                choices=("guarded", "components", "mutual-components"),
                help="group formation (default %(default)s: hard edges + text average linkage)",
            ),
            opt(
                "--min-density",
                type=float,
                help="guarded: share of A×B pairs that must be text edges (default %(default)s)",
            ),
            opt("--index", choices=("auto", "flat", "hnsw"), help="FAISS index"),
            opt("--top", type=int, help="groups shown in full in the report"),
            out("output folder"),
        ),
        defaults={**fields_of(LINK), **fields_of(CHAIN)},
    ),
    Command(
        "quickstart",
        help="the whole path on the built-in synthetic marketplace (simulate … link)",
        description="simulate → prepare → train (short MiniLM) → compare with baselines → "
        "export → chain ingest → cluster → match → link. A rerun reuses finished steps unless "
        "--force.",
        run=_quickstart,
        options=(
            out("output folder"),
            opt("--owners", type=int, help="owners in the marketplace (default %(default)s)"),
            seed(),
            config(
                "training config: a packaged name (tiny, ads, ...) or a YAML path "
                "(default minilm-quickstart)"
            ),
            flag("--force", "redo every step"),
        ),
        defaults=fields_of(QUICKSTART),
    ),
)
