"""Authorship metrics: verification (pairs), retrieval (ranked lists) and grouping (clusters).

Every function here is pure: arrays in, a flat ``dict[str, float]`` out. Figures follow the
measures of docs/DESIGN.md:

* **Verification** (Portnoff et al., KDD 2017): ROC AUC, equal error rate, TPR at FPR 1% (the
  paper's measure) and at 0.1%, over same-owner (1) and different-owner (0) pairs.
* **Retrieval** (IDTraffickers, EMNLP 2023; LUAR, EMNLP 2021): each ad whose owner has another
  ad (outside its own ``dup_group``) queries all other ads; P@1, R-Precision, MRR, Recall@8 and
  MAP@10.
* **Grouping**: B-cubed precision/recall/F1 (Bagga & Baldwin 1998; Amigó et al. 2009), ARI and
  NMI (scikit-learn).
* **Bootstrap** confidence intervals that resample *owners* (not pairs or ads), since pairs and
  queries of one owner are not independent.

Inputs
------

=====================  ==========================  =============================================
name                   type                        meaning
=====================  ==========================  =============================================
``scores``             float array (n_pairs,)      similarity of each pair, higher = same owner
``labels``             int/bool array (n_pairs,)   1 if both ads have one owner, else 0
``embeddings``         float array (n_ads, dim)    one row an ad (L2-normalised here anyway)
``owners``             array (n_ads,)              owner label of each ad (any hashable dtype)
``dup_groups``         array (n_ads,) or None      near-duplicate group; None = every ad alone
``neighbors``          int array (n_q, k)          ranked candidate ads of each query, -1 = none
=====================  ==========================  =============================================

Example
-------
>>> import numpy as np
>>> m = verification_metrics(np.array([0.9, 0.8, 0.3, 0.1]), np.array([1, 1, 0, 0]))
>>> m["roc_auc"], m["eer"]
(1.0, 0.0)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.metrics import (
    adjusted_rand_score,
    auc,
    normalized_mutual_info_score,
    roc_curve,
)
from sklearn.metrics.cluster import contingency_matrix

from adowner.progress import track
from adowner.scoring.search import faiss_search

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

FPR_POINTS = (0.01, 0.001)
RECALL_K = 8
MAP_K = 10
RETRIEVAL_KEYS = ("p@1", "r_precision", "mrr", f"recall@{RECALL_K}", f"map@{MAP_K}")
VERIFICATION_KEYS = ("roc_auc", "eer", *(f"tpr@fpr={p:g}" for p in FPR_POINTS))


# ---------------------------------------------------------------------------- verification


def tpr_at_fpr(fpr: FloatArray, tpr: FloatArray, target: float) -> float:
    """TPR of the ROC curve at FPR ``target``, linearly interpolated between ROC points.

    ``fpr``/``tpr`` come from ``sklearn.metrics.roc_curve`` (non-decreasing). At a vertical
    segment (several points with one FPR) the highest TPR reachable at that FPR is taken. Between
    two points the line is the ROC of the randomised mix of both thresholds, which is also the
    expected TPR when tied scores are broken at random — so ties never earn credit.
    """
    idx = int(np.searchsorted(fpr, target, side="right")) - 1  # last point with FPR <= target
    if idx < 0:
        return 0.0
    if idx == len(fpr) - 1 or fpr[idx] == target:
        return float(tpr[idx])
    f0, f1, t0, t1 = fpr[idx], fpr[idx + 1], tpr[idx], tpr[idx + 1]
    return float(t0 + (t1 - t0) * (target - f0) / (f1 - f0))


def equal_error_rate(fpr: FloatArray, tpr: FloatArray) -> float:
    """The rate where FPR equals FNR (= 1 - TPR), interpolated linearly on the ROC curve."""
    diff = fpr - (1.0 - tpr)  # non-decreasing along the curve: from -1 to +1
    idx = int(np.searchsorted(diff, 0.0, side="left"))
    if idx == 0:
        return float(fpr[0])
    if idx >= len(diff):  # pragma: no cover - roc_curve always ends at (1, 1)
        return float(fpr[-1])
    if diff[idx] == 0.0:
        return float(fpr[idx])
    d0, d1 = diff[idx - 1], diff[idx]
    t = -d0 / (d1 - d0)
    return float(fpr[idx - 1] + t * (fpr[idx] - fpr[idx - 1]))


def verification_metrics(
    scores: npt.ArrayLike,
    labels: npt.ArrayLike,
    sample_weight: npt.ArrayLike | None = None,
) -> dict[str, float]:
    """ROC AUC, EER, ``tpr@fpr=0.01`` and ``tpr@fpr=0.001`` of pair scores.

    Tied scores form one ROC point (``roc_curve`` merges them), so a scorer that gives every
    pair the same score has AUC 0.5 and TPR@FPR=1% of 0.01. ``sample_weight`` weights pairs (the
    owner bootstrap uses it). Raises ValueError unless both classes are present.
    """
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels).astype(bool)
    w = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    if s.shape != y.shape or s.ndim != 1:
        raise ValueError(f"scores and labels must be 1-D of one length, got {s.shape}, {y.shape}")
    pos = y if w is None else y & (w > 0)
    neg = ~y if w is None else ~y & (w > 0)
    if not pos.any() or not neg.any():
        raise ValueError("verification needs at least one same-owner and one different-owner pair")
    if not np.isfinite(s).all():
        raise ValueError("scores contain NaN or infinity")
    fpr, tpr, _ = roc_curve(y, s, sample_weight=w, drop_intermediate=False)
    out = {
        # trapezoids over the tie-merged curve = roc_auc_score (ties count 1/2), without a re-sort
        "roc_auc": float(auc(fpr, tpr)),
        "eer": equal_error_rate(fpr, tpr),
    }
    for p in FPR_POINTS:
        out[f"tpr@fpr={p:g}"] = tpr_at_fpr(fpr, tpr, p)
    return out


# ---------------------------------------------------------------------------- retrieval


def _codes(values: npt.ArrayLike) -> IntArray:
    """Dense integer codes 0..k-1 of any label array (strings, ints, objects)."""
    _, inv = np.unique(np.asarray(values).astype(str), return_inverse=True)
    return inv.astype(np.int64).ravel()


def relevant_counts(owners: npt.ArrayLike, dup_groups: npt.ArrayLike | None = None) -> IntArray:
    """For each ad, how many *other* ads are relevant to it: same owner, not its ``dup_group``.

    An ad's own ``dup_group`` holds its near-duplicates; they are neither relevant nor
    retrievable, so a scorer earns nothing for finding copies of the query.
    """
    o = _codes(owners)
    d = np.arange(len(o), dtype=np.int64) if dup_groups is None else _codes(dup_groups)
    owner_size = np.bincount(o)[o]
    # ads of this owner in this dup_group (including the ad itself)
    pair = o * (int(d.max(initial=0)) + 1) + d
    _, pinv, pcount = np.unique(pair, return_inverse=True, return_counts=True)
    counts: IntArray = (owner_size - pcount[pinv.ravel()]).astype(np.int64)
    return counts


def per_query_retrieval(
    queries: IntArray,
    neighbors: IntArray,
    owners: npt.ArrayLike,
    dup_groups: npt.ArrayLike | None = None,
) -> dict[str, FloatArray]:
    """Per-query P@1, R-Precision, reciprocal rank, Recall@8 and AP@10 from ranked lists.

    ``neighbors[q]`` is the ranked candidate list of ad ``queries[q]`` (best first, -1 = empty
    slot). The query itself, and any ad of its ``dup_group``, are dropped from the list before
    ranks are counted, so rank 1 is the best *other* ad. Definitions, with R the number of
    relevant ads of the query (:func:`relevant_counts`) and rel_k = 1 if rank k is relevant:

    * ``p@1`` = rel_1;
    * ``r_precision`` = (sum of rel_k for k <= R) / R;
    * ``mrr`` = 1 / (rank of the first relevant ad), 0 if none in the list (the list length is
      the cutoff: :func:`retrieval_metrics` uses max(max R, 10));
    * ``recall@8`` = 1 if any relevant ad is in ranks 1..8 (the metric-learning / LUAR "R@8",
      so ``recall@1`` would equal ``p@1``);
    * ``map@10`` = sum over k <= 10 of P@k * rel_k / min(R, 10).

    Queries with R = 0 must not be passed (see :func:`retrieval_metrics`).
    """
    o = _codes(owners)
    d = np.arange(len(o), dtype=np.int64) if dup_groups is None else _codes(dup_groups)
    r = relevant_counts(owners, dup_groups)[queries].astype(np.float64)
    if (r <= 0).any():
        raise ValueError("a query has no relevant ad (owner with one ad or one dup_group only)")
    nb = np.asarray(neighbors, dtype=np.int64)
    present = nb >= 0
    safe = np.where(present, nb, 0)
    keep = present & (d[safe] != d[queries][:, None]) & (safe != queries[:, None])
    # Move kept entries to the front, stable, so the rank order among them is unchanged.
    order = np.argsort(~keep, axis=1, kind="stable")
    kept = np.take_along_axis(keep, order, axis=1)
    ranked = np.take_along_axis(safe, order, axis=1)
    rel = kept & (o[ranked] == o[queries][:, None])
    depth = rel.shape[1]
    ranks = np.arange(1, depth + 1, dtype=np.float64)

    within_r = ranks[None, :] <= r[:, None]
    r_prec = (rel & within_r).sum(axis=1) / r
    first = np.where(rel.any(axis=1), rel.argmax(axis=1) + 1, 0)
    rr = np.where(first > 0, 1.0 / np.maximum(first, 1), 0.0)
    hit_k = rel[:, :RECALL_K].any(axis=1).astype(np.float64)
    top = rel[:, :MAP_K].astype(np.float64)
    prec_at = np.cumsum(top, axis=1) / ranks[: top.shape[1]][None, :]
    ap = (prec_at * top).sum(axis=1) / np.minimum(r, MAP_K)
    p1 = rel[:, 0].astype(np.float64) if depth else np.zeros(len(queries))
    return {
        "p@1": p1,
        "r_precision": r_prec.astype(np.float64),
        "mrr": rr.astype(np.float64),
        f"recall@{RECALL_K}": hit_k,
        f"map@{MAP_K}": ap.astype(np.float64),
    }


def query_ids(owners: npt.ArrayLike, dup_groups: npt.ArrayLike | None = None) -> IntArray:
    """The ads that query: those with at least one relevant ad."""
    return np.flatnonzero(relevant_counts(owners, dup_groups) > 0).astype(np.int64)


def retrieval_depth(owners: npt.ArrayLike, dup_groups: npt.ArrayLike | None = None) -> int:
    """Ranked-list length that R-Precision and MAP@10 need: max(max R, 10)."""
    r = relevant_counts(owners, dup_groups)
    return int(max(int(r.max(initial=0)), MAP_K, RECALL_K))


def retrieval_metrics_from_neighbors(
    queries: IntArray,
    neighbors: IntArray,
    owners: npt.ArrayLike,
    dup_groups: npt.ArrayLike | None = None,
) -> dict[str, float]:
    """Mean retrieval metrics from ranked lists given by any scorer (see per_query_retrieval)."""
    per = per_query_retrieval(queries, neighbors, owners, dup_groups)
    return {k: float(v.mean()) if len(v) else float("nan") for k, v in per.items()}


def faiss_neighbors(embeddings: npt.ArrayLike, queries: IntArray, k: int) -> IntArray:
    """Top-``k`` ads of each query by cosine (see :func:`faiss_search`)."""
    return faiss_search(embeddings, k)(queries)


def batched_retrieval(
    search: Callable[[IntArray], IntArray],
    queries: IntArray,
    owners: npt.ArrayLike,
    dup_groups: npt.ArrayLike | None = None,
    *,
    batch_size: int = 2048,
    on_batch: Callable[[int], Any] | None = None,
) -> dict[str, FloatArray]:
    """:func:`per_query_retrieval` over query batches, so that 100,000 queries x a deep ranked
    list never sit in memory at once. ``search(batch)`` returns the batch's ranked lists."""
    parts: list[dict[str, FloatArray]] = []
    for start in range(0, len(queries), batch_size):
        q = queries[start : start + batch_size]
        parts.append(per_query_retrieval(q, search(q), owners, dup_groups))
        if on_batch is not None:
            on_batch(len(q))
    if not parts:
        return {k: np.empty(0) for k in RETRIEVAL_KEYS}
    return {k: np.concatenate([p[k] for p in parts]) for k in RETRIEVAL_KEYS}


def search_depth(owners: npt.ArrayLike, dup_groups: npt.ArrayLike | None = None) -> int:
    """How many ads to retrieve per query: :func:`retrieval_depth` plus the largest dup_group
    (the query and its copies are dropped from the list before ranks are counted)."""
    max_dup = 1 if dup_groups is None else int(np.bincount(_codes(dup_groups)).max())
    return retrieval_depth(owners, dup_groups) + max_dup


def retrieval_metrics(
    embeddings: npt.ArrayLike,
    owners: npt.ArrayLike,
    dup_groups: npt.ArrayLike | None = None,
    *,
    return_per_query: bool = False,
) -> dict[str, Any]:
    """P@1, R-Precision, MRR, Recall@8 and MAP@10 of cosine search over ``embeddings``.

    Each ad with at least one relevant ad (same owner, other ``dup_group``) queries all the
    others. The search retrieves :func:`search_depth` ads per query, so that after dropping the
    query and its duplicates at least max(max R, 10) remain; MRR is therefore cut off at that
    depth. With ``return_per_query`` the dict also holds ``queries`` and ``per_query`` (arrays
    for the owner bootstrap and per-owner-size tables).
    """
    q = query_ids(owners, dup_groups)
    if len(q) == 0:
        raise ValueError("retrieval needs an owner with at least two ads in different dup_groups")
    search = faiss_search(embeddings, search_depth(owners, dup_groups))
    per = batched_retrieval(search, q, owners, dup_groups)
    out: dict[str, Any] = {k: float(v.mean()) for k, v in per.items()}
    if return_per_query:
        out["queries"] = q
        out["per_query"] = per
    return out


# ---------------------------------------------------------------------------- grouping


def bcubed(pred_labels: npt.ArrayLike, true_labels: npt.ArrayLike) -> dict[str, float]:
    """B-cubed precision, recall and F1 (Bagga & Baldwin 1998), via the contingency matrix.

    Precision of an item = share of its predicted cluster that has its true class; recall =
    share of its true class that is in its predicted cluster; both averaged over items.
    With n_ij items in class i and cluster j: precision = sum n_ij^2 / |cluster j| / N and
    recall = sum n_ij^2 / |class i| / N. Hand-written because scikit-learn has no B-cubed.
    """
    c = contingency_matrix(np.asarray(true_labels), np.asarray(pred_labels), sparse=True).tocoo()
    n = float(c.sum())
    if n == 0:
        raise ValueError("B-cubed needs at least one item")
    class_size = np.asarray(c.sum(axis=1)).ravel()
    cluster_size = np.asarray(c.sum(axis=0)).ravel()
    sq = c.data.astype(np.float64) ** 2
    precision = float((sq / cluster_size[c.col]).sum() / n)
    recall = float((sq / class_size[c.row]).sum() / n)
    f1 = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
    return {"bcubed_precision": precision, "bcubed_recall": recall, "bcubed_f1": float(f1)}


def grouping_metrics(pred_labels: npt.ArrayLike, true_labels: npt.ArrayLike) -> dict[str, float]:
    """B-cubed precision/recall/F1, adjusted Rand index and normalised mutual information."""
    out = bcubed(pred_labels, true_labels)
    out["ari"] = float(adjusted_rand_score(np.asarray(true_labels), np.asarray(pred_labels)))
    out["nmi"] = float(
        normalized_mutual_info_score(np.asarray(true_labels), np.asarray(pred_labels))
    )
    return out


# ---------------------------------------------------------------------------- bootstrap


def bootstrap_ci(
    statistic: Callable[[FloatArray], dict[str, float]],
    n_owners: int,
    *,
    n_resamples: int = 200,
    seed: int = 0,
    alpha: float = 0.05,
    progress: bool = False,
) -> dict[str, list[float]]:
    """Percentile confidence intervals from resampling owners with replacement.

    ``statistic(owner_weight)`` gets, for each owner code 0..n_owners-1, how many times the
    owner was drawn (0, 1, 2, ...), and returns a dict of metrics computed with those weights
    (see :func:`verification_bootstrap` and :func:`mean_bootstrap`). A resample where a metric
    is undefined (ValueError, e.g. no positive pair drawn) is skipped. Seeded: same seed, same
    intervals.
    """
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {}
    for _ in track(range(n_resamples), "owner bootstrap", disable=not progress):
        weight = np.bincount(rng.integers(0, n_owners, n_owners), minlength=n_owners).astype(
            np.float64
        )
        try:
            stats = statistic(weight)
        except ValueError:
            continue
        for key, value in stats.items():
            draws.setdefault(key, []).append(value)
    lo, hi = 100 * alpha / 2, 100 * (1 - alpha / 2)
    return {k: [float(np.percentile(v, lo)), float(np.percentile(v, hi))] for k, v in draws.items()}


def verification_bootstrap(
    scores: npt.ArrayLike,
    labels: npt.ArrayLike,
    owner_i: IntArray,
    owner_j: IntArray,
    *,
    n_resamples: int = 200,
    seed: int = 0,
    alpha: float = 0.05,
) -> dict[str, list[float]]:
    """Owner-bootstrap intervals of :func:`verification_metrics`.

    ``owner_i``/``owner_j`` are the owner codes (0..n_owners-1) of each pair's two ads. A drawn
    owner brings its same-owner pairs once per draw; a different-owner pair counts
    (draws of owner i) x (draws of owner j) times — the pairs the resampled set would contain.
    """
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels).astype(bool)
    # Sort once, descending: roc_curve's stable sort is then near-linear on each resample.
    order = np.argsort(-s, kind="stable")
    s, y, oi, oj = s[order], y[order], owner_i[order], owner_j[order]
    n_owners = int(max(int(oi.max(initial=0)), int(oj.max(initial=0)))) + 1

    def stat(w: FloatArray) -> dict[str, float]:
        pair_w = np.where(y, w[oi], w[oi] * w[oj])
        keep = pair_w > 0
        return verification_metrics(s[keep], y[keep], pair_w[keep])

    big = len(s) > 200_000  # a progress bar where the resamples take a while
    return bootstrap_ci(
        stat, n_owners, n_resamples=n_resamples, seed=seed, alpha=alpha, progress=big
    )


def mean_bootstrap(
    values: dict[str, FloatArray],
    owner_codes: IntArray,
    *,
    n_resamples: int = 200,
    seed: int = 0,
    alpha: float = 0.05,
) -> dict[str, list[float]]:
    """Owner-bootstrap intervals of per-query means (retrieval): a query weighs its owner's draws.

    The candidate pool is held fixed (an approximation that keeps this cheap: no re-search).
    """
    n_owners = int(owner_codes.max(initial=0)) + 1

    def stat(w: FloatArray) -> dict[str, float]:
        qw = w[owner_codes]
        total = qw.sum()
        if total == 0:
            raise ValueError("no query drawn")
        return {k: float((v * qw).sum() / total) for k, v in values.items()}

    return bootstrap_ci(stat, n_owners, n_resamples=n_resamples, seed=seed, alpha=alpha)
