"""The options of :func:`adowner.load` as command-line arguments (``embed`` and ``serve``).

Kept out of the ``cli`` modules so that no command's module imports another's. Only argparse
at import time; :func:`load_encoder` imports the inference code when it runs.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from adowner.export.inference import Encoder


def add_encoder_args(p: argparse.ArgumentParser) -> None:
    """The options of :func:`adowner.load` (shared by ``embed`` and ``serve``)."""
    p.add_argument("--backend", default="auto", choices=["auto", "onnx", "torch"])
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="cores to use (ONNX: one single-threaded session per core; default: all)",
    )
    p.add_argument(
        "--device",
        default="auto",
        help="auto (CUDA where PyTorch sees a GPU, else the CPU), cpu, cuda or cuda:N "
        "(cuda runs the PyTorch backend)",
    )
    p.add_argument(
        "--precision",
        default="auto",
        choices=["auto", "fp32", "bf16", "fp16"],
        help="PyTorch backend: auto = fp16 on CUDA, bf16 on CPUs with native bf16, else fp32",
    )


def load_encoder(args: argparse.Namespace) -> Encoder:
    """:func:`adowner.load` with the options :func:`add_encoder_args` added."""
    from adowner.export.inference import load

    return load(
        args.model,
        backend=args.backend,
        threads=args.threads,
        device=args.device,
        precision=args.precision,
    )
