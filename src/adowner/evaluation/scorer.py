"""The Scorer protocol: what ``evaluate`` needs of a model or a baseline.

A scorer is either an **embedder** (``embed(texts)`` → one row an ad, dense float32 or a scipy
sparse matrix; similarity is the cosine) or a **pair scorer** (``score_pairs`` for given pairs
and ``neighbors`` for ranked lists), like the paper's pairwise classifier, which has no
embedding. ``fit(train_df)`` is optional: baselines that learn (TF-IDF vocabulary, logistic
regression) fit on the train split, whose owners never appear in test.

==============  =================================================  ==========================
method          signature                                          who has it
==============  =================================================  ==========================
``fit``         ``(train_df: DataFrame) -> None``                  learning baselines
``embed``       ``(texts: list[str]) -> ndarray | sparse``         embedders, models
``score_pairs`` ``(texts, i, j) -> ndarray``                        pair scorers
``neighbors``   ``(texts, queries, k) -> int ndarray (n_q, k)``     pair scorers (-1 = empty)
==============  =================================================  ==========================

``train_df`` has the prepared-split columns ``text``, ``owner`` and ``dup_group``.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Embedder(Protocol):
    def embed(self, texts: list[str]) -> Any: ...


@runtime_checkable
class PairScorer(Protocol):
    def score_pairs(self, texts: list[str], i: np.ndarray, j: np.ndarray) -> np.ndarray: ...

    def neighbors(self, texts: list[str], queries: np.ndarray, k: int) -> np.ndarray: ...


def needs_fit(model: Any) -> bool:
    """True if the model learns from the train split before scoring."""
    return callable(getattr(model, "fit", None))
