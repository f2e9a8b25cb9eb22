"""Identifier evidence: edges between ads that share a phone number, e-mail address or handle.

What it computes
    Ads that carry the same salted hash of a phone number, e-mail address or handle (as written
    by ``prepare``: lists of hashes per ad) are joined. A shared identifier is the labelling
    signal of IDTraffickers (EMNLP 2023) and of Portnoff et al. (KDD 2017), so these are hard
    edges with score 1. The ads of one identifier are joined as a star around the first ad (n - 1
    edges, not n^2/2), which keeps their connected component and keeps the edge table small.
    The edge's ``detail`` names the kind and a shortened hash, never the identifier.

Requires
    Identifier columns that hold lists (or arrays) of hash strings; missing columns are skipped.

Inputs
    ===========  ==============================  =========================================
    name         type                            meaning
    ===========  ==============================  =========================================
    ads          DataFrame, row i = ad i         with list columns ``phones``, ``emails``...
    columns      mapping column -> edge kind     default phones/emails/handles
    ===========  ==============================  =========================================

Output: a DataFrame with ``i < j``, ``kind`` (phone/email/handle), ``score=1.0``,
``detail`` ("phone #3fa2c1d09b7e").

Example
    >>> ads = pd.DataFrame({"phones": [["h1"], [], ["h1"]]})
    >>> identifier_edges(ads)[["i", "j", "kind"]].values.tolist()
    [[0, 2, 'phone']]
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

IDENTIFIER_KINDS: Mapping[str, str] = {"phones": "phone", "emails": "email", "handles": "handle"}


def identifier_edges(
    ads: pd.DataFrame, columns: Mapping[str, str] = IDENTIFIER_KINDS
) -> pd.DataFrame:
    """Star edges between the ads that share each identifier hash."""
    frames = []
    for col, kind in columns.items():
        if col not in ads.columns:
            continue
        values = ads[col].reset_index(drop=True)
        long = values.explode().dropna()
        long = long[long.astype(str) != ""]
        if long.empty:
            continue
        t = pd.DataFrame({"ad": long.index.to_numpy(np.int64), "h": long.astype(str).to_numpy()})
        t = t.drop_duplicates().sort_values(["h", "ad"], kind="stable")
        hub = t.groupby("h", sort=False)["ad"].transform("first")
        pairs = t[t["ad"] != hub]
        if pairs.empty:
            continue
        frames.append(
            pd.DataFrame(
                {
                    "i": np.minimum(hub[pairs.index].to_numpy(), pairs["ad"].to_numpy()),
                    "j": np.maximum(hub[pairs.index].to_numpy(), pairs["ad"].to_numpy()),
                    "kind": kind,
                    "score": np.float32(1.0),
                    "mutual": True,
                    "detail": kind + " #" + pairs["h"].str[:12],
                }
            )
        )
    if not frames:
        from adowner.link.text_edges import _empty

        return _empty()
    return pd.concat(frames, ignore_index=True)
