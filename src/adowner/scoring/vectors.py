"""Mean pooling and L2 normalisation: the one copy of each that every embedding path uses.

``mean_pool`` is the sentence-transformers recipe (``Pooling(pooling_mode_mean_tokens=True)``):
the average of the last hidden states over the real tokens of the attention mask. It works on
PyTorch tensors of any float dtype and imports nothing itself, so this module loads without
torch. ``l2_normalise`` divides NumPy rows by their norm (at least ``1e-12``, so that zero rows
stay zero), ``l2_normalise_sparse`` does the same for scipy sparse rows; the cosine of two
normalised rows is their dot product.

Example::

    pooled = mean_pool(out.last_hidden_state, batch["attention_mask"])
    unit = l2_normalise(np.array([[3.0, 4.0]]))   # [[0.6, 0.8]]
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

if TYPE_CHECKING:
    from torch import Tensor


def mean_pool(hidden: Tensor, attention_mask: Tensor) -> Tensor:
    """``(batch, tokens, dim)`` hidden states → ``(batch, dim)`` means over the masked tokens."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)


def l2_normalise(x: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """Rows of ``x`` as float32 scaled to unit L2 norm (zero rows stay zero)."""
    a = np.asarray(x, dtype=np.float32)
    return np.asarray(a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12))


def l2_normalise_sparse(x: Any) -> sp.csr_matrix:
    """Sparse rows (TF-IDF) scaled to unit L2 norm, as float32 CSR (zero rows stay zero)."""
    from sklearn.preprocessing import normalize

    return sp.csr_matrix(normalize(sp.csr_matrix(x)), dtype=np.float32)
