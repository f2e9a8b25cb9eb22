"""Subcommands of adowner.chain (registered by adowner.cli): ingest, mempool-watch, cluster, match."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from adowner.defaults import CHAIN, MATCH, fields_of

HEURISTICS_HELP = (
    "clustering rules by name, comma-separated (chain.policy): multi_input, coinjoin_guard (= "
    "wasabi_1, wasabi_2, whirlpool, joinmarket, generic_coinjoin), known_payee_change, "
    "one_time_change (default %(default)s)"
)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``adowner chain ...`` to sub."""
    chain = sub.add_parser(
        "chain", help="Bitcoin side: ingest, cluster addresses, match ads to payments"
    )
    cmds = chain.add_subparsers(dest="chain_command", metavar="CHAIN_COMMAND")

    def _help(args: argparse.Namespace) -> int:
        chain.print_help()
        return 2

    chain.set_defaults(func=_help)

    p = cmds.add_parser(
        "ingest",
        help="raw blocks, blk*.dat, hex, Core JSON or bitcoin-etl rows -> Parquet tables",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="files or folders")
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.add_argument("--mempool-log", type=Path, help="mempool-watch log: fills first_seen")
    p.add_argument(
        "--network",
        default="mainnet",
        choices=["mainnet", "testnet", "regtest"],
        help="address prefixes (default mainnet)",
    )
    p.set_defaults(func=_ingest)

    p = cmds.add_parser("mempool-watch", help="log first-seen times of mempool transactions")
    p.add_argument("--rpc", required=True, help="node URL, e.g. http://127.0.0.1:8332/")
    p.add_argument("--out", required=True, type=Path, help="JSON Lines log (appended)")
    p.add_argument("--interval", type=float, default=5.0, help="seconds between polls (default 5)")
    auth = p.add_mutually_exclusive_group()
    auth.add_argument("--cookie", type=Path, help="Bitcoin Core .cookie file")
    auth.add_argument("--user", help="rpcuser (with --password)")
    p.add_argument("--password", help="rpcpassword")
    p.add_argument("--max-polls", type=int, help="stop after N polls (default: run until Ctrl-C)")
    p.set_defaults(func=_watch)

    p = cmds.add_parser("cluster", help="multi-input address clustering with the CoinJoin guard")
    p.add_argument("chain_dir", type=Path, metavar="DIR", help="an ingest folder")
    p.add_argument("--out", required=True, type=Path, help="clusters.parquet")
    p.add_argument("--engine", default="local", choices=["local", "spark"])
    p.add_argument("--heuristics", help=HEURISTICS_HELP)
    p.add_argument(
        "--no-coinjoin-guard", action="store_true", help="drop the CoinJoin rules from the policy"
    )
    p.add_argument(
        "--change-heuristic",
        action="store_true",
        help="add one_time_change to the policy (off by default: can create super-clusters)",
    )
    p.add_argument(
        "--payee-change",
        type=Path,
        metavar="SITE_ADDRESSES",
        help="the payee's addresses (one a line) for known_payee_change: in a two-output payment "
        "to one of them, the other output is the payer's change (without them the rule is "
        "inactive, and the output says so)",
    )
    p.add_argument("--spark-master", default="local[*]", help="Spark master (default local[*])")
    p.set_defaults(func=_cluster, **fields_of(CHAIN))

    p = cmds.add_parser("match", help="match ads to their Bitcoin payments (Portnoff et al. 2017)")
    p.add_argument("--ads", required=True, type=Path, help="ads: parquet/csv/jsonl")
    p.add_argument("--chain", required=True, type=Path, help="an ingest folder with first_seen")
    p.add_argument("--rates", required=True, type=Path, help="BTC/USD CSV series")
    site = p.add_mutually_exclusive_group(required=True)
    site.add_argument(
        "--site-addresses", type=Path, help="the site's payment addresses, one a line"
    )
    site.add_argument(
        "--site-seed-addresses",
        type=Path,
        help="known site addresses; the site is their clusters (needs clusters)",
    )
    p.add_argument("--clusters", type=Path, help="clusters.parquet (default: cluster DIR now)")
    p.add_argument("--out", required=True, type=Path, help="matches.parquet")
    follow = "the ad may follow the payment's first-seen minute by up to N minutes"
    p.add_argument("--window-minutes", type=int, help=f"{follow} (default %(default)s)")
    late = "the payment may be first seen up to N minutes after the ad's minute"
    p.add_argument("--minutes-after", type=int, help=f"{late} (default %(default)s)")
    p.add_argument("--tol", type=float, help="price tolerance (default %(default)s)")
    p.add_argument("--tol-sponsored", type=float, help="for sponsored ads (%(default)s)")
    p.add_argument("--average-minutes", type=float, help="rate average (%(default)g)")
    p.add_argument("--engine", default="local", choices=["local", "spark"])
    p.add_argument("--heuristics", help=HEURISTICS_HELP + "; when it clusters DIR now")
    p.add_argument(
        "--truth", type=Path, help="simulator truth_ad_tx.parquet: report precision/recall"
    )
    p.add_argument(
        "--spark-master", default="local[*]", help="Spark master for --engine spark (local[*])"
    )
    p.set_defaults(func=_match, **fields_of(MATCH), **fields_of(CHAIN))


def _ingest(args: argparse.Namespace) -> int:
    from adowner.chain.address import select_network
    from adowner.chain.ingest import ingest

    select_network(args.network)
    summary = ingest(args.inputs, args.out, mempool_log=args.mempool_log)
    summary.pop("per_file", None)
    print(json.dumps(summary, indent=2))
    return 0


def _watch(args: argparse.Namespace) -> int:
    from adowner.chain.mempool import read_cookie, watch
    from adowner.errors import InputError

    auth = None
    if args.cookie:
        auth = read_cookie(args.cookie)
    elif args.user:
        if args.password is None:
            raise InputError("--user needs --password", field="password")
        auth = (args.user, args.password)
    stats = watch(args.rpc, args.out, interval=args.interval, auth=auth, max_polls=args.max_polls)
    print(json.dumps(stats), file=sys.stderr)
    return 0


def _cluster(args: argparse.Namespace) -> int:
    from adowner.chain.cluster import cluster_dir
    from adowner.chain.match import read_address_list

    spark = None
    if args.engine == "spark":
        from adowner.chain.spark import spark_session

        spark = spark_session(args.spark_master)
    stats = cluster_dir(
        args.chain_dir,
        args.out,
        engine=args.engine,
        policy=args.heuristics,
        coinjoin_guard=False if args.no_coinjoin_guard else None,
        change_heuristic=args.change_heuristic,
        spark=spark,
        payees=set(read_address_list(args.payee_change)) if args.payee_change else None,
    )
    print(json.dumps(stats, indent=2))
    return 0


def _match(args: argparse.Namespace) -> int:
    import pandas as pd

    from adowner._io import write_json
    from adowner.chain import match as M
    from adowner.chain.rates import read_rates
    from adowner.chain.tables import MATCHES, write_table

    rule = {
        "window_minutes": args.window_minutes,
        "minutes_after": args.minutes_after,
        "tol": args.tol,
        "tol_sponsored": args.tol_sponsored,
    }
    site = M.read_address_list(args.site_addresses) if args.site_addresses else None
    seeds = M.read_address_list(args.site_seed_addresses) if args.site_seed_addresses else None
    if args.engine == "spark":  # DataFrame operations end to end, written by Spark
        from adowner.chain.spark import spark_session

        summary = M.match_chain_spark(
            spark_session(args.spark_master),
            args.ads,
            args.chain,
            read_rates(args.rates),
            args.out,
            site=site,
            site_seeds=seeds,
            clusters=args.clusters,
            policy=args.heuristics,
            average_minutes=args.average_minutes,
            **rule,
        )
        summary["rule"] = rule
        if args.truth:
            matches = pd.read_parquet(args.out)
            summary["evaluation"] = M.evaluate(matches, pd.read_parquet(args.truth))
        write_json(summary, args.out.with_suffix(".json"))
        print(json.dumps(summary, indent=2))
        return 0
    run = M.match_chain(
        M.ads_to_match(args.ads),
        args.chain,
        read_rates(args.rates),
        site=site,
        site_seeds=seeds,
        clusters=args.clusters,
        policy=args.heuristics,
        average_minutes=args.average_minutes,
        engine=args.engine,
        **rule,
    )
    matches, payments = run.matches, run.payments
    write_table(matches, MATCHES, args.out)
    summary = {
        "ads": len(matches),
        "site_addresses": len(run.site),
        "payments": len(payments),
        "payments_without_first_seen": payments.attrs.get("no_first_seen", 0),
        "status": {str(k): int(v) for k, v in matches["match_status"].value_counts().items()},
        "rule": rule,
        "policy": run.policy,
    }
    if args.truth:
        summary["evaluation"] = M.evaluate(matches, pd.read_parquet(args.truth))
    write_json(summary, args.out.with_suffix(".json"))
    print(json.dumps(summary, indent=2))
    return 0
