"""Owner groups from similarities: average-linkage agglomerative clustering, cosine distance.

Ads are merged bottom-up while the average cosine distance between two groups is below a
threshold; the threshold is chosen on the validation split (highest B-cubed F1 on a grid) and
then applied unchanged to test. The tree is built once (``scipy.cluster.hierarchy.linkage``,
the same algorithm as ``sklearn.cluster.AgglomerativeClustering(metric="cosine",
linkage="average")``) and cut at every grid threshold with ``fcluster``: one O(n^2) build
instead of one per threshold, which is why scipy is used here rather than sklearn.

Requires a dense n x n similarity matrix, so it is limited to ``MAX_ADS`` ads (12,000: 0.6 GB
of float32, and as much again for scipy's condensed distances); above that grouping is skipped and the caller says so.

==============  =======================  ====================================================
input           type                     meaning
==============  =======================  ====================================================
``similarity``  float array (n, n)       cosine similarity (1 = same), symmetric
``threshold``   float                    cut distance: 1 - similarity
``owners``      array (n,)               true owners, for choosing the threshold
==============  =======================  ====================================================

Example
-------
>>> e = np.eye(3, dtype=np.float32)[[0, 0, 1, 2]]
>>> cluster(e @ e.T, 0.5).tolist()
[1, 1, 2, 3]
"""

from __future__ import annotations

import numpy as np

from adowner.evaluation.metrics import bcubed

MAX_ADS = 12_000
THRESHOLDS = np.round(np.arange(0.025, 1.2, 0.025), 3)


def _tree(similarity: np.ndarray) -> np.ndarray:
    from scipy.cluster.hierarchy import linkage
    from scipy.spatial.distance import squareform

    dist = 1.0 - np.asarray(similarity, dtype=np.float64)
    dist = np.clip((dist + dist.T) / 2, 0.0, 2.0)
    np.fill_diagonal(dist, 0.0)
    return linkage(squareform(dist, checks=False), method="average")


def cluster(similarity: np.ndarray, threshold: float) -> np.ndarray:
    """Cluster labels (1..k) cutting the average-linkage tree at cosine distance ``threshold``."""
    from scipy.cluster.hierarchy import fcluster

    if len(similarity) < 2:
        return np.ones(len(similarity), dtype=np.int64)
    return fcluster(_tree(similarity), t=threshold, criterion="distance").astype(np.int64)


def choose_threshold(similarity: np.ndarray, owners: np.ndarray) -> tuple[float, float]:
    """The grid threshold with the highest B-cubed F1 against ``owners``; returns (t, F1)."""
    from scipy.cluster.hierarchy import fcluster

    tree = _tree(similarity)
    best = (float(THRESHOLDS[0]), -1.0)
    for t in THRESHOLDS:
        f1 = bcubed(fcluster(tree, t=t, criterion="distance"), owners)["bcubed_f1"]
        if f1 > best[1]:
            best = (float(t), f1)
    return best
