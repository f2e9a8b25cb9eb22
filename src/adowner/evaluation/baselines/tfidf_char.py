"""``tfidf-char``: character 2–5-gram TF-IDF, fitted on train, scored by cosine.

The classic authorship-attribution baseline (character n-grams catch spelling, punctuation runs
and emoji habits; e.g. Stamatatos 2009). The rows are :class:`adowner.scoring.tfidf.CharTfidf`
(scikit-learn's ``TfidfVectorizer`` with ``analyzer="char_wb"``, case kept, sublinear tf,
``min_df=2``; L2-normalised, so the dot product is the cosine), the same rows the hybrid uses
as its ``char`` feature.

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

from typing import Any, Literal

import scipy.sparse as sp

from adowner.scoring.tfidf import CharTfidf


class TfidfChar:
    """The ``tfidf-char`` baseline: an embedder (:class:`adowner.evaluation.scorer.Embedder`)."""

    name = "tfidf-char"
    learns = True
    pairwise: Literal[False] = False

    def __init__(self, ngram_range: tuple[int, int] = (2, 5), max_features: int = 500_000) -> None:
        self.tfidf = CharTfidf(ngram_range, max_features)
        self.notes: list[str] = []

    def fit(self, train_df: Any, val_df: Any = None) -> None:
        self.tfidf.fit_texts(train_df["text"].astype(str).tolist())

    def embed(self, texts: list[str], *, progress: bool = False) -> sp.csr_matrix:
        if not self.tfidf.fitted:
            raise RuntimeError("tfidf-char must be fitted on a train split first")
        return self.tfidf.transform(texts)
