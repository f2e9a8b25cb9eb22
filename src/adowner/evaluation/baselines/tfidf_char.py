"""``tfidf-char``: character 2–5-gram TF-IDF, fitted on train, scored by cosine.

The classic authorship-attribution baseline (character n-grams catch spelling, punctuation runs
and emoji habits; e.g. Stamatatos 2009). scikit-learn's ``TfidfVectorizer`` with
``analyzer="char_wb"`` (n-grams inside word boundaries, padded with spaces), case kept,
sublinear tf, ``min_df=2``; rows are L2-normalised, so the dot product is the cosine.

Requires a train split (the vocabulary and idf come from train owners only).

============  ===================  ===============================================
input         type                 meaning
============  ===================  ===============================================
``fit``       DataFrame            train split with a ``text`` column
``embed``     list[str]            ads → sparse CSR rows, L2-normalised
============  ===================  ===============================================

Example::

    m = TfidfChar(); m.fit(train_df); X = m.embed(test_df["text"].tolist())
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp


class TfidfChar:
    name = "tfidf-char"

    def __init__(self, ngram_range: tuple[int, int] = (2, 5), max_features: int = 500_000) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.vectorizer = TfidfVectorizer(
            analyzer="char_wb",
            ngram_range=ngram_range,
            lowercase=False,
            sublinear_tf=True,
            min_df=2,
            max_features=max_features,
            dtype=np.float32,
        )
        self.fitted = False

    def fit(self, train_df: Any) -> None:
        self.fit_texts(train_df["text"].astype(str).tolist())

    def fit_texts(self, texts: list[str]) -> None:
        self.vectorizer.fit(texts)
        self.fitted = True

    def embed(self, texts: list[str]) -> sp.csr_matrix:
        if not self.fitted:
            raise RuntimeError("tfidf-char must be fitted on a train split first")
        return sp.csr_matrix(self.vectorizer.transform(texts), dtype=np.float32)


def sparse_neighbors(
    x: sp.csr_matrix,
    queries: np.ndarray,
    k: int,
    *,
    chunk: int = 512,
    on_batch: Any = None,
) -> np.ndarray:
    """Top-``k`` rows by dot product for each query row (exact; sparse matmul in chunks).

    FAISS needs dense vectors and a 500k-wide TF-IDF row does not fit densely, so the search is a
    chunked sparse product ``X[q] @ X.T`` with ``argpartition``. Ties are broken by ad index.
    """
    x = sp.csr_matrix(x)
    xt = x.T.tocsc()
    k = min(k, x.shape[0])
    out = np.empty((len(queries), k), dtype=np.int64)
    for s in range(0, len(queries), chunk):
        q = queries[s : s + chunk]
        sims = np.asarray((x[q] @ xt).todense(), dtype=np.float32)
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        top_s = np.take_along_axis(sims, top, axis=1)
        order = np.lexsort((top, -top_s), axis=1)
        out[s : s + len(q)] = np.take_along_axis(top, order, axis=1)
        if on_batch is not None:
            on_batch(len(q))
    return out
