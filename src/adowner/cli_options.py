"""Subcommands as data: a :class:`Command` table a subpackage, and the options commands share.

A subpackage's ``cli.py`` declares ``COMMANDS``, a tuple of :class:`Command` (name, help, the
handler and its :class:`Option` list); :mod:`adowner.cli` adds them to the top-level parser in
one place (:func:`add_commands`), so no ``cli.py`` repeats ``add_parser``/``add_argument``. An
option that several commands take (``--out``, ``--data``, ``--config``, ``--model``,
``--seed``, ``--fpr``, ``--no-progress``, the options of :func:`adowner.load`) is built here
once, its default read from :mod:`adowner.defaults`; a command passes only its own help text.

Only argparse and :mod:`adowner.defaults` at import time: ``adowner --help`` stays fast, and the
handlers import their heavy modules when they run. The tables are argparse's own arguments
(``ArgumentParser.add_argument``, ``add_mutually_exclusive_group``,
https://docs.python.org/3/library/argparse.html), kept as frozen dataclasses.

>>> cmd = Command("hello", "say hello", run=lambda a: 0, options=(out("where"), seed()))
>>> parser = argparse.ArgumentParser()
>>> add_commands(parser.add_subparsers(), [cmd])
>>> parser.parse_args(["hello", "--out", "x"]).out
'x'
"""

from __future__ import annotations

import argparse
import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from adowner.defaults import ENCODER, LINK

Handler = Callable[[argparse.Namespace], "int | None"]
Subparsers = argparse._SubParsersAction  # argparse's type of ``add_subparsers()``


@dataclass(frozen=True)
class Option:
    """One ``add_argument(*flags, **kwargs)``."""

    flags: tuple[str, ...]
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    def add_to(self, parser: argparse.ArgumentParser | argparse._ActionsContainer) -> None:
        parser.add_argument(*self.flags, **self.kwargs)

    @property
    def dest(self) -> str:
        """The attribute argparse stores the option in (its rule: ``dest``, else the first long
        flag, else the first flag, without dashes, ``-`` as ``_``)."""
        if "dest" in self.kwargs:
            return str(self.kwargs["dest"])
        name = next((f for f in self.flags if f.startswith("--")), self.flags[0])
        return name.lstrip("-").replace("-", "_")

    @property
    def default(self) -> Any:
        """The value argparse stores when the option is not given (before ``set_defaults``)."""
        if "default" in self.kwargs:
            return self.kwargs["default"]
        return False if self.kwargs.get("action") == "store_true" else None


def opt(*flags: str, **kwargs: Any) -> Option:
    """``Option(flags, kwargs)``, written as ``add_argument`` is called."""
    return Option(flags, kwargs)


def flag(name: str, help: str) -> Option:
    """A switch: ``--name`` sets ``True`` (``action="store_true"``)."""
    return opt(name, action="store_true", help=help)


@dataclass(frozen=True)
class OneOf:
    """Options of which at most one (``required``: exactly one) may be given."""

    options: tuple[Option, ...]
    required: bool = False

    def add_to(self, parser: argparse.ArgumentParser) -> None:
        group = parser.add_mutually_exclusive_group(required=self.required)
        for o in self.options:
            o.add_to(group)


@dataclass(frozen=True)
class Command:
    """One subcommand: its ``add_parser`` arguments, options, handler and default values."""

    name: str
    help: str
    run: Handler
    options: Sequence[Option | OneOf] = ()
    description: str | None = None
    epilog: str | None = None
    raw_description: bool = False  # keep the epilog's line breaks
    defaults: Mapping[str, Any] = field(default_factory=dict)  # set_defaults, e.g. LINK's fields

    def add_to(self, sub: Subparsers) -> argparse.ArgumentParser:
        extra: dict[str, Any] = {}
        if self.raw_description:
            extra["formatter_class"] = argparse.RawDescriptionHelpFormatter
        p: argparse.ArgumentParser = sub.add_parser(
            self.name, help=self.help, description=self.description, epilog=self.epilog, **extra
        )
        for o in self.options:
            o.add_to(p)
        p.set_defaults(func=self.run, **self.defaults)
        return p


def add_commands(sub: Subparsers, commands: Iterable[Command]) -> None:
    """Add every command of ``commands`` to ``sub`` (the top-level parser's subparsers)."""
    for c in commands:
        c.add_to(sub)


def arguments(fn: Callable[..., Any], args: argparse.Namespace, **given: Any) -> dict[str, Any]:
    """The keyword arguments of ``fn`` that the command line holds, for ``fn(**arguments(...))``.

    Each parameter of ``fn`` named as an option's ``dest`` takes that option's value; ``given``
    adds or replaces (an option named otherwise, ``not args.no_x``, a parsed value). Options
    are named as the function's parameters (and :mod:`adowner.defaults`' fields), so the
    mapping is written once, not as a ``name=args.name`` line a parameter in every handler.
    """
    names = inspect.signature(fn).parameters
    taken = {n: getattr(args, n) for n in names if n not in given and hasattr(args, n)}
    return {**taken, **given}


# --- options several commands share ------------------------------------------------------------


def out(help: str, **kwargs: Any) -> Option:
    """``--out`` (required): where the command writes."""
    return opt("--out", required=True, help=help, **kwargs)


def data(help: str, *, required: bool = True) -> Option:
    """``--data``: the input ads or prepared folder."""
    return opt("--data", required=required, help=help)


def config(help: str, *, required: bool = False) -> Option:
    """``--config``: a packaged config's name or a YAML path."""
    return opt("--config", required=required, help=help)


def model(help: str = "exported model folder") -> Option:
    """``--model`` (required)."""
    return opt("--model", required=True, help=help)


def seed(help: str | None = None) -> Option:
    """``--seed`` (its default from the command's :mod:`adowner.defaults` object)."""
    return opt("--seed", type=int, help=help)


def fpr(help: str) -> Option:
    """``--fpr``: the false-positive rate of a calibrated threshold (default ``LINK.fpr``)."""
    return opt("--fpr", type=float, default=LINK.fpr, help=help)


def no_progress(help: str = "no progress bars") -> Option:
    """``--no-progress``: the command's quiet switch (no progress bars)."""
    return flag("--no-progress", help)


#: the options of :func:`adowner.load` (``embed`` and ``serve``); defaults from ``ENCODER``
ENCODER_OPTIONS: tuple[Option, ...] = (
    opt("--backend", default=ENCODER.backend, choices=["auto", "onnx", "torch", "openvino"]),
    opt(
        "--threads",
        type=int,
        default=ENCODER.threads,
        help="cores to use (ONNX: one single-threaded session per core; default: all)",
    ),
    opt(
        "--device",
        default=ENCODER.device,
        help="auto (CUDA where PyTorch sees a GPU, else the CPU), cpu, cuda or cuda:N "
        "(cuda runs the PyTorch backend)",
    ),
    opt(
        "--precision",
        default=ENCODER.precision,
        choices=["auto", "fp32", "bf16", "fp16", "int8"],
        help="auto = fp16 on CUDA, bf16 on CPUs with native bf16 (OpenVINO, or PyTorch), else fp32; "
        "int8 (opt-in) = the folder's model_qint8.onnx in ONNX Runtime",
    ),
)


def commas(text: str) -> list[str]:
    """``"a, b,,c"`` -> ``["a", "b", "c"]``: a comma-separated option's items."""
    return [s.strip() for s in text.split(",") if s.strip()]
