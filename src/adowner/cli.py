"""The ``adowner`` command. Each subpackage declares its own subcommands.

A subpackage's ``cli.py`` exposes ``COMMANDS``, a table of :class:`adowner.cli_options.Command`
(name, help, options, handler), which this module adds to the parser; a command tree of its own
(``chain``) may instead expose ``register(subparsers)``. A ``cli.py`` imports only
argparse-level things at module scope (heavy imports such as torch go inside the handler), so
that ``adowner --help`` stays fast. A handler takes the parsed ``argparse.Namespace`` and
returns an exit code (or None for 0).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from adowner import __version__
from adowner.cli_options import add_commands
from adowner.errors import AdownerError

# Order here is the order in ``adowner --help``.
_COMMAND_MODULES = (
    "adowner.simulate.cli",
    "adowner.data.cli",
    "adowner.model.cli",
    "adowner.evaluation.cli",
    "adowner.export.cli",
    "adowner.serve.cli",
    "adowner.chain.cli",
    "adowner.link.cli",
    "adowner.review.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="adowner",
        description="Group classified ads by their true owner (writing style + Bitcoin payments).",
    )
    parser.add_argument("--version", action="version", version=f"adowner {__version__}")
    parser.add_argument("--log-level", default="INFO", help="logging level (default: INFO)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMAND_MODULES:
        module = importlib.import_module(name)
        if hasattr(module, "COMMANDS"):
            add_commands(sub, module.COMMANDS)
        else:
            module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # Nothing leaves the machine unless asked: no telemetry from the libraries we use.
    os.environ.setdefault("WANDB_MODE", "offline")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from adowner.log import setup_logging

    setup_logging(args.log_level)
    try:
        rc = args.func(args)
    except AdownerError as exc:
        print(f"adowner {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"adowner {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
