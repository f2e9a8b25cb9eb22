"""Adaptive score normalisation (AS-norm) of cosine scores against a cohort of other owners' ads.

What it computes
    Some ads are "hubs": generic texts close to many others, so their cosine with any ad is
    high, and a single cosine threshold either admits their false pairs or rejects the true
    pairs of distinctive ads. AS-norm (adaptive symmetric normalisation; Matějka et al.,
    "Analysis of score normalization in multilingual speaker recognition", Interspeech 2017;
    Cumani et al. 2011) rescales each pair's cosine by how each of its two ads scores against
    a fixed **cohort** of other ads::

        s_norm(a, b) = ((s - mu_a) / sd_a + (s - mu_b) / sd_b) / 2

    where ``mu_x`` and ``sd_x`` are the mean and standard deviation of ad ``x``'s ``k`` highest
    cosines with the cohort. It is the speaker-verification form of CSLS (Conneau et al.,
    "Word translation without parallel data", ICLR 2018) and needs no labels at scoring time.

    Measured on real escort ads (3 owner folds, docs/RESULTS.md): TPR at 1% FPR 0.742 → 0.779
    and R-Precision 0.732 → 0.755 for the same fine-tuned embedding, on every fold.

What it requires of the data
    A cohort: embeddings of ads by owners other than those scored (training ads), a few hundred
    or more. :meth:`ASNorm.from_texts` keeps at most ``max_cohort`` of them (a seeded
    sample). The cohort is stored with the exported model (``hybrid.json``), as float16.

Inputs

    ==============  ========================================================  ==========
    name            meaning                                                   default
    ==============  ========================================================  ==========
    cohort          (n, d) L2-normalised float32 embeddings                   required
    k               top cohort cosines that give each ad's mean and sd        ``50``
    ==============  ========================================================  ==========

The hybrid score (:mod:`adowner.scoring.hybrid`) uses it as its ``cosine_asnorm`` feature;
``asnorm:SPEC`` of ``adowner evaluate`` (:mod:`adowner.evaluation.scorenorm`) scores with it alone.

Example::

    norm = ASNorm.from_texts(model.embed, train_texts, k=50)
    stats = norm.stats(test_embeddings)                      # (mu, sd) per ad
    s = norm.pair_scores(test_embeddings, stats, i, j)       # normalised scores of pairs
"""

from __future__ import annotations

import base64
import math
from typing import Any

import numpy as np

from adowner.errors import InputError
from adowner.scoring.vectors import l2_normalise

DEFAULT_K = 50
# 1,000, not 2,000: on the quickstart marketplace's val owners AS-norm scored the same with
# either (TPR@1% 0.412 vs 0.421, R-Precision 0.651 vs 0.649, ROC AUC 0.864 vs 0.860;
# docs/RESULTS.md, "Quickstart"), and the cohort is embedded by compare and again by export
MAX_COHORT = 1000


class ASNorm:
    """AS-norm of cosines against a fixed cohort (see the module docstring)."""

    def __init__(self, cohort: np.ndarray, k: int = DEFAULT_K) -> None:
        # held at float16 precision, as stored, so a reloaded scorer scores exactly alike
        cohort = l2_normalise(cohort).astype(np.float16).astype(np.float32)
        if cohort.ndim != 2 or len(cohort) < 2:
            raise InputError(f"AS-norm needs a cohort of at least 2 ads, got {cohort.shape}")
        self.cohort = cohort
        self.k = max(1, min(int(k), len(cohort)))

    @classmethod
    def from_texts(
        cls,
        embed: Any,
        texts: list[str],
        *,
        k: int = DEFAULT_K,
        max_cohort: int = MAX_COHORT,
        seed: int = 0,
    ) -> ASNorm:
        """A cohort of at most ``max_cohort`` of ``texts`` (a seeded sample, drawn *before*
        embedding so that a large train split costs only the sample), embedded by ``embed``."""
        pick = np.arange(len(texts))
        if len(texts) > max_cohort:
            rng = np.random.default_rng(seed)
            pick = np.sort(rng.choice(len(texts), max_cohort, replace=False))
        return cls(np.asarray(embed([texts[i] for i in pick]), dtype=np.float32), k)

    def stats(self, embeddings: np.ndarray, chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
        """Mean and sd of each ad's ``k`` highest cosines with the cohort."""
        e = l2_normalise(embeddings)
        mu = np.empty(len(e), dtype=np.float64)
        sd = np.empty(len(e), dtype=np.float64)
        for s in range(0, len(e), chunk):
            sims = e[s : s + chunk] @ self.cohort.T
            top = np.partition(sims, len(self.cohort) - self.k, axis=1)[:, -self.k :]
            mu[s : s + chunk] = top.mean(axis=1)
            sd[s : s + chunk] = top.std(axis=1)
        return mu, np.maximum(sd, 1e-4)

    @staticmethod
    def normalise(
        cos: np.ndarray, mu_a: np.ndarray, sd_a: np.ndarray, mu_b: np.ndarray, sd_b: np.ndarray
    ) -> np.ndarray:
        """``((cos - mu_a) / sd_a + (cos - mu_b) / sd_b) / 2``, elementwise."""
        return np.asarray(((cos - mu_a) / sd_a + (cos - mu_b) / sd_b) / 2.0)

    def pair_scores(
        self,
        embeddings: np.ndarray,
        stats: tuple[np.ndarray, np.ndarray],
        i: np.ndarray,
        j: np.ndarray,
    ) -> np.ndarray:
        e = l2_normalise(embeddings)
        mu, sd = stats
        i, j = np.asarray(i, dtype=np.int64), np.asarray(j, dtype=np.int64)
        cos = np.einsum("ij,ij->i", e[i], e[j]).astype(np.float64)
        return self.normalise(cos, mu[i], sd[i], mu[j], sd[j])

    # ------------------------------------------------------------------ persistence
    def state(self) -> dict[str, Any]:
        """JSON-able state: ``k`` and the cohort as base64 little-endian float16 rows."""
        half = self.cohort.astype("<f2")
        return {
            "method": "as-norm",
            "k": self.k,
            "shape": list(half.shape),
            "cohort_f16_b64": base64.b64encode(half.tobytes()).decode("ascii"),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ASNorm:
        try:
            shape = tuple(int(x) for x in state["shape"])
            raw = base64.b64decode(state["cohort_f16_b64"], validate=True)
            if len(shape) != 2 or math.prod(shape) * 2 != len(raw):
                raise ValueError(f"cohort of {len(raw)} bytes does not fit shape {shape}")
            cohort = np.frombuffer(raw, dtype="<f2").reshape(shape).astype(np.float32)
            return cls(cohort, int(state["k"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"score-normalisation state not understood: {exc}") from None
