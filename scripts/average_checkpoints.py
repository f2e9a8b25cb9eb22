#!/usr/bin/env python
"""Average the weights of several training checkpoints into one (checkpoint averaging).

The result is a checkpoint that ``adowner evaluate``, ``compare`` and ``export`` read like any
other (see :func:`adowner.model.checkpoint.average_checkpoints`).

    python scripts/average_checkpoints.py RUN/checkpoints/epoch5.ckpt RUN/checkpoints/epoch6.ckpt \\
        RUN/checkpoints/epoch7.ckpt --out RUN/checkpoints/avg5-7.ckpt
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from adowner._io import atomic_path
from adowner.errors import AdownerError
from adowner.model.checkpoint import average_checkpoints


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoints", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    try:
        ckpt = average_checkpoints(args.checkpoints)
    except AdownerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with atomic_path(args.out) as tmp:
        torch.save(ckpt, tmp)
    print(f"wrote {args.out}: the mean of {len(args.checkpoints)} checkpoints")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
