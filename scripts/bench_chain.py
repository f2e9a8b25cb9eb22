"""Chain benchmarks: clustering throughput (vs networkx), Spark at three sizes, matching throughput.

    python scripts/bench_chain.py scale --inputs 200000 2000000      # issue 17's benchmark
    python scripts/bench_chain.py cluster --inputs 100000 1000000
    python scripts/bench_chain.py spark --inputs 2000 20000 100000
    python scripts/bench_chain.py spark --scale --inputs 200000 1000000 2000000   # issue 17
    python scripts/bench_chain.py spark-levers --inputs 1000000 --partitions 2 8
    python scripts/bench_chain.py match --ads 100000 --payments 1000000

``scale`` (issue 17): ``adowner.chain.synthetic.write_ingest_folder`` writes an ingest folder (the ``chain.schema``
tables, Parquet) of ``n`` inputs with real-length ids (64-hex txids and spent txids, 42-character
bech32 addresses), Zipf-like address reuse, two outputs a transaction (a payment to a reused
address and fresh change) and one Whirlpool-shaped CoinJoin in 100 transactions (5 inputs, 5
outputs of 0.01 BTC) so that the guard has work. Each size is timed in a fresh subprocess (peak
RSS is the process's ``ru_maxrss``): ``adowner chain cluster`` end to end (read, guard, change
rules, components, writes), the bare reference (pyarrow read of ``inputs.parquet``, pandas
factorize of txid and address, scipy connected components of the address-transaction graph, no
guard, nothing written) and networkx on the same bipartite graph (``--networkx-max``). The
peers alternate ``--repeat`` times; each one's best time is kept, and the median of the
adowner/bare ratios of the pairs, so that a change of load hits both. Times include each
process's imports. CPU seconds (user + system, all threads) are given too: on a shared
machine they move less with the load than wall time does.

Synthetic chains (``cluster``, ``spark``): ``n`` inputs in transactions of 1-6 inputs (geometric), drawing addresses
from a pool of ``n/2`` with Zipf-like reuse, so wallets merge through shared addresses as in
the real chain. Both sides of each comparison run on the same graph in the same process.
Prints one JSON line per measurement.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

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


def bare_reference(chain_dir: Path) -> dict:
    """Issue 17's bare reference: pyarrow read, pandas factorize, scipy components, no guard."""
    import pyarrow.parquet as pq
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    t = pq.read_table(chain_dir / "inputs.parquet", columns=["txid", "address"]).to_pandas()
    tx, txs = pd.factorize(t["txid"])
    addr, addrs = pd.factorize(t["address"])
    ok = addr >= 0
    n_a, n = len(addrs), len(addrs) + len(txs)
    g = coo_matrix(
        (np.ones(int(ok.sum()), np.int8), (addr[ok], n_a + tx[ok])), shape=(n, n)
    ).tocsr()
    _, labels = connected_components(g, directed=False)
    return {"components_with_an_address": len(np.unique(labels[:n_a])), "addresses": n_a}


def networkx_reference(chain_dir: Path) -> dict:
    """networkx on the same address-transaction graph as :func:`bare_reference`."""
    import networkx as nx
    import pyarrow.parquet as pq

    t = pq.read_table(chain_dir / "inputs.parquet", columns=["txid", "address"]).to_pandas()
    t = t[t["address"].notna()]
    g = nx.Graph()
    g.add_edges_from(zip(t["address"], "tx:" + t["txid"], strict=True))
    n = sum(1 for _ in nx.connected_components(g))
    return {"components": n}


def _timed_child(what: str, chain_dir: str, out: str) -> None:
    """Run one measurement in this (fresh) process and print time and peak RSS as JSON."""
    import resource

    t0 = time.perf_counter()
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    cpu0 = r0.ru_utime + r0.ru_stime
    if what == "adowner":
        from adowner.chain.cluster import cluster_dir

        stats = cluster_dir(chain_dir, out)
        extra = {
            k: stats.get(k) for k in ("addresses", "clusters", "skipped_transactions", "policy")
        }
        extra["stages_s"] = {k: round(v, 3) for k, v in stats.get("stages_s", {}).items()}
    elif what == "bare":
        extra = bare_reference(Path(chain_dir))
    else:
        extra = networkx_reference(Path(chain_dir))
    took = time.perf_counter() - t0
    use = resource.getrusage(resource.RUSAGE_SELF)
    cpu = use.ru_utime + use.ru_stime - cpu0
    print(json.dumps({"s": took, "cpu_s": cpu, "peak_rss_bytes": use.ru_maxrss * 1024, **extra}))


def bench_scale(
    sizes: list[int], workdir: Path, networkx_max: int, keep: bool, repeat: int = 3
) -> None:
    import shutil
    import subprocess
    import sys

    from adowner.chain.synthetic import write_ingest_folder

    for n in sizes:
        d = workdir / f"chain_{n}"
        t0 = time.perf_counter()
        counts = write_ingest_folder(n, d)
        gen_s = time.perf_counter() - t0
        row: dict[str, Any] = {"bench": "scale", **counts, "generate_s": round(gen_s, 1)}
        peers = ["adowner", "bare"] + (["networkx"] if n <= networkx_max else [])
        runs: dict[str, list[dict[str, Any]]] = {p: [] for p in peers}
        for _ in range(repeat):  # alternate the peers, so that load changes hit both
            for what in peers:
                res = subprocess.run(
                    [sys.executable, __file__, "_child", what, str(d), str(d / "clusters.parquet")],
                    check=True,
                    capture_output=True,
                    text=True,
                )
                runs[what].append(json.loads(res.stdout.strip().splitlines()[-1]))
        for what in peers:
            best = min(runs[what], key=lambda r: r["s"])
            row[f"{what}_s"] = round(best["s"], 3)
            row[f"{what}_all_s"] = [round(r["s"], 2) for r in runs[what]]
            row[f"{what}_cpu_s"] = round(min(r["cpu_s"] for r in runs[what]), 3)
            row[f"{what}_inputs_per_s"] = round(counts["inputs"] / row[f"{what}_s"])
            rss = max(r["peak_rss_bytes"] for r in runs[what])
            row[f"{what}_peak_rss_mb"] = round(rss / 2**20)
            row[f"{what}_bytes_per_input"] = round(rss / counts["inputs"])
            if what == "adowner":
                drop = ("s", "cpu_s", "peak_rss_bytes")
                extra = {k: v for k, v in best.items() if k not in drop}
                extra["policy"] = extra["policy"]["spec"]
                row.update({f"adowner_{k}": v for k, v in extra.items()})
        ratios = sorted(a["s"] / b["s"] for a, b in zip(runs["adowner"], runs["bare"], strict=True))
        row["adowner_over_bare_median_of_pairs"] = round(ratios[len(ratios) // 2], 2)
        row["adowner_over_bare_cpu"] = round(row["adowner_cpu_s"] / row["bare_cpu_s"], 2)
        row["adowner_over_bare_best"] = round(row["adowner_s"] / row["bare_s"], 2)
        print(json.dumps(row), flush=True)
        if not keep:
            shutil.rmtree(d)


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
                    "of_which_components_s": round(stats["stages_s"]["components_s"], 3),
                    "stages_s": {k: round(v, 3) for k, v in stats["stages_s"].items()},
                    "networkx_s": round(theirs, 3),
                    "networkx_inputs_per_s": round(n / theirs),
                }
            ),
            flush=True,
        )


def _tree_hwm_bytes(pid: int) -> int:
    """Peak RSS (``VmHWM``) of a process and all its live descendants, summed."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            total += next(
                int(ln.split()[1]) * 1024 for ln in status.splitlines() if ln.startswith("VmHWM")
            )
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, StopIteration):
            continue
    return total


def _spark_child(chain_dir: str, out: str, master: str) -> None:
    """One Spark ``cluster_dir`` in this fresh process: session start, run, peak memory."""
    import resource

    from adowner.chain.cluster import cluster_dir
    from adowner.chain.spark import spark_session

    t0 = time.perf_counter()
    spark = spark_session(master)
    start_s = time.perf_counter() - t0
    stats = cluster_dir(chain_dir, out, engine="spark", spark=spark)
    jvm = spark.sparkContext._gateway.proc.pid  # the driver JVM (local[N]: executors inside)
    peak = _tree_hwm_bytes(jvm) + resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    spark.stop()
    print(
        json.dumps(
            {
                "session_start_s": start_s,
                "s": stats["total_s"],
                "peak_rss_bytes": peak,
                "shuffle_partitions": stats["shuffle_partitions"],
                "clusters": stats["clusters"],
                "stages_s": {k: round(v, 2) for k, v in stats["stages_s"].items()},
            }
        )
    )


def _local_child(chain_dir: str, out: str) -> None:
    import resource

    from adowner.chain.cluster import cluster_dir

    stats = cluster_dir(chain_dir, out)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(
        json.dumps({"s": stats["total_s"], "peak_rss_bytes": peak, "clusters": stats["clusters"]})
    )


def bench_spark_scale(sizes: list[int], workdir: Path, master: str) -> None:
    """Issue 17's generator (real-length ids), ``cluster_dir`` local then Spark then local,
    each in a fresh process; ``s`` is ``cluster_dir``'s own time (read to summary written,
    Spark's session start apart); clusters compared address by address."""
    import shutil
    import subprocess
    import sys

    from adowner.chain.synthetic import write_ingest_folder

    for n in sizes:
        d = workdir / f"chain_{n}"
        counts = write_ingest_folder(n, d)
        runs: dict[str, list[dict[str, Any]]] = {"local": [], "spark": []}
        for what in ("local", "spark", "local"):
            out = d / f"{what}.parquet"
            cmd = [sys.executable, __file__, f"_{what}_child", str(d), str(out)]
            res = subprocess.run(
                cmd + ([master] if what == "spark" else []),
                check=True,
                capture_output=True,
                text=True,
            )
            runs[what].append(json.loads(res.stdout.strip().splitlines()[-1]))
        a = pd.read_parquet(d / "local.parquet")
        b = pd.read_parquet(d / "spark.parquet")
        identical = bool(a.equals(b))
        local_s = min(r["s"] for r in runs["local"])
        sp = runs["spark"][0]
        print(
            json.dumps(
                {
                    "bench": "spark_scale",
                    "master": master,
                    **counts,
                    "spark_s": round(sp["s"], 1),
                    "spark_inputs_per_s": round(counts["inputs"] / sp["s"]),
                    "spark_session_start_s": round(sp["session_start_s"], 1),
                    "spark_peak_rss_mb": round(sp["peak_rss_bytes"] / 2**20),
                    "spark_shuffle_partitions": sp["shuffle_partitions"],
                    "spark_stages_s": sp["stages_s"],
                    "local_s": round(local_s, 2),
                    "local_all_s": [round(r["s"], 2) for r in runs["local"]],
                    "local_inputs_per_s": round(counts["inputs"] / local_s),
                    "local_peak_rss_mb": round(
                        max(r["peak_rss_bytes"] for r in runs["local"]) / 2**20
                    ),
                    "spark_over_local": round(sp["s"] / local_s, 1),
                    "identical_to_local": identical,
                }
            ),
            flush=True,
        )
        shutil.rmtree(d)


def bench_spark(sizes: list[int]) -> None:
    from adowner.chain.cluster import cluster_tables
    from adowner.chain.spark import spark_session

    t0 = time.perf_counter()
    spark = spark_session("local[2]", shuffle_partitions=4)
    print(json.dumps({"bench": "spark_start", "s": round(time.perf_counter() - t0, 1)}), flush=True)
    for n in sizes:
        inputs, outputs = synthetic_chain(n)
        t0 = time.perf_counter()
        local, _, _ = cluster_tables(inputs, outputs)
        local_s = time.perf_counter() - t0
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
                    "local_s": round(local_s, 2),
                    "spark_over_local": round(took / local_s, 1),
                    "of_which_components_s": round(stats["stages_s"]["components_s"], 1),
                    "identical_to_local": True,
                }
            ),
            flush=True,
        )
    spark.stop()


def bench_spark_levers(sizes: list[int], partitions: list[int]) -> None:
    """The components alone, on the multi-input edges of the bench's chain: each lever on/off.

    Variants: node ids (the addresses, or their ``xxhash64``), the local contraction first or
    not, and the shuffle partitions; each checked equal to scipy's components.
    """
    from pyspark.sql import functions as F

    from adowner.chain.cluster import multi_input_edges
    from adowner.chain.spark import components_df, spark_session

    spark = spark_session("local[2]", shuffle_partitions=max(partitions))
    for n in sizes:
        inputs, _ = synthetic_chain(n)
        edges = multi_input_edges(inputs, set())
        codes, uniq = pd.factorize(pd.concat([edges["src"], edges["dst"]]))
        want = _scipy_roots(codes, len(edges), np.asarray(uniq, dtype=object))
        for parts in partitions:
            spark.conf.set("spark.sql.shuffle.partitions", str(parts))
            sdf = spark.createDataFrame(edges, "src string, dst string").repartition(parts)
            sdf = sdf.localCheckpoint(eager=True)
            for ids in ("string", "xxhash64"):
                e = (
                    sdf
                    if ids == "string"
                    else sdf.select(
                        F.xxhash64("src").alias("src"), F.xxhash64("dst").alias("dst")
                    ).localCheckpoint(eager=True)
                )
                for local_first in (False, True):
                    t0 = time.perf_counter()
                    roots = components_df(e, local_first=local_first).localCheckpoint(eager=True)
                    took = time.perf_counter() - t0
                    got = roots.toPandas()
                    if ids == "xxhash64":
                        names = sdf.select(F.col("src").alias("a")).union(sdf.select("dst"))
                        names = names.distinct().select("a", F.xxhash64("a").alias("h")).toPandas()
                        h2a = dict(zip(names["h"], names["a"], strict=True))
                        got = pd.DataFrame({"u": got["u"].map(h2a), "v": got["v"].map(h2a)})
                    # same partition of the nodes as scipy (roots differ with hashed ids)
                    same = _same_partition(got, want)
                    print(
                        json.dumps(
                            {
                                "bench": "spark_components",
                                "inputs": n,
                                "edges": len(edges),
                                "shuffle_partitions": parts,
                                "ids": ids,
                                "local_first": local_first,
                                "s": round(took, 2),
                                "same_components_as_scipy": same,
                            }
                        ),
                        flush=True,
                    )
    spark.stop()


def _scipy_roots(codes: np.ndarray, m: int, names: np.ndarray) -> dict[str, str]:
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(names)
    g = coo_matrix((np.ones(m, np.int8), (codes[:m], codes[m:])), shape=(n, n))
    _, labels = connected_components(g, directed=False)
    return dict(zip(names, labels, strict=True))


def _same_partition(mapping: pd.DataFrame, labels: dict[str, Any]) -> bool:
    """True when node -> root (roots left out) groups the nodes as ``labels`` does."""
    root = dict(zip(mapping["u"], mapping["v"], strict=True))
    groups: dict[Any, set[Any]] = {}
    for node in labels:
        groups.setdefault(root.get(node, node), set()).add(node)
    return sorted(len(g) for g in groups.values()) == sorted(
        pd.Series(labels).value_counts().tolist()
    ) and all(len({labels[x] for x in g}) == 1 for g in groups.values())


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
    sc = sub.add_parser("scale", help="issue 17: ingest folder, adowner vs bare vs networkx")
    sc.add_argument("--inputs", type=int, nargs="+", default=[200_000, 2_000_000])
    sc.add_argument("--networkx-max", type=int, default=200_000, help="networkx up to N inputs")
    sc.add_argument("--workdir", type=Path, help="where the ingest folders go (default: temp)")
    sc.add_argument("--keep", action="store_true", help="keep the ingest folders")
    sc.add_argument("--repeat", type=int, default=3, help="runs of each peer (best time kept)")
    ch = sub.add_parser("_child")
    ch.add_argument("peer")
    ch.add_argument("chain_dir")
    ch.add_argument("out")
    c = sub.add_parser("cluster")
    c.add_argument("--inputs", type=int, nargs="+", default=[100_000, 1_000_000])
    s = sub.add_parser("spark")
    s.add_argument("--inputs", type=int, nargs="+", default=[2_000, 20_000, 100_000])
    s.add_argument(
        "--scale",
        action="store_true",
        help="issue 17's generator (real-length ids), chain cluster on the folder, fresh processes",
    )
    s.add_argument("--master", default="local[2]", help="Spark master with --scale")
    s.add_argument("--workdir", type=Path, help="where the ingest folders go (default: temp)")
    for name in ("_local_child", "_spark_child"):
        cc = sub.add_parser(name)
        cc.add_argument("chain_dir")
        cc.add_argument("out")
        if name == "_spark_child":
            cc.add_argument("master")
    sl = sub.add_parser("spark-levers", help="the Spark components alone, each lever on/off")
    sl.add_argument("--inputs", type=int, nargs="+", default=[1_000_000])
    sl.add_argument("--partitions", type=int, nargs="+", default=[2, 8])
    m = sub.add_parser("match")
    m.add_argument("--ads", type=int, default=100_000)
    m.add_argument("--payments", type=int, default=1_000_000)
    m.add_argument("--days", type=float, default=30.0)
    args = ap.parse_args()
    if args.what == "_child":
        _timed_child(args.peer, args.chain_dir, args.out)
    elif args.what == "scale":
        with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
            bench_scale(args.inputs, Path(tmp), args.networkx_max, args.keep, args.repeat)
    elif args.what == "cluster":
        bench_cluster(args.inputs)
    elif args.what == "_local_child":
        _local_child(args.chain_dir, args.out)
    elif args.what == "_spark_child":
        _spark_child(args.chain_dir, args.out, args.master)
    elif args.what == "spark" and args.scale:
        with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
            bench_spark_scale(args.inputs, Path(tmp), args.master)
    elif args.what == "spark":
        bench_spark(args.inputs)
    elif args.what == "spark-levers":
        bench_spark_levers(args.inputs, args.partitions)
    else:
        bench_match(args.ads, args.payments, args.days)


if __name__ == "__main__":
    main()
