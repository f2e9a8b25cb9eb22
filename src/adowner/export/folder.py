"""The exported model folder: one typed reader (:class:`ModelFolder`) and one writer.

Layout (the contract in ``docs/ARCHITECTURE.md``)::

    DIR/
      config.json, model.safetensors        the Hugging Face backbone (AutoModel loads it)
      tokenizer.json, tokenizer_config.json, vocab.txt, special_tokens_map.json
      modules.json, sentence_bert_config.json, config_sentence_transformers.json
      1_Pooling/config.json                 mean pooling
      2_Dense/{config.json,model.safetensors}   only when the model has a projection head
      3_Normalize/                          L2 normalisation (numbered 2_ without a head)
      adowner.json                          the one adowner record: encoder settings,
                                            normalisation, thresholds, ONNX, hybrid summary
      model.onnx, model_ort.onnx            with --onnx: ids, mask -> L2-normalised embedding
      model_qint8.onnx                      with --onnx --int8: model.onnx, int8 weights
      hybrid.json                           with --hybrid: the hybrid same-owner score
      README.md                             the model card

``SentenceTransformer(DIR)`` gives the same embeddings as ``adowner.load(DIR).embed`` for text
that has already been style-normalised (ST does not know about the normalisation).

The Hugging Face and sentence-transformers files are written by
:meth:`adowner.model.encoder.AuthorshipEncoder.save_pretrained` (one writer for that layout);
:func:`write_folder` adds ``adowner.json`` and drops the encoder's own
``adowner_encoder.json``, whose settings ``adowner.json`` holds (format 2).

``adowner.json`` keys (format 2): ``format``, ``format_version``, ``adowner_version``,
``model_id``, ``source_checkpoint``, ``backbone``, ``embedding_dim``, ``max_length``,
``pooling``, ``projection``, ``projection_dim``, ``pad_token_id``, ``normalization``
(``StyleNormalizer.to_dict()``), ``thresholds`` (a list of ``{"fpr", "threshold", "tpr",
"achieved_fpr"}``), ``calibration`` (how the thresholds were chosen), ``onnx`` (file name and
parity, or null) and, with ``--hybrid``, ``hybrid`` (a summary of ``hybrid.json``).

Older folders load through :func:`migrate_config`, which upgrades them in memory (and
:func:`migrate_folder` on disk):

=================  ===================================================================
format             what changes
=================  ===================================================================
no version, 1      thresholds stored as a dict (``{"0.01": t}``, ``{"fpr@0.01": t}``,
                   ``fpr_``/``fpr=`` keys, values a number or ``{"threshold": t}``) or
                   under ``calibration.thresholds`` become the list; ``projection_dim``
                   is added (the head's width is ``embedding_dim``); the folder's
                   ``adowner_encoder.json`` is redundant and no longer read
2                  current
=================  ===================================================================

Example::

    folder = ModelFolder.read("runs/export/adowner-minilm-agora")
    folder.thresholds.at(0.01)          # cosine threshold at FPR 1%
    folder.thresholds_for("hybrid").at(0.001)
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from adowner.defaults import LINK
from adowner.errors import AdownerError, InputError

CONFIG_NAME = "adowner.json"
ENCODER_CONFIG_NAME = "adowner_encoder.json"  # format 1 folders: merged into adowner.json
ONNX_NAME = "model.onnx"
ONNX_FUSED_NAME = "model_ort.onnx"  # same network with ONNX Runtime's fused BERT operators
ONNX_INT8_NAME = "model_qint8.onnx"  # dynamic int8 weights (export --onnx --int8), opt-in
HYBRID_NAME = "hybrid.json"  # optional: the hybrid same-owner score (adowner export --hybrid)
DENSE_DIR = "2_Dense"
DEFAULT_FPR = LINK.fpr  # the one default FPR (adowner.defaults): link, serve, adowner.load
FORMAT_VERSION = 2
FPR_TOLERANCE = 1e-12  # an FPR asked for matches a stored one when they differ by less


# ---------------------------------------------------------------------------- thresholds


class ThresholdError(AdownerError):
    """No threshold is calibrated at the FPR asked for (``reason`` has no file name)."""

    def __init__(self, reason: str, where: Path | None, fpr: float, known: list[float]) -> None:
        self.reason, self.where, self.fpr, self.known = reason, where, fpr, known
        super().__init__(f"{where}: {reason}" if where is not None else reason)


class Thresholds(Mapping[float, float]):
    """``{fpr: threshold}`` calibrated on validation pairs, read from a list of
    ``{"fpr", "threshold", ...}`` entries; :meth:`at` is the one lookup.

    The rule: an FPR matches a stored one when they differ by less than ``1e-12``; there is no
    interpolation and no nearest FPR (a threshold is only as good as its calibration).
    """

    def __init__(self, table: Mapping[float, float], where: Path | None = None) -> None:
        self._table = {float(k): float(v) for k, v in table.items()}
        self.where = where

    @classmethod
    def from_entries(cls, entries: Any, path: Path, key: str = "thresholds") -> Thresholds:
        """Validate ``entries`` (a list of ``{fpr in (0, 1), threshold: finite}``, or None)."""
        if entries is None:
            return cls({}, path)
        if not isinstance(entries, list):
            raise InputError("must be a list of {fpr, threshold}", path=str(path), field=key)
        out: dict[float, float] = {}
        for t in entries:
            fpr: Any = t.get("fpr") if isinstance(t, dict) else None
            thr: Any = t.get("threshold") if isinstance(t, dict) else None
            if not (_number(fpr) and _number(thr) and 0.0 < fpr < 1.0 and np.isfinite(thr)):
                raise InputError(
                    f"entry {t!r:.80} is not {{fpr in (0, 1), threshold: finite number}}",
                    path=str(path),
                    field=key,
                )
            out[float(fpr)] = float(thr)
        return cls(out, path)

    def at(self, fpr: float = DEFAULT_FPR) -> float:
        """The threshold calibrated for ``fpr``; :class:`ThresholdError` when there is none."""
        for key, value in self._table.items():
            if abs(key - fpr) < FPR_TOLERANCE:
                return value
        known = sorted(self._table)
        have = ", ".join(f"{k:g}" for k in known) or "none; export with --data PREPARED_DIR"
        raise ThresholdError(
            f"no threshold calibrated for FPR {fpr:g} (have: {have})", self.where, fpr, known
        )

    def fpr_at(self, fpr: float) -> float:
        """The stored FPR that ``fpr`` matches (as :meth:`at` finds it)."""
        self.at(fpr)
        return next(k for k in self._table if abs(k - fpr) < FPR_TOLERANCE)

    def __getitem__(self, fpr: float) -> float:
        return self._table[fpr]

    def __iter__(self) -> Iterator[float]:
        return iter(self._table)

    def __len__(self) -> int:
        return len(self._table)

    def __repr__(self) -> str:
        return f"Thresholds({self._table!r})"


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (at most 200 characters), for one-line errors."""
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return line if len(line) <= 200 else line[:200] + "..."


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


# ---------------------------------------------------------------------------- migration


def _fpr_of_key(key: Any) -> float | None:
    """``0.01`` from a format-1 dict key (``"0.01"``, ``"fpr@0.01"``, ``"fpr_0.01"``, ``"fpr=0.01"``)."""
    text = str(key).removeprefix("fpr@").removeprefix("fpr_").removeprefix("fpr=")
    try:
        return float(text)
    except ValueError:
        return None


def _threshold_list(table: Any) -> Any:
    """A format-1 thresholds table as the format-2 list (a list is returned as it is)."""
    if not isinstance(table, dict):
        return table
    entries = []
    for key, value in table.items():
        fpr = _fpr_of_key(key)
        if fpr is None:  # format 1 skipped keys that are not an FPR (e.g. "method")
            continue
        entry = dict(value) if isinstance(value, dict) else {"threshold": value}
        entries.append({**entry, "fpr": fpr})
    return entries


def migrate_config(cfg: dict[str, Any], path: Path) -> dict[str, Any]:
    """``adowner.json`` of any format this version reads, upgraded to :data:`FORMAT_VERSION`.

    Returns a new dict (``cfg`` is not changed); :class:`InputError` naming ``path`` for a
    version it does not know.
    """
    version = cfg.get("format_version", 1)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise InputError(f"unknown format_version {version!r}", path=str(path))
    if version > FORMAT_VERSION:
        raise InputError(
            f"format_version {version} was written by a newer adowner (this one reads "
            f"<= {FORMAT_VERSION})",
            path=str(path),
        )
    out = dict(cfg)
    if version == 1:
        table = out.get("thresholds")
        if not table:
            calibration = out.get("calibration")
            table = calibration.get("thresholds") if isinstance(calibration, dict) else None
        out["thresholds"] = _threshold_list(table) if table else []
        if "projection_dim" not in out:
            dim = out.get("embedding_dim")
            out["projection_dim"] = dim if out.get("projection") else None
        out["format_version"] = FORMAT_VERSION
    return out


def migrate_folder(
    folder: str | os.PathLike[str], out: str | os.PathLike[str] | None = None
) -> dict[str, Any]:
    """Rewrite an old folder's ``adowner.json`` in the current format and drop its redundant
    ``adowner_encoder.json``; return the new config (``adowner export --migrate``).

    In place without ``out`` (``adowner.json`` is replaced atomically); with ``out``, the
    folder is copied to ``out`` (replaced as a whole, atomically) and the copy migrated, the
    old folder left as it was. A folder this version cannot read raises :class:`InputError`
    before anything is written.
    """
    import shutil

    from adowner._io import atomic_dir, write_json

    def rewrite(path: Path) -> None:
        write_json(model.config, path / CONFIG_NAME)
        (path / ENCODER_CONFIG_NAME).unlink(missing_ok=True)

    model = ModelFolder.read(folder)  # reads, migrates in memory and checks
    if out is None or Path(out).resolve() == model.path.resolve():
        rewrite(model.path)
    else:
        with atomic_dir(out) as tmp:
            shutil.copytree(model.path, tmp, dirs_exist_ok=True)
            rewrite(tmp)
    return model.config


# ---------------------------------------------------------------------------- reader


def read_json(path: Path) -> Any:
    """A JSON file of the model folder; ``InputError`` naming it when it is not JSON text."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start})", path=str(path)) from None
    except json.JSONDecodeError as exc:
        raise InputError(f"invalid JSON ({exc.msg}, line {exc.lineno})", path=str(path)) from exc
    except RecursionError:
        raise InputError("invalid JSON (nested too deeply)", path=str(path)) from None


def _whole(cfg: dict[str, Any], key: str, path: Path, lo: int, hi: int, default: Any = None) -> int:
    value = cfg.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise InputError(
            f"must be an integer in {lo}..{hi}, got {value!r}", path=str(path), field=key
        )
    return value


def validate_config(cfg: Any, path: Path) -> dict[str, Any]:
    """Check a (migrated) ``adowner.json``; ``InputError`` naming ``path`` and the field."""
    if not isinstance(cfg, dict):
        raise InputError(f"must hold a JSON object, not {type(cfg).__name__}", path=str(path))
    for key in ("embedding_dim", "max_length"):
        if key not in cfg:
            raise InputError("missing key", path=str(path), field=key)
    _whole(cfg, "embedding_dim", path, 1, 65_536)
    _whole(cfg, "max_length", path, 1, 1_000_000)
    _whole(cfg, "pad_token_id", path, 0, 2**31 - 1, default=0)
    if cfg.get("model_id") is not None and not isinstance(cfg["model_id"], str):
        raise InputError("must be a string", path=str(path), field="model_id")
    if cfg.get("normalization") is not None and not isinstance(cfg["normalization"], dict):
        raise InputError("must be an object of settings", path=str(path), field="normalization")
    return cfg


class ModelFolder:
    """An exported model folder, read and checked once (no network is loaded here).

    ==================  ===================================================================
    attribute           meaning
    ==================  ===================================================================
    ``path``            the folder
    ``config``          ``adowner.json`` migrated to the current format (a dict)
    ``thresholds``      :class:`Thresholds` of the cosine, from ``config["thresholds"]``
    ``model_id``        the config's ``model_id``, else the folder's name
    ``embedding_dim``   ``max_length``, ``pad_token_id``, ``normalization``: from the config
    ``onnx_file``       ``model.onnx`` when it exists, else None; ``fused_onnx_file`` likewise
    ``int8_onnx_file``  ``model_qint8.onnx`` when ``adowner.json`` records it and it exists
    ``has_hybrid``      whether ``hybrid.json`` exists; :attr:`hybrid_state` reads it (once)
    ==================  ===================================================================
    """

    def __init__(self, path: Path, config: dict[str, Any]) -> None:
        self.path = path
        self.config = config
        self.thresholds = Thresholds.from_entries(
            config.get("thresholds"), path / CONFIG_NAME, "thresholds"
        )

    @classmethod
    def read(cls, folder: str | os.PathLike[str]) -> ModelFolder:
        """Read ``adowner.json`` of ``folder`` (migrating an old format), with a clear error
        when it is not a model folder."""
        path = Path(folder) / CONFIG_NAME
        if not path.is_file():
            raise InputError(
                f"not an adowner model folder (no {CONFIG_NAME}); export one with `adowner export`",
                path=str(folder),
            )
        cfg = read_json(path)
        if not isinstance(cfg, dict):
            raise InputError(f"must hold a JSON object, not {type(cfg).__name__}", path=str(path))
        return cls(Path(folder), validate_config(migrate_config(cfg, path), path))

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG_NAME

    @property
    def model_id(self) -> str:
        return str(self.config.get("model_id") or self.path.name)

    @property
    def embedding_dim(self) -> int:
        return int(self.config["embedding_dim"])

    @property
    def max_length(self) -> int:
        return int(self.config["max_length"])

    @property
    def pad_token_id(self) -> int:
        return int(self.config.get("pad_token_id", 0))

    @property
    def normalization(self) -> dict[str, Any] | None:
        settings: dict[str, Any] | None = self.config.get("normalization")
        return settings

    @property
    def onnx_file(self) -> Path | None:
        path = self.path / ONNX_NAME
        return path if path.is_file() else None

    @property
    def fused_onnx_file(self) -> Path | None:
        path = self.path / ONNX_FUSED_NAME
        return path if path.is_file() else None

    @property
    def int8_onnx_file(self) -> Path | None:
        """The int8 model ``adowner.json`` records (``onnx.int8_file``) when it exists."""
        name = (self.config.get("onnx") or {}).get("int8_file")
        path = self.path / str(name) if name else None
        return path if path is not None and path.is_file() else None

    @property
    def hybrid_path(self) -> Path:
        return self.path / HYBRID_NAME

    @property
    def has_hybrid(self) -> bool:
        return self.hybrid_path.is_file()

    @cached_property
    def hybrid_state(self) -> dict[str, Any]:
        """``hybrid.json`` as a dict (``InputError`` naming it when it is not an object)."""
        if not self.has_hybrid:
            raise InputError(f"no {HYBRID_NAME} (export with --hybrid)", path=str(self.path))
        state = read_json(self.hybrid_path)
        if not isinstance(state, dict):
            raise InputError(
                f"must hold a JSON object, not {type(state).__name__}", path=str(self.hybrid_path)
            )
        return state

    @cached_property
    def hybrid_thresholds(self) -> Thresholds:
        """The hybrid probability's :class:`Thresholds` (from ``hybrid.json``)."""
        return Thresholds.from_entries(
            self.hybrid_state.get("thresholds"), self.hybrid_path, "thresholds"
        )

    def thresholds_for(self, kind: str) -> Thresholds:
        """The thresholds of the score ``kind`` (``"cosine"`` or ``"hybrid"``)."""
        return self.hybrid_thresholds if kind == "hybrid" else self.thresholds

    def update(self, **changes: Any) -> dict[str, Any]:
        """Rewrite ``adowner.json`` (atomically) with some keys changed; return the config."""
        from adowner._io import write_json

        config = {**self.config, **changes}
        validate_config(config, self.config_path)
        self.thresholds = Thresholds.from_entries(
            config.get("thresholds"), self.config_path, "thresholds"
        )
        write_json(config, self.config_path)
        self.config = config
        return config


def read_config(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """``adowner.json`` of an exported folder, migrated and checked (see :class:`ModelFolder`)."""
    return ModelFolder.read(folder).config


# ---------------------------------------------------------------------------- writer


def write_folder(encoder: Any, out: Path, *, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write an :class:`AuthorshipEncoder` into ``out`` with its ``adowner.json``.

    ``out`` should be a temporary folder (see :func:`adowner._io.atomic_dir`). Returns the
    ``adowner.json`` content written (no thresholds yet; see :mod:`adowner.export.calibrate`).
    """
    import sentence_transformers
    import torch
    import transformers

    from adowner import __version__
    from adowner._io import write_json

    encoder.save_pretrained(out)
    if not (out / "tokenizer.json").is_file():
        raise ValueError("the tokenizer is not a fast tokenizer (no tokenizer.json written)")
    # adowner.json holds the encoder's settings: one record, not two
    (out / ENCODER_CONFIG_NAME).unlink(missing_ok=True)
    write_json(
        {
            "__version__": {
                "sentence_transformers": sentence_transformers.__version__,
                "transformers": transformers.__version__,
                "pytorch": torch.__version__,
            },
            "prompts": {},
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
        out / "config_sentence_transformers.json",
    )
    projection = encoder.projection
    config = {
        "format": "adowner-model",
        "format_version": FORMAT_VERSION,
        "adowner_version": __version__,
        "model_id": out.name,
        "backbone": encoder.backbone_name,
        **(meta or {}),
        "embedding_dim": int(encoder.embedding_dim),
        "max_length": int(encoder.max_length),
        "pooling": "mean",
        "projection": projection is not None,
        "projection_dim": int(projection.out_features) if projection is not None else None,
        "l2_normalized": True,
        "pad_token_id": int(encoder.tokenizer.pad_token_id or 0),
        "normalization": encoder.normalizer.to_dict(),
        "thresholds": [],
        "calibration": None,
        "onnx": None,
    }
    write_json(config, out / CONFIG_NAME)
    return config


def update_config(folder: Path, **changes: Any) -> dict[str, Any]:
    """Rewrite ``adowner.json`` with some keys changed (see :meth:`ModelFolder.update`)."""
    return ModelFolder.read(folder).update(**changes)
