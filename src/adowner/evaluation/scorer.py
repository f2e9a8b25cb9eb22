"""The Scorer protocol: what ``evaluate`` needs of a model or a baseline, and nothing more.

Every model that ``--model`` names (:func:`adowner.evaluation.resolve.resolve_model`) is a
:data:`Scorer`: either an :class:`Embedder` (one row an ad, dense float32 or a scipy sparse
matrix; similarity is the cosine) or a :class:`PairScorer` (scores given pairs and ranks
candidates, like the paper's pairwise classifier, which has no embedding). The runner calls
only the methods below, with these signatures, and reads what a model can do from its declared
attributes; mypy checks that each model and baseline implements its protocol.

==================  ===========================================================  ============
member              meaning                                                      who
==================  ===========================================================  ============
``name``            the spec or baseline name                                    all
``notes``           lines for the report (what the model did, what it left out)  all
``learns``          ``fit`` learns from the train split (and val) before         all
                    scoring; owners of train never appear in test
``pairwise``        ``False``: an :class:`Embedder`; ``True``: a                 all
                    :class:`PairScorer`
``uses_locations``  ``score_pairs``/``neighbors`` use the ads' ``location``      pair scorers
``fit``             ``(train_df, val_df=None) -> None``                          all
``embed``           ``(texts, *, progress=False) -> ndarray | sparse``           embedders
``score_pairs``     ``(texts, i, j, *, locations=None) -> ndarray``              pair scorers
``neighbors``       ``(texts, queries, k, *, locations=None) -> (ranked,         pair scorers
                    scores)``: ``(n_q, k)`` ad indices (-1 = none) and their
                    scores, best first, the query itself first
==================  ===========================================================  ============

``train_df`` has the prepared-split columns ``text``, ``owner`` and ``dup_group``.

A loaded encoder (a checkpoint, an exported folder) becomes an :class:`Embedder` through
:class:`LoadedEmbedder`; :class:`MemoEmbedder` embeds each text of such a model once.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol

import numpy as np

from adowner.scoring import Index, Locations, Ranked, Texts

Embeddings = Any  # np.ndarray (n, d) float32, or a scipy.sparse matrix of n rows


class _Model(Protocol):
    """What every model declares (see the module docstring)."""

    name: str
    notes: list[str]

    @property
    def learns(self) -> bool: ...

    def fit(self, train_df: Any, val_df: Any = None) -> None: ...


class Embedder(_Model, Protocol):
    """A model that embeds ads; the cosine of two rows is their similarity."""

    @property
    def pairwise(self) -> Literal[False]: ...

    def embed(self, texts: list[str], *, progress: bool = False) -> Embeddings: ...


class PairScorer(_Model, Protocol):
    """A model that scores pairs of ads and ranks candidates, with no embedding."""

    @property
    def pairwise(self) -> Literal[True]: ...

    @property
    def uses_locations(self) -> bool: ...

    def score_pairs(
        self, texts: Texts, i: Index, j: Index, *, locations: Locations = None
    ) -> np.ndarray: ...

    def neighbors(
        self, texts: Texts, queries: Index, k: int, *, locations: Locations = None
    ) -> Ranked: ...


Scorer = Embedder | PairScorer


class ProgressEmbedder(Protocol):
    """What a loaded encoder offers: ``embed`` with an optional progress bar."""

    def embed(self, texts: list[str], *, progress: bool = False) -> np.ndarray: ...


class LoadedEmbedder:
    """A fine-tuned encoder (a checkpoint's or an exported folder's) as an :class:`Embedder`:
    it learns nothing from the splits."""

    learns = False
    pairwise: Literal[False] = False

    def __init__(self, model: ProgressEmbedder, name: str) -> None:
        self.model, self.name = model, name
        self.notes: list[str] = []

    def fit(self, train_df: Any, val_df: Any = None) -> None:
        """Nothing to fit: the encoder is trained already."""

    def embed(self, texts: list[str], *, progress: bool = False) -> np.ndarray:
        return np.asarray(self.model.embed(texts, progress=progress), dtype=np.float32)


class MemoEmbedder:
    """An embedder that embeds each distinct text once and answers repeats from memory.

    ``compare`` scores one model several ways (its cosine, ``asnorm:``, ``hybrid:``) and each
    way embeds the same test, val and cohort ads; ``export`` embeds val for the cosine
    thresholds and again for the hybrid. Wrapping the one loaded model in this class makes
    every later call a lookup (quickstart: compare 355 s → see docs/BENCHMARKS.md).

    Only for models whose embedding does not change (``learns`` false): a fine-tuned
    checkpoint, an exported folder, a zero-shot encoder — never a baseline that is fitted (its
    vectors change with ``fit``). The memo lives as long as the wrapper (1.5 KB an ad at 384
    float32 dimensions). Its ``name`` and ``notes`` are the wrapped model's.
    """

    learns = False
    pairwise: Literal[False] = False

    def __init__(self, model: Embedder) -> None:
        if model.learns:
            raise TypeError(f"{type(model).__name__} is fitted on data: its vectors may change")
        self.model = model
        self.name, self.notes = model.name, model.notes
        self._rows: dict[str, np.ndarray] = {}
        self.hits = 0
        self.misses = 0

    def fit(self, train_df: Any, val_df: Any = None) -> None:
        """Nothing to fit (see the class docstring)."""

    def embed(self, texts: list[str], *, progress: bool = False) -> np.ndarray:
        texts = list(texts)
        missing = [t for t in dict.fromkeys(texts) if t not in self._rows]
        self.hits += len(texts) - len(missing)
        self.misses += len(missing)
        if missing or not texts:
            vecs = np.asarray(self.model.embed(missing, progress=progress), dtype=np.float32)
            if not texts:
                return vecs
            if vecs.ndim != 2 or len(vecs) != len(missing):
                raise ValueError(f"model returned shape {vecs.shape} for {len(missing)} texts")
            self._rows.update(zip(missing, vecs, strict=True))
        return np.stack([self._rows[t] for t in texts])
