"""Change heuristics: link a transaction's change output to its inputs (known-payee on by default).

What they compute

- :func:`change_edges`, the **one-time change** heuristic: Meiklejohn et al. (IMC 2013,
  heuristic 2) link a transaction's change output to its input addresses. Here, as an
  order-free variant of their rule, an output is change when it is the *only* output of the
  transaction whose address receives exactly once in the whole data set, the transaction is not
  a coinbase, was not skipped by the CoinJoin guard, has at least two outputs, and pays none of
  its own input addresses (no self-change). It cannot decide a payment to a payee that also
  uses a fresh address per payment (payment processors, exchanges): both outputs are fresh.
- :func:`payee_change_edges`, the **known-payee change** rule: when the analyst knows the
  payee's addresses (the site's payment addresses that ``chain match`` already reads), a
  transaction with exactly two outputs, one to a known payee address and one not, pays the
  site and returns the other output to the payer as change. It is the "known entity" reading
  of a change output (Meiklejohn et al. identify change next to payments to services they had
  tagged) and it decides exactly the case the one-time rule cannot. It is wrong when a payer
  pays the site and a third party in one transaction with no change (rare; such an error
  merges the payer with that party).

.. warning::
   Change heuristics are the usual cause of **super-clusters**: one wrong link (a payee that
   uses fresh addresses, as payment processors and exchanges do) merges two wallets, and
   errors compound transitively until one cluster swallows a large share of all addresses.
   Meiklejohn et al. had to hand-curate exceptions; BlockSci and GraphSense leave change
   heuristics off by default. Use them only to explore, and compare cluster sizes with and
   without them. On the simulated marketplace the one-time rule builds such a super-cluster
   (the largest cluster grows from 1,477 to 4,205 addresses) while the known-payee rule does
   not (see docs/RESULTS.md, "CoinJoin guard").

Requires: ``inputs`` and ``outputs`` tables (``chain.schema``), the set of transactions the
guard skipped and, for the known-payee rule, the payee's addresses.

| input    | type            | meaning                                   |
|----------|-----------------|-------------------------------------------|
| inputs   | DataFrame       | ``txid, address`` (non-coinbase)          |
| outputs  | DataFrame       | ``txid, address``                         |
| skipped  | set of str      | txids not to use                          |
| payees   | set of str      | known payee addresses (known-payee rule)  |

Both return a DataFrame of edges ``src, dst`` (change address, first input address);
:func:`merge_change` joins the clusters of ``chain.cluster`` along such edges. They are the
readable reference; the clustering engine runs the same rules over integer codes
(:func:`change_coded`, named ``one_time_change`` and ``known_payee_change`` in
``chain.policy``), and the tests check that both give the same clusters.

Example::

    edges = payee_change_edges(inputs, outputs, set(skipped["txid"]), site_addresses)
    clusters = merge_change(clusters, edges)
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _first_inputs(inputs: pd.DataFrame, skipped: set[str]) -> tuple[pd.DataFrame, pd.Series]:
    ins = inputs.dropna(subset=["address"])
    ins = ins[~ins["txid"].isin(skipped)]
    return ins, ins.groupby("txid", sort=False)["address"].first()


def change_edges(inputs: pd.DataFrame, outputs: pd.DataFrame, skipped: set[str]) -> pd.DataFrame:
    """Edges (change address -> first input address) under the one-time change heuristic."""
    ins, first_in = _first_inputs(inputs, skipped)
    outs = outputs.dropna(subset=["address"])
    outs = outs[outs["txid"].isin(first_in.index)]
    receives = outputs["address"].value_counts()
    n_out = outputs.groupby("txid").size()
    own = set(zip(ins["txid"], ins["address"], strict=True))
    self_change = {t for t, a in zip(outs["txid"], outs["address"], strict=True) if (t, a) in own}
    fresh = outs[outs["address"].map(receives).eq(1)]
    one = fresh.groupby("txid").size()
    ok = one[(one == 1)].index
    ok = ok[(n_out.reindex(ok) >= 2).to_numpy() & ~ok.isin(list(self_change))]
    chosen = fresh[fresh["txid"].isin(ok)]
    return pd.DataFrame(
        {"src": chosen["address"].to_numpy(), "dst": first_in.reindex(chosen["txid"]).to_numpy()}
    )


def payee_change_edges(
    inputs: pd.DataFrame, outputs: pd.DataFrame, skipped: set[str], payees: set[str]
) -> pd.DataFrame:
    """Edges (change address -> first input address) under the known-payee change rule."""
    _, first_in = _first_inputs(inputs, skipped)
    outs = outputs[outputs["txid"].isin(first_in.index)]
    n_out = outs.groupby("txid").size()
    to_payee = outs["address"].isin(payees)
    n_payee = to_payee.groupby(outs["txid"]).sum()
    ok = n_out.index[(n_out == 2).to_numpy() & (n_payee.reindex(n_out.index) == 1).to_numpy()]
    chosen = outs[outs["txid"].isin(ok) & ~to_payee & outs["address"].notna()]
    return pd.DataFrame(
        {"src": chosen["address"].to_numpy(), "dst": first_in.reindex(chosen["txid"]).to_numpy()}
    )


def merge_change(clusters: pd.DataFrame, edges: pd.DataFrame) -> pd.DataFrame:
    """``clusters`` (``address, cluster_id, cluster_size``) with clusters joined by ``edges`` merged.

    The merged cluster's id is again its smallest address, as in ``chain.cluster``.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    # Cluster ids are their smallest address, so sorted codes keep "smallest id wins".
    codes, ids = pd.factorize(clusters["cluster_id"], sort=True)
    code_of = pd.Series(codes, index=clusters["address"].to_numpy())
    src = code_of.reindex(edges["src"].to_numpy()).to_numpy()
    dst = code_of.reindex(edges["dst"].to_numpy()).to_numpy()
    ok = ~(np.isnan(src) | np.isnan(dst)) if len(src) else np.zeros(0, dtype=bool)
    n = len(ids)
    graph = coo_matrix(
        (
            np.ones(int(ok.sum()), dtype=np.int8),
            (src[ok].astype(np.int64), dst[ok].astype(np.int64)),
        ),
        shape=(n, n),
    ).tocsr()
    _, labels = connected_components(graph, directed=False)
    _, first = np.unique(labels, return_index=True)  # visited in code order: first = smallest
    root = np.asarray(ids, dtype=object)[first[labels]][codes]
    out = clusters[["address"]].copy()
    out["cluster_id"] = root
    out["cluster_size"] = out.groupby("cluster_id")["address"].transform("size").to_numpy()
    return out.reset_index(drop=True)


def change_coded(
    rule: str,
    rep: np.ndarray,
    in_tx: np.ndarray,
    in_addr: np.ndarray,
    out_tx: np.ndarray,
    out_addr: np.ndarray,
    n_addr: int,
    payee: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(change output rows, their transactions) of ``rule`` over integer codes.

    The same rules as :func:`change_edges` (``one_time_change``) and :func:`payee_change_edges`
    (``known_payee_change``, with ``payee`` a boolean per address code), which stay as their
    readable reference (the tests check one against the other). ``rep``: per transaction code,
    one of its input addresses, -1 where it has none or the guard skipped it (such transactions
    give no change). Addresses are codes ``0..n_addr-1``, -1 = none. The edge of a returned row
    ``r`` joins ``out_addr[r]`` to ``rep[out_tx[r]]``.
    """
    n_tx = len(rep)
    eligible = rep >= 0
    n_out = np.bincount(out_tx, minlength=n_tx)
    has = out_addr >= 0
    if rule == "known_payee_change":
        if payee is None:
            raise ValueError("known_payee_change needs the payee addresses")
        to_payee = has & payee[np.where(has, out_addr, 0)]
        n_payee = np.bincount(out_tx[to_payee], minlength=n_tx)
        ok = eligible & (n_out == 2) & (n_payee == 1)
        rows = np.flatnonzero(ok[out_tx] & has & ~to_payee)
        return rows, out_tx[rows]
    if rule != "one_time_change":
        raise ValueError(f"not a change rule: {rule!r}")
    receives = np.bincount(out_addr[has], minlength=n_addr)
    fresh = has & eligible[out_tx] & (receives[np.where(has, out_addr, 0)] == 1)
    n_fresh = np.bincount(out_tx[fresh], minlength=n_tx)
    ok = eligible & (n_out >= 2) & (n_fresh == 1)
    # No self-change: the transaction pays none of its own input addresses.
    orow = np.flatnonzero(ok[out_tx] & has)
    irow = np.flatnonzero(ok[in_tx] & (in_addr >= 0))
    width = np.int64(n_addr)
    own = np.isin(
        out_tx[orow].astype(np.int64) * width + out_addr[orow],
        in_tx[irow].astype(np.int64) * width + in_addr[irow],
    )
    ok[out_tx[orow[own]]] = False
    rows = np.flatnonzero(fresh & ok[out_tx])
    return rows, out_tx[rows]
