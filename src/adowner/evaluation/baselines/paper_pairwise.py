"""``paper-pairwise``: the pairwise authorship classifier of Portnoff et al. (KDD 2017).

"Backpage and Bitcoin: Uncovering Human Traffickers" linked two ads with a logistic regression
(L2, C=10) over similarity features of the pair, on title and body separately. Reimplemented
here with these features per field (18 in all):

* Jaccard similarity of word 1-grams and word 2-grams (lower-cased words);
* Jaccard of character 1-, 2- and 3-grams (case kept);
* Jaccard of *claimed first names*: capitalised words after "I am / I'm / my name is / call me /
  ask for / this is / it's" and capitalised sign-offs ("- Sara", "xoxo Sara"). A pattern
  heuristic, because no first-name list is available offline (NLTK's ``names`` corpus is not
  installed and nothing is downloaded);
* line-break structure: log(1 + |difference in line count|), and the cosine of the two
  vectors of line lengths sorted longest first (first 64 lines);
* Jaccard of symbol and punctuation tokens (runs of characters that are neither word characters
  nor spaces: ``!!!``, ``**``, ``<3``, emoji).

**Omitted:** the paper's part-of-speech features — NLTK's averaged perceptron tagger needs its
data files (``taggers/averaged_perceptron_tagger``), which are not installed and cannot be
downloaded here; checked with ``nltk.data.find`` at fit time and recorded in ``notes``.

Sets are sparse binary matrices (scikit-learn ``CountVectorizer(binary=True)``), so a pair's
Jaccard is ``|A∩B| / |A∪B|`` from one row-wise product, vectorised over chunks of pairs.

Training: pairs of the train split from :func:`adowner.evaluation.pairs.sample_pairs` (5
different-owner pairs per same-owner pair, at most 200 same-owner pairs per owner, at most
60,000 pairs), features standardised, ``LogisticRegression(C=10)``. The probability of "same
owner" is the similarity. For retrieval, each query's top-100 ``tfidf-char`` candidates (fitted
on train) are re-ranked by the classifier; ads outside them are never ranked, so R-Precision is
capped for owners with more than 100 ads, and the report says so.

Text is split into title and body at the first newline (the prepared ``text`` is
``title + "\\n" + body``).

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
import re
from typing import Any

import numpy as np
import scipy.sparse as sp

from adowner.defaults import PAIRWISE_FIT
from adowner.evaluation.baselines.tfidf_char import TfidfChar, sparse_neighbors
from adowner.evaluation.pairs import sample_pairs
from adowner.log import get_logger
from adowner.progress import track

log = get_logger(__name__)

_NAME_AFTER = re.compile(
    r"(?i:\b(?:i am|i'?m|my name is|my name'?s|call me|ask for|this is|it'?s)\s+)([A-Z][a-z]{1,14})\b"
)
_NAME_SIGNOFF = re.compile(r"(?m)^\s*(?:[-~*]+|xoxo|xo|love|kisses)\s*,?\s*([A-Z][a-z]{1,14})\s*$")
_SYMBOLS = re.compile(r"[^\w\s]+")
_MAX_LINES = 64
_SET_FEATURES = ("word1", "word2", "char1", "char2", "char3", "names", "symbols")
FEATURE_NAMES = [
    f"{field}_{name}"
    for field in ("title", "body")
    for name in (*_SET_FEATURES, "line_count_diff", "line_length_cos")
]


def claimed_names(text: str) -> list[str]:
    """First names an ad claims ("I'm Sara", "- Sara"), by pattern; lower-cased."""
    return [m.lower() for m in _NAME_AFTER.findall(text) + _NAME_SIGNOFF.findall(text)]


def symbol_tokens(text: str) -> list[str]:
    return _SYMBOLS.findall(text)


def split_title_body(text: str) -> tuple[str, str]:
    title, _, body = (text or "").partition("\n")
    return title, body


def _binary_sets(texts: list[str]) -> dict[str, sp.csr_matrix]:
    from sklearn.feature_extraction.text import CountVectorizer

    words = r"(?u)\b\w+\b"
    vectorizers: dict[str, Any] = {
        "word1": CountVectorizer(binary=True, token_pattern=words, ngram_range=(1, 1)),
        "word2": CountVectorizer(binary=True, token_pattern=words, ngram_range=(2, 2)),
        "char1": CountVectorizer(binary=True, analyzer="char", ngram_range=(1, 1), lowercase=False),
        "char2": CountVectorizer(binary=True, analyzer="char", ngram_range=(2, 2), lowercase=False),
        "char3": CountVectorizer(binary=True, analyzer="char", ngram_range=(3, 3), lowercase=False),
        "names": CountVectorizer(binary=True, analyzer=claimed_names),
        "symbols": CountVectorizer(binary=True, analyzer=symbol_tokens),
    }
    out = {}
    for name, vec in vectorizers.items():
        try:
            out[name] = sp.csr_matrix(vec.fit_transform(texts), dtype=np.float32)
        except ValueError:  # empty vocabulary: no text has such a token (e.g. no names)
            out[name] = sp.csr_matrix((len(texts), 1), dtype=np.float32)
    return out


def _line_profile(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    counts = np.zeros(len(texts), dtype=np.float32)
    lengths = np.zeros((len(texts), _MAX_LINES), dtype=np.float32)
    for k, t in enumerate(texts):
        lines = t.split("\n") if t else []
        counts[k] = len(lines)
        ls = sorted((len(x) for x in lines), reverse=True)[:_MAX_LINES]
        lengths[k, : len(ls)] = ls
    norms = np.linalg.norm(lengths, axis=1, keepdims=True)
    return counts, lengths / np.maximum(norms, 1e-12)


class PairFeatures:
    """Precomputed per-ad sets for one list of texts; :meth:`__call__` gives pair features."""

    def __init__(self, texts: list[str]) -> None:
        titles = [split_title_body(t)[0] for t in texts]
        bodies = [split_title_body(t)[1] for t in texts]
        self.fields = []
        for ft in (titles, bodies):
            sets = _binary_sets(ft)
            sizes = {k: np.asarray(m.sum(axis=1)).ravel() for k, m in sets.items()}
            counts, lengths = _line_profile(ft)
            self.fields.append((sets, sizes, counts, lengths))

    def __call__(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        cols = []
        for sets, sizes, counts, lengths in self.fields:
            for name in _SET_FEATURES:
                m = sets[name]
                inter = np.asarray(m[i].multiply(m[j]).sum(axis=1)).ravel()
                union = sizes[name][i] + sizes[name][j] - inter
                cols.append(np.where(union > 0, inter / np.maximum(union, 1), 0.0))
            cols.append(np.log1p(np.abs(counts[i] - counts[j])))
            cols.append(np.einsum("ij,ij->i", lengths[i], lengths[j]))
        return np.stack(cols, axis=1).astype(np.float32)

    def chunked(self, i: np.ndarray, j: np.ndarray, chunk: int = 50_000) -> np.ndarray:
        out = np.empty((len(i), len(FEATURE_NAMES)), dtype=np.float32)
        starts = range(0, len(i), chunk)
        for s in track(starts, "pair features", disable=len(starts) < 3):
            out[s : s + chunk] = self(i[s : s + chunk], j[s : s + chunk])
        return out


def pos_tagger_available() -> bool:
    import nltk

    for res in ("taggers/averaged_perceptron_tagger_eng", "taggers/averaged_perceptron_tagger"):
        try:
            nltk.data.find(res)
            return True
        except LookupError:
            continue
    return False


class PaperPairwise:
    name = "paper-pairwise"
    candidates = 100

    def __init__(self, *, C: float = 10.0, max_train_pairs: int = 60_000, seed: int = 0) -> None:
        self.C, self.max_train_pairs, self.seed = C, max_train_pairs, seed
        self.clf: Any = None
        self.tfidf = TfidfChar()
        self.notes: list[str] = [
            f"re-ranks the top {self.candidates} tfidf-char candidates of each query for retrieval "
            "and grouping; ads outside them are not ranked"
        ]
        self._cache: tuple[int, PairFeatures] | None = None

    def fit(self, train_df: Any) -> None:
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        if not pos_tagger_available():
            self.notes.append(
                "part-of-speech features omitted: NLTK's averaged perceptron tagger data is not installed"
            )
        texts = train_df["text"].astype(str).tolist()
        dups = train_df["dup_group"].to_numpy() if "dup_group" in train_df else None
        i, j, y = sample_pairs(
            train_df["owner"].to_numpy(),
            dups,
            neg_ratio=PAIRWISE_FIT.neg_ratio,
            seed=self.seed,
            max_pos_per_owner=PAIRWISE_FIT.max_pos_per_owner,
        )
        if not y.any():
            from adowner.errors import InputError

            raise InputError("paper-pairwise needs train owners with at least two ads")
        if len(i) > self.max_train_pairs:
            keep = np.sort(
                np.random.default_rng(self.seed).choice(len(i), self.max_train_pairs, replace=False)
            )
            i, j, y = i[keep], j[keep], y[keep]
        log.info("paper-pairwise: fitting on %d train pairs (%d same-owner)", len(i), int(y.sum()))
        x = PairFeatures(texts).chunked(i, j)
        self.clf = make_pipeline(
            StandardScaler(),
            LogisticRegression(C=self.C, max_iter=2000),  # L2 is the default penalty
        )
        self.clf.fit(x, y)
        self.tfidf.fit_texts(texts)

    def _features(self, texts: list[str]) -> PairFeatures:
        key = hash(tuple(texts))
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, PairFeatures(texts))
        return self._cache[1]

    def score_pairs(self, texts: list[str], i: np.ndarray, j: np.ndarray) -> np.ndarray:
        if self.clf is None:
            raise RuntimeError("paper-pairwise must be fitted on a train split first")
        feats = self._features(texts)
        out = np.empty(len(i), dtype=np.float64)
        chunk = 100_000
        for s in track(
            range(0, len(i), chunk), "paper-pairwise scoring", disable=len(i) < 3 * chunk
        ):
            x = feats(i[s : s + chunk], j[s : s + chunk])
            out[s : s + chunk] = self.clf.predict_proba(x)[:, 1]
        return out

    def neighbors(
        self, texts: list[str], queries: np.ndarray, k: int, *, return_scores: bool = False
    ) -> Any:
        """Re-rank each query's top-``candidates`` TF-IDF ads by the classifier (at most
        ``candidates`` ads are ranked, whatever ``k``). With ``return_scores``, also the
        probabilities in the same layout (the query itself gets +inf)."""
        depth = min(max(self.candidates, 1), len(texts))
        cand = sparse_neighbors(self.tfidf.embed(texts), queries, depth)
        qi = np.repeat(queries, cand.shape[1])
        p = self.score_pairs(texts, qi, cand.ravel()).reshape(cand.shape)
        p[cand == queries[:, None]] = math.inf  # the query itself first; the metrics drop it
        order = np.lexsort((cand, -p), axis=1)[:, : max(k, 1)]
        ranked = np.take_along_axis(cand, order, axis=1)
        return (ranked, np.take_along_axis(p, order, axis=1)) if return_scores else ranked
