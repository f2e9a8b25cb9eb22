"""Same-owner thresholds on the cosine, calibrated for a target false-positive rate.

For each target FPR (1% and 0.1% by default; 1% is the operating point of Portnoff et al.,
KDD 2017) the threshold is the lowest cosine whose FPR on validation pairs stays at or below the
target, i.e. the ROC point with the highest TPR among those with ``fpr <= target``
(``sklearn.metrics.roc_curve``). Pairs come from
:func:`adowner.scoring.pairs.sample_pairs` (all same-owner pairs up to a cap per owner,
near-duplicates excluded, and ``neg_ratio`` times as many different-owner pairs), the same
sampler the evaluation uses, so the thresholds match the reported TPR@FPR.

Requires of the data: an ``owner`` label per ad, at least one owner with two ads that are not
near-duplicates of each other, and ads of at least two owners. An FPR of ``f`` is only
resolved with at least ``1/f`` negative pairs; below that, ``resolved`` is false in the output.

=================  =====================================================================
input              meaning
=================  =====================================================================
``embeddings``     ``(n, d)`` float32, L2-normalised (cosine = dot product)
``owners``         ``(n,)`` owner labels
``dup_groups``     ``(n,)`` near-duplicate group ids, or None
``fprs``           target false-positive rates
=================  =====================================================================

Example::

    result = calibrate(emb, df["owner"].to_numpy(), df["dup_group"].to_numpy())
    result["thresholds"]   # [{"fpr": 0.01, "threshold": 0.71, "tpr": 0.83, ...}, ...]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from adowner.defaults import PAIRS, THRESHOLD_FPRS
from adowner.errors import AdownerError

DEFAULT_FPRS = THRESHOLD_FPRS  # adowner.defaults: the hybrid's thresholds use the same


def calibrate(
    embeddings: np.ndarray,
    owners: np.ndarray,
    dup_groups: np.ndarray | None = None,
    *,
    fprs: Sequence[float] = DEFAULT_FPRS,
    neg_ratio: int = PAIRS.neg_ratio,
    seed: int = 0,
) -> dict[str, Any]:
    """Thresholds at each target FPR, with the pair counts and ROC AUC they came from."""
    from sklearn.metrics import roc_auc_score

    from adowner.scoring.pairs import sample_pairs
    from adowner.scoring.thresholds import thresholds_at_fpr

    i, j, y = sample_pairs(np.asarray(owners), dup_groups, neg_ratio=neg_ratio, seed=seed)
    n_pos, n_neg = int(y.sum()), int((y == 0).sum())
    if n_pos == 0 or n_neg == 0:
        raise AdownerError(
            f"cannot calibrate: {n_pos} same-owner and {n_neg} different-owner pairs in the "
            "validation split (need owners with 2+ distinct ads, and 2+ owners)"
        )
    scores = np.einsum("ij,ij->i", embeddings[i], embeddings[j])
    thresholds = thresholds_at_fpr(scores, y, list(fprs))
    return {
        "thresholds": thresholds,
        "pairs": {"positive": n_pos, "negative": n_neg, "neg_ratio": neg_ratio, "seed": seed},
        "roc_auc": float(roc_auc_score(y, scores)),
    }
