"""The pair features and pairwise authorship classifier of Portnoff et al. (KDD 2017).

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
downloaded here; checked with ``nltk.data.find`` (:func:`pos_tagger_available`) when the
``paper-pairwise`` baseline is fitted, and recorded in its ``notes``.

Sets are sparse binary matrices (scikit-learn ``CountVectorizer(binary=True)``), so a pair's
Jaccard is ``|A∩B| / |A∪B|`` from one row-wise product, vectorised over chunks of pairs.

Training (:func:`fit_pairwise`): pairs of the train split from
:func:`adowner.scoring.pairs.sample_pairs` (5 different-owner pairs per same-owner pair, at most
200 same-owner pairs per owner, at most 60,000 pairs), features standardised,
``LogisticRegression(C=10)``; the fitted classifier is a :class:`adowner.scoring.linear.Linear`
(plain arrays, stored in ``hybrid.json``). The probability of "same owner" is the similarity.
The ``paper-pairwise`` baseline (:mod:`adowner.evaluation.baselines.paper_pairwise`) and the
hybrid's ``pairwise`` feature both use it.

Text is split into title and body at the first newline (the prepared ``text`` is
``title + "\\n" + body``).

==================  ===============================  ======================================
name                input                            output
==================  ===============================  ======================================
``PairFeatures``    texts; then pairs i, j           (n_pairs, 18) float32 features
``fit_pairwise``    train DataFrame (text, owner,    fitted ``Linear`` classifier
                    dup_group)
==================  ===============================  ======================================

Example::

    clf = fit_pairwise(train_df)
    clf.proba(PairFeatures(texts)(np.array([0]), np.array([1])))  # P(same owner) of ads 0, 1
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import scipy.sparse as sp

from adowner.defaults import PAIRWISE_FIT
from adowner.errors import InputError
from adowner.log import get_logger
from adowner.progress import track
from adowner.scoring.linear import Linear
from adowner.scoring.pairs import sample_pairs
from adowner.scoring.vectors import l2_normalise

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
    return counts, l2_normalise(lengths)


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


def fit_pairwise(
    train_df: Any, *, C: float = 10.0, max_train_pairs: int = 60_000, seed: int = 0
) -> Linear:
    """The pairwise classifier of the module docstring, fitted on pairs of ``train_df``."""
    texts = train_df["text"].astype(str).tolist()
    dups = train_df["dup_group"].to_numpy() if "dup_group" in train_df else None
    i, j, y = sample_pairs(
        train_df["owner"].to_numpy(),
        dups,
        neg_ratio=PAIRWISE_FIT.neg_ratio,
        seed=seed,
        max_pos_per_owner=PAIRWISE_FIT.max_pos_per_owner,
    )
    if not y.any():
        raise InputError("paper-pairwise needs train owners with at least two ads")
    if len(i) > max_train_pairs:
        keep = np.sort(np.random.default_rng(seed).choice(len(i), max_train_pairs, replace=False))
        i, j, y = i[keep], j[keep], y[keep]
    log.info("paper-pairwise: fitting on %d train pairs (%d same-owner)", len(i), int(y.sum()))
    x = PairFeatures(texts).chunked(i, j)
    return Linear.fit(x, y, C)  # L2 is the default penalty
