"""What this machine can compute fast: decided where the code runs, never hard-coded.

The CPUs this project runs on change from day to day (an AVX2-only Zen 3 one day, a Zen 4/5
with AVX-512 BF16 the next), so every "auto" choice of precision reads the machine it runs on.
"""

from __future__ import annotations

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


PRECISIONS = ("auto", "fp32", "bf16", "fp16")


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
        if precision == "fp16" and not device.startswith("cuda"):
            raise AdownerError("fp16 runs on CUDA only; on a CPU use 'bf16' or 'fp32'")
        return precision
    if device.startswith("cuda"):
        return "fp16"
    return "bf16" if native_bf16_cpu() else "fp32"
