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
from adowner.chain.change import change_edges, merge_change, payee_change_edges
from adowner.chain.coinjoin import (
    SEGWIT_TYPES,
    coinjoin_rule,
    features_coded,
    segwit_addresses,
)
from adowner.chain.schema import COINBASE_TXID
from adowner.errors import InputError
from adowner.log import get_logger

log = get_logger(__name__)


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
    """Edges ``src, dst`` (addresses) of the multi-input heuristic, leaving out ``skipped`` txids."""
    ok = (inputs["address"].notna() & (inputs["spent_txid"] != COINBASE_TXID)).to_numpy()
    ins = inputs[ok]
    tx, _ = pd.factorize(ins["txid"])
    addr, uniques = pd.factorize(ins["address"])
    keep = ~ins["txid"].isin(list(skipped)).to_numpy() if skipped else np.ones(len(ins), bool)
    src, dst = edges_coded(tx, addr, keep)
    u = np.asarray(uniques, dtype=object)
    return pd.DataFrame({"src": u[src], "dst": u[dst]})


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
    inputs = pd.read_parquet(
        d / "inputs.parquet", columns=["txid", "index", "spent_txid", "address"]
    )
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
    # Everything below runs on integer codes: addresses sorted (smallest id = smallest string).
    n_in = len(inputs)
    acodes, address_index = pd.factorize(
        pd.concat([inputs["address"], outputs["address"]], ignore_index=True), sort=True
    )
    uniques: np.ndarray = np.asarray(address_index, dtype=object)
    tcodes, tx_uniques = pd.factorize(
        pd.concat([inputs["txid"], outputs["txid"]], ignore_index=True)
    )
    in_tx, out_tx = tcodes[:n_in], tcodes[n_in:]
    in_addr = acodes[:n_in]
    spending = (inputs["spent_txid"] != COINBASE_TXID).to_numpy(bool)
    skip_mask = np.zeros(len(tx_uniques), dtype=bool)
    if coinjoin_guard:
        segwit = segwit_addresses(pd.Series(uniques))
        f = features_coded(
            in_tx[spending],
            in_addr[spending],
            np.where(in_addr[spending] >= 0, segwit[in_addr[spending]], False),
            out_tx,
            outputs["value_sat"].to_numpy(np.int64),
            outputs["script_type"].isin(SEGWIT_TYPES).to_numpy(bool),
            len(tx_uniques),
        )
        rule = coinjoin_rule(f).dropna()
        skip_mask[rule.index.to_numpy()] = True
        skipped = pd.DataFrame(
            {
                "txid": np.asarray(tx_uniques, dtype=object)[rule.index.to_numpy()],
                "rule": rule.to_numpy(),
            }
        )
    else:
        skipped = pd.DataFrame(
            {"txid": pd.Series([], dtype=object), "rule": pd.Series([], dtype=object)}
        )
    keep = spending & (in_addr >= 0) & ~skip_mask[in_tx]
    src, dst = edges_coded(in_tx, in_addr, keep)
    if change_heuristic:
        ch = change_edges(inputs, outputs, set(skipped["txid"]))
        index = pd.Index(uniques)
        src = np.concatenate([src, index.get_indexer(ch["src"])])
        dst = np.concatenate([dst, index.get_indexer(ch["dst"])])
    stats["prepare_s"] = time.perf_counter() - t0

    t1 = time.perf_counter()
    root: np.ndarray
    if engine == "local":
        root = uniques[components_local(len(uniques), src, dst)]
    elif engine == "spark":
        from adowner.chain.spark import components_spark, spark_session

        session = spark or spark_session()
        mapping = components_spark(
            session, pd.DataFrame({"src": uniques[src], "dst": uniques[dst]})
        )
        roots = pd.Series(uniques, index=uniques)
        roots.loc[mapping.index] = mapping.to_numpy()
        root = roots.to_numpy()
    else:
        raise InputError(f"unknown engine {engine!r} (local or spark)", field="engine")
    stats["components_s"] = time.perf_counter() - t1

    clusters = pd.DataFrame({"address": uniques, "cluster_id": root})
    sizes_by_root = np.bincount(pd.factorize(root)[0])
    clusters["cluster_size"] = sizes_by_root[pd.factorize(root)[0]]
    n_clusters = len(sizes_by_root)
    stats.update(
        addresses=len(clusters),
        clusters=n_clusters,
        largest_cluster=int(sizes_by_root.max()) if n_clusters else 0,
        clusters_with_2_or_more=int((sizes_by_root >= 2).sum()),
        edges=len(src),
        inputs=int(spending.sum()),
        skipped_transactions=len(skipped),
        skipped_by_rule={str(k): int(v) for k, v in skipped["rule"].value_counts().items()},
    )
    return clusters, skipped, stats


def with_payee_change(
    clusters: pd.DataFrame,
    skipped: pd.DataFrame,
    stats: dict[str, Any],
    inputs: pd.DataFrame,
    outputs: pd.DataFrame,
    payees: set[str],
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """``clusters`` merged along known-payee change links; ``stats`` updated to match."""
    edges = payee_change_edges(inputs, outputs, set(skipped["txid"]), payees)
    merged = merge_change(clusters, edges)
    sizes = merged["cluster_id"].value_counts()
    stats = {
        **stats,
        "payee_change_links": len(edges),
        "clusters": len(sizes),
        "largest_cluster": int(sizes.max()) if len(sizes) else 0,
    }
    return merged, stats


def cluster_dir(
    chain_dir: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    engine: str = "local",
    coinjoin_guard: bool = True,
    change_heuristic: bool = False,
    spark: Any = None,
    payees: set[str] | None = None,
) -> dict[str, Any]:
    """Cluster an ingest folder's addresses into ``out`` (+ skipped list and summary).

    ``payees`` (the site's payment addresses) adds the known-payee change rule
    (:func:`adowner.chain.change.payee_change_edges`): in a two-output payment to the site, the
    other output is the payer's change and joins the payer's cluster.
    """
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
    if payees:
        clusters, stats = with_payee_change(clusters, skipped, stats, inputs, outputs, payees)
    out = Path(out)
    out.with_suffix(".json").unlink(missing_ok=True)  # the summary is written last
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
