"""The one-time change heuristic (optional, off by default).

What it computes: Meiklejohn et al. (IMC 2013, heuristic 2) link a transaction's change output
to its input addresses. Here, as an order-free variant of their rule, an output is change when
it is the *only* output of the transaction whose address receives exactly once in the whole
data set, the transaction is not a coinbase, was not skipped by the CoinJoin guard, has at
least two outputs, and pays none of its own input addresses (no self-change).

.. warning::
   Change heuristics are the usual cause of **super-clusters**: one wrong link (a payee that
   uses fresh addresses, as payment processors and exchanges do) merges two wallets, and
   errors compound transitively until one cluster swallows a large share of all addresses.
   Meiklejohn et al. had to hand-curate exceptions; BlockSci and GraphSense leave change
   heuristics off by default. Use it only to explore, and compare cluster sizes with and
   without it.

Requires: ``inputs`` and ``outputs`` tables (``chain.schema``) and the set of transactions
the guard skipped.

| input    | type            | meaning                                   |
|----------|-----------------|-------------------------------------------|
| inputs   | DataFrame       | ``txid, address`` (non-coinbase)          |
| outputs  | DataFrame       | ``txid, address``                         |
| skipped  | set of str      | txids not to use                          |

Returns a DataFrame of edges ``src, dst`` (change address, first input address).

Example::

    edges = change_edges(inputs, outputs, skipped=set(skipped_txids))
"""

from __future__ import annotations

import pandas as pd


def change_edges(inputs: pd.DataFrame, outputs: pd.DataFrame, skipped: set[str]) -> pd.DataFrame:
    """Edges (change address -> first input address) under the one-time change heuristic."""
    ins = inputs.dropna(subset=["address"])
    ins = ins[~ins["txid"].isin(skipped)]
    first_in = ins.groupby("txid", sort=False)["address"].first()
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
