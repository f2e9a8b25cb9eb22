""":func:`adowner.load` from the parsed options of ``embed`` and ``serve``.

The options themselves are ``adowner.cli_options.ENCODER_OPTIONS`` (their defaults
``adowner.defaults.ENCODER``, which :class:`~adowner.export.inference.Encoder` reads too). Kept
out of the ``cli`` modules so that no command's module imports another's; only argparse at
import time, the inference code when :func:`load_encoder` runs.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from adowner.export.inference import Encoder


def load_encoder(args: argparse.Namespace, **options: Any) -> Encoder:
    """:func:`adowner.load` with the options of ``ENCODER_OPTIONS`` (and ``options``, passed on
    to :class:`adowner.export.inference.Encoder`, e.g. ``pad_multiple``)."""
    from adowner.export.inference import load

    return load(
        args.model,
        backend=args.backend,
        threads=args.threads,
        device=args.device,
        precision=args.precision,
        **options,
    )
