"""``asnorm:SPEC``: the base model's cosine, AS-normalised against a cohort of train-split ads.

AS-norm itself (what it computes, its sources, its stored state) is
:class:`adowner.scoring.asnorm.ASNorm`; this module scores it as an evaluation model
(a :class:`~adowner.evaluation.scorer.PairScorer`). The cohort is at most 1,000 train ads (``scoring.asnorm.MAX_COHORT``). It
reports ``sigmoid(s_norm / 4)``, a monotone map into (0, 1) (verification and ranking are
unchanged by it) so that the grouping step, which needs similarities in [0, 1], can use it too.
Retrieval re-ranks each query's top ``max(4k, 100)`` cosines by the normalised score.

Example::

    m = ASNormScorer(resolve_model("zero-shot"), k=50); m.fit(train_df)
    m.score_pairs(texts, np.array([0]), np.array([1]))   # in (0, 1)
"""

from __future__ import annotations

import math
from typing import Any, Literal, Protocol

import numpy as np

from adowner.scoring import Index, Locations, Ranked, Texts
from adowner.scoring.asnorm import DEFAULT_K, ASNorm
from adowner.scoring.search import faiss_search
from adowner.scoring.vectors import l2_normalise


class _Embeds(Protocol):
    def embed(self, texts: list[str]) -> Any: ...


class ASNormScorer:
    """``asnorm:SPEC``: the base embedder's cosine, AS-normalised against train-split ads."""

    learns = True
    pairwise: Literal[True] = True
    uses_locations = False

    def __init__(self, base: _Embeds, *, name: str = "asnorm", k: int = DEFAULT_K, seed: int = 0):
        self.base, self.name, self.k, self.seed = base, name, k, seed
        self.norm: ASNorm | None = None
        self.notes = [f"asnorm: AS-norm (k={k}) against a cohort of train-split ads"]
        self._cache: tuple[int, np.ndarray, tuple[np.ndarray, np.ndarray]] | None = None

    def fit(self, train_df: Any, val_df: Any = None) -> None:
        texts = train_df["text"].astype(str).tolist()
        self.norm = ASNorm.from_texts(self.base.embed, texts, k=self.k, seed=self.seed)

    def _prepared(self, texts: list[str]) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
        if self.norm is None:
            raise RuntimeError("asnorm: fit() first")
        key = hash(tuple(texts))
        if self._cache is None or self._cache[0] != key:
            emb = l2_normalise(self.base.embed(texts))
            self._cache = (key, emb, self.norm.stats(emb))
        return self._cache[1], self._cache[2]

    @staticmethod
    def squash(s: np.ndarray) -> np.ndarray:
        """``sigmoid(s / 4)``: normalised scores into (0, 1), order kept."""
        return 1.0 / (1.0 + np.exp(-np.asarray(s, dtype=np.float64) / 4.0))

    def score_pairs(
        self, texts: Texts, i: Index, j: Index, *, locations: Locations = None
    ) -> np.ndarray:
        emb, stats = self._prepared(texts)
        assert self.norm is not None
        return self.squash(self.norm.pair_scores(emb, stats, i, j))

    def neighbors(
        self, texts: Texts, queries: Index, k: int, *, locations: Locations = None
    ) -> Ranked:
        """Each query's top-``k`` by normalised score among its top ``max(4k, 100)`` cosines;
        the query itself first."""
        emb, (mu, sd) = self._prepared(texts)
        queries = np.asarray(queries, dtype=np.int64)
        depth = max(1, min(k, len(texts)))
        wide = max(1, min(len(texts), max(4 * depth, 100)))
        cand = faiss_search(emb, wide)(queries)
        ok = cand >= 0
        safe = np.where(ok, cand, 0)
        cos = np.einsum("qd,qkd->qk", emb[queries], emb[safe]).astype(np.float64)
        score = self.squash(
            ASNorm.normalise(cos, mu[queries][:, None], sd[queries][:, None], mu[safe], sd[safe])
        )
        score[~ok] = -math.inf
        score[cand == queries[:, None]] = math.inf
        order = np.argsort(-score, axis=1, kind="stable")[:, :depth]
        ranked = np.take_along_axis(cand, order, axis=1)
        ranked_scores = np.take_along_axis(score, order, axis=1)
        ranked[ranked_scores == -math.inf] = -1
        return ranked, ranked_scores
