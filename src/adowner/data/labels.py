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


# ---------------------------------------------------------------------------- analysts' pairs

PAIR_LABELS = ("must-link", "cannot-link")


def read_owner_pairs(path: str) -> pd.DataFrame:
    """Must-link / cannot-link pairs (``ad_a``, ``ad_b``, ``label``) from CSV or Parquet.

    The file ``adowner review`` exports (``review.labels``); extra columns are kept. A bad row is
    an ``InputError`` naming the file, the row (1 = the first data row) and the field.
    """
    from adowner.errors import InputError

    try:
        if str(path).endswith(".parquet"):
            pairs = pd.read_parquet(path)
        else:
            pairs = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError) as exc:
        raise InputError(
            f"cannot read owner pairs ({type(exc).__name__})", path=str(path)
        ) from None
    for col in ("ad_a", "ad_b", "label"):
        if col not in pairs.columns:
            raise InputError(
                f"owner pairs need columns ad_a, ad_b, label (missing {col!r})",
                path=str(path),
                field=col,
            )
    pairs = pairs.astype({"ad_a": str, "ad_b": str, "label": str}).reset_index(drop=True)
    cols = [pairs[c].tolist() for c in ("ad_a", "ad_b", "label")]
    for k, (ad_a, ad_b, label) in enumerate(zip(*cols, strict=True), start=1):
        if label not in PAIR_LABELS:
            raise InputError(
                f"label must be must-link or cannot-link, not {str(label)[:20]!r}",
                path=str(path),
                row=k,
                field="label",
            )
        for field, v in (("ad_a", ad_a), ("ad_b", ad_b)):
            if not str(v).strip():
                raise InputError("empty ad id", path=str(path), row=k, field=field)
        if ad_a == ad_b:
            raise InputError("a pair of one ad with itself", path=str(path), row=k, field="ad_b")
    return pairs


def apply_owner_pairs(
    df: pd.DataFrame, pairs: pd.DataFrame, path: str = ""
) -> tuple[pd.Series, pd.Series, list[dict[str, object]], dict[str, int]]:
    """Owners of ``df`` after analysts' pairs: (owner, owner_joined_by, quarantine, counts).

    Ads that a chain of must-link pairs joins (connected components, scipy) get one owner,
    ``review-`` + the component's smallest ad id, whatever owner they had (an analyst's split
    overrides the identifiers that joined them); ``owner_joined_by`` is ``review``. Every other ad
    keeps its owner. A cannot-link pair whose ads still share an owner cannot hold: it goes to the
    quarantine list (file, row, field, reason) and is counted. Pairs naming an ad that is not in
    ``df`` are counted as ``unmatched`` and ignored (one export may cover several files).
    """
    ad = df["ad_id"].astype(str).to_numpy()
    pos = pd.Series(np.arange(len(df)), index=pd.Index(ad))
    pos = pos[~pos.index.duplicated()]
    a = pos.reindex(pairs["ad_a"].astype(str)).to_numpy()
    b = pos.reindex(pairs["ad_b"].astype(str)).to_numpy()
    present = ~(np.isnan(a) | np.isnan(b))
    must = present & (pairs["label"] == "must-link").to_numpy()
    owners = df["owner"].astype(str).to_numpy(dtype=object)
    joined_by = (
        df["owner_joined_by"].to_numpy(dtype=object).copy()
        if "owner_joined_by" in df
        else np.full(len(df), "", dtype=object)
    )
    n = len(df)
    src, dst = a[must].astype(np.int64), b[must].astype(np.int64)
    graph = coo_matrix((np.ones(len(src), dtype=np.int8), (src, dst)), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    sizes = np.bincount(comp)
    linked = sizes[comp] >= 2
    if linked.any():
        first = pd.Series(ad[linked]).groupby(comp[linked]).min()
        owners[linked] = ("review-" + first.reindex(comp[linked])).to_numpy()
        joined_by[linked] = "review"
    owner = pd.Series(owners, index=df.index, dtype=object)
    joined = pd.Series(joined_by, index=df.index, dtype=object)
    quarantine: list[dict[str, object]] = []
    cannot = present & (pairs["label"] == "cannot-link").to_numpy()
    o = owner.to_numpy()
    for k in np.flatnonzero(cannot):
        i, j = int(a[k]), int(b[k])
        if o[i] == o[j]:
            quarantine.append(
                {
                    "file": str(path),
                    "row": int(k) + 1,
                    "field": "label",
                    "reason": "cannot-link pair ends in one owner (joined by "
                    f"{joined.iloc[i]}); the pair is not applied",
                }
            )
    counts = {
        "pairs": len(pairs),
        "must_link": int(must.sum()),
        "cannot_link": int(cannot.sum()),
        "unmatched": int((~present).sum()),
        "ads_relabelled": int(linked.sum()),
        "cannot_link_conflicts": len(quarantine),
    }
    return owner, joined, quarantine, counts
