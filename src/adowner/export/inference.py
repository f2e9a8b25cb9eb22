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
   ``"openvino"``  ``model.onnx`` compiled by OpenVINO, fp32 or     ``openvino``
                 bf16 (CPUs with AVX-512 BF16/AMX)
   ``"auto"``    the fastest exact path on this machine
                 (``adowner.hardware.fastest_exact_path``): torch
                 fp16 on CUDA, OpenVINO bf16 on CPUs with
                 AVX-512 BF16/AMX (torch bf16 autocast without
                 OpenVINO), else ONNX fp32 (``model.onnx``)
   ============  =================================================  =============================

Speed comes from ONNX Runtime with fused BERT kernels (``model_ort.onnx``: attention,
SkipLayerNorm, BiasGelu, written by ``adowner export --onnx``); small length-sorted batches
(at most ``token_budget`` = 512 padded word pieces and 8 ads, so a batch's activations stay
in a core's cache and there is little padding); one single-threaded ONNX Runtime stream per
core (``workers``), each core on its own batches, instead of every core splitting each matrix
product (the PyTorch backend on the CPU does the same with Python threads: x1.2-3 one 2-thread
stream under bf16 on a Zen 4, the more the busier the machine; issue 18); and embedding each distinct text once (reposted
ads). The ONNX network stays fp32: its
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

from adowner.defaults import ENCODER
from adowner.errors import AdownerError, InputError
from adowner.export.folder import (  # noqa: F401 - re-exported: the names callers import
    CONFIG_NAME,
    DEFAULT_FPR,
    DENSE_DIR,
    HYBRID_NAME,
    ONNX_FUSED_NAME,
    ONNX_INT8_NAME,
    ONNX_NAME,
    ModelFolder,
    Thresholds,
    read_config,
)
from adowner.export.folder import first_line as _first_line
from adowner.export.same_owner import SameOwnerScorer
from adowner.hardware import (  # noqa: F401 - re-exported
    PRECISIONS,
    InferencePath,
    fastest_exact_path,
    native_bf16_cpu,
    resolve_precision,
)
from adowner.log import get_logger
from adowner.scoring.vectors import mean_pool

log = get_logger(__name__)

# the folder's file names and the default FPR live with its reader (adowner.export.folder)
# (token budget, max ads) of a batch per backend, measured on Agora and escort ads
# (docs/BENCHMARKS.md): ONNX Runtime is fastest with small batches, one stream per core.
# PyTorch on the CPU, like ONNX Runtime, runs one single-threaded stream per core on batches of
# at most 1,024 word pieces (bf16 on a Zen 4: x1.2 one 2-thread stream of wide batches at load
# 2.7, x3 at load 6-7; issue 18, docs/BENCHMARKS.md); on CUDA one stream of wide batches.
BATCHING = {
    "onnx": (512, 8),
    "openvino": (512, 8),  # measured with the ONNX settings: docs/BENCHMARKS.md, issue 18
    "torch": (1024, 16),
    "torch-cuda": (4096, 64),
}


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


class _OpenVinoBackend:
    """``model.onnx`` compiled by OpenVINO for the CPU: input_ids, attention_mask ->
    L2-normalised embedding (the graph does the pooling and the norm).

    ``precision`` ``bf16`` sets ``INFERENCE_PRECISION_HINT`` (bf16 matrix kernels on CPUs with
    AVX-512 BF16 or AMX; accumulation, softmax and norms stay fp32), ``fp32`` keeps f32. One
    OpenVINO stream per worker, each worker thread with its own infer request (a request is
    not thread-safe; ``infer`` releases the GIL). Only ``openvino.Core`` (the runtime) is used:
    OpenVINO's telemetry lives in its model-conversion tools (``openvino.tools.ovc``), which
    adowner never calls (``tests/test_inference.py`` holds it to that).
    """

    def __init__(self, path: Path, precision: str, threads: int, streams: int) -> None:
        import threading

        import openvino as ov
        import openvino.properties.hint as hints

        config = {
            hints.inference_precision: ov.Type.bf16 if precision == "bf16" else ov.Type.f32,
            "INFERENCE_NUM_THREADS": threads,
            "NUM_STREAMS": streams,
        }
        self.model = ov.Core().compile_model(str(path), "CPU", config)
        self.input_names = {i.get_any_name() for i in self.model.inputs}
        self._local = threading.local()

    def __call__(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        req = getattr(self._local, "request", None)
        if req is None:
            req = self._local.request = self.model.create_infer_request()
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self.input_names:
            feed["token_type_ids"] = np.zeros_like(ids)
        result = req.infer(feed)
        return np.array(next(iter(result.values())), dtype=np.float32)


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
        self.threads = threads  # set by the thread that runs a batch (__call__), not here
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
        # intra-op threads of the thread running this batch (a worker stream: threads // workers)
        if torch.get_num_threads() != self.threads:
            torch.set_num_threads(self.threads)
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
        ``backend``         ``"onnx"``, ``"torch"`` or ``"openvino"``
        ``thresholds``      ``{fpr: cosine threshold}`` calibrated on the validation split
        ``workers``         batches run at once (ONNX: one single-threaded stream per core)
        ``device``          ``"cpu"``, or ``"cuda"``/``"cuda:N"`` (PyTorch backend only)
        ``precision``       ``"fp32"``, ``"bf16"``, ``"fp16"`` or ``"int8"``: what the network
                            computes in
        ``net_file``        the file the network was loaded from (``model_ort.onnx``, ...)
        ``path``            the :class:`~adowner.hardware.InferencePath` taken (``path.name``,
                            e.g. ``torch-bf16-cpu``, and ``path.reason``: why)
        ==================  ===================================================================

        ``threads`` (default: ``ADOWNER_THREADS`` or every core) is the number of cores used;
        ``token_budget`` and ``max_batch`` bound a batch's padded word pieces and ads (defaults per
        backend in :data:`BATCHING`); ``workers`` the batches run at once (ONNX: one
        single-threaded session per core; PyTorch on the CPU: as many Python threads, each with
        ``threads // workers`` intra-op threads; default one a core); ``pad_multiple`` rounds
        each batch's width up to a multiple (static shapes; 1 = pad to the batch's longest ad).

        ``precision`` (PyTorch backend): ``"fp32"``; ``"bf16"``/``"fp16"`` run the network under
        ``torch.autocast``; ``"auto"`` (default) picks fp16 on CUDA, bf16 on a CPU with native bf16
        (AVX-512 BF16 or AMX), else fp32 (see :func:`resolve_precision`). The ONNX backend is fp32,
    or, opt-in, ``"int8"``: ``model_qint8.onnx`` (dynamic int8 weights, written by ``adowner export
    --onnx --int8``; ``"auto"`` never picks it; its quality on real ads is in docs/RESULTS.md).
        ``device="cuda"`` runs the PyTorch backend on a GPU (``backend="auto"`` then means torch);
        ``device="auto"`` (default) is CUDA where PyTorch sees a GPU, else the CPU. With every
        option ``"auto"``, the path is the fastest exact one for this machine
        (:func:`adowner.hardware.fastest_exact_path`).
    """

    def __init__(
        self,
        folder: str | os.PathLike[str] | ModelFolder,
        *,
        backend: str = ENCODER.backend,
        threads: int | None = ENCODER.threads,
        token_budget: int | None = None,
        max_batch: int | None = None,
        workers: int | None = None,
        pad_multiple: int = 1,
        device: str = ENCODER.device,
        precision: str = ENCODER.precision,
    ) -> None:
        from tokenizers import Tokenizer

        model = folder if isinstance(folder, ModelFolder) else ModelFolder.read(folder)
        self.model_folder = model
        self.folder = model.path
        self.config = model.config
        self.model_id: str = model.model_id
        self.dimension = model.embedding_dim
        self.max_length = model.max_length
        self.thresholds: Thresholds = model.thresholds
        try:
            self._normalize = build_normalizer(model.normalization)
        except InputError as exc:
            raise InputError(str(exc), path=str(model.config_path)) from None

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
        self.pad_id = model.pad_token_id

        threads = threads or int(os.environ.get("ADOWNER_THREADS", 0)) or (os.cpu_count() or 1)
        onnx_path = model.onnx_file or self.folder / ONNX_NAME
        # the fastest exact path on this machine, from its capabilities (adowner.hardware)
        self.path: InferencePath = fastest_exact_path(
            backend, device, precision, has_onnx=onnx_path.is_file()
        )
        backend, device = self.path.backend, self.path.device
        self.device = device
        self.precision = "fp32"
        if backend == "onnx":
            if not onnx_path.is_file() and self.path.precision != "int8":
                raise InputError(f"no {ONNX_NAME}; export with --onnx", path=str(self.folder))
            # One single-threaded ONNX Runtime stream per core, each on its own batches, beats
            # one stream with every core on the same batch (figures in docs/BENCHMARKS.md).
            self.workers = max(1, min(workers or threads, threads))
            net_path = model.fused_onnx_file or onnx_path
            if self.path.precision == "int8":  # opt-in: export --onnx --int8 wrote it
                if model.int8_onnx_file is None:
                    raise InputError(
                        f"no {ONNX_INT8_NAME} recorded in {CONFIG_NAME}; export with --onnx --int8",
                        path=str(self.folder / ONNX_INT8_NAME),
                    )
                net_path = model.int8_onnx_file
                self.precision = "int8"
                gate = (self.config.get("onnx") or {}).get("int8_gate") or {}
                if not gate.get("offered"):
                    log.warning(
                        "%s: int8 is %s for this model (adowner.json onnx.int8_gate); "
                        "its same-owner decisions may differ from fp32",
                        self.folder,
                        "not offered" if gate else "not measured on labelled ads",
                    )
            self.net_file = net_path.name
            try:
                self._net: Callable[[np.ndarray, np.ndarray], np.ndarray] = _OnnxBackend(
                    net_path, max(1, threads // self.workers)
                )
            except Exception as exc:  # onnxruntime: InvalidProtobuf, Fail, InvalidGraph, ...
                raise InputError(
                    f"not a loadable ONNX model ({_first_line(exc)})", path=str(net_path)
                ) from None
        elif backend == "openvino":
            if not onnx_path.is_file():
                raise InputError(f"no {ONNX_NAME}; export with --onnx", path=str(self.folder))
            # the ONNX backend's layout (measured best for OpenVINO too: docs/BENCHMARKS.md):
            # one single-threaded stream per core, each on its own batches
            self.workers = max(1, min(workers or threads, threads))
            self.net_file = onnx_path.name  # the plain graph: the fused one is ORT-only
            self.precision = self.path.precision
            try:
                self._net = _OpenVinoBackend(onnx_path, self.precision, threads, self.workers)
            except ImportError:
                raise AdownerError(
                    "backend='openvino' needs the OpenVINO runtime: pip install 'openvino>=2025.1'"
                ) from None
            except Exception as exc:  # openvino: RuntimeError naming the graph's problem
                raise InputError(
                    f"not a model OpenVINO can compile ({_first_line(exc)})", path=str(onnx_path)
                ) from None
        elif backend == "torch":
            # PyTorch's intra-op thread count is process-wide: `workers` streams (Python
            # threads; PyTorch releases the GIL inside its kernels) of threads // workers
            # intra-op threads each, on the CPU (one stream on CUDA)
            cpu = device == "cpu"
            self.workers = max(1, min(workers or threads, threads)) if cpu else 1
            self.net_file = "model.safetensors"
            self.precision = self.path.precision
            try:
                self._net = _TorchBackend(
                    self.folder, max(1, threads // self.workers), device, self.precision
                )
            except AdownerError:
                raise
            except Exception as exc:  # transformers/safetensors: OSError, ValueError, ...
                raise InputError(
                    f"not a loadable PyTorch model ({_first_line(exc)})", path=str(self.folder)
                ) from None
        else:
            raise AdownerError(
                f"unknown backend {backend!r}; use 'auto', 'onnx', 'torch' or 'openvino'"
            )
        self.backend = backend
        default_budget, default_batch = BATCHING[
            "torch-cuda" if backend == "torch" and device != "cpu" else backend
        ]
        self.token_budget = token_budget or default_budget
        self.max_batch = max_batch or default_batch
        self.pad_multiple = max(1, int(pad_multiple))
        self._pool: ThreadPoolExecutor | None = None
        # the folder's same-owner score (the hybrid where it has hybrid.json, else the cosine)
        self.scorer = SameOwnerScorer(model, self)
        self.hybrid: Any = self.scorer.hybrid
        self.hybrid_thresholds: Thresholds = (
            model.hybrid_thresholds if self.hybrid is not None else Thresholds({})
        )
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

        pad = self.pad_multiple

        def run(idx: np.ndarray) -> np.ndarray:
            width = int(lengths[idx[0]])
            if pad > 1:  # static shapes: widths rounded up to a multiple of `pad_multiple`
                width = max(width, min(-(-width // pad) * pad, self.max_length))
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
        return self.thresholds.at(fpr)

    @property
    def score_kind(self) -> str:
        """``"hybrid"`` when the folder has ``hybrid.json`` (then :meth:`same_owner` gives its
        probability), else ``"cosine"``."""
        return self.scorer.kind

    def same_owner_scorer(self, kind: str = "auto") -> SameOwnerScorer:
        """The :class:`SameOwnerScorer` of ``kind`` (``"auto"``, ``"cosine"``, ``"hybrid"``)
        over this encoder; the default one is :attr:`scorer`."""
        return self.scorer.with_kind(kind)

    def same_owner(self, a: str, b: str, **options: Any) -> tuple[float, bool]:
        """Same-owner score of two raw ads and whether it clears the threshold at ``fpr``
        (``fpr=``, ``location_a=``, ``location_b=``: see :meth:`SameOwnerScorer.same_owner`).

        The score is the hybrid probability when the folder has ``hybrid.json``
        (:attr:`score_kind`), else the cosine of the two embeddings. A hybrid fitted with
        locations uses where each ad runs; without them the pair scores as "location unknown".
        """
        return self.scorer.same_owner(a, b, **options)

    def __repr__(self) -> str:
        return (
            f"Encoder({str(self.folder)!r}, backend={self.backend!r}, device={self.device!r}, "
            f"precision={self.precision!r}, path={self.path.name!r}, dim={self.dimension})"
        )


def load(
    path: str | os.PathLike[str] | ModelFolder,
    *,
    backend: str = ENCODER.backend,
    threads: int | None = ENCODER.threads,
    **kwargs: Any,
) -> Encoder:
    """Load an exported model folder for fast inference (see :class:`Encoder`)."""
    return Encoder(path, backend=backend, threads=threads, **kwargs)
