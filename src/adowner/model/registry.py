"""A small registry: a config section's ``name`` picks a factory, its other keys are the arguments.

The training config chooses its loss, miner, callbacks and loggers by name
(``model.loss: {name: supcon, temperature: 0.07}``), as Hydra's ``_target_`` would, but from a
closed list: each entry is a factory whose keyword arguments (and their defaults) are the keys
the section may hold. A bad name is one :class:`~adowner.errors.InputError` line listing the
choices; an unknown argument, or a value of the wrong type, is one line naming the entry.

Names match forgivingly: case, ``-`` and ``_`` do not count, nor a trailing kind
(``MultiSimilarityMiner``, ``multi-similarity`` and ``multi_similarity`` are one miner).

Example::

    LOSSES = Registry("loss", "model.loss")

    @LOSSES.register("SupConLoss", aliases=("supcon",))
    def _supcon(temperature: float = 0.07) -> Any: ...

    loss = LOSSES.build({"name": "supcon", "temperature": 0.05})
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

from adowner.errors import InputError

T = TypeVar("T")

Spec = str | Mapping[str, Any] | None


class Registry(Generic[T]):
    """Named factories of one kind. ``context`` leading positional arguments are not config keys."""

    def __init__(self, kind: str, field: str, *, context: int = 0) -> None:
        self.kind, self.field, self.context = kind, field, context
        self._entries: dict[str, Callable[..., T]] = {}
        self._keys: dict[str, str] = {}  # matching key -> canonical name

    def _key(self, name: str) -> str:
        key = re.sub(r"[^0-9a-z]", "", name.lower())
        suffix = re.sub(r"[^0-9a-z]", "", self.kind.lower())
        return key.removesuffix(suffix) or key

    def register(
        self, name: str, *, aliases: tuple[str, ...] = ()
    ) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator: add ``factory`` under ``name`` (and its aliases)."""

        def add(factory: Callable[..., T]) -> Callable[..., T]:
            for key in {self._key(n) for n in (name, *aliases)}:
                if key in self._keys:
                    raise ValueError(f"{self.kind} {name!r} clashes with {self._keys[key]!r}")
                self._keys[key] = name
            self._entries[name] = factory
            return factory

        return add

    def names(self) -> list[str]:
        """The canonical names, in registration order."""
        return list(self._entries)

    def canonical(self, name: Any, *, field: str | None = None) -> str:
        """The registered name that ``name`` matches, or one ``InputError`` listing the choices."""
        found = self._keys.get(self._key(name)) if isinstance(name, str) else None
        if found is None:
            raise InputError(
                f"unknown {self.kind} {name!r}; one of {', '.join(self.names())}",
                field=field or self.field,
            )
        return found

    def arguments(self, name: str) -> dict[str, Any]:
        """The config keys an entry takes, with their defaults (``inspect.Parameter.empty``: none)."""
        params = list(inspect.signature(self._entries[self.canonical(name)]).parameters.values())
        return {p.name: p.default for p in params[self.context :]}

    def all_arguments(self) -> set[str]:
        """Every key any entry takes (for the config's override checks)."""
        return {k for name in self._entries for k in self.arguments(name)}

    def parse(self, spec: Spec, *, field: str | None = None) -> tuple[str, dict[str, Any]]:
        """``(canonical name, checked keyword arguments)`` of a name or ``{name: ..., **kwargs}``."""
        field = field or self.field
        if isinstance(spec, Mapping):
            kwargs = {str(k): v for k, v in spec.items()}
            name = kwargs.pop("name", None)
        else:
            name, kwargs = spec, {}
        canonical = self.canonical(name, field=field)
        takes = self.arguments(canonical)
        for key, value in list(kwargs.items()):
            if key not in takes:
                shown = ", ".join(takes) or "no arguments"
                raise InputError(
                    f"{canonical}: unknown argument {key!r} (takes: {shown})", field=field
                )
            kwargs[key] = _fit(canonical, key, takes[key], value, field)
        missing = [k for k, d in takes.items() if d is inspect.Parameter.empty and k not in kwargs]
        if missing:
            raise InputError(f"{canonical}: needs {', '.join(missing)}", field=field)
        return canonical, kwargs

    def build(self, spec: Spec, *context: Any, field: str | None = None) -> T:
        """The object that ``spec`` names, built with its arguments (after ``context``)."""
        name, kwargs = self.parse(spec, field=field)
        return self._entries[name](*context, **kwargs)


def _fit(entry: str, key: str, default: Any, value: Any, field: str) -> Any:
    """``value`` checked against the type of the argument's default (ints pass as floats)."""
    if value is None or default is None or default is inspect.Parameter.empty:
        return value
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int | float):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if ok and isinstance(default, float):
            value = float(value)
        elif ok:
            ok = isinstance(value, int)
    else:
        ok = isinstance(value, type(default))
    if not ok:
        raise InputError(
            f"{entry}: {key} expects a value like {default!r}, got {value!r}", field=field
        )
    return value
