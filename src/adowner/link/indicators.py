"""Indicators of each owner group, the figures an analyst ranks groups by.

What it computes
    One row a group: the number of ads; distinct personas (claimed names); distinct cities and
    regions; ads per day and the span of time; the total paid in USD over ads with a known
    payment; the payer wallet clusters; and the kinds of evidence that hold the group together.
    Portnoff et al. (KDD 2017) and the anti-trafficking literature they cite flag groups that
    post under many names, in many cities, at a high rate: ``flags`` names which of those fire,
    and ``rank`` orders groups by the number of flags, then by size.

Requires
    ``ads`` with ``ad_id``; ``persona``, ``location`` ("City, Region"), ``posted_at`` (UTC) and
    ``price_usd`` are used where present. ``payments`` (optional) has ``ad_id``,
    ``wallet_cluster`` and ``paid_usd`` for uniquely matched ads.

Inputs
    ==========  ==================================  ========================================
    name        type                                meaning
    ==========  ==================================  ========================================
    ads         DataFrame, row i = ad i              the ads being linked
    labels      int array, labels[i] = group of i    from :mod:`adowner.link.groups`
    edges       DataFrame with i, j, kind            the fused edges
    payments    DataFrame or None                    uniquely matched payments per ad
    ==========  ==================================  ========================================

Example
    >>> ads = pd.DataFrame({"ad_id": ["a", "b"], "persona": ["Ann", "Bea"],
    ...                     "location": ["Austin, TX", "Dallas, TX"]})
    >>> row = owner_indicators(ads, np.array([0, 0])).iloc[0]
    >>> (int(row.n_ads), int(row.n_personas), int(row.n_cities), int(row.n_regions))
    (2, 2, 2, 1)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# A flag fires at or above these values.
MANY_PERSONAS = 3
MANY_CITIES = 3
HIGH_RATE_PER_DAY = 3.0


def split_location(loc: pd.Series) -> tuple[pd.Series, pd.Series]:
    """("City, Region") -> (city, region); a location without a comma is a city, region unknown."""
    s = loc.fillna("").astype(str).str.strip()
    parts = s.str.rsplit(",", n=1, expand=True)
    if parts.shape[1] == 1:
        parts[1] = None
    city = parts[0].str.strip().str.lower().replace("", None)
    region = parts[1].str.strip().str.lower().replace("", None)
    return city, region


def _distinct(d: pd.DataFrame, col: str, groups: pd.Index, limit: int | None = 20) -> pd.Series:
    """Sorted distinct non-null values of ``col`` per group (the first ``limit``), [] if none."""
    u = d[["group_id", col]].dropna().drop_duplicates().sort_values(["group_id", col])
    lists = u.groupby("group_id")[col].agg(list)
    if limit is not None:
        lists = lists.map(lambda v: v[:limit])
    full = lists.reindex(groups)
    return full.map(lambda v: v if isinstance(v, list) else [])


def owner_indicators(
    ads: pd.DataFrame,
    labels: np.ndarray,
    edges: pd.DataFrame | None = None,
    payments: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row a group with its indicators, ranked (rank 1 = look at first)."""
    n = len(ads)
    d = pd.DataFrame({"group_id": labels, "ad_id": ads["ad_id"].astype(str).to_numpy()})
    d["persona"] = (
        ads["persona"].fillna("").astype(str).str.strip().str.lower().replace("", None).to_numpy()
        if "persona" in ads
        else None
    )
    if "location" in ads:
        city, region = split_location(ads["location"])
        d["city"], d["region"] = city.to_numpy(), region.to_numpy()
    else:
        d["city"], d["region"] = None, None
    d["t"] = (
        pd.to_datetime(ads["posted_at"], utc=True, errors="coerce").to_numpy()
        if "posted_at" in ads
        else pd.NaT
    )
    g = d.groupby("group_id", sort=True)
    out = pd.DataFrame(
        {
            "n_ads": g.size(),
            "n_personas": g["persona"].nunique(),
            "n_cities": g["city"].nunique(),
            "n_regions": g["region"].nunique(),
            "first_seen": g["t"].min(),
            "last_seen": g["t"].max(),
        }
    )
    span = (out["last_seen"] - out["first_seen"]).dt.total_seconds() / 86400.0
    out["span_days"] = span.round(2)
    # a group seen within one day counts one day, so the rate is never inflated by a short span
    out["ads_per_day"] = (out["n_ads"] / np.maximum(span.fillna(0.0), 1.0)).round(3)
    out["personas"] = _distinct(d, "persona", out.index)
    out["cities"] = _distinct(d, "city", out.index)

    out["total_paid_usd"] = np.nan
    out["n_paid_ads"] = 0
    out["wallet_clusters"] = [[] for _ in range(len(out))]
    if payments is not None and len(payments):
        p = payments.merge(d[["ad_id", "group_id"]], on="ad_id", how="inner")
        if len(p):
            pg = p.groupby("group_id")
            out.loc[pg.size().index, "n_paid_ads"] = pg.size()
            if "paid_usd" in p:
                out.loc[pg.size().index, "total_paid_usd"] = pg["paid_usd"].sum(min_count=1)
            p["wallet_cluster"] = p["wallet_cluster"].astype(str).where(p["wallet_cluster"].notna())
            out["wallet_clusters"] = _distinct(p, "wallet_cluster", out.index, limit=None)
    out["n_wallet_clusters"] = out["wallet_clusters"].map(len)

    out["evidence"] = [[] for _ in range(len(out))]
    if edges is not None and len(edges):
        e = pd.DataFrame({"group_id": labels[edges["i"].to_numpy()], "kind": edges["kind"]})
        e = e[labels[edges["i"].to_numpy()] == labels[edges["j"].to_numpy()]]
        out["evidence"] = _distinct(e, "kind", out.index, limit=None)

    flags = []
    for r in out.itertuples():
        f = []
        if r.n_personas >= MANY_PERSONAS:
            f.append("many personas")
        if r.n_cities >= MANY_CITIES:
            f.append("many cities")
        if r.n_ads >= 3 and r.ads_per_day >= HIGH_RATE_PER_DAY:
            f.append("high posting rate")
        flags.append(f)
    out["flags"] = flags
    out["n_flags"] = out["flags"].map(len)
    out = out.reset_index()
    order = out.sort_values(
        ["n_flags", "n_ads", "n_personas", "n_cities", "group_id"],
        ascending=[False, False, False, False, True],
        kind="stable",
    ).index
    out["rank"] = 0
    out.loc[order, "rank"] = np.arange(1, len(out) + 1)
    assert out["n_ads"].sum() == n
    return out.sort_values("rank").reset_index(drop=True)
