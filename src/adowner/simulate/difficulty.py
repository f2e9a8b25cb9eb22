"""How hard is same-owner retrieval on a set of ads, for a character n-gram TF-IDF baseline?

Computes leave-one-out retrieval with cosine similarity over character 2-5-gram TF-IDF vectors
(scikit-learn ``TfidfVectorizer(analyzer="char_wb")``, sublinear tf): every ad of an owner with
at least two ads is a query against all other ads. This is the standard baseline of the
authorship literature (IDTraffickers, EMNLP 2023, reports R-Precision for it), used here only to
check that the simulator is neither trivial nor noise; the full evaluation harness lives in
``adowner.evaluation``.

Requires: at least two owners, and at least one owner with two or more ads.

| input | type | meaning |
|---|---|---|
| ``texts`` | sequence of str | one text per ad |
| ``owners`` | sequence of hashable | the owner of each ad |
| ``queries`` | optional boolean mask | only these ads are queries (all ads stay candidates) |
| ``chunk`` | int | queries scored per block (memory bound) |

Returns ``{"p_at_1", "r_precision", "mrr", "random_r_precision", "queries", "owners"}``;
``random_r_precision`` is the expected R-Precision of a random ranking, for scale.

Example::

    >>> char_ngram_retrieval(["hi babe!!", "hi babe!!!", "Hello sir."], ["a", "a", "b"])["p_at_1"]
    1.0
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np


def char_ngram_retrieval(
    texts: Sequence[str],
    owners: Sequence[Hashable],
    queries: Sequence[bool] | None = None,
    chunk: int = 512,
) -> dict[str, float]:
    """Leave-one-out same-owner retrieval with char 2-5-gram TF-IDF cosine (see module doc)."""
    import pandas as pd
    from sklearn.feature_extraction.text import TfidfVectorizer

    if len(texts) != len(owners):
        raise ValueError(f"{len(texts)} texts but {len(owners)} owners")
    labels = pd.factorize(pd.Series(list(owners)))[0]
    counts = np.bincount(labels)
    is_query = counts[labels] >= 2
    if queries is not None:
        is_query &= np.asarray(queries, dtype=bool)
    q_idx = np.flatnonzero(is_query)
    if len(counts) < 2 or len(q_idx) == 0:
        raise ValueError("need at least two owners and one owner with two or more ads")
    x = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True).fit_transform(
        texts
    )
    n = len(texts)
    chunk = max(1, min(chunk, 20_000_000 // n))  # a block of scores stays under ~160 MB
    p1, rp, rr = [], [], []
    for s in range(0, len(q_idx), chunk):
        q = q_idx[s : s + chunk]
        sims = (x[q] @ x.T).toarray()
        sims[np.arange(len(q)), q] = -np.inf  # leave the query out
        order = np.argsort(-sims, axis=1, kind="stable")
        same = labels[order] == labels[q][:, None]
        r = counts[labels[q]] - 1
        p1.append(same[:, 0])
        hits_at = np.cumsum(same, axis=1)
        rp.append(hits_at[np.arange(len(q)), r - 1] / r)
        rr.append(1.0 / (np.argmax(same, axis=1) + 1))
    r_all = counts[labels[q_idx]] - 1
    return {
        "p_at_1": float(np.concatenate(p1).mean()),
        "r_precision": float(np.concatenate(rp).mean()),
        "mrr": float(np.concatenate(rr).mean()),
        "random_r_precision": float(np.mean(r_all / (n - 1))),
        "queries": len(q_idx),
        "owners": len(np.unique(labels[q_idx])),
    }
