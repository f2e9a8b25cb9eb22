"""``paper-pairwise``: the pairwise authorship classifier of Portnoff et al. (KDD 2017).

"Backpage and Bitcoin: Uncovering Human Traffickers" linked two ads with a logistic regression
(L2, C=10) over similarity features of the pair, on title and body separately. The features
(18: Jaccard of word and character n-grams, claimed first names, line layout, symbols; the
paper's part-of-speech features omitted) and the classifier's training are
:mod:`adowner.scoring.pairwise`, shared with the hybrid score; this module scores them as an
evaluation model.

Training: :func:`adowner.scoring.pairwise.fit_pairwise` on the train split (5 different-owner
pairs per same-owner pair, at most 200 same-owner pairs per owner, at most 60,000 pairs). The
probability of "same owner" is the similarity. For retrieval, each query's top-100
``tfidf-char`` candidates (fitted on train) are re-ranked by the classifier; ads outside them
are never ranked, so R-Precision is capped for owners with more than 100 ads, and the report
says so.

==================  ===============================  ======================================
method              input                            output
==================  ===============================  ======================================
``fit``             train DataFrame (text, owner,    fitted classifier and candidate index
                    dup_group)
``score_pairs``     texts, i, j                      P(same owner) per pair
``neighbors``       texts, queries, k                (n_q, k) re-ranked candidate indices
==================  ===============================  ======================================

Example::

    m = PaperPairwise(); m.fit(train_df)
    m.score_pairs(test_texts, np.array([0]), np.array([1]))  # P(same owner) of ads 0 and 1
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np

from adowner.progress import track
from adowner.scoring import Index, Locations, Ranked, Texts
from adowner.scoring.linear import Linear
from adowner.scoring.pairwise import PairFeatures, fit_pairwise, pos_tagger_available
from adowner.scoring.search import sparse_neighbors
from adowner.scoring.tfidf import CharTfidf


class PaperPairwise:
    """The ``paper-pairwise`` baseline: a pair scorer (:class:`adowner.evaluation.scorer.PairScorer`)."""

    name = "paper-pairwise"
    learns = True
    pairwise: Literal[True] = True
    uses_locations = False
    candidates = 100

    def __init__(self, *, C: float = 10.0, max_train_pairs: int = 60_000, seed: int = 0) -> None:
        self.C, self.max_train_pairs, self.seed = C, max_train_pairs, seed
        self.clf: Linear | None = None
        self.tfidf = CharTfidf()
        self.notes: list[str] = [
            f"re-ranks the top {self.candidates} tfidf-char candidates of each query for retrieval "
            "and grouping; ads outside them are not ranked"
        ]
        self._cache: tuple[int, PairFeatures] | None = None

    def fit(self, train_df: Any, val_df: Any = None) -> None:
        if not pos_tagger_available():
            self.notes.append(
                "part-of-speech features omitted: NLTK's averaged perceptron tagger data is not installed"
            )
        self.clf = fit_pairwise(
            train_df, C=self.C, max_train_pairs=self.max_train_pairs, seed=self.seed
        )
        self.tfidf.fit_texts(train_df["text"].astype(str).tolist())

    def _features(self, texts: list[str]) -> PairFeatures:
        key = hash(tuple(texts))
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, PairFeatures(texts))
        return self._cache[1]

    def score_pairs(
        self, texts: Texts, i: Index, j: Index, *, locations: Locations = None
    ) -> np.ndarray:
        """P(same owner) of each pair (``locations`` are not used)."""
        if self.clf is None:
            raise RuntimeError("paper-pairwise must be fitted on a train split first")
        feats = self._features(texts)
        out = np.empty(len(i), dtype=np.float64)
        chunk = 100_000
        for s in track(
            range(0, len(i), chunk), "paper-pairwise scoring", disable=len(i) < 3 * chunk
        ):
            out[s : s + chunk] = self.clf.proba(feats(i[s : s + chunk], j[s : s + chunk]))
        return out

    def neighbors(
        self, texts: Texts, queries: Index, k: int, *, locations: Locations = None
    ) -> Ranked:
        """Re-rank each query's top-``candidates`` TF-IDF ads by the classifier (at most
        ``candidates`` ads are ranked, whatever ``k``), and their probabilities in the same
        layout (the query itself gets +inf)."""
        depth = min(max(self.candidates, 1), len(texts))
        cand = sparse_neighbors(self.tfidf.transform(texts), queries, depth)
        qi = np.repeat(queries, cand.shape[1])
        p = self.score_pairs(texts, qi, cand.ravel()).reshape(cand.shape)
        p[cand == queries[:, None]] = math.inf  # the query itself first; the metrics drop it
        order = np.lexsort((cand, -p), axis=1)[:, : max(k, 1)]
        ranked = np.take_along_axis(cand, order, axis=1)
        return ranked, np.take_along_axis(p, order, axis=1)
