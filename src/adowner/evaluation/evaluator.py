"""AuthorshipEvaluator: verification and retrieval metrics of an embedding model on held-out owners.

In the style of sentence-transformers' evaluators: built once from the evaluation ads, called
with a model, returns a flat dict of metrics whose main one is ``primary_metric``
(``r_precision``, IDTraffickers' measure). The training loop calls
:func:`evaluate_embeddings` on its own embeddings each validation epoch (no bootstrap, a few
seconds for a few thousand ads).

Requires owners never seen in training, and at least one owner with two ads (in different
``dup_group``\\ s) — otherwise there is nothing to verify or retrieve.

================  =========================  =========================================
input             type                       meaning
================  =========================  =========================================
``texts``         list[str]                  the ads (contract: title + "\\n" + body)
``owners``        array (n,)                 owner label of each ad
``dup_groups``    array (n,) or None         near-duplicate group of each ad
``neg_ratio``     int                        different- per same-owner pair (20)
``seed``          int                        seeds the pair sample and the bootstrap
``bootstrap``     int                        owner resamples for intervals (0 = none)
================  =========================  =========================================

Example::

    ev = AuthorshipEvaluator(texts, owners, dup_groups)
    metrics = ev(model)            # model.embed(list[str]) -> (n, dim) float32
    metrics[ev.primary_metric]     # r_precision, in [0, 1]
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from adowner.defaults import PAIRS
from adowner.evaluation import metrics as M
from adowner.scoring.pairs import sample_pairs
from adowner.scoring.vectors import l2_normalise, l2_normalise_sparse


class Embedder(Protocol):
    def embed(self, texts: list[str]) -> np.ndarray: ...


def pair_scores(embeddings: Any, i: np.ndarray, j: np.ndarray, chunk: int = 32_768) -> np.ndarray:
    """Cosine of each pair (rows are L2-normalised first); dense arrays or scipy sparse rows."""
    import scipy.sparse as sp

    if sp.issparse(embeddings):
        x = l2_normalise_sparse(embeddings)
        out = np.empty(len(i), dtype=np.float64)
        for s in range(0, len(i), chunk):
            a, b = x[i[s : s + chunk]], x[j[s : s + chunk]]
            out[s : s + chunk] = np.asarray(a.multiply(b).sum(axis=1)).ravel()
        return out
    e = l2_normalise(embeddings)
    out = np.empty(len(i), dtype=np.float64)
    for s in range(0, len(i), chunk):
        out[s : s + chunk] = np.einsum("ij,ij->i", e[i[s : s + chunk]], e[j[s : s + chunk]])
    return out


def verification_from_scores(
    scores: np.ndarray,
    y: np.ndarray,
    i: np.ndarray,
    j: np.ndarray,
    owners: np.ndarray,
    *,
    bootstrap: int = 0,
    seed: int = 0,
) -> tuple[dict[str, float], dict[str, list[float]]]:
    """Verification metrics of pair scores and (if ``bootstrap``) owner-bootstrap intervals."""
    out = M.verification_metrics(scores, y)
    ci: dict[str, list[float]] = {}
    if bootstrap:
        codes = M._codes(owners)
        ci = M.verification_bootstrap(
            scores, y, codes[i], codes[j], n_resamples=bootstrap, seed=seed
        )
    return out, ci


def evaluate_embeddings(
    embeddings: np.ndarray,
    owners: np.ndarray,
    dup_groups: np.ndarray | None = None,
    seed: int = 0,
    *,
    neg_ratio: int = PAIRS.neg_ratio,
    bootstrap: int = 0,
) -> dict[str, Any]:
    """Flat metrics of embeddings: verification over sampled pairs + cosine retrieval.

    Keys: ``roc_auc, eer, tpr@fpr=0.01, tpr@fpr=0.001, p@1, r_precision, mrr, recall@8,
    map@10, n_ads, n_owners, n_pos_pairs, n_neg_pairs`` and, when ``bootstrap`` > 0, ``ci``
    (``{metric: [lo, hi]}``, 95%, owners resampled). Metrics that do not apply (no owner with
    two ads) are left out.
    """
    owners = np.asarray(owners)
    i, j, y = sample_pairs(owners, dup_groups, neg_ratio=neg_ratio, seed=seed)
    out: dict[str, Any] = {}
    ci: dict[str, list[float]] = {}
    if y.any() and (y == 0).any():
        scores = pair_scores(embeddings, i, j)
        ver, ci = verification_from_scores(scores, y, i, j, owners, bootstrap=bootstrap, seed=seed)
        out.update(ver)
    if len(M.query_ids(owners, dup_groups)):
        ret = M.retrieval_metrics(embeddings, owners, dup_groups, return_per_query=bool(bootstrap))
        if bootstrap:
            codes = M._codes(owners)[ret["queries"]]
            ci.update(M.mean_bootstrap(ret["per_query"], codes, n_resamples=bootstrap, seed=seed))
        out.update({k: ret[k] for k in M.RETRIEVAL_KEYS})
    out.update(
        n_ads=len(owners),
        n_owners=len(np.unique(owners.astype(str))),
        n_pos_pairs=int(y.sum()),
        n_neg_pairs=int((y == 0).sum()),
    )
    if bootstrap:
        out["ci"] = ci
    return out


class AuthorshipEvaluator:
    """Evaluate an embedding model on ads of held-out owners (see the module docstring)."""

    primary_metric = "r_precision"

    def __init__(
        self,
        texts: list[str],
        owners: np.ndarray,
        dup_groups: np.ndarray | None = None,
        *,
        neg_ratio: int = PAIRS.neg_ratio,
        seed: int = 0,
        bootstrap: int = 0,
        name: str = "",
    ) -> None:
        if len(texts) != len(owners):
            raise ValueError(f"{len(texts)} texts but {len(owners)} owners")
        self.texts = list(texts)
        self.owners = np.asarray(owners)
        self.dup_groups = None if dup_groups is None else np.asarray(dup_groups)
        self.neg_ratio, self.seed, self.bootstrap, self.name = neg_ratio, seed, bootstrap, name

    def __call__(self, model: Embedder | None = None, *, embeddings: Any = None) -> dict[str, Any]:
        """Metrics of ``model.embed(texts)``, or of precomputed ``embeddings``."""
        if embeddings is None:
            if model is None:
                raise ValueError("give a model with .embed() or precomputed embeddings")
            embeddings = model.embed(self.texts)
        out = evaluate_embeddings(
            embeddings,
            self.owners,
            self.dup_groups,
            seed=self.seed,
            neg_ratio=self.neg_ratio,
            bootstrap=self.bootstrap,
        )
        if self.name:
            return {f"{self.name}_{k}" if k != "ci" else k: v for k, v in out.items()}
        return out
