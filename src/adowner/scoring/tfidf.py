"""Character 2–5-gram TF-IDF rows: the ``char`` feature of the hybrid and the ``tfidf-char``
baseline's embedding.

The classic authorship-attribution representation (character n-grams catch spelling,
punctuation runs and emoji habits; e.g. Stamatatos 2009). scikit-learn's ``TfidfVectorizer``
with ``analyzer="char_wb"`` (n-grams inside word boundaries, padded with spaces), case kept,
sublinear tf, ``min_df=2``; rows are L2-normalised, so the dot product is the cosine.

Requires texts to fit on (the vocabulary and idf come from train owners only).

==============  ===================  ===============================================
method          input                output
==============  ===================  ===============================================
``fit_texts``   list[str]            fitted vocabulary and idf
``transform``   list[str]            sparse CSR rows, float32, L2-normalised
``state``       —                    vocabulary and idf as JSON-able values
==============  ===================  ===============================================

Example::

    t = CharTfidf(); t.fit_texts(train_texts); X = t.transform(test_texts)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp


class CharTfidf:
    """Character n-gram TF-IDF (see the module docstring)."""

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

    def fit_texts(self, texts: list[str]) -> None:
        self.vectorizer.fit(texts)
        self.fitted = True

    def transform(self, texts: list[str]) -> sp.csr_matrix:
        if not self.fitted:
            raise RuntimeError("the TF-IDF must be fitted on a train split first")
        return sp.csr_matrix(self.vectorizer.transform(texts), dtype=np.float32)

    # ------------------------------------------------------------------ persistence
    def state(self) -> dict[str, Any]:
        """The fitted vectorizer as JSON-able values: settings, terms (by column), idf."""
        vec = self.vectorizer
        terms = sorted(vec.vocabulary_, key=vec.vocabulary_.__getitem__)
        return {
            "analyzer": vec.analyzer,
            "ngram_range": list(vec.ngram_range),
            "lowercase": vec.lowercase,
            "sublinear_tf": vec.sublinear_tf,
            "terms": terms,
            "idf": [float(v) for v in vec.idf_],
        }

    @classmethod
    def from_state(cls, t: dict[str, Any]) -> CharTfidf:
        from sklearn.feature_extraction.text import TfidfVectorizer

        vec = TfidfVectorizer(
            analyzer=t["analyzer"],
            ngram_range=tuple(t["ngram_range"]),
            lowercase=t["lowercase"],
            sublinear_tf=t["sublinear_tf"],
            vocabulary={term: n for n, term in enumerate(t["terms"])},
            dtype=np.float32,
        )
        vec.idf_ = np.asarray(t["idf"], dtype=np.float64)
        out = cls()
        out.vectorizer, out.fitted = vec, True
        return out
