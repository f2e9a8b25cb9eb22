"""k-nearest-neighbour search by inner product: FAISS for dense rows, sparse products for TF-IDF.

One FAISS index builder serves evaluation (:func:`faiss_search`: ranked lists of query ads) and
``link`` (:func:`knn`: every ad's neighbours, itself left out). Both search by inner product,
which is the cosine on L2-normalised rows.

==========  ===================================================================================
index       what
==========  ===================================================================================
``flat``    exact (``faiss.IndexFlatIP``); costs n²d flops: 100k ads took 35 min on the shared
            2-core machine (docs/BENCHMARKS.md)
``hnsw``    approximate, near-linear (``faiss.IndexHNSWFlat``, M=32, efConstruction 80,
            efSearch ``max(64, 2(k+1))``; Malkov & Yashunin, TPAMI 2018)
``auto``    ``hnsw`` above :data:`HNSW_ABOVE` ads, else ``flat`` (:func:`knn` only)
==========  ===================================================================================

Example::

    search = faiss_search(emb, 10)     # emb: (n, d) float32
    ranked = search(np.arange(5))      # (5, 10) ad indices, best first, the query among them
    sims, idx = knn(emb, 20)           # (n, 20) each, the ad itself left out
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from adowner.scoring.vectors import l2_normalise

IntArray = npt.NDArray[np.int64]

# past this many ads :func:`knn` uses HNSW (approximate, near-linear) under ``index="auto"``
HNSW_ABOVE = 50_000


def inner_product_index(x: npt.NDArray[np.float32], kind: str = "flat", k: int = 10) -> Any:
    """A FAISS inner-product index over the rows of ``x`` (``flat`` or ``hnsw``), filled."""
    import faiss

    d = x.shape[1]
    ix: Any
    if kind == "flat":
        ix = faiss.IndexFlatIP(d)
    elif kind == "hnsw":
        ix = faiss.IndexHNSWFlat(d, 32, faiss.METRIC_INNER_PRODUCT)
        ix.hnsw.efConstruction = 80
        ix.hnsw.efSearch = max(64, 2 * (k + 1))
    else:
        raise ValueError(f"index must be auto, flat or hnsw, not {kind!r}")
    ix.add(x)
    return ix


def faiss_search(embeddings: npt.ArrayLike, k: int) -> Callable[[IntArray], IntArray]:
    """A function giving the top-``k`` ads of query ads, by inner product of L2-normalised
    float32 rows (exact FAISS ``IndexFlatIP``: fine to 100,000 ads)."""
    x = np.ascontiguousarray(l2_normalise(embeddings))
    index = inner_product_index(x, "flat")
    depth = min(k, x.shape[0])

    def search(queries: IntArray) -> IntArray:
        _, idx = index.search(x[queries], depth)
        return np.asarray(idx, dtype=np.int64)

    return search


def knn(
    emb: npt.ArrayLike, k: int, *, index: str = "auto", threads: int | None = None
) -> tuple[npt.NDArray[np.float32], IntArray]:
    """The ``k`` nearest neighbours of every row (itself excluded): (similarities, indices).

    Rows are searched as given (pass L2-normalised rows for cosines)."""
    import faiss

    if threads:
        faiss.omp_set_num_threads(threads)
    x = np.ascontiguousarray(emb, dtype=np.float32)
    n = x.shape[0]
    k = min(k, n - 1)
    if k < 1:
        return np.zeros((n, 0), np.float32), np.zeros((n, 0), np.int64)
    kind = index if index != "auto" else ("hnsw" if n > HNSW_ABOVE else "flat")
    sims, idx = inner_product_index(x, kind, k).search(x, k + 1)
    # Drop each row's own hit (usually first, but duplicates may tie with it).
    own = idx == np.arange(n)[:, None]
    keep = ~own
    # rows where self was not returned (possible with HNSW): drop the last column instead
    no_self = ~own.any(axis=1)
    keep[no_self, -1] = False
    return sims[keep].reshape(n, k), np.asarray(idx[keep].reshape(n, k), dtype=np.int64)


def sparse_neighbors(
    x: Any,
    queries: IntArray,
    k: int,
    *,
    chunk: int = 512,
    on_batch: Callable[[int], Any] | None = None,
) -> IntArray:
    """Top-``k`` rows by dot product for each query row (exact; sparse matmul in chunks).

    FAISS needs dense vectors and a 500k-wide TF-IDF row does not fit densely, so the search is a
    chunked sparse product ``X[q] @ X.T`` with ``argpartition``. Ties are broken by ad index.
    """
    x = sp.csr_matrix(x)
    xt = x.T.tocsc()
    k = min(k, x.shape[0])
    out = np.empty((len(queries), k), dtype=np.int64)
    for s in range(0, len(queries), chunk):
        q = queries[s : s + chunk]
        sims = np.asarray((x[q] @ xt).todense(), dtype=np.float32)
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        top_s = np.take_along_axis(sims, top, axis=1)
        order = np.lexsort((top, -top_s), axis=1)
        out[s : s + len(q)] = np.take_along_axis(top, order, axis=1)
        if on_batch is not None:
            on_batch(len(q))
    return out
