"""The same-owner score of an exported folder: the cosine, or the hybrid of ``hybrid.json``.

One :class:`SameOwnerScorer` is built from a :class:`~adowner.export.folder.ModelFolder` and its
loaded encoder (:class:`adowner.export.inference.Encoder`); :func:`choose_kind` is the one place
that decides "hybrid or cosine". ``adowner.load(DIR).same_owner``, the HTTP service
(``POST /same-owner``) and ``adowner link`` all score through it.

=============  ==================================================================
``kind``       score
=============  ==================================================================
``"cosine"``   dot product of the two L2-normalised embeddings; thresholds from
               ``adowner.json``
``"hybrid"``   the probability of :class:`adowner.scoring.hybrid.Hybrid` (cosine +
               character n-grams + pairwise features, + locations when fitted with them);
               thresholds from ``hybrid.json``
``"auto"``     (asked for) the hybrid where the folder has ``hybrid.json``, else cosine
=============  ==================================================================

Example::

    enc = adowner.load("runs/export/adowner-minilm-agora")
    scorer = enc.scorer                        # the folder's default kind
    score, same = scorer.same_owner("ad one ...", "ad two ...", fpr=0.001)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from adowner.errors import InputError
from adowner.export.folder import DEFAULT_FPR, HYBRID_NAME, ModelFolder, Thresholds, first_line

KINDS = ("auto", "cosine", "hybrid")


def choose_kind(folder: ModelFolder, wanted: str = "auto") -> str:
    """``"hybrid"`` or ``"cosine"``: ``wanted``, with ``"auto"`` the hybrid where the folder has
    ``hybrid.json``; :class:`InputError` for ``"hybrid"`` without one or an unknown kind."""
    if wanted not in KINDS:
        raise InputError(f"unknown text score {wanted!r}", field="--text-score")
    if wanted == "hybrid" and not folder.has_hybrid:
        raise InputError(
            f"no {HYBRID_NAME} in the model folder (export with --hybrid)",
            path=str(folder.path),
            field="--text-score",
        )
    return "hybrid" if folder.has_hybrid and wanted != "cosine" else "cosine"


def load_hybrid(folder: ModelFolder, encoder: Any) -> Any:
    """The hybrid score of the folder's ``hybrid.json`` over ``encoder`` (needs scikit-learn)."""
    from adowner.scoring.hybrid import Hybrid  # the hybrid's one import here

    path = folder.hybrid_path
    state = folder.hybrid_state
    folder.hybrid_thresholds  # noqa: B018 - checked before the state is built
    try:
        return Hybrid.from_state(state, encoder, name=f"hybrid:{folder.model_id}")
    except InputError as exc:
        raise InputError(str(exc), path=str(path)) from None
    except Exception as exc:  # a missing key or a value of the wrong shape
        raise InputError(
            f"not a hybrid state this version reads ({type(exc).__name__}: {first_line(exc)})",
            path=str(path),
        ) from None


class SameOwnerScorer:
    """Same-owner scores and decisions for one folder and one score kind.

    ``hybrid`` is the loaded hybrid (built by :func:`load_hybrid` when None and the kind is
    hybrid), so that an encoder that has loaded it once shares it with every scorer.
    """

    def __init__(
        self, folder: ModelFolder, encoder: Any, kind: str = "auto", *, hybrid: Any = None
    ) -> None:
        self.folder = folder
        self.encoder = encoder
        self.kind = choose_kind(folder, kind)
        self.hybrid: Any = None
        if self.kind == "hybrid":
            self.hybrid = hybrid if hybrid is not None else load_hybrid(folder, encoder)
        self.thresholds: Thresholds = folder.thresholds_for(self.kind)

    def with_kind(self, kind: str) -> SameOwnerScorer:
        """This scorer when ``kind`` resolves to its own kind, else one of that kind (sharing
        the encoder and the loaded hybrid)."""
        if choose_kind(self.folder, kind) == self.kind:
            return self
        return SameOwnerScorer(self.folder, self.encoder, kind, hybrid=self.hybrid)

    def threshold(self, fpr: float = DEFAULT_FPR) -> float:
        """The threshold on this score at false-positive rate ``fpr`` (:meth:`Thresholds.at`)."""
        return self.thresholds.at(fpr)

    def score_embedded(
        self,
        texts: Sequence[str],
        emb: np.ndarray,
        i: np.ndarray,
        j: np.ndarray,
        locations: Sequence[str] | None = None,
    ) -> np.ndarray:
        """Scores of the pairs ``(i[k], j[k])`` of ``texts`` whose embeddings are ``emb``."""
        if self.hybrid is not None:
            out: np.ndarray = self.hybrid.score_embedded(texts, emb, i, j, locations=locations)
            return out
        return np.einsum("ij,ij->i", emb[i], emb[j])

    def prime(
        self, texts: Sequence[str], emb: np.ndarray, locations: Sequence[str] | None = None
    ) -> None:
        """Prepare to score many pairs of one set of ads (the hybrid's features, once); pass
        :meth:`score_pairs` the same ``texts`` and ``locations``."""
        if self.hybrid is not None:
            self.hybrid.prime(texts, emb, locations)

    def score_pairs(
        self,
        texts: Sequence[str],
        i: np.ndarray,
        j: np.ndarray,
        locations: Sequence[str] | None = None,
        emb: np.ndarray | None = None,
    ) -> np.ndarray:
        """Scores of pairs of ``texts`` (primed ones reuse what :meth:`prime` computed)."""
        if self.hybrid is not None:
            out: np.ndarray = self.hybrid.score_pairs(texts, i, j, locations=locations)
            return out
        if emb is None:
            emb = self.encoder.embed(list(texts))
        return np.einsum("ij,ij->i", emb[i], emb[j])

    def same_owner(
        self,
        a: str,
        b: str,
        *,
        fpr: float = DEFAULT_FPR,
        location_a: str | None = None,
        location_b: str | None = None,
    ) -> tuple[float, bool]:
        """The score of two raw ads and whether it clears the threshold at ``fpr``."""
        threshold = self.threshold(fpr)
        pair = np.array([0]), np.array([1])
        if self.hybrid is not None:
            locations = [location_a or "", location_b or ""]
            score = float(self.score_pairs([a, b], *pair, locations=locations)[0])
        else:
            emb = self.encoder.embed([a, b])
            score = float(np.dot(emb[0], emb[1]))
        return score, score >= threshold
