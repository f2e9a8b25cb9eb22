"""Text evidence: edges between ads whose authorship embeddings are close.

What it computes
    For every ad, its ``k`` nearest neighbours by cosine similarity (FAISS inner product over
    L2-normalised embeddings; never all pairs in Python), kept as an edge when the similarity
    reaches the model's calibrated threshold (the score at which a chosen share of
    different-owner pairs, 1% by default, would pass). With ``mutual=True`` only pairs that are
    in each other's k-NN lists are kept ("mutual nearest neighbours", Jarvis & Patrick 1973;
    used against hubness in authorship retrieval), which already removes most chance links
    from a dense region into a sparse one.

Requires
    Embeddings that are float32 and L2-normalised (the exported model's contract).

Inputs
    ==========  ==========================================  ==============================
    name        type                                        meaning
    ==========  ==========================================  ==============================
    emb         float32 array (n, d), rows L2-normalised     one row per ad
    threshold   float                                       calibrated cosine threshold
    k           int                                         neighbours searched per ad
    mutual      bool                                        keep mutual k-NN pairs only
    index       "auto" | "flat" | "hnsw"                    exact search, or HNSW for big n
    rescore     callable (i, j) -> scores, optional         re-score the k-NN candidate pairs
                                                            (the hybrid score); ``threshold``
                                                            then applies to its scores
    ==========  ==========================================  ==============================

Output: a DataFrame with integer columns ``i < j``, ``score`` (cosine, or the ``rescore``
value), ``kind="text"``,
``mutual`` (bool) and ``detail`` (the neighbour ranks).

Example
    >>> emb = np.eye(4, dtype=np.float32)[[0, 0, 1, 1]]
    >>> text_edges(emb, threshold=0.9, k=2)[["i", "j"]].values.tolist()
    [[0, 1], [2, 3]]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from adowner.chain.tables import EDGES
from adowner.defaults import LINK
from adowner.scoring.search import knn


def text_edges(
    emb: np.ndarray,
    threshold: float,
    k: int = LINK.k,
    *,
    mutual: bool = True,
    index: str = LINK.index,
    rescore: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> pd.DataFrame:
    """Edges ``i < j`` with ``score >= threshold`` among each ad's ``k`` nearest neighbours.

    The score is the cosine, or ``rescore(i, j)`` of each candidate pair when given (the
    neighbours are still found by cosine).
    """
    n = len(emb)
    sims, idx = knn(emb, k, index=index)
    if sims.size == 0:
        return _empty()
    rows = np.repeat(np.arange(n, dtype=np.int64), sims.shape[1])
    cols = idx.ravel().astype(np.int64)
    s = sims.ravel()
    rank = np.tile(np.arange(1, sims.shape[1] + 1), n)
    if rescore is not None:
        s = np.full(len(cols), -np.inf, dtype=np.float64)
        valid = cols >= 0
        lo, hi = np.minimum(rows, cols)[valid], np.maximum(rows, cols)[valid]
        pair = lo * n + hi  # each unordered pair is scored once
        uniq, inv = np.unique(pair, return_inverse=True)
        s[valid] = np.asarray(rescore(uniq // n, uniq % n), dtype=np.float64)[inv]
    ok = (cols >= 0) & (s >= threshold)
    rows, cols, s, rank = rows[ok], cols[ok], s[ok], rank[ok]
    fwd = rows * n + cols
    rev = cols * n + rows
    is_mutual = np.isin(rev, fwd)
    if mutual:
        rows, cols, s, rank, is_mutual = (
            rows[is_mutual],
            cols[is_mutual],
            s[is_mutual],
            rank[is_mutual],
            is_mutual[is_mutual],
        )
    i, j = np.minimum(rows, cols), np.maximum(rows, cols)
    df = pd.DataFrame({"i": i, "j": j, "score": s.astype(np.float32), "rank": rank})
    df["mutual"] = is_mutual
    # one row per unordered pair, with its best rank (a mutual pair appears twice)
    df = df.sort_values(["i", "j", "rank"], kind="stable").drop_duplicates(["i", "j"])
    df = df.reset_index(drop=True)
    prefix = np.where(df["mutual"].to_numpy(), "mutual k-NN, best rank ", "k-NN rank ")
    df["detail"] = pd.Series(prefix, dtype=object) + df["rank"].astype(str)
    df["kind"] = "text"
    return df[list(COLUMNS)]


#: the columns of a text edge: the two ads' rows, then those of the edge schema
#: (``chain.tables.EDGES``) that a text edge fills; ``link`` adds ``src``/``dst`` (the ad ids)
#: and ``same_group``
COLUMNS = ("i", "j", "kind", "score", "mutual", "detail")


def _empty() -> pd.DataFrame:
    """No edges, with the columns of :data:`COLUMNS` and the dtypes of ``EDGES``' fields (text
    as pandas' default string dtype, as the edges :func:`text_edges` finds)."""
    dtypes: dict[str, Any] = {"i": np.int64, "j": np.int64}
    for f in EDGES:
        if f.name in COLUMNS:
            dtypes[f.name] = "str" if pa.types.is_string(f.type) else f.type.to_pandas_dtype()
    return pd.DataFrame({c: pd.Series([], dtype=dtypes[c]) for c in COLUMNS})
