"""Payment evidence: edges between ads paid from one wallet cluster.

What it computes
    Portnoff et al. (KDD 2017, section 5) match an ad to the Bitcoin transaction that paid for
    it (first seen in the same or next minute, amount within ±2% of the USD price, ±5% when
    sponsored), then cluster the payer's input addresses by common-input ownership. Ads whose
    unique match was paid from the same wallet cluster are joined here (a star around the first
    ad of each cluster). Ads with an *ambiguous* match (several candidate transactions) join
    nothing, and neither do payments whose inputs span several wallet clusters: both are
    returned separately (with ``why``) so the analyst sees them.

Limits
    A payer cluster is taken to be one owner, with no cap on how many ads it joins. That fails
    for a service's wallet: on the simulated marketplace the exchange's hot wallet paid for 35
    owners' ads, which this joins into one group, whatever the CoinJoin guard does. How many
    ads are joined depends on the clustering: without a change rule a wallet's payments fall
    into several clusters (``chain.change``; measured in docs/RESULTS.md, "CoinJoin guard").

Requires
    The output of ``adowner chain match``: one row an ad with ``ad_id``, ``match_status``
    (unique/ambiguous/none), the chosen ``txid`` and the payer's wallet cluster id; and where
    given ``payer_clusters``, the number of clusters among the payment's inputs (only 1 joins).

Inputs
    =========  ===============================  =============================================
    name       type                             meaning
    =========  ===============================  =============================================
    ad_ids     array of str, row i = ad i       the ads being linked
    matches    DataFrame                        chain match output (see :data:`COLUMNS`)
    =========  ===============================  =============================================

Output: (edges with ``i < j``, ``kind="payment"``, ``score=1.0``, ``detail`` naming the wallet
cluster and both transactions; the ambiguous rows of ``matches``).

Example
    >>> m = pd.DataFrame({"ad_id": ["a", "b", "c"], "match_status": ["unique"] * 3,
    ...                   "txid": ["t1", "t2", "t3"], "payer_cluster": [7, 7, 9]})
    >>> payment_edges(np.array(["a", "b", "c"]), m)[0][["i", "j"]].values.tolist()
    [[0, 1]]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from adowner.errors import InputError

# Accepted spellings of the chain-match columns (first found wins).
COLUMNS = {
    "status": ("match_status", "status"),
    "txid": ("txid", "chosen_txid", "tx_id"),
    "cluster": ("payer_cluster_id", "payer_cluster", "cluster_id", "wallet_cluster"),
    "n_clusters": ("payer_clusters", "n_payer_clusters"),
    "usd": ("paid_usd", "amount_usd", "value_usd", "usd"),
}


def resolve_columns(matches: pd.DataFrame, path: str | None = None) -> dict[str, str | None]:
    """Map the roles in :data:`COLUMNS` to the matches table's own column names."""
    if "ad_id" not in matches.columns:
        raise InputError("matches table has no ad_id column", path=path, field="ad_id")
    found: dict[str, str | None] = {}
    for role, names in COLUMNS.items():
        found[role] = next((c for c in names if c in matches.columns), None)
    for role in ("status", "cluster"):
        if found[role] is None:
            raise InputError(
                f"matches table lacks a {role} column (one of {', '.join(COLUMNS[role])})",
                path=path,
                field=COLUMNS[role][0],
            )
    return found


def payment_edges(
    ad_ids: np.ndarray, matches: pd.DataFrame, *, path: str | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Edges between uniquely matched ads with one payer wallet cluster; and the ambiguous rows."""
    from adowner.link.text_edges import _empty

    col = resolve_columns(matches, path)
    status = matches[col["status"]].astype(str).str.lower()
    # a payment whose inputs come from several wallet clusters (a CoinJoin the guard kept
    # apart) names no single payer: it joins nothing either
    mixed = pd.Series(False, index=matches.index)
    if col["n_clusters"]:
        mixed = pd.to_numeric(matches[col["n_clusters"]], errors="coerce").fillna(1).gt(1)
    unique = (status == "unique") & ~mixed
    ambiguous = matches[(status == "ambiguous") | ((status == "unique") & mixed)].copy()
    ambiguous.insert(
        1,
        "why",
        np.where(
            status[ambiguous.index] == "ambiguous",
            "several candidate payments",
            "payer inputs in several wallet clusters",
        ),
    )
    ambiguous = ambiguous.reset_index(drop=True)
    pos = pd.Series(np.arange(len(ad_ids), dtype=np.int64), index=pd.Index(ad_ids).astype(str))
    m = matches[unique & matches[col["cluster"]].notna()].copy()
    m["ad"] = pos.reindex(pd.Index(m["ad_id"].astype(str))).to_numpy()
    m = m[m["ad"].notna()]
    if m.empty:
        return _empty(), ambiguous
    m["ad"] = m["ad"].astype(np.int64)
    m["c"] = m[col["cluster"]].astype(str)
    m["t"] = m[col["txid"]].astype(str).str[:12] if col["txid"] else "?"
    m = m.sort_values(["c", "ad"], kind="stable").drop_duplicates("ad")
    first = m.groupby("c", sort=False)["ad"].transform("first")
    first_tx = m.groupby("c", sort=False)["t"].transform("first")
    pairs = m["ad"] != first
    e = pd.DataFrame(
        {
            "i": np.minimum(first[pairs].to_numpy(), m.loc[pairs, "ad"].to_numpy()),
            "j": np.maximum(first[pairs].to_numpy(), m.loc[pairs, "ad"].to_numpy()),
            "kind": "payment",
            "score": np.float32(1.0),
            "mutual": True,
            "detail": "wallet cluster "
            + m.loc[pairs, "c"]
            + ": tx "
            + first_tx[pairs]
            + "… and tx "
            + m.loc[pairs, "t"]
            + "…",
        }
    )
    return e.reset_index(drop=True), ambiguous
