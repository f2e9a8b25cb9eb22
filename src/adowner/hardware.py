"""What this machine can compute fast: decided where the code runs, never hard-coded.

The CPUs this project runs on change from day to day (an AVX2-only Zen 3 one day, a Zen 4/5
with AVX-512 BF16 the next), so every "auto" choice of precision reads the machine it runs on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


def native_bf16_cpu() -> bool:
    """Whether this CPU computes bf16 natively (AVX-512 BF16 or AMX), so autocast pays off.

    Without it PyTorch emulates bf16 matrix products through fp32, which is slower than fp32.
    """
    import torch

    for probe in ("_is_amx_tile_supported", "_is_avx512_bf16_supported"):
        check = getattr(torch.cpu, probe, None)  # private probes; absent in some torch builds
        if check is not None and check():
            return True
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return any(f in flags.split() for f in ("avx512_bf16", "amx_bf16"))


def training_precision(precision: str | None, accelerator: str | None = None) -> str:
    """Lightning's ``precision`` for ``"auto"``: ``bf16-mixed`` where bf16 is native, else fp32.

    On CUDA: ``bf16-mixed`` where the GPU supports bf16, else ``16-mixed``. On a CPU:
    ``bf16-mixed`` with AVX-512 BF16 or AMX (measured 2.5x faster a SupCon step of MiniLM on a
    Zen 5, 1.6x on a Zen 4; docs/BENCHMARKS.md), else ``32-true`` (emulated bf16 is slower than
    fp32). Any other value is returned unchanged.
    """
    if precision not in (None, "auto"):
        return str(precision)
    import torch

    gpu = accelerator in ("gpu", "cuda") or (
        accelerator in (None, "auto") and torch.cuda.is_available()
    )
    if gpu:
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    return "bf16-mixed" if native_bf16_cpu() else "32-true"


PRECISIONS = ("auto", "fp32", "bf16", "fp16", "int8")


def resolve_precision(precision: str, device: str) -> str:
    """The compute precision that ``precision`` means on ``device`` (``"auto"`` resolved).

    ``"auto"``: fp16 on CUDA, bf16 on a CPU with native bf16 (:func:`native_bf16_cpu`), else
    fp32. Reduced precision runs the matrix products under ``torch.autocast``; pooling and the
    L2 norm stay fp32. Its cosine against fp32 is in ``docs/BENCHMARKS.md``.
    """
    from adowner.errors import AdownerError

    if precision not in PRECISIONS:
        raise AdownerError(f"unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}")
    if precision != "auto":
        if precision == "int8":
            raise AdownerError("int8 runs in the ONNX backend only (model_qint8.onnx)")
        if precision == "fp16" and not device.startswith("cuda"):
            raise AdownerError("fp16 runs on CUDA only; on a CPU use 'bf16' or 'fp32'")
        return precision
    if device.startswith("cuda"):
        return "fp16"
    return "bf16" if native_bf16_cpu() else "fp32"


def cpu_flags() -> set[str]:
    """The CPU feature flags of ``/proc/cpuinfo`` that decide inference speed (empty elsewhere)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set()
    wanted = {"avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_tile"}
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return wanted & set(line.split(":", 1)[-1].split())
    return set()


#: the inference backends ``adowner.load`` takes (``auto``: :func:`fastest_exact_path`)
BACKENDS = ("auto", "onnx", "torch", "openvino")


def openvino_available() -> bool:
    """Whether the OpenVINO runtime is installed (it is a dependency of adowner; a trimmed
    install without it falls back to PyTorch bf16 on a native-bf16 CPU)."""
    import importlib.util

    return importlib.util.find_spec("openvino") is not None


@dataclass(frozen=True)
class InferencePath:
    """How :func:`adowner.load` runs the network: ``backend`` (``onnx``/``torch``/``openvino``), ``device``,
    ``precision``, and ``reason``: why this path is the fastest exact one on this machine."""

    backend: str
    device: str
    precision: str
    reason: str

    @property
    def name(self) -> str:
        """Short name, e.g. ``torch-bf16-cpu`` or ``onnx-fp32-cpu``."""
        return f"{self.backend}-{self.precision}-{self.device}"


def fastest_exact_path(
    backend: str = "auto", device: str = "auto", precision: str = "auto", *, has_onnx: bool
) -> InferencePath:
    """The fastest *exact* path (min cosine >= 0.999 against fp32) on the machine this runs on.

    Decided from the machine's capabilities, backed by the figures in ``docs/BENCHMARKS.md``
    ("Embedding throughput", measured against ``SentenceTransformer.encode`` in one run), not
    by a calibration run at load time: on the shared 2-core machines this project runs on the
    ratio between two paths moves by ±20% from round to round, more than the gap a
    few-second calibration would have to resolve, and the order of the paths followed the CPU's
    flags on every machine measured.

    ==============================  ==========================================================
    machine                         path
    ==============================  ==========================================================
    CUDA present (``device=auto``)  PyTorch on CUDA, fp16 autocast
    CPU with AVX-512 BF16 or AMX    OpenVINO bf16 over ``model.onnx`` (Zen 4, idle, fine-tuned
                                    escort model: ×3.3 ST, min cosine 0.99997), else (no
                                    model.onnx or no OpenVINO) PyTorch under bf16 autocast (×2.5)
    any other CPU (AVX2, ...)       ONNX Runtime fp32 with fused kernels (``model.onnx``
                                    present), else PyTorch fp32
    ``precision="int8"`` (opt-in)   ONNX Runtime dynamic int8 (``model_qint8.onnx``); never
                                    chosen by ``"auto"``
    ==============================  ==========================================================

    An explicit ``backend``, ``device`` or ``precision`` is kept (and checked): the path is
    then the one asked for, and ``reason`` says so.
    """
    from adowner.errors import AdownerError

    if precision not in PRECISIONS:
        raise AdownerError(f"unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}")
    if backend not in BACKENDS:
        raise AdownerError(f"unknown backend {backend!r}; use one of {', '.join(BACKENDS)}")
    if device == "auto":
        import torch

        onnx = backend in ("onnx", "openvino") or precision == "int8"
        device = "cuda" if torch.cuda.is_available() and not onnx else "cpu"
    if not (device == "cpu" or device.startswith("cuda")):
        raise AdownerError(f"unknown device {device!r}; use 'auto', 'cpu', 'cuda' or 'cuda:N'")
    if precision == "int8":  # opt-in only: "auto" never picks it (docs/RESULTS.md, issue 18)
        if backend == "torch" or device != "cpu":
            raise AdownerError(
                "precision='int8' runs the folder's model_qint8.onnx in ONNX Runtime on the "
                f"CPU; not backend={backend!r}, device={device!r}"
            )
        return InferencePath("onnx", "cpu", "int8", "asked for (precision='int8'): ONNX int8")
    if backend == "openvino":
        if device != "cpu" or precision not in ("auto", "fp32", "bf16"):
            raise AdownerError(
                "the OpenVINO backend runs fp32 or bf16 on the CPU; not "
                f"device={device!r}, precision={precision!r}"
            )
        if not has_onnx:
            raise AdownerError("the OpenVINO backend compiles model.onnx; export with --onnx")
        if precision == "bf16" and not native_bf16_cpu():
            raise AdownerError("OpenVINO bf16 needs a CPU with native bf16 (AVX-512 BF16 or AMX)")
        resolved = "bf16" if precision == "auto" and native_bf16_cpu() else precision
        resolved = "fp32" if resolved == "auto" else resolved
        return InferencePath("openvino", "cpu", resolved, "asked for (backend='openvino')")
    if backend == "onnx":
        if device != "cpu" or precision not in ("auto", "fp32"):
            raise AdownerError(
                "the ONNX backend runs fp32 on the CPU; use backend='torch' for "
                f"device={device!r}, precision={precision!r}"
            )
        return InferencePath("onnx", "cpu", "fp32", "asked for (backend='onnx')")
    if device.startswith("cuda"):
        resolved = resolve_precision(precision, device)
        why = "CUDA device" if precision == "auto" else f"asked for (precision={precision!r})"
        return InferencePath("torch", device, resolved, why)
    flags = sorted(cpu_flags() & {"avx512_bf16", "amx_bf16"})
    bf16 = native_bf16_cpu()
    if backend == "auto" and precision in ("auto", "bf16") and bf16:
        why = f"CPU has native bf16 ({', '.join(flags) or 'torch.cpu probe'})"
        if has_onnx and openvino_available():
            return InferencePath("openvino", "cpu", "bf16", f"{why}: OpenVINO bf16")
        return InferencePath("torch", "cpu", "bf16", f"{why}: PyTorch bf16 autocast")
    if backend == "auto" and precision in ("auto", "fp32") and has_onnx:
        why = "no native bf16 on this CPU" if precision == "auto" else "fp32 asked for"
        return InferencePath("onnx", "cpu", "fp32", f"{why}: ONNX Runtime fp32")
    resolved = resolve_precision(precision, device)
    if backend == "torch":
        why = f"asked for (backend='torch', precision={precision!r})"
    elif not has_onnx and precision in ("auto", "fp32"):
        why = "no model.onnx in the folder: PyTorch"
    else:
        why = f"asked for (precision={precision!r})"
    return InferencePath("torch", "cpu", resolved, why)
