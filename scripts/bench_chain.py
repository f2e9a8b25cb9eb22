"""Chain benchmarks: clustering throughput (vs networkx), Spark at three sizes, matching throughput.

    python scripts/bench_chain.py cluster --inputs 100000 1000000
    python scripts/bench_chain.py spark --inputs 2000 20000 100000
    python scripts/bench_chain.py match --ads 100000 --payments 1000000

Synthetic chains: ``n`` inputs in transactions of 1-6 inputs (geometric), drawing addresses
from a pool of ``n/2`` with Zipf-like reuse, so wallets merge through shared addresses as in
the real chain. Both sides of each comparison run on the same graph in the same process.
Prints one JSON line per measurement.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pandas as pd


def synthetic_chain(n_inputs: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    sizes = np.minimum(rng.geometric(0.5, n_inputs), 6)
    sizes = sizes[np.cumsum(sizes) <= n_inputs]
    txid = np.repeat(np.arange(len(sizes)), sizes)
    pool = max(n_inputs // 2, 2)
    addr_ids = (rng.pareto(1.2, len(txid)) * pool / 20).astype(np.int64) % pool
    addr = np.char.add("1addr", addr_ids.astype(str)).astype(object)
    tx = np.char.add("tx", txid.astype(str)).astype(object)
    idx = np.concatenate([np.arange(s) for s in sizes]) if len(sizes) else np.array([], int)
    inputs = pd.DataFrame({"txid": tx, "index": idx, "spent_txid": "p", "address": addr})
    # two outputs per transaction: a payment and change, values random
    outputs = pd.DataFrame(
        {
            "txid": np.repeat(
                np.char.add("tx", np.arange(len(sizes)).astype(str)).astype(object), 2
            ),
            "n": np.tile([0, 1], len(sizes)),
            "address": np.char.add("1out", np.arange(2 * len(sizes)).astype(str)).astype(object),
            "value_sat": rng.integers(1_000, 10**8, 2 * len(sizes)),
            "script_type": "pubkeyhash",
        }
    )
    return inputs, outputs


def bench_cluster(sizes: list[int]) -> None:
    import networkx as nx

    from adowner.chain.cluster import cluster_tables, multi_input_edges

    for n in sizes:
        inputs, outputs = synthetic_chain(n)
        t0 = time.perf_counter()
        _clusters, _, stats = cluster_tables(inputs, outputs)
        ours = time.perf_counter() - t0
        # networkx on the same edges and nodes (the graph build is part of its cost, as ours).
        t0 = time.perf_counter()
        edges = multi_input_edges(inputs, set())
        g = nx.Graph()
        g.add_nodes_from(pd.concat([inputs["address"], outputs["address"]]).unique())
        g.add_edges_from(zip(edges["src"], edges["dst"], strict=True))
        n_comp = sum(1 for _ in nx.connected_components(g))
        theirs = time.perf_counter() - t0
        assert n_comp == stats["clusters"], (n_comp, stats["clusters"])
        print(
            json.dumps(
                {
                    "bench": "cluster",
                    "inputs": n,
                    "addresses": stats["addresses"],
                    "clusters": stats["clusters"],
                    "adowner_local_s": round(ours, 3),
                    "adowner_inputs_per_s": round(n / ours),
                    "of_which_prepare_s": round(stats["prepare_s"], 3),
                    "of_which_components_s": round(stats["components_s"], 3),
                    "networkx_s": round(theirs, 3),
                    "networkx_inputs_per_s": round(n / theirs),
                }
            ),
            flush=True,
        )


def bench_spark(sizes: list[int]) -> None:
    from adowner.chain.cluster import cluster_tables
    from adowner.chain.spark import spark_session

    t0 = time.perf_counter()
    spark = spark_session("local[2]", shuffle_partitions=4)
    print(json.dumps({"bench": "spark_start", "s": round(time.perf_counter() - t0, 1)}), flush=True)
    for n in sizes:
        inputs, outputs = synthetic_chain(n)
        local, _, _ = cluster_tables(inputs, outputs)
        t0 = time.perf_counter()
        on_spark, _, stats = cluster_tables(inputs, outputs, engine="spark", spark=spark)
        took = time.perf_counter() - t0
        assert local.equals(on_spark)
        print(
            json.dumps(
                {
                    "bench": "spark_cluster",
                    "inputs": n,
                    "edges": stats["edges"],
                    "spark_s": round(took, 1),
                    "of_which_components_s": round(stats["components_s"], 1),
                    "identical_to_local": True,
                }
            ),
            flush=True,
        )
    spark.stop()


def bench_match(n_ads: int, n_payments: int, days: float = 30.0) -> None:
    from adowner.chain.match import match_ads

    rng = np.random.default_rng(0)
    t0 = pd.Timestamp("2015-07-01", tz="UTC")
    idx = pd.date_range(t0 - pd.Timedelta(days=1), t0 + pd.Timedelta(days=days + 1), freq="10min")
    rates = pd.Series(250 * np.exp(np.cumsum(rng.normal(0, 0.0025, len(idx)))), index=idx)
    prices = np.array([5, 8, 10, 12, 15, 20, 25, 30, 40, 60, 75], float)
    seen = t0 + pd.to_timedelta(np.sort(rng.uniform(0, days * 86400, n_payments)), unit="s")
    usd = rng.choice(prices, n_payments) * rng.normal(1, 0.004, n_payments)
    from adowner.chain.rates import rate_at

    value = np.rint(usd / rate_at(rates, seen) * 1e8).astype(np.int64)
    payments = pd.DataFrame(
        {
            "txid": np.char.add("t", np.arange(n_payments).astype(str)).astype(object),
            "vout": 0,
            "value_sat": value,
            "first_seen": seen,
        }
    )
    pick = rng.choice(n_payments, min(n_ads, n_payments), replace=False)
    ads = pd.DataFrame(
        {
            "ad_id": np.arange(len(pick)).astype(str),
            "posted_at": seen[pick] + pd.to_timedelta(rng.uniform(1, 59, len(pick)), unit="s"),
            "price_usd": usd[pick].round(0),
            "sponsored": rng.random(len(pick)) < 0.1,
        }
    )
    start = time.perf_counter()
    m = match_ads(ads, payments, rates)
    took = time.perf_counter() - start
    print(
        json.dumps(
            {
                "bench": "match",
                "ads": len(ads),
                "payments": n_payments,
                "days": days,
                "s": round(took, 2),
                "ads_per_s": round(len(ads) / took),
                "status": m["match_status"].value_counts().to_dict(),
            }
        ),
        flush=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    c = sub.add_parser("cluster")
    c.add_argument("--inputs", type=int, nargs="+", default=[100_000, 1_000_000])
    s = sub.add_parser("spark")
    s.add_argument("--inputs", type=int, nargs="+", default=[2_000, 20_000, 100_000])
    m = sub.add_parser("match")
    m.add_argument("--ads", type=int, default=100_000)
    m.add_argument("--payments", type=int, default=1_000_000)
    m.add_argument("--days", type=float, default=30.0)
    args = ap.parse_args()
    if args.what == "cluster":
        bench_cluster(args.inputs)
    elif args.what == "spark":
        bench_spark(args.inputs)
    else:
        bench_match(args.ads, args.payments, args.days)


if __name__ == "__main__":
    main()
