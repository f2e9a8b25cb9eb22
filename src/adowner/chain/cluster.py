"""Address clustering: the multi-input heuristic, with the CoinJoin guard, local or on Spark.

What it computes: all input addresses of one transaction belong to one wallet (Meiklejohn et
al., IMC 2013; Nakamoto 2008, section 10). Linking them for every transaction and taking
connected components gives wallet clusters. Transactions flagged by the CoinJoin guard
(``chain.coinjoin``, on by default) are left out and listed with the rule that skipped them;
the optional one-time change heuristic (``chain.change``, off by default) adds change links.

Engines give identical clusters; the cluster id is the smallest address (as a string) of the
cluster, so results compare exactly across engines and runs:

| engine  | how                                                                             |
|---------|---------------------------------------------------------------------------------|
| local   | addresses factorised to sorted integer ids; scipy ``connected_components`` on   |
|         | the sparse address graph; a component's id is its smallest integer id           |
| spark   | large-star/small-star over DataFrames (``chain.spark``), checkpointed           |

Requires: an ingest folder (``transactions``, ``inputs``, ``outputs`` Parquet).

Output (``clusters.parquet``): ``address, cluster_id, cluster_size``, one row per address seen
in inputs or outputs. Beside it: ``<stem>_skipped.parquet`` (``txid, rule``) and
``<stem>.json`` (counts, sizes, timings).

Example::

    summary = cluster_dir("chain/", "clusters.parquet")             # local, guard on
    summary = cluster_dir("chain/", "c.parquet", engine="spark", coinjoin_guard=False)
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from adowner._io import write_json, write_parquet
from adowner.chain.change import change_edges
from adowner.chain.coinjoin import coinjoin_rule, tx_features
from adowner.chain.schema import COINBASE_TXID
from adowner.errors import InputError
from adowner.log import get_logger

log = get_logger(__name__)


def multi_input_edges(inputs: pd.DataFrame, skipped: set[str]) -> pd.DataFrame:
    """Edges ``src, dst`` linking each input address to its transaction's first input address."""
    ins = inputs.loc[inputs["address"].notna() & (inputs["spent_txid"] != COINBASE_TXID)]
    ins = ins[["txid", "address"]]
    if skipped:
        ins = ins[~ins["txid"].isin(skipped)]
    first = ins.groupby("txid", sort=False)["address"].transform("first")
    keep = ins["address"].to_numpy() != first.to_numpy()
    return pd.DataFrame({"src": ins["address"].to_numpy()[keep], "dst": first.to_numpy()[keep]})


def components_local(n: int, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """For nodes ``0..n-1`` and integer edges, the smallest node id of each node's component."""
    graph = coo_matrix((np.ones(len(src), dtype=np.int8), (src, dst)), shape=(n, n)).tocsr()
    _, labels = connected_components(graph, directed=False)
    # Nodes are visited in id order, so the first node of each label is its smallest id.
    _, first = np.unique(labels, return_index=True)
    return np.asarray(first[labels], dtype=np.int64)


def load_tables(chain_dir: str | os.PathLike[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ``inputs`` and ``outputs`` tables of an ingest folder."""
    d = Path(chain_dir)
    for name in ("inputs", "outputs"):
        if not (d / f"{name}.parquet").is_file():
            raise InputError(
                f"not an ingest folder: {name}.parquet is missing (run `adowner chain ingest`)",
                path=str(d),
            )
    inputs = pd.read_parquet(d / "inputs.parquet", columns=["txid", "index", "spent_txid", "address"])
    outputs = pd.read_parquet(
        d / "outputs.parquet", columns=["txid", "n", "address", "value_sat", "script_type"]
    )
    return inputs, outputs


def cluster_tables(
    inputs: pd.DataFrame,
    outputs: pd.DataFrame,
    *,
    engine: str = "local",
    coinjoin_guard: bool = True,
    change_heuristic: bool = False,
    spark: Any = None,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """(clusters, skipped, stats) for the given tables; see the module docstring."""
    stats: dict[str, Any] = {"engine": engine, "coinjoin_guard": coinjoin_guard}
    t0 = time.perf_counter()
    if coinjoin_guard:
        rule = coinjoin_rule(tx_features(inputs, outputs)).dropna()
        skipped = pd.DataFrame({"txid": rule.index.to_numpy(), "rule": rule.to_numpy()})
    else:
        skipped = pd.DataFrame({"txid": pd.Series([], dtype=str), "rule": pd.Series([], dtype=str)})
    skip = set(skipped["txid"])
    edges = multi_input_edges(inputs, skip)
    if change_heuristic:
        edges = pd.concat([edges, change_edges(inputs, outputs, skip)], ignore_index=True)
    addresses = pd.concat([inputs["address"], outputs["address"]]).dropna()
    uniques = np.sort(np.asarray(addresses.unique(), dtype=object))  # sorted: min id = min string
    stats["prepare_s"] = time.perf_counter() - t0

    t1 = time.perf_counter()
    if engine == "local":
        index = pd.Index(uniques)
        src = index.get_indexer(edges["src"].to_numpy())
        dst = index.get_indexer(edges["dst"].to_numpy())
        root = uniques[components_local(len(uniques), src, dst)]
    elif engine == "spark":
        from adowner.chain.spark import components_spark, spark_session

        session = spark or spark_session()
        mapping = components_spark(session, edges)
        root = pd.Series(uniques, index=uniques)
        root.loc[mapping.index] = mapping.to_numpy()
        root = root.to_numpy()
    else:
        raise InputError(f"unknown engine {engine!r} (local or spark)", field="engine")
    stats["components_s"] = time.perf_counter() - t1

    clusters = pd.DataFrame({"address": uniques, "cluster_id": root})
    clusters["cluster_size"] = clusters.groupby("cluster_id")["address"].transform("size")
    sizes = clusters.drop_duplicates("cluster_id")["cluster_size"]
    n_inputs = int((inputs["spent_txid"] != COINBASE_TXID).sum())
    stats.update(
        addresses=len(clusters),
        clusters=len(sizes),
        largest_cluster=int(sizes.max()) if len(sizes) else 0,
        clusters_with_2_or_more=int((sizes >= 2).sum()),
        edges=len(edges),
        inputs=n_inputs,
        skipped_transactions=len(skipped),
        skipped_by_rule={str(k): int(v) for k, v in skipped["rule"].value_counts().items()},
    )
    return clusters, skipped, stats


def cluster_dir(
    chain_dir: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    engine: str = "local",
    coinjoin_guard: bool = True,
    change_heuristic: bool = False,
    spark: Any = None,
) -> dict[str, Any]:
    """Cluster an ingest folder's addresses into ``out`` (+ skipped list and summary)."""
    t0 = time.perf_counter()
    inputs, outputs = load_tables(chain_dir)
    clusters, skipped, stats = cluster_tables(
        inputs,
        outputs,
        engine=engine,
        coinjoin_guard=coinjoin_guard,
        change_heuristic=change_heuristic,
        spark=spark,
    )
    out = Path(out)
    write_parquet(clusters, out)
    write_parquet(skipped, out.with_name(f"{out.stem}_skipped.parquet"))
    stats["total_s"] = time.perf_counter() - t0
    stats["inputs_per_s"] = stats["inputs"] / stats["total_s"] if stats["total_s"] else None
    write_json(stats, out.with_suffix(".json"))
    log.info(
        "%d addresses in %d clusters (largest %d); %d transactions skipped by the CoinJoin guard",
        stats["addresses"],
        stats["clusters"],
        stats["largest_cluster"],
        stats["skipped_transactions"],
    )
    return stats
