"""Subcommands of adowner.link: ``link`` and ``quickstart`` (registered by adowner.cli)."""

from __future__ import annotations

import argparse

from adowner.defaults import CHAIN, LINK, QUICKSTART, fields_of


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``adowner link`` and ``adowner quickstart``."""
    p = sub.add_parser(
        "link",
        help="fuse writing style, payments and identifiers into owner groups; analyst report",
        description="Embed ads with an exported model, join them by text k-NN (calibrated "
        "threshold), shared identifiers and payments from one wallet cluster, form owner groups, "
        "and write groups/edges/owners Parquet plus report.html.",
    )
    p.add_argument(
        "--ads", required=True, help="ads file (raw csv/jsonl/parquet, or a prepared split)"
    )
    p.add_argument("--model", required=True, help="exported model folder (adowner export)")
    p.add_argument("--chain", help="chain tables folder (adowner chain ingest)")
    p.add_argument("--rates", help="BTC/USD rates CSV (with --chain)")
    p.add_argument(
        "--site-addresses", help="the ad site's payment addresses, one a line (with --chain)"
    )
    p.add_argument(
        "--clusters",
        help="address clusters Parquet (default: CHAIN/clusters.parquet, built if absent)",
    )
    p.add_argument(
        "--matches", help="precomputed matches Parquet (adowner chain match), instead of --chain"
    )
    p.add_argument(
        "--fpr",
        type=float,
        help="FPR of the text threshold: %(default)g (default) or 0.001 (strict)",
    )
    p.add_argument(
        "--threshold",
        type=float,
        help="text threshold (cosine, or hybrid probability); overrides the calibrated one",
    )
    p.add_argument(
        "--no-payee-change",
        action="store_true",
        help="cluster the chain without the known-payee change rule (on by default with --chain)",
    )
    p.add_argument(
        "--heuristics",
        help="clustering rules with --chain (chain.policy; the same default as chain cluster "
        "and chain match: %(default)s)",
    )
    p.add_argument(
        "--text-score",
        choices=("auto", "cosine", "hybrid"),
        help="score of text candidates: the model's hybrid.json (cosine + char n-grams + "
        "pairwise features) or the cosine alone; auto = hybrid where the folder has one",
    )
    p.add_argument(
        "-k", "--neighbours", dest="k", type=int, help="k-NN per ad (default %(default)s)"
    )
    p.add_argument(
        "--method",
        choices=("guarded", "components", "mutual-components"),
        help="group formation (default %(default)s: hard edges + text average linkage)",
    )
    p.add_argument(
        "--min-density",
        type=float,
        help="guarded: share of A×B pairs that must be text edges (default %(default)s)",
    )
    p.add_argument("--index", choices=("auto", "flat", "hnsw"), help="FAISS index")
    p.add_argument("--top", type=int, help="groups shown in full in the report")
    p.add_argument("--out", required=True, help="output folder")
    p.set_defaults(func=_link, **fields_of(LINK), **fields_of(CHAIN))

    q = sub.add_parser(
        "quickstart",
        help="the whole path on the built-in synthetic marketplace (simulate … link)",
        description="simulate → prepare → train (short MiniLM) → compare with baselines → export "
        "→ chain ingest → cluster → match → link. A rerun reuses finished steps unless --force.",
    )
    q.add_argument("--out", required=True, help="output folder")
    q.add_argument("--owners", type=int, help="owners in the marketplace (default %(default)s)")
    q.add_argument("--seed", type=int)
    q.add_argument(
        "--config",
        help="training config: a packaged name (tiny, ads, ...) or a YAML path "
        "(default minilm-quickstart)",
    )
    q.add_argument("--force", action="store_true", help="redo every step")
    q.set_defaults(func=_quickstart, **fields_of(QUICKSTART))


def _link(args: argparse.Namespace) -> int:
    from adowner.link.pipeline import link_command

    summary = link_command(
        ads=args.ads,
        model=args.model,
        out=args.out,
        chain=args.chain,
        rates=args.rates,
        site_addresses=args.site_addresses,
        clusters=args.clusters,
        matches=args.matches,
        fpr=args.fpr,
        threshold=args.threshold,
        text_score=args.text_score,
        payee_change=not args.no_payee_change,
        heuristics=args.heuristics,
        k=args.k,
        method=args.method,
        min_density=args.min_density,
        index=args.index,
        top=args.top,
    )
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

    return quickstart(
        args.out, owners=args.owners, seed=args.seed, config=args.config, force=args.force
    )
