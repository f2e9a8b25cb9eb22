"""Score thresholds at target false-positive rates, from labelled pairs.

For each target FPR the threshold is the lowest score whose FPR on the given pairs stays at or
below the target: the ROC point with the highest TPR among those with ``fpr <= target``
(``sklearn.metrics.roc_curve``). 1% is the operating point of Portnoff et al. (KDD 2017). Used
by ``export`` for the cosine thresholds and by :meth:`adowner.scoring.hybrid.Hybrid.calibrate`
for the hybrid's.

Example
-------
>>> import numpy as np
>>> t = thresholds_at_fpr(np.array([0.9, 0.8, 0.3, 0.1]), np.array([1, 1, 0, 0]), [0.01])
>>> t[0]["threshold"], t[0]["tpr"]
(0.8, 1.0)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.metrics import roc_curve


def thresholds_at_fpr(
    scores: npt.ArrayLike, labels: npt.ArrayLike, fprs: tuple[float, ...] | list[float]
) -> list[dict[str, Any]]:
    """For each target FPR, the lowest score threshold whose FPR stays at or below it.

    The ROC point with the highest TPR among those with ``fpr <= target``
    (``sklearn.metrics.roc_curve``); where no threshold reaches the target, one just above the
    highest negative. ``resolved`` is false when there are fewer than ``1/target`` negatives.
    Used to calibrate the exported thresholds (cosine and hybrid).
    """
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels).astype(np.int64)
    n_neg = int((y == 0).sum())
    fpr, tpr, thr = roc_curve(y, s, drop_intermediate=False)
    out: list[dict[str, Any]] = []
    for target in fprs:
        k = int(np.searchsorted(fpr, target, side="right")) - 1  # last point with fpr <= target
        if np.isfinite(thr[k]):
            value = float(thr[k])
        else:  # no score clears the target: sit just above the highest negative
            value = float(np.nextafter(s[y == 0].max(), np.inf))
        out.append(
            {
                "fpr": float(target),
                "threshold": value,
                "tpr": float(tpr[k]),
                "achieved_fpr": float(fpr[k]),
                "resolved": n_neg * target >= 1.0,
            }
        )
    return out
