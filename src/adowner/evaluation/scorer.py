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


class MemoEmbedder:
    """An embedder that embeds each distinct text once and answers repeats from memory.

    ``compare`` scores one model several ways (its cosine, ``asnorm:``, ``hybrid:``) and each
    way embeds the same test, val and cohort ads; ``export`` embeds val for the cosine
    thresholds and again for the hybrid. Wrapping the one loaded model in this class makes
    every later call a lookup (quickstart: compare 355 s → see docs/BENCHMARKS.md).

    Only for models whose embedding does not change: a fine-tuned checkpoint, an exported
    folder, a zero-shot encoder — never a baseline that is fitted (its vectors change with
    ``fit``). The memo lives as long as the wrapper (1.5 KB an ad at 384 float32 dimensions). Other attributes (``name``, ``dimension``, …) are the wrapped model's.
    """

    def __init__(self, model: Any) -> None:
        import inspect

        if needs_fit(model):
            raise TypeError(f"{type(model).__name__} is fitted on data: its vectors may change")
        self.model = model
        params = inspect.signature(model.embed).parameters
        # the model parts draw a progress bar under one of two names
        self._progress = next((p for p in ("show_progress", "progress") if p in params), None)
        self._rows: dict[str, np.ndarray] = {}
        self.hits = 0
        self.misses = 0

    def __getattr__(self, name: str) -> Any:  # only called for names this class lacks
        if name == "model":  # not set yet (unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.model, name)

    def embed(self, texts: list[str], show_progress: bool = False) -> np.ndarray:
        texts = list(texts)
        missing = [t for t in dict.fromkeys(texts) if t not in self._rows]
        self.hits += len(texts) - len(missing)
        self.misses += len(missing)
        if missing or not texts:
            kw = {self._progress: show_progress} if self._progress else {}
            vecs = np.asarray(self.model.embed(missing, **kw), dtype=np.float32)
            if not texts:
                return vecs
            if vecs.ndim != 2 or len(vecs) != len(missing):
                raise ValueError(f"model returned shape {vecs.shape} for {len(missing)} texts")
            self._rows.update(zip(missing, vecs, strict=True))
        return np.stack([self._rows[t] for t in texts])
