"""Owner groups from the fused evidence graph.

Two ways to form groups, so each can be measured against the other:

``connected_groups``
    Plain connected components over every edge (scipy). One weak text edge between two large
    groups merges them: chaining.

``guarded_groups`` (the default)
    1. Hard edges (shared identifiers, one payer wallet) are merged by connected components:
       each is strong evidence on its own.
    2. Text edges then merge groups by *sparse average linkage*: groups A and B are merged,
       densest pair first, while the text edges between them number at least
       ``max(1, min_density * |A| * |B|)``. Two singletons join on one edge; two groups of ten
       need ten edges (at the default 0.1), so a single weak edge cannot chain them. This is
       the greedy form of the Constant Potts Model criterion (Traag et al. 2011: merge while
       ``e_AB > γ·n_A·n_B``), which unlike modularity has no resolution limit, so many small
       owners stay apart in a large graph.

    Written here rather than taken from a library: Leiden/CPM (``leidenalg``, ``igraph``) is
    GPL, which this Apache-2.0 package cannot depend on; networkx's Louvain optimises modularity
    (resolution limit) in pure Python; scipy/scikit-learn average linkage needs the dense n²
    distance matrix. This is a heap over the sparse graph: O(E log E).

Inputs
    ============  ===========================  ===========================================
    name          type                         meaning
    ============  ===========================  ===========================================
    n             int                          number of ads (nodes 0..n-1)
    hard          (src, dst) int arrays        identifier and payment edges
    text          (src, dst) int arrays        text edges (already thresholded)
    min_density   float                        share of A×B pairs that must be text edges
    ============  ===========================  ===========================================

Output: an int64 array of group labels 0..g-1 (numbered by first appearance).

Example
    >>> # two triangles joined by one text edge stay apart; a pair joins
    >>> tri = ([0, 1, 0, 3, 4, 3, 2], [1, 2, 2, 4, 5, 5, 3])
    >>> guarded_groups(6, ([], []), tri, min_density=0.2).tolist()
    [0, 0, 0, 1, 1, 1]
"""

from __future__ import annotations

import heapq

import numpy as np
import numpy.typing as npt
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from adowner.defaults import LINK

Pairs = tuple[npt.ArrayLike, npt.ArrayLike]


def connected_groups(n: int, *edge_sets: Pairs) -> np.ndarray:
    """Connected components of all the given edge sets together."""
    src = np.concatenate(
        [np.asarray(s, dtype=np.int64) for s, _ in edge_sets] or [np.zeros(0, np.int64)]
    )
    dst = np.concatenate(
        [np.asarray(d, dtype=np.int64) for _, d in edge_sets] or [np.zeros(0, np.int64)]
    )
    graph = coo_matrix((np.ones(len(src), dtype=np.int8), (src, dst)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    return _renumber(labels)


def guarded_groups(
    n: int, hard: Pairs, text: Pairs, *, min_density: float = LINK.min_density
) -> np.ndarray:
    """Hard edges by connected components, then text edges by sparse average linkage."""
    base = connected_groups(n, hard)
    size = np.bincount(base).astype(np.int64).tolist()
    a = base[np.asarray(text[0], dtype=np.int64)]
    b = base[np.asarray(text[1], dtype=np.int64)]
    keep = a != b
    a, b = np.minimum(a[keep], b[keep]), np.maximum(a[keep], b[keep])
    if len(a) == 0:
        return base
    pair, count = np.unique(np.stack([a, b], axis=1), axis=0, return_counts=True)

    nbr: list[dict[int, int]] = [{} for _ in size]
    for (x, y), w in zip(pair.tolist(), count.tolist(), strict=True):
        nbr[x][y] = w
        nbr[y][x] = w
    version = [0] * len(size)
    parent = list(range(len(size)))

    def entry(x: int, y: int, w: int) -> tuple[float, int, int, int, int, int]:
        return (-w / (size[x] * size[y]), -w, x, y, version[x], version[y])

    def passes(x: int, y: int, w: int) -> bool:
        return w >= max(1.0, min_density * size[x] * size[y])

    heap = [entry(x, y, w) for (x, y), w in zip(pair.tolist(), count.tolist(), strict=True)]
    heap = [h for h in heap if passes(h[2], h[3], -h[1])]
    heapq.heapify(heap)
    while heap:
        _, _negw, x, y, vx, vy = heapq.heappop(heap)
        if vx != version[x] or vy != version[y]:
            continue  # stale: one side has grown since this entry was pushed
        if len(nbr[x]) < len(nbr[y]):
            x, y = y, x  # merge the smaller neighbour list into the larger
        # merge y into x
        parent[y] = x
        size[x] += size[y]
        version[x] += 1
        version[y] += 1
        del nbr[x][y]
        for z, w in nbr[y].items():
            if z == x:
                continue
            del nbr[z][y]
            nbr[x][z] = nbr[x].get(z, 0) + w
            nbr[z][x] = nbr[x][z]
        nbr[y] = {}
        for z, w in nbr[x].items():
            if passes(x, z, w):
                heapq.heappush(heap, entry(min(x, z), max(x, z), w))

    root = np.array(parent, dtype=np.int64)
    # follow parent pointers to the roots (merges form short chains)
    while True:
        nxt = root[root]
        if np.array_equal(nxt, root):
            break
        root = nxt
    return _renumber(root[base])


def _renumber(labels: np.ndarray) -> np.ndarray:
    """Labels 0..g-1 in order of first appearance."""
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first))
    return order[inverse].astype(np.int64)
