"""Address clustering: the multi-input heuristic, the CoinJoin guard and change rules, by policy.

What it computes: all input addresses of one transaction belong to one wallet (Meiklejohn et
al., IMC 2013; Nakamoto 2008, section 10). Linking them for every transaction and taking
connected components gives wallet clusters. Which rules apply is a named policy
(``chain.policy``; default :data:`adowner.defaults.CHAIN`): ``multi_input``, the CoinJoin guard's
rules (``chain.coinjoin``: transactions they flag are left out and listed with the rule that
skipped them) and the change rules (``chain.change``: ``known_payee_change`` with the payee's
addresses, ``one_time_change``).

How the local engine runs (issue 17: at most twice the bare algorithm's time):

1. Read only the needed columns with pyarrow (``txid, address, spent_vout`` of inputs;
   ``txid, address, value_sat, script_type`` of outputs); ``spent_txid`` only if some input
   has the coinbase's vout, to drop coinbase rows.
2. One Arrow dictionary encoding of all addresses (inputs and outputs) and one of all txids:
   every rule works on these int32 codes; no Python strings, no pandas object columns.
3. The guard's per-transaction features are integer aggregates (``bincount``, one sort of the
   candidate transactions' outputs, ``chain.coinjoin.features_coded``), computed only for
   transactions that any rule could flag (2+ inputs and 2+ outputs).
4. Edges: each kept input's address to one representative input address of its transaction;
   change rules add (change output, representative) edges. scipy ``connected_components``.
5. A cluster's id is its smallest address (as a string), so results compare exactly across
   engines and runs: only the members of clusters of two or more are sorted (Arrow sort).

| engine  | how                                                                             |
|---------|---------------------------------------------------------------------------------|
| local   | the steps above                                                                 |
| spark   | the read, the guard (the same ``chain.coinjoin.RULES`` functions, over          |
|         | per-transaction Spark aggregates), the edges, the change rules, the components  |
|         | (hashed ids, local contraction, large-star/small-star) and the writes as        |
|         | DataFrame operations (``chain.spark.cluster_spark``); only counts reach the     |
|         | driver                                                                          |

Requires: an ingest folder (``transactions``, ``inputs``, ``outputs`` Parquet).

Output (``clusters.parquet``): ``address, cluster_id, cluster_size``, one row per address seen
in inputs or outputs (in order of first appearance, inputs first), the policy in the schema
metadata (``chain.policy.read_policy``). Beside it: ``<stem>_skipped.parquet`` (``txid, rule``:
the CoinJoin rule that left the transaction out), ``<stem>_links.parquet`` (``txid, rule,
address``: every link and the rule that made it; ``address`` is the change output for a change
rule and null for ``multi_input``, which joins all the transaction's input addresses) and
``<stem>.json`` (counts, sizes, policy, timings by stage).

With ``engine="spark"`` the three outputs are Parquet *folders* of ``part-*.parquet`` files
written by Spark's executors (each into a temporary folder beside its target, then renamed);
the policy, which Spark's writer cannot put into a footer, is in ``<stem>.json``
(``chain.policy.read_policy`` reads either layout). pandas, pyarrow and polars read such a
folder as one table (``pd.read_parquet("clusters.parquet")``), so ``chain match --clusters``
and ``link --chain`` take both.

Example::

    summary = cluster_dir("chain/", "clusters.parquet")                     # default policy
    summary = cluster_dir("chain/", "c.parquet", policy=Policy.parse("multi_input"))
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from adowner._io import atomic_path, write_json
from adowner.chain.change import change_coded
from adowner.chain.coinjoin import SEGWIT_TYPES, coinjoin_rule, features_coded, segwit_codes
from adowner.chain.policy import METADATA_KEY, Policy
from adowner.chain.schema import COINBASE_TXID, COINBASE_VOUT
from adowner.defaults import CHAIN
from adowner.errors import InputError
from adowner.log import get_logger

log = get_logger(__name__)

INPUT_COLUMNS = ("txid", "address", "spent_vout")
OUTPUT_COLUMNS = ("txid", "address", "value_sat", "script_type")
NO_PAYEES = "no payee addresses given (chain cluster --payee-change FILE)"


@dataclass
class Coded:
    """The chain as integer codes: what every rule of the engine works on.

    ``addresses`` and ``txids`` are the Arrow dictionaries (unique strings, in order of first
    appearance); ``in_*`` rows are the spending inputs, ``out_*`` the outputs; address code -1
    means no address.
    """

    addresses: pa.Array
    txids: pa.Array
    in_tx: np.ndarray
    in_addr: np.ndarray
    out_tx: np.ndarray
    out_addr: np.ndarray
    out_value: np.ndarray
    out_segwit: np.ndarray

    @property
    def n_addr(self) -> int:
        return len(self.addresses)

    @property
    def n_tx(self) -> int:
        return len(self.txids)


def _require(d: Path) -> None:
    for name in ("inputs", "outputs"):
        if not (d / f"{name}.parquet").is_file():
            raise InputError(
                f"not an ingest folder: {name}.parquet is missing (run `adowner chain ingest`)",
                path=str(d),
            )


def read_chain(chain_dir: str | os.PathLike[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The spending inputs (``txid, address``) and outputs of an ingest folder (polars frames).

    Only the needed columns are read; ``spent_txid`` only where an input has the coinbase's
    vout (the schema keeps coinbase inputs out, folders written by other tools may not).
    polars reads these Parquet files three times faster than ``pyarrow.parquet.read_table`` on
    the benchmark's folder (docs/BENCHMARKS.md, "Chain at scale").
    """
    d = Path(chain_dir)
    _require(d)
    ipath = d / "inputs.parquet"
    names = set(pq.read_schema(ipath).names)
    inputs = pl.read_parquet(ipath, columns=[c for c in INPUT_COLUMNS if c in names])
    if "spent_vout" in names:
        maybe = inputs["spent_vout"] == COINBASE_VOUT
        if maybe.any():
            spent = pl.read_parquet(ipath, columns=["spent_txid"])["spent_txid"]
            inputs = inputs.filter(~(maybe & (spent == COINBASE_TXID)))
    else:
        spent = pl.read_parquet(ipath, columns=["spent_txid"])["spent_txid"]
        inputs = inputs.filter(spent != COINBASE_TXID)
    outputs = pl.read_parquet(d / "outputs.parquet", columns=list(OUTPUT_COLUMNS))
    return inputs.select(["txid", "address"]), outputs


def load_tables(chain_dir: str | os.PathLike[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ``inputs`` and ``outputs`` tables of an ingest folder, as pandas (matching, tests)."""
    d = Path(chain_dir)
    _require(d)
    inputs = pd.read_parquet(
        d / "inputs.parquet", columns=["txid", "index", "spent_txid", "address"]
    )
    outputs = pd.read_parquet(
        d / "outputs.parquet", columns=["txid", "n", "address", "value_sat", "script_type"]
    )
    return inputs, outputs


def _encode_exact(parts: list[pa.ChunkedArray]) -> tuple[pa.Array, list[np.ndarray]]:
    """One Arrow dictionary over all ``parts``: (dictionary, int32 codes of each, -1 = null)."""
    typ = pa.large_string()
    chunks = [c for p in parts for c in (p.cast(typ) if p.type != typ else p).chunks]
    lengths = [len(p) for p in parts]
    enc = pa.chunked_array(chunks, type=typ).dictionary_encode()
    if enc.num_chunks == 0:
        return pa.array([], typ), [np.zeros(0, np.int32) for _ in parts]
    enc = enc.unify_dictionaries()
    dictionary = enc.chunk(0).dictionary
    codes = np.concatenate(
        [np.asarray(pc.fill_null(c.indices, -1).to_numpy(), dtype=np.int32) for c in enc.chunks]
    )
    bounds = np.cumsum([0, *lengths])
    return dictionary, [codes[a:b] for a, b in itertools.pairwise(bounds)]


def encode_strings(parts: list[pl.Series]) -> tuple[pa.Array, list[np.ndarray]]:
    """One dictionary over the strings of all ``parts``: (unique strings in order of first
    appearance, int32 codes of each part, -1 = null).

    Fast path: polars' 64-bit string hash, factorised by pandas' integer hash table, then
    checked exactly (every string equals its code's first string); on a hash collision (never
    seen; about 1 in 10^7 at 3 B addresses) the Arrow dictionary encoding gives the result.
    On 4 M strings this is several times faster than hashing the strings in Arrow.
    """
    # One chunk first: polars gathers across chunks by copying the strings (ten times slower).
    s = pl.concat([p.cast(pl.String) for p in parts], rechunk=True)
    lengths = [len(p) for p in parts]
    valid = s.is_not_null().to_numpy()
    rows = np.flatnonzero(valid) if not valid.all() else None
    sv = s if rows is None else s.gather(rows)
    codes_v, _ = pd.factorize(sv.hash().to_numpy())
    # pandas numbers codes in order of first appearance: a code's first row is where it is new.
    new = np.r_[True, codes_v[1:] > np.maximum.accumulate(codes_v)[:-1]] if len(codes_v) else []
    first = np.flatnonzero(new)
    if not (sv == sv.gather(first[codes_v])).all():
        log.warning("64-bit hash collision among %d strings: exact dictionary encoding", len(s))
        return _encode_exact([pa.chunked_array([p.to_arrow()]) for p in parts])
    codes = np.full(len(s), -1, dtype=np.int32)
    if rows is None:
        codes[:] = codes_v
    else:
        codes[rows] = codes_v
    dictionary = sv.gather(first).to_arrow().cast(pa.large_string())
    bounds = np.cumsum([0, *lengths])
    return dictionary, [codes[a:b] for a, b in itertools.pairwise(bounds)]


def encode(inputs: pl.DataFrame, outputs: pl.DataFrame) -> Coded:
    """:class:`Coded` of the spending ``inputs`` (``txid, address``) and ``outputs``."""
    addresses, (in_addr, out_addr) = encode_strings([inputs["address"], outputs["address"]])
    txids, (in_tx, out_tx) = encode_strings([inputs["txid"], outputs["txid"]])
    out_segwit = outputs["script_type"].is_in(list(SEGWIT_TYPES)).fill_null(False)
    return Coded(
        addresses=addresses,
        txids=txids,
        in_tx=in_tx,
        in_addr=in_addr,
        out_tx=out_tx,
        out_addr=out_addr,
        out_value=outputs["value_sat"].cast(pl.Int64).to_numpy(),
        out_segwit=out_segwit.to_numpy(),
    )


def guard(c: Coded, rules: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(transaction codes the CoinJoin ``rules`` flag, the name of the rule for each)."""
    if not rules or c.n_tx == 0:
        return np.zeros(0, np.int64), np.zeros(0, dtype=object)
    segwit = segwit_codes(c.addresses)
    has = c.in_addr >= 0
    f = features_coded(
        c.in_tx,
        c.in_addr,
        has & segwit[np.where(has, c.in_addr, 0)],
        c.out_tx,
        c.out_value,
        c.out_segwit,
        c.n_tx,
        candidates_only=True,
    )
    rule = coinjoin_rule(f, rules).dropna()
    return rule.index.to_numpy(np.int64), rule.to_numpy(object)


def components_local(n: int, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """For nodes ``0..n-1`` and integer edges, the smallest node id of each node's component."""
    graph = coo_matrix((np.ones(len(src), dtype=np.int8), (src, dst)), shape=(n, n)).tocsr()
    n_comp, labels = connected_components(graph, directed=False)
    first = np.full(n_comp, n, dtype=np.int64)
    np.minimum.at(first, labels, np.arange(n, dtype=np.int64))
    return np.asarray(first[labels], dtype=np.int64)


def edges_coded(
    in_tx: np.ndarray, in_addr: np.ndarray, keep: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Integer edges linking each kept input's address to its transaction's first input address."""
    tx, addr = in_tx[keep], in_addr[keep]
    if len(tx) == 0:
        return addr, addr
    first_of = np.full(int(tx.max()) + 1, -1, dtype=np.int64)
    uniq, first = np.unique(tx, return_index=True)
    first_of[uniq] = addr[first]
    dst = first_of[tx]
    link = addr != dst
    return addr[link], dst[link]


def multi_input_edges(inputs: pd.DataFrame, skipped: set[str]) -> pd.DataFrame:
    """Edges ``src, dst`` (addresses) of the multi-input heuristic, leaving out ``skipped`` txids.

    A readable pandas version for peers (networkx in ``scripts/bench_chain.py``) and tests.
    """
    ok = (inputs["address"].notna() & (inputs["spent_txid"] != COINBASE_TXID)).to_numpy()
    ins = inputs[ok]
    tx, _ = pd.factorize(ins["txid"])
    addr, uniques = pd.factorize(ins["address"])
    keep = ~ins["txid"].isin(list(skipped)).to_numpy() if skipped else np.ones(len(ins), bool)
    src, dst = edges_coded(tx, addr, keep)
    u = np.asarray(uniques, dtype=object)
    return pd.DataFrame({"src": u[src], "dst": u[dst]})


def _smallest_string_roots(addresses: pa.Array, labels: np.ndarray) -> np.ndarray:
    """Per address code, the code of the smallest address string of its component."""
    n = len(labels)
    size = np.bincount(labels)
    members = np.flatnonzero(size[labels] >= 2)
    root = np.arange(n, dtype=np.int64)
    if len(members):
        order = np.asarray(pc.array_sort_indices(addresses.take(pa.array(members))).to_numpy())
        ranked = members[order]
        lab = labels[ranked]
        best = np.full(len(size), -1, dtype=np.int64)
        best[lab[::-1]] = ranked[::-1]  # reversed: the first (smallest) of each label is kept
        root[members] = best[labels[members]]
    return root


@dataclass
class Result:
    """The engine's output as Arrow tables, with the stats of the JSON summary."""

    clusters: pa.Table
    skipped: pa.Table
    links: pa.Table
    stats: dict[str, Any]


def cluster_frames(
    inputs: pl.DataFrame,
    outputs: pl.DataFrame,
    *,
    policy: Policy | None = None,
    payees: set[str] | None = None,
    engine: str = "local",
    spark: Any = None,
) -> Result:
    """Cluster the spending ``inputs`` (``txid, address``) and ``outputs`` under ``policy``."""
    policy = Policy.parse(CHAIN.heuristics) if policy is None else policy
    if policy.has("known_payee_change") and not payees:
        policy = policy.without("known_payee_change", NO_PAYEES)
    if engine not in ("local", "spark"):
        raise InputError(f"unknown engine {engine!r} (local or spark)", field="engine")
    if engine == "spark":
        return _cluster_frames_spark(inputs, outputs, policy, payees, spark)
    stages: dict[str, float] = {}
    t = time.perf_counter()
    c = encode(inputs, outputs)
    stages["encode_s"] = time.perf_counter() - t

    t = time.perf_counter()
    skip_tx, skip_rule = guard(c, policy.guard_rules)
    skip = np.zeros(c.n_tx, dtype=bool)
    skip[skip_tx] = True
    stages["guard_s"] = time.perf_counter() - t

    t = time.perf_counter()
    keep = (c.in_addr >= 0) & ~skip[c.in_tx]
    rep = np.full(c.n_tx, -1, dtype=np.int32)
    rep[c.in_tx[keep]] = c.in_addr[keep]  # any one input address of the transaction
    srcs, dsts, link_tx, link_rule, link_addr = [], [], [], [], []
    if policy.has("multi_input"):
        a = c.in_addr[keep]
        b = rep[c.in_tx[keep]]
        diff = a != b
        srcs.append(a[diff])
        dsts.append(b[diff])
        tx = np.flatnonzero(np.bincount(c.in_tx[keep][diff], minlength=c.n_tx))
        link_tx.append(tx)
        link_rule.append(np.full(len(tx), "multi_input", dtype=object))
        link_addr.append(np.full(len(tx), -1, dtype=np.int64))
    change_links: dict[str, int] = {}
    for rule in ("known_payee_change", "one_time_change"):
        if not policy.has(rule):
            continue
        payee = None
        if rule == "known_payee_change":
            value_set = pa.array(sorted(payees or ()), c.addresses.type)
            payee = np.asarray(
                pc.is_in(c.addresses, value_set).to_numpy(zero_copy_only=False), dtype=bool
            )
        rows, tx = change_coded(
            rule, rep, c.in_tx, c.in_addr, c.out_tx, c.out_addr, c.n_addr, payee
        )
        srcs.append(c.out_addr[rows])
        dsts.append(rep[tx])
        link_tx.append(tx)
        link_rule.append(np.full(len(tx), rule, dtype=object))
        link_addr.append(c.out_addr[rows].astype(np.int64))
        change_links[rule] = len(rows)
    src = np.concatenate(srcs) if srcs else np.zeros(0, np.int32)
    dst = np.concatenate(dsts) if dsts else np.zeros(0, np.int32)
    stages["edges_s"] = time.perf_counter() - t

    t = time.perf_counter()
    graph = coo_matrix(
        (np.ones(len(src), dtype=np.int8), (src, dst)), shape=(c.n_addr, c.n_addr)
    ).tocsr()
    _, labels = connected_components(graph, directed=False)
    root = _smallest_string_roots(c.addresses, labels)
    stages["components_s"] = time.perf_counter() - t

    t = time.perf_counter()
    sizes = np.bincount(root, minlength=c.n_addr)
    meta = {METADATA_KEY: json.dumps(policy.to_json()).encode()}
    clusters = pa.table(
        {
            "address": c.addresses,
            "cluster_id": c.addresses.take(pa.array(root)),
            "cluster_size": pa.array(sizes[root].astype(np.int64)),
        }
    ).replace_schema_metadata(meta)
    skipped = pa.table(
        {
            "txid": c.txids.take(pa.array(skip_tx)),
            "rule": pa.array(skip_rule.tolist(), pa.string()),
        }
    )
    l_addr = np.concatenate(link_addr) if link_addr else np.zeros(0, np.int64)
    links = pa.table(
        {
            "txid": c.txids.take(pa.array(np.concatenate(link_tx) if link_tx else [], pa.int64())),
            "rule": pa.array(
                np.concatenate(link_rule).tolist() if link_rule else [], pa.string()
            ).dictionary_encode(),
            "address": c.addresses.take(pa.array(l_addr, mask=l_addr < 0)),
        }
    )
    stages["tables_s"] = time.perf_counter() - t
    n_clusters = int((sizes > 0).sum())
    rules, counts = np.unique(skip_rule.astype(str), return_counts=True)
    stats: dict[str, Any] = {
        "engine": engine,
        "policy": policy.to_json(),
        "coinjoin_guard": bool(policy.guard_rules),
        "addresses": c.n_addr,
        "clusters": n_clusters,
        "largest_cluster": int(sizes.max()) if c.n_addr else 0,
        "clusters_with_2_or_more": int((sizes >= 2).sum()),
        "edges": len(src),
        "inputs": len(c.in_tx),
        "skipped_transactions": len(skip_tx),
        "skipped_by_rule": {str(k): int(v) for k, v in zip(rules, counts, strict=True)},
        "links_by_rule": {
            "multi_input": len(link_tx[0]) if policy.has("multi_input") else 0,
            **change_links,
        },
        "stages_s": stages,
    }
    if "known_payee_change" in change_links:
        stats["payee_change_links"] = change_links["known_payee_change"]
    return Result(clusters, skipped, links, stats)


def _cluster_frames_spark(
    inputs: pl.DataFrame,
    outputs: pl.DataFrame,
    policy: Policy,
    payees: set[str] | None,
    spark: Any,
) -> Result:
    """:func:`cluster_frames` on Spark: guard, edges and components as DataFrame operations
    (``chain.spark.cluster_spark``); the result tables are brought back as Arrow."""
    from adowner.chain.spark import spark_session

    session = spark or spark_session()
    stages: dict[str, float] = {}
    t = time.perf_counter()
    ins = session.createDataFrame(
        inputs.select(["txid", "address"]).to_pandas(), "txid string, address string"
    )
    outs = session.createDataFrame(
        outputs.select(["txid", "address", "value_sat", "script_type"]).to_pandas(),
        "txid string, address string, value_sat long, script_type string",
    )
    stages["encode_s"] = time.perf_counter() - t
    return _spark_result(ins, outs, policy, payees, stages, inputs.height)


def _read_chain_spark(spark: Any, d: Path) -> tuple[Any, Any]:
    """:func:`read_chain` read by Spark's executors (needed columns, coinbase rows dropped);
    ``spark.sql.shuffle.partitions`` set from the folder's size
    (``chain.spark.shuffle_partitions_for``)."""
    from pyspark.sql import functions as F

    from adowner.chain.spark import shuffle_partitions_for

    _require(d)
    size = sum(f.stat().st_size for n in ("inputs", "outputs") for f in d.glob(f"{n}.parquet*"))
    parts = shuffle_partitions_for(size, spark.sparkContext.defaultParallelism)
    spark.conf.set("spark.sql.shuffle.partitions", str(parts))
    log.info("spark: %d shuffle partitions for %d Parquet bytes", parts, size)
    ins = spark.read.parquet(str(d / "inputs.parquet"))
    if "spent_txid" in ins.columns:
        ins = ins.where(F.col("spent_txid").isNull() | (F.col("spent_txid") != COINBASE_TXID))
    outs = spark.read.parquet(str(d / "outputs.parquet"))
    return ins.select("txid", "address"), outs.select(*OUTPUT_COLUMNS)


def _spark_result(
    ins: Any,
    outs: Any,
    policy: Policy,
    payees: set[str] | None,
    stages: dict[str, float],
    n_inputs: int,
) -> Result:
    """Run ``chain.spark.cluster_spark`` on Spark frames; its tables as Arrow, with stats."""
    from adowner.chain.spark import cluster_spark

    t = time.perf_counter()
    r = cluster_spark(ins, outs, policy, payees)
    clusters_pd = r["clusters"].toPandas()
    stages["components_s"] = time.perf_counter() - t
    t = time.perf_counter()
    order = np.lexsort(
        (
            clusters_pd["first_seen"].map(lambda s: s["row"]).to_numpy(np.int64),
            clusters_pd["first_seen"].map(lambda s: s["side"]).to_numpy(np.int64),
        )
    )
    clusters_pd = clusters_pd.iloc[order].reset_index(drop=True)
    meta = {METADATA_KEY: json.dumps(policy.to_json()).encode()}
    clusters = pa.table(
        {
            "address": pa.array(clusters_pd["address"], pa.large_string()),
            "cluster_id": pa.array(clusters_pd["cluster_id"], pa.large_string()),
            "cluster_size": pa.array(clusters_pd["cluster_size"].to_numpy(np.int64)),
        }
    ).replace_schema_metadata(meta)
    skipped_pd = r["skipped"].toPandas().sort_values("txid", kind="stable")
    skipped = pa.table(
        {
            "txid": pa.array(skipped_pd["txid"], pa.large_string()),
            "rule": pa.array(skipped_pd["rule"], pa.string()),
        }
    )
    links_pd = r["links"].toPandas()
    links = pa.table(
        {
            "txid": pa.array(links_pd["txid"], pa.large_string()),
            "rule": pa.array(links_pd["rule"], pa.string()).dictionary_encode(),
            "address": pa.array(links_pd["address"], pa.large_string()),
        }
    )
    stages["tables_s"] = time.perf_counter() - t
    sizes = clusters_pd.groupby("cluster_id").size()
    rules, counts = np.unique(skipped_pd["rule"].astype(str), return_counts=True)
    stats = _spark_stats(
        policy,
        addresses=len(clusters_pd),
        clusters=len(sizes),
        largest=int(sizes.max()) if len(sizes) else 0,
        multi=int((sizes >= 2).sum()),
        edges=int(r["edges"].count()),
        inputs=n_inputs,
        skipped_by_rule={str(k): int(v) for k, v in zip(rules, counts, strict=True)},
        links_by_rule={str(k): int(v) for k, v in links_pd["rule"].value_counts().items()},
        stages=stages,
    )
    return Result(clusters, skipped, links, stats)


def _spark_stats(
    policy: Policy,
    *,
    addresses: int,
    clusters: int,
    largest: int,
    multi: int,
    edges: int,
    inputs: int,
    skipped_by_rule: dict[str, int],
    links_by_rule: dict[str, int],
    stages: dict[str, float],
    **extra: Any,
) -> dict[str, Any]:
    """The Spark engine's JSON summary from its counts (one shape for the in-memory and the
    folder paths)."""
    change_links = {
        rule: int(links_by_rule.get(rule, 0))
        for rule in ("known_payee_change", "one_time_change")
        if policy.has(rule)
    }
    multi_input = int(links_by_rule.get("multi_input", 0)) if policy.has("multi_input") else 0
    stats: dict[str, Any] = {
        "engine": "spark",
        "policy": policy.to_json(),
        "coinjoin_guard": bool(policy.guard_rules),
        "addresses": addresses,
        "clusters": clusters,
        "largest_cluster": largest,
        "clusters_with_2_or_more": multi,
        "edges": edges,
        "inputs": inputs,
        "skipped_transactions": sum(skipped_by_rule.values()),
        "skipped_by_rule": dict(sorted(skipped_by_rule.items())),
        "links_by_rule": {"multi_input": multi_input, **change_links},
        **extra,
        "stages_s": stages,
    }
    if "known_payee_change" in change_links:
        stats["payee_change_links"] = change_links["known_payee_change"]
    return stats


def _policy_of(
    policy: Policy | str | None, coinjoin_guard: bool | None, change_heuristic: bool
) -> Policy:
    """The policy, with the older switches (``coinjoin_guard``, ``change_heuristic``) applied."""
    p = (
        Policy.parse(CHAIN.heuristics if policy is None else policy)
        if not isinstance(policy, Policy)
        else policy
    )
    names = set(p.heuristics)
    if coinjoin_guard is False:
        names -= set(p.guard_rules)
    if change_heuristic:
        names.add("one_time_change")
    return Policy(Policy.parse(names).heuristics, p.inactive)


def _text(column: pd.Series) -> pl.Series:
    return pl.Series(pa.array(column, pa.large_string(), from_pandas=True))


def cluster_tables(
    inputs: pd.DataFrame,
    outputs: pd.DataFrame,
    *,
    engine: str = "local",
    coinjoin_guard: bool | None = None,
    change_heuristic: bool = False,
    spark: Any = None,
    policy: Policy | str | None = None,
    payees: set[str] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """(clusters, skipped, stats) of pandas tables; see the module docstring.

    ``coinjoin_guard=False`` drops the guard rules from ``policy`` and ``change_heuristic``
    adds ``one_time_change`` (the switches of earlier versions). The links table (which rule
    made which link) comes with :func:`cluster_frames`.
    """
    p = _policy_of(policy, coinjoin_guard, change_heuristic)
    spending = inputs["spent_txid"] != COINBASE_TXID if "spent_txid" in inputs else None
    ins = inputs if spending is None else inputs[spending.to_numpy(bool)]
    res = cluster_frames(
        pl.DataFrame({"txid": _text(ins["txid"]), "address": _text(ins["address"])}),
        pl.DataFrame(
            {
                "txid": _text(outputs["txid"]),
                "address": _text(outputs["address"]),
                "value_sat": pl.Series(outputs["value_sat"].to_numpy(np.int64)),
                "script_type": _text(outputs["script_type"]),
            }
        ),
        policy=p,
        payees=payees,
        engine=engine,
        spark=spark,
    )
    return res.clusters.to_pandas(), res.skipped.to_pandas(), res.stats


def _write(table: pa.Table, path: Path) -> None:
    """One Parquet file, atomically; a Parquet folder of the Spark engine at ``path`` is
    replaced (removed once the new file is complete, just before the rename)."""
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
        if path.is_dir():
            shutil.rmtree(path)


def write_clusters(clusters: pd.DataFrame, path: str | os.PathLike[str], policy: Policy) -> None:
    """A pandas ``clusters`` table as ``clusters.parquet``, its policy in the schema metadata."""
    table = pa.Table.from_pandas(
        clusters[["address", "cluster_id", "cluster_size"]], preserve_index=False
    )
    meta = {METADATA_KEY: json.dumps(policy.to_json()).encode()}
    _write(table.replace_schema_metadata(meta), Path(path))


def cluster_dir(
    chain_dir: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    engine: str = "local",
    policy: Policy | str | None = None,
    coinjoin_guard: bool | None = None,
    change_heuristic: bool = False,
    spark: Any = None,
    payees: set[str] | None = None,
) -> dict[str, Any]:
    """Cluster an ingest folder's addresses into ``out`` (+ skipped, links and summary).

    ``policy``: a :class:`~adowner.chain.policy.Policy` or its ``--heuristics`` string (default
    :data:`adowner.defaults.CHAIN`). ``payees`` (the site's payment addresses) makes the
    known-payee change rule active (:func:`adowner.chain.change.payee_change_edges`): in a
    two-output payment to the site, the other output is the payer's change and joins the
    payer's cluster. Without them that rule is recorded as inactive.
    """
    t0 = time.perf_counter()
    p = _policy_of(policy, coinjoin_guard, change_heuristic)
    if engine == "spark":
        from adowner.chain.spark import spark_session

        session = spark or spark_session()
        if p.has("known_payee_change") and not payees:
            p = p.without("known_payee_change", NO_PAYEES)
        stats = _cluster_dir_spark(session, Path(chain_dir), Path(out), p, payees)
        stats["total_s"] = time.perf_counter() - t0
        stats["inputs_per_s"] = stats["inputs"] / stats["total_s"] if stats["total_s"] else None
        write_json(stats, Path(out).with_suffix(".json"))
        _log_summary(stats)
        return stats
    inputs, outputs = read_chain(chain_dir)
    read_s = time.perf_counter() - t0
    res = cluster_frames(inputs, outputs, policy=p, payees=payees, engine=engine, spark=spark)
    stats = res.stats
    stats["stages_s"] = {"read_s": read_s, **stats["stages_s"]}
    t = time.perf_counter()
    out = Path(out)
    out.with_suffix(".json").unlink(missing_ok=True)  # the summary is written last
    _write(res.clusters, out)
    _write(res.skipped, out.with_name(f"{out.stem}_skipped.parquet"))
    _write(res.links, out.with_name(f"{out.stem}_links.parquet"))
    stats["stages_s"]["write_s"] = time.perf_counter() - t
    stats["total_s"] = time.perf_counter() - t0
    stats["inputs_per_s"] = stats["inputs"] / stats["total_s"] if stats["total_s"] else None
    write_json(stats, out.with_suffix(".json"))
    _log_summary(stats)
    return stats


def _log_summary(stats: dict[str, Any]) -> None:
    log.info(
        "%d addresses in %d clusters (largest %d); %d transactions skipped by the CoinJoin guard",
        stats["addresses"],
        stats["clusters"],
        stats["largest_cluster"],
        stats["skipped_transactions"],
    )


def _cluster_dir_spark(
    spark: Any, chain_dir: Path, out: Path, policy: Policy, payees: set[str] | None
) -> dict[str, Any]:
    """``cluster_dir(engine="spark")``: read, rules, components and the three outputs written by
    Spark's executors; only counts come back to the driver (for the JSON summary).

    Layout: ``out`` (``clusters.parquet``), ``<stem>_skipped.parquet`` and
    ``<stem>_links.parquet`` are Parquet *folders* of part files (Spark's writer), each
    written into a temporary folder beside its target and renamed into place
    (:func:`adowner._io.atomic_dir`). Spark's writer cannot put the policy into the Parquet
    footer, so it is, with the stats, in ``<stem>.json`` beside the folders
    (``chain.policy.read_policy`` reads the footer or that JSON). A folder holds only its
    ``part-*.parquet`` files, so pyarrow, pandas and polars read it as one table; the
    clusters' part files are in order of first appearance, as the local engine's rows. The folders must
    be on a file system that the driver and every executor see (local disk for ``local[*]``
    or a one-machine standalone cluster; HDFS or an object store beyond).
    """
    from pyspark.sql import functions as F

    from adowner.chain.spark import cluster_spark, write_parquet_dir

    stages: dict[str, float] = {}
    t = time.perf_counter()
    ins, outs = _read_chain_spark(spark, chain_dir)
    stages["read_s"] = time.perf_counter() - t
    t = time.perf_counter()
    r = cluster_spark(ins, outs, policy, payees)
    n_edges = int(r["edges"].count())
    n_inputs = int(r["tx_inputs"].agg(F.sum("n_in")).first()[0] or 0)  # checkpointed: cheap
    stages["rules_and_components_s"] = time.perf_counter() - t
    t = time.perf_counter()
    out.with_suffix(".json").unlink(missing_ok=True)  # the summary is written last
    clusters = r["clusters"].orderBy("first_seen.side", "first_seen.row")
    write_parquet_dir(clusters.select("address", "cluster_id", "cluster_size"), out)
    write_parquet_dir(r["skipped"], out.with_name(f"{out.stem}_skipped.parquet"))
    write_parquet_dir(r["links"], out.with_name(f"{out.stem}_links.parquet"))
    stages["write_s"] = time.perf_counter() - t
    # The summary's counts: clusters from the per-cluster table, rules from the written folders.
    t = time.perf_counter()
    c = (
        r["per_cluster"]
        .agg(
            F.sum("cluster_size").alias("addresses"),
            F.count(F.lit(1)).alias("clusters"),
            F.max("cluster_size").alias("largest"),
            F.sum((F.col("cluster_size") >= 2).cast("int")).alias("multi"),
        )
        .first()
    )

    def rows_by_rule(suffix: str) -> dict[str, int]:
        """``{rule: rows}`` of a written table (counts only reach the driver)."""
        table = spark.read.parquet(str(out.with_name(f"{out.stem}_{suffix}.parquet")))
        return {str(r["rule"]): int(r["count"]) for r in table.groupBy("rule").count().collect()}

    skipped_by_rule = rows_by_rule("skipped")
    by_rule = rows_by_rule("links")
    stages["counts_s"] = time.perf_counter() - t
    return _spark_stats(
        policy,
        addresses=int(c["addresses"] or 0),
        clusters=int(c["clusters"]),
        largest=int(c["largest"] or 0),
        multi=int(c["multi"] or 0),
        edges=n_edges,
        inputs=n_inputs,
        skipped_by_rule=skipped_by_rule,
        links_by_rule=by_rule,
        stages=stages,
        layout="parquet folders (Spark part files); policy in the JSON summary beside them",
        spark_master=str(spark.sparkContext.master),
        shuffle_partitions=int(spark.conf.get("spark.sql.shuffle.partitions")),
    )
