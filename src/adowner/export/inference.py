"""Fast inference over an exported model folder: ``adowner.load(DIR)``.

Loads what ``adowner export`` wrote (see :mod:`adowner.export.folder`) and embeds raw ad text:

1. style normalisation with the settings saved in ``adowner.json`` (pure Python);
2. tokenisation with the folder's ``tokenizer.json`` (the Rust ``tokenizers`` library, no
   ``transformers`` import needed for it);
3. the network, in one of two backends:

   ============  =================================================  =============================
   backend       runs                                               needs
   ============  =================================================  =============================
   ``"onnx"``    ``model.onnx`` (pooling, head and L2 norm inside)  ``onnxruntime`` only
   ``"torch"``   ``AutoModel`` + mean pooling + optional dense      ``torch`` + ``transformers``
   ``"auto"``    ``"onnx"`` when ``model.onnx`` exists, the
                 device is the CPU and the CPU has no native bf16;
                 else torch (bf16 autocast on native-bf16 CPUs)
   ============  =================================================  =============================

Speed comes from ONNX Runtime with fused BERT kernels (``model_ort.onnx``: attention,
SkipLayerNorm, BiasGelu, written by ``adowner export --onnx``); small length-sorted batches
(at most ``token_budget`` = 512 padded word pieces and 8 ads, so a batch's activations stay
in a core's cache and there is little padding); one single-threaded ONNX Runtime stream per
core (``workers``), each core on its own batches, instead of every core splitting each matrix
product; and embedding each distinct text once (reposted ads). The ONNX network stays fp32: its
embeddings match PyTorch to cosine >= 0.9999 (the PyTorch backend can run bf16/fp16 under
autocast, ``precision=``). Figures are in ``docs/BENCHMARKS.md``
(``scripts/bench_embed.py``).

Example::

    import adowner
    enc = adowner.load("runs/export/adowner-minilm-agora")
    emb = enc.embed(["ad one ...", "ad two ..."])      # (2, dim) float32, L2-normalised
    score, same = enc.same_owner("ad one ...", "ad two ...")   # threshold at FPR 1%
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from adowner.errors import AdownerError, InputError
from adowner.hardware import PRECISIONS, native_bf16_cpu, resolve_precision  # noqa: F401
from adowner.scoring.vectors import mean_pool

CONFIG_NAME = "adowner.json"
ONNX_NAME = "model.onnx"
ONNX_FUSED_NAME = "model_ort.onnx"  # same network with ONNX Runtime's fused BERT operators
HYBRID_NAME = "hybrid.json"  # optional: the hybrid same-owner score (adowner export --hybrid)
DENSE_DIR = "2_Dense"
DEFAULT_FPR = 0.01
# (token budget, max ads) of a batch per backend, measured on Agora ads (docs/BENCHMARKS.md):
# ONNX Runtime is fastest with small batches, one per core; PyTorch with wide ones on all cores.
BATCHING = {"onnx": (512, 8), "torch": (4096, 64)}


def _read_json(path: Path) -> Any:
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


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def read_thresholds(entries: Any, path: Path, key: str) -> dict[float, float]:
    """``{fpr: threshold}`` from a list of ``{"fpr", "threshold", ...}``; ``InputError`` if not."""
    if entries is None:
        return {}
    out: dict[float, float] = {}
    if not isinstance(entries, list):
        raise InputError("must be a list of {fpr, threshold}", path=str(path), field=key)
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
    return out


def read_config(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """Read ``adowner.json`` of an exported folder, with a clear error when it is not one."""
    path = Path(folder) / CONFIG_NAME
    if not path.is_file():
        raise InputError(
            f"not an adowner model folder (no {CONFIG_NAME}); export one with `adowner export`",
            path=str(folder),
        )
    cfg = _read_json(path)
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
    read_thresholds(cfg.get("thresholds"), path, "thresholds")
    return cfg


def build_normalizer(settings: dict[str, Any] | None) -> Callable[[Sequence[str]], list[str]]:
    """The style normaliser saved with the model, as a batch function (identity when none)."""
    if not settings:
        return lambda texts: list(texts)
    from adowner.text.normalize import StyleNormalizer

    try:
        normalizer = StyleNormalizer.from_dict(settings)
    except (TypeError, ValueError, re.error) as exc:
        raise InputError(
            f"normalization settings not understood ({exc})".splitlines()[0], field="normalization"
        ) from None
    return normalizer.normalize_batch


class _OnnxBackend:
    """``model.onnx`` in ONNX Runtime: input_ids, attention_mask -> L2-normalised embedding."""

    def __init__(self, path: Path, threads: int) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self.input_names = {i.name for i in self.session.get_inputs()}

    def __call__(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self.input_names:
            feed["token_type_ids"] = np.zeros_like(ids)
        out: np.ndarray = self.session.run(None, feed)[0]
        return out


class _TorchBackend:
    """The Hugging Face backbone + mean pooling + optional dense head + L2 norm, in PyTorch."""

    def __init__(
        self, folder: Path, threads: int, device: str = "cpu", precision: str = "fp32"
    ) -> None:
        import torch
        from transformers import AutoModel
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise AdownerError(f"device {device!r} asked for, but PyTorch sees no CUDA device")
        torch.set_num_threads(threads)
        self.torch = torch
        self.device = torch.device(device)
        self.precision = precision
        dtypes = {"bf16": torch.bfloat16, "fp16": torch.float16}
        self.autocast_dtype = dtypes.get(precision)
        self.model = AutoModel.from_pretrained(str(folder), use_safetensors=True).eval()
        self.model.to(self.device)
        self.dense: Any = None
        dense_dir = folder / DENSE_DIR
        if (dense_dir / "model.safetensors").is_file():
            from safetensors.torch import load_file

            dense_cfg = json.loads((dense_dir / "config.json").read_text(encoding="utf-8"))
            state = load_file(str(dense_dir / "model.safetensors"))
            linear = torch.nn.Linear(
                dense_cfg["in_features"], dense_cfg["out_features"], bias="linear.bias" in state
            )
            linear.load_state_dict({k.removeprefix("linear."): v for k, v in state.items()})
            self.dense = linear.eval().to(self.device)

    def __call__(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        torch = self.torch
        autocast = torch.autocast(
            self.device.type,
            dtype=self.autocast_dtype or torch.float32,
            enabled=self.autocast_dtype is not None,
        )
        with torch.inference_mode():
            input_ids = torch.from_numpy(ids).to(self.device)
            attn = torch.from_numpy(mask).to(self.device)
            with autocast:
                hidden = self.model(input_ids=input_ids, attention_mask=attn).last_hidden_state
            # pooling, head and norm in fp32 whatever the network ran in
            hidden = hidden.float()
            pooled = mean_pool(hidden, attn)
            if self.dense is not None:
                pooled = self.dense(pooled)
            out = torch.nn.functional.normalize(pooled, p=2, dim=-1)
            return out.cpu().numpy()


class Encoder:
    """An exported model ready to embed ads; build it with :func:`load`.

    ==================  ===================================================================
    attribute           meaning
    ==================  ===================================================================
    ``config``          the folder's ``adowner.json`` as a dict
    ``model_id``        the folder's model id (its name unless the config says otherwise)
    ``dimension``       embedding dimension
    ``max_length``      word pieces kept per ad (longer ads are truncated)
    ``backend``         ``"onnx"`` or ``"torch"``
    ``thresholds``      ``{fpr: cosine threshold}`` calibrated on the validation split
    ``workers``         batches run at once (ONNX: one single-threaded stream per core)
    ``device``          ``"cpu"``, or ``"cuda"``/``"cuda:N"`` (PyTorch backend only)
    ``precision``       ``"fp32"``, ``"bf16"`` or ``"fp16"``: what the network computes in
    ``net_file``        the file the network was loaded from (``model_ort.onnx``, ...)
    ==================  ===================================================================

    ``threads`` (default: ``ADOWNER_THREADS`` or every core) is the number of cores used;
    ``token_budget`` and ``max_batch`` bound a batch's padded word pieces and ads (defaults per
    backend in :data:`BATCHING`).

    ``precision`` (PyTorch backend): ``"fp32"``; ``"bf16"``/``"fp16"`` run the network under
    ``torch.autocast``; ``"auto"`` (default) picks fp16 on CUDA, bf16 on a CPU with native bf16
    (AVX-512 BF16 or AMX), else fp32 (see :func:`resolve_precision`). The ONNX backend is fp32.
    ``device="cuda"`` runs the PyTorch backend on a GPU (``backend="auto"`` then means torch).
    """

    def __init__(
        self,
        folder: str | os.PathLike[str],
        *,
        backend: str = "auto",
        threads: int | None = None,
        token_budget: int | None = None,
        max_batch: int | None = None,
        workers: int | None = None,
        device: str = "cpu",
        precision: str = "auto",
    ) -> None:
        from tokenizers import Tokenizer

        self.folder = Path(folder)
        self.config = read_config(self.folder)
        self.model_id: str = self.config.get("model_id") or self.folder.name
        self.dimension = int(self.config["embedding_dim"])
        self.max_length = int(self.config["max_length"])
        config_path = self.folder / CONFIG_NAME
        self.thresholds = read_thresholds(self.config.get("thresholds"), config_path, "thresholds")
        try:
            self._normalize = build_normalizer(self.config.get("normalization"))
        except InputError as exc:
            raise InputError(str(exc), path=str(config_path)) from None

        tok_path = self.folder / "tokenizer.json"
        if not tok_path.is_file():
            raise InputError("missing tokenizer.json", path=str(self.folder))
        try:
            self.tokenizer = Tokenizer.from_file(str(tok_path))
            self.tokenizer.no_padding()
            self.tokenizer.enable_truncation(max_length=self.max_length)
        except Exception as exc:  # the Rust library raises a bare Exception for a bad file
            raise InputError(
                f"not a readable tokenizer ({_first_line(exc)})", path=str(tok_path)
            ) from None
        self.pad_id = int(self.config.get("pad_token_id", 0))

        threads = threads or int(os.environ.get("ADOWNER_THREADS", 0)) or (os.cpu_count() or 1)
        onnx_path = self.folder / ONNX_NAME
        if not (device == "cpu" or device.startswith("cuda")):
            raise AdownerError(f"unknown device {device!r}; use 'cpu', 'cuda' or 'cuda:N'")
        if backend == "auto":
            # the fastest exact path on this machine (docs/BENCHMARKS.md, issue 18): PyTorch
            # under bf16 autocast where the CPU has native bf16 (x1.25 ONNX fp32 on a Zen 4,
            # min cosine 0.99998), else ONNX fp32 with fused kernels (x1.4 PyTorch fp32)
            cpu_onnx = onnx_path.is_file() and device == "cpu"
            bf16 = precision in ("auto", "bf16") and native_bf16_cpu()
            backend = "onnx" if cpu_onnx and not bf16 else "torch"
        if backend == "onnx" and (device != "cpu" or precision not in ("auto", "fp32")):
            raise AdownerError(
                "the ONNX backend runs fp32 on the CPU; use backend='torch' for "
                f"device={device!r}, precision={precision!r}"
            )
        self.device = device
        self.precision = "fp32"
        if backend == "onnx":
            if not onnx_path.is_file():
                raise InputError(f"no {ONNX_NAME}; export with --onnx", path=str(self.folder))
            fused = self.folder / ONNX_FUSED_NAME
            # One single-threaded ONNX Runtime stream per core, each on its own batches, beats
            # one stream with every core on the same batch (figures in docs/BENCHMARKS.md).
            self.workers = max(1, min(workers or threads, threads))
            net_path = fused if fused.is_file() else onnx_path
            self.net_file = net_path.name
            try:
                self._net: Callable[[np.ndarray, np.ndarray], np.ndarray] = _OnnxBackend(
                    net_path, max(1, threads // self.workers)
                )
            except Exception as exc:  # onnxruntime: InvalidProtobuf, Fail, InvalidGraph, ...
                raise InputError(
                    f"not a loadable ONNX model ({_first_line(exc)})", path=str(net_path)
                ) from None
        elif backend == "torch":
            self.workers = 1  # PyTorch's thread count is process-wide: one stream, all cores
            self.net_file = "model.safetensors"
            self.precision = resolve_precision(precision, device)
            try:
                self._net = _TorchBackend(self.folder, threads, device, self.precision)
            except AdownerError:
                raise
            except Exception as exc:  # transformers/safetensors: OSError, ValueError, ...
                raise InputError(
                    f"not a loadable PyTorch model ({_first_line(exc)})", path=str(self.folder)
                ) from None
        else:
            raise AdownerError(f"unknown backend {backend!r}; use 'auto', 'onnx' or 'torch'")
        self.backend = backend
        default_budget, default_batch = BATCHING[backend]
        self.token_budget = token_budget or default_budget
        self.max_batch = max_batch or default_batch
        self._pool: ThreadPoolExecutor | None = None
        self.hybrid: Any = None
        self.hybrid_thresholds: dict[float, float] = {}
        if (self.folder / HYBRID_NAME).is_file():
            self._load_hybrid(self.folder / HYBRID_NAME)
        self._self_check()

    _PROBE = ("HOT New girl!!!! 💋💋💋💋 sooooo\nCall now 202-555-0143", "call me, sweet ads")

    def _self_check(self) -> None:
        """Embed and score two probe ads once, so that a folder whose parts do not fit together
        (an ONNX graph of another width, a hybrid.json of other features) fails here, with
        one line naming it, and not on a user's first request."""
        try:
            emb = self.embed(list(self._PROBE))
        except InputError:
            raise
        except Exception as exc:
            raise InputError(
                f"the model does not run ({type(exc).__name__}: {_first_line(exc)})",
                path=str(self.folder),
            ) from None
        if emb.shape != (2, self.dimension) or not np.isfinite(emb).all():
            raise InputError(
                f"the network gives embeddings that do not fit {CONFIG_NAME} (shape "
                f"{emb.shape}, embedding_dim {self.dimension}, finite: {bool(np.isfinite(emb).all())})",
                path=str(self.folder),
            )
        if self.hybrid is not None:
            path = self.folder / HYBRID_NAME
            try:
                score = self.hybrid.score_embedded(
                    list(self._PROBE), emb, np.array([0]), np.array([1])
                )
            except Exception as exc:
                raise InputError(
                    f"the hybrid score does not run ({type(exc).__name__}: {_first_line(exc)})",
                    path=str(path),
                ) from None
            if np.shape(score) != (1,) or not np.isfinite(score).all():
                raise InputError(f"the hybrid score gives {score!r:.60}", path=str(path))

    def _load_hybrid(self, path: Path) -> None:
        """The hybrid score of ``hybrid.json`` (needs scikit-learn; loaded only when present)."""
        from adowner.scoring.hybrid import Hybrid

        state = _read_json(path)
        if not isinstance(state, dict):
            raise InputError(f"must hold a JSON object, not {type(state).__name__}", path=str(path))
        self.hybrid_thresholds = read_thresholds(state.get("thresholds"), path, "thresholds")
        try:
            self.hybrid = Hybrid.from_state(state, self, name=f"hybrid:{self.model_id}")
        except InputError as exc:
            raise InputError(str(exc), path=str(path)) from None
        except Exception as exc:  # a missing key or a value of the wrong shape
            raise InputError(
                f"not a hybrid state this version reads ({type(exc).__name__}: {_first_line(exc)})",
                path=str(path),
            ) from None

    # ------------------------------------------------------------------ embedding
    def normalize(self, texts: Sequence[str]) -> list[str]:
        """Apply the model's style normalisation to raw ad texts."""
        return self._normalize(texts)

    def embed(
        self,
        texts: Sequence[str],
        *,
        normalized: bool = False,
        progress: bool = False,
    ) -> np.ndarray:
        """Embed ``texts``: a ``(len(texts), dimension)`` float32 array, rows L2-normalised.

        ``normalized=True`` skips the style normalisation (the texts already went through it).
        Each distinct text is embedded once. Ads are sorted by length and cut into batches of at
        most ``token_budget`` padded word pieces, so a batch of short ads is wide and a batch of
        long ads is narrow.
        """
        if isinstance(texts, str):
            raise TypeError("embed() takes a list of texts, not one string")
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if len(texts) == 0:
            return out
        prepared = list(texts) if normalized else self.normalize(texts)
        # Reposted ads repeat their text word for word (Agora: 8,533 listings, 3,527 distinct
        # texts): each distinct text is embedded once and its row copied to every repeat.
        first: dict[str, int] = {}
        slot = np.fromiter(
            (first.setdefault(t, len(first)) for t in prepared), dtype=np.int64, count=len(prepared)
        )
        unique = list(first)
        encodings = self.tokenizer.encode_batch(unique, add_special_tokens=True)
        lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(encodings))
        order = np.argsort(-lengths, kind="stable")
        batches = list(self._batches(order, lengths))
        from adowner.progress import track

        def run(idx: np.ndarray) -> np.ndarray:
            width = int(lengths[idx[0]])
            ids = np.full((len(idx), width), self.pad_id, dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for row, k in enumerate(idx):
                n = int(lengths[k])
                ids[row, :n] = encodings[k].ids
                mask[row, :n] = 1
            return self._net(ids, mask)

        emb = np.zeros((len(unique), self.dimension), dtype=np.float32)
        # ONNX Runtime releases the GIL in Session.run and a session may be run from several
        # threads at once, so with workers > 1 the batches go to a pool of Python threads.
        results = map(run, batches) if self.workers == 1 else self._executor().map(run, batches)
        for idx, vectors in zip(
            batches,
            track(results, "embedding", total=len(batches), disable=not progress),
            strict=True,
        ):
            emb[idx] = vectors
        finite = np.isfinite(emb).all(axis=1)
        if not finite.all():  # a healthy network never gives NaN or inf: its file is damaged
            raise InputError(
                f"the network gives non-finite embeddings for {int((~finite).sum())} of "
                f"{len(emb)} distinct texts; its file ({self.net_file}) is damaged",
                path=str(self.folder),
            )
        out[:] = emb[slot]
        return out

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="adowner-embed")
        return self._pool

    def _batches(self, order: np.ndarray, lengths: np.ndarray):
        """Cut length-sorted (longest first) indices into batches under the token budget."""
        start = 0
        while start < len(order):
            width = max(int(lengths[order[start]]), 1)
            size = max(1, min(self.max_batch, self.token_budget // width))
            yield order[start : start + size]
            start += size

    # ------------------------------------------------------------------ decisions
    def threshold(self, fpr: float = DEFAULT_FPR) -> float:
        """The cosine threshold calibrated for false-positive rate ``fpr``."""
        if not self.thresholds:
            raise AdownerError(
                f"{self.folder}: no calibrated threshold in {CONFIG_NAME}; export with --data PREPARED_DIR"
            )
        for key, value in self.thresholds.items():
            if abs(key - fpr) < 1e-12:
                return value
        known = ", ".join(f"{k:g}" for k in sorted(self.thresholds))
        raise AdownerError(f"no threshold calibrated for FPR {fpr:g} (have: {known})")

    @property
    def score_kind(self) -> str:
        """``"hybrid"`` when the folder has ``hybrid.json`` (then :meth:`same_owner` gives its
        probability), else ``"cosine"``."""
        return "hybrid" if self.hybrid is not None else "cosine"

    def same_owner(
        self,
        a: str,
        b: str,
        *,
        fpr: float = DEFAULT_FPR,
        location_a: str | None = None,
        location_b: str | None = None,
    ) -> tuple[float, bool]:
        """Same-owner score of two raw ads and whether it clears the threshold at ``fpr``.

        The score is the hybrid probability when the folder has ``hybrid.json``
        (:attr:`score_kind`), else the cosine of the two embeddings. ``location_a`` and
        ``location_b`` (where each ad runs) are used by a hybrid fitted with locations and
        ignored otherwise; without them the pair scores as "location unknown".
        """
        if self.hybrid is not None:
            threshold = _lookup(self.hybrid_thresholds, fpr, self.folder / HYBRID_NAME)
            locations = [location_a or "", location_b or ""]
            pair = np.array([0]), np.array([1])
            score = float(self.hybrid.score_pairs([a, b], *pair, locations=locations)[0])
            return score, score >= threshold
        threshold = self.threshold(fpr)
        emb = self.embed([a, b])
        score = float(np.dot(emb[0], emb[1]))
        return score, score >= threshold

    def __repr__(self) -> str:
        return (
            f"Encoder({str(self.folder)!r}, backend={self.backend!r}, device={self.device!r}, "
            f"precision={self.precision!r}, dim={self.dimension})"
        )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return line if len(line) <= 200 else line[:200] + "..."


def _lookup(thresholds: dict[float, float], fpr: float, where: Path) -> float:
    for key, value in thresholds.items():
        if abs(key - fpr) < 1e-12:
            return value
    known = ", ".join(f"{k:g}" for k in sorted(thresholds)) or "none"
    raise AdownerError(f"{where}: no threshold calibrated for FPR {fpr:g} (have: {known})")


def load(
    path: str | os.PathLike[str],
    *,
    backend: str = "auto",
    threads: int | None = None,
    **kwargs: Any,
) -> Encoder:
    """Load an exported model folder for fast inference (see :class:`Encoder`)."""
    return Encoder(path, backend=backend, threads=threads, **kwargs)
