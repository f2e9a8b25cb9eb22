"""Turn a ``--model`` spec into a scorer: a baseline, a training checkpoint or an exported folder.

========================  ==========================================================
spec                      loads
========================  ==========================================================
``paper-pairwise``        :mod:`adowner.evaluation.baselines.paper_pairwise`
``tfidf-char``            :mod:`adowner.evaluation.baselines.tfidf_char`
``zero-shot``             the packaged all-MiniLM-L6-v2, mean-pooled, untuned
``zero-shot:PATH``        another Hugging Face encoder folder, untuned
``PATH.ckpt``             ``adowner.model.checkpoint.load_encoder(PATH)``
``DIR`` (adowner.json)    ``adowner.export.inference.load(DIR)``
``int8:DIR``, ``fp32:DIR``  ``load(DIR, precision=...)``: the folder's opt-in int8 ONNX model,
                          or the network in fp32 whatever this CPU has (the peer of int8)
``hybrid:SPEC``           :mod:`adowner.scoring.hybrid` over the model ``SPEC`` (its
                          cosine fused with char n-grams and the pairwise features, and
                          the ads' locations where the data has them)
``hybrid-text:SPEC``      the same hybrid from the texts alone (no location features)
``asnorm:SPEC``           :mod:`adowner.evaluation.scorenorm`: the model ``SPEC``'s cosine,
                          AS-normalised against a cohort of train-split ads
========================  ==========================================================

This is the only module of ``adowner.evaluation`` that may import ``adowner.model`` or
``adowner.export`` (docs/ARCHITECTURE.md), and only inside the function, so that the
evaluation code never depends on training code at import time.

Example
-------
>>> resolve_model("tfidf-char").name
'tfidf-char'
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from adowner.errors import InputError
from adowner.evaluation.baselines import BASELINES
from adowner.evaluation.scorer import Embedder, LoadedEmbedder, MemoEmbedder, Scorer

WRAPPERS = ("hybrid:", "hybrid-text:", "asnorm:")
#: ``PRECISION:DIR``: an exported folder loaded at that precision (``adowner.load``)
PRECISION_PREFIXES = ("int8:", "fp32:")


def check_model_spec(spec: str) -> None:
    """Raise the ``InputError`` that :func:`resolve_model` would, without loading anything."""
    spec = spec.strip()
    for wrapper in WRAPPERS:
        if spec.startswith(wrapper):
            base = spec.split(":", 1)[1]
            if base.startswith(WRAPPERS) or not base:
                raise InputError(f"{wrapper}SPEC needs one base model SPEC", field="--model")
            if base in ("tfidf-char", "paper-pairwise"):  # sparse rows / pair scores only
                raise InputError(
                    f"{wrapper}SPEC needs a dense embedding model (a checkpoint, an exported "
                    f"folder or zero-shot), not {base!r}: the hybrid already uses tfidf-char "
                    "and paper-pairwise as features",
                    field="--model",
                )
            check_model_spec(base)
            return
    if spec.startswith(PRECISION_PREFIXES):
        prefix, spec = spec.split(":", 1)
        if not (Path(spec) / "adowner.json").is_file():
            raise InputError(
                f"{prefix}:DIR needs an exported model folder (adowner.json)",
                path=spec,
                field="--model",
            )
        return
    p = Path(spec)
    if spec in BASELINES:
        return
    if spec.startswith("zero-shot:"):
        if not (Path(spec.split(":", 1)[1]) / "config.json").is_file():
            raise InputError(
                "zero-shot:PATH needs a Hugging Face model folder with config.json",
                path=spec.split(":", 1)[1],
                field="--model",
            )
        return
    if p.suffix == ".ckpt":
        if not p.is_file():
            raise InputError("checkpoint not found", path=spec, field="--model")
        return
    if p.is_dir() and (p / "adowner.json").is_file():
        return
    known = ", ".join(sorted(BASELINES))
    raise InputError(
        f"unknown model {spec!r}: expected a baseline ({known}, zero-shot:PATH), "
        "a training checkpoint (.ckpt) or an exported model folder with adowner.json",
        field="--model",
    )


def resolve_model(spec: str, shared: dict[str, Any] | None = None) -> Scorer:
    """The scorer named by ``spec``; ``InputError`` naming the spec if it is none of the above.

    ``shared``: a dict that several calls pass (``compare``): a model that is not fitted (a
    checkpoint, an exported folder, a zero-shot encoder) is loaded once, wrapped in a
    :class:`~adowner.evaluation.scorer.MemoEmbedder` and kept there, so that ``SPEC``,
    ``asnorm:SPEC`` and ``hybrid:SPEC`` share one model and embed each ad once. Baselines
    and the wrappers are built anew each call (they are fitted). Whatever it returns
    implements :data:`~adowner.evaluation.scorer.Scorer`.
    """
    spec = spec.strip()
    check_model_spec(spec)
    if spec.startswith(("hybrid:", "hybrid-text:")):
        from adowner.scoring.hybrid import Hybrid

        return Hybrid(_base(spec, shared), name=spec, use_location=spec.startswith("hybrid:"))
    if spec.startswith("asnorm:"):
        from adowner.evaluation.scorenorm import ASNormScorer

        return ASNormScorer(_base(spec, shared), name=spec)
    if spec in BASELINES:
        return BASELINES[spec]()
    if shared is None:
        return _load_model(spec)
    if spec not in shared:
        shared[spec] = MemoEmbedder(_load_model(spec))
    memo: MemoEmbedder = shared[spec]
    return memo


def _base(spec: str, shared: dict[str, Any] | None) -> Embedder:
    """The dense embedder under ``WRAPPER:SPEC`` (:func:`check_model_spec` lets only
    checkpoints, folders and zero-shot encoders through)."""
    base = resolve_model(spec.split(":", 1)[1], shared)
    assert not base.pairwise, spec
    return base


def _load_model(spec: str) -> Embedder:
    """A checkpoint, an exported folder or a zero-shot encoder (no baseline, no wrapper)."""
    if spec.startswith("zero-shot:"):
        path = spec.split(":", 1)[1]
        from adowner.evaluation.baselines.zero_shot import ZeroShot

        model = ZeroShot(path)
        model.name = spec
        return model
    if spec.startswith(PRECISION_PREFIXES):
        from adowner.export.inference import load

        precision, path = spec.split(":", 1)
        return LoadedEmbedder(load(path, precision=precision), name=spec)
    p = Path(spec)
    if p.suffix == ".ckpt":
        try:
            from adowner.model.checkpoint import load_encoder
        except ImportError as exc:
            raise _unavailable("checkpoints", "adowner.model.checkpoint", spec, exc) from exc
        return LoadedEmbedder(load_encoder(p), name=spec)
    if p.is_dir() and (p / "adowner.json").is_file():
        try:
            from adowner.export.inference import load
        except ImportError as exc:
            raise _unavailable("model folders", "adowner.export.inference", spec, exc) from exc
        return LoadedEmbedder(load(p), name=spec)
    raise AssertionError(spec)  # check_model_spec accepted something not handled above


def _unavailable(what: str, module: str, spec: str, exc: ImportError) -> InputError:
    return InputError(
        f"cannot load {what}: {module} is unavailable ({exc})", path=spec, field="--model"
    )
