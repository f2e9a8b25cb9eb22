"""Owner labels from shared hard identifiers: connected components of ads.

What it computes
    Two ads get the same owner when they share a phone number, an e-mail address, a URL or a
    social handle, directly or through a chain of ads (A shares a phone with B, B an e-mail with
    C). This is how the literature labels ads without ground truth (Portnoff et al., KDD 2017;
    IDTraffickers, EMNLP 2023 label vendors by phone number). Components are found with scipy's
    ``connected_components`` on the bipartite graph ads ↔ identifier hashes. ``owner_joined_by``
    names the identifier kinds that are shared inside the component (``"phones+emails"``), or
    ``"none"`` for an ad that shares nothing, which becomes its own owner.

    Identifier labels are incomplete by nature: an operator who uses burner phones shows up as
    several owners. The simulator's ``true_owner`` measures how incomplete.

What it requires of the data
    A DataFrame with ``ad_id`` and at least one of the columns ``phones``, ``emails``, ``urls``,
    ``handles``, each holding a list (or array) of identifier hashes per ad.

Inputs

    =========  ===============================================================
    column     meaning
    =========  ===============================================================
    ad_id      ad identifier (str); the owner id is ``id-`` + the component's
               first ad_id (in row order), so it is stable for the same input
    phones...  lists of salted hashes (see ``identifiers.hash_identifier``)
    =========  ===============================================================

Example
    >>> df = pd.DataFrame({"ad_id": ["a", "b", "c"], "phones": [["h1"], ["h1"], []]})
    >>> owners_from_identifiers(df)["owner"].tolist()
    ['id-a', 'id-a', 'id-c']
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from adowner.data.schema import IDENTIFIER_COLUMNS


def owners_from_identifiers(df: pd.DataFrame) -> pd.DataFrame:
    """``owner`` and ``owner_joined_by`` for each row of ``df`` (same index)."""
    n = len(df)
    cols = [c for c in IDENTIFIER_COLUMNS if c in df.columns]
    # Long table: one row per (ad position, kind, hash), duplicates within an ad removed.
    parts = []
    for c in cols:
        s = df[c].reset_index(drop=True).explode().dropna()
        parts.append(pd.DataFrame({"ad": s.index.to_numpy(), "kind": c, "h": s.to_numpy()}))
    long = (
        pd.concat(parts, ignore_index=True).drop_duplicates()
        if parts
        else pd.DataFrame({"ad": [], "kind": [], "h": []})
    )
    ids, uniq = pd.factorize(long["kind"].astype(str) + ":" + long["h"].astype(str))
    m = len(uniq)
    # Bipartite graph: nodes 0..n-1 are ads, n..n+m-1 identifiers.
    rows = long["ad"].to_numpy(dtype=np.int64)
    cols_ = ids.astype(np.int64) + n
    graph = coo_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols_)), shape=(n + m, n + m))
    _, comp = connected_components(graph, directed=False)
    ad_comp = comp[:n]

    first = pd.Series(np.arange(n)).groupby(ad_comp).transform("min").to_numpy()
    ad_ids = df["ad_id"].astype(str).to_numpy()
    owner = np.char.add("id-", ad_ids[first].astype(str))

    # Kinds shared inside a component: an identifier on two or more ads.
    joined = np.full(n, "none", dtype=object)
    if len(long):
        degree = long.groupby(ids)["ad"].transform("size").to_numpy()
        shared = long[degree >= 2]
        if len(shared):
            kinds = (
                pd.DataFrame({"comp": ad_comp[shared["ad"].to_numpy()], "kind": shared["kind"]})
                .drop_duplicates()
                .sort_values("kind", key=lambda k: k.map(IDENTIFIER_COLUMNS.index))
                .groupby("comp")["kind"]
                .agg("+".join)
            )
            by_comp = pd.Series(ad_comp).map(kinds)
            joined = by_comp.fillna("none").to_numpy(dtype=object)
    return pd.DataFrame({"owner": owner, "owner_joined_by": joined}, index=df.index)
