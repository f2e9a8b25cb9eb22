"""A fitted ``StandardScaler`` + ``LogisticRegression`` kept as plain arrays.

``sigmoid(((x - mean) / scale) @ coef + intercept)``: what scikit-learn's pipeline computes,
held as NumPy arrays so that it round-trips through JSON (``hybrid.json`` stores two: the
pairwise classifier and the combiner) with no pickles.

Example::

    lin = Linear.fit(x, y, c=1.0)
    p = lin.proba(x)                       # P(y = 1) per row
    again = Linear.from_state(json.loads(json.dumps(lin.state())))
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt


class Linear:
    """A standardised logistic regression as arrays (see the module docstring)."""

    def __init__(self, mean: Any, scale: Any, coef: Any, intercept: float) -> None:
        self.mean = np.asarray(mean, dtype=np.float64)
        self.scale = np.asarray(scale, dtype=np.float64)
        self.coef = np.asarray(coef, dtype=np.float64)
        self.intercept = float(intercept)

    @classmethod
    def fit(cls, x: npt.ArrayLike, y: npt.ArrayLike, c: float) -> Linear:
        """Standardise ``x``, then an L2 logistic regression with inverse strength ``c``."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.preprocessing import StandardScaler

        scaler = StandardScaler().fit(x)
        clf = LogisticRegression(C=c, max_iter=2000).fit(scaler.transform(x), y)
        return cls(scaler.mean_, scaler.scale_, clf.coef_[0], clf.intercept_[0])

    def decision(self, x: npt.ArrayLike) -> npt.NDArray[np.float64]:
        z = (np.asarray(x, dtype=np.float64) - self.mean) / self.scale
        return np.asarray(z @ self.coef + self.intercept, dtype=np.float64)

    def proba(self, x: npt.ArrayLike) -> npt.NDArray[np.float64]:
        return np.asarray(1.0 / (1.0 + np.exp(-self.decision(x))), dtype=np.float64)

    def state(self) -> dict[str, Any]:
        return {
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "coef": self.coef.tolist(),
            "intercept": self.intercept,
        }

    @classmethod
    def from_state(cls, s: dict[str, Any]) -> Linear:
        return cls(s["mean"], s["scale"], s["coef"], s["intercept"])
