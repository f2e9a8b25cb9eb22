"""YAML experiment configs: a ``defaults:`` list composing files split by concern, plus overrides.

A small stand-in for Hydra's composition (Hydra and OmegaConf are not dependencies here), in the
layout of lightning-hydra-template::

    configs/
      data/agora.yaml  model/minilm.yaml  trainer/cpu.yaml  logger/default.yaml
      experiment/minilm-agora.yaml        # defaults: [{data: agora}, {model: minilm}, ...]

The experiment is a path or a packaged name (``ads``, ``experiment/ads``:
:func:`adowner.resources.resolve_config`). Composition: each ``{group: name}`` entry of
``defaults`` loads ``<group>/<name>.yaml`` into ``cfg[group]``, from the experiment file's
parent's parent when that has it, else from the packaged configs (so a config of one's own can
use the shipped groups); then the experiment file's own keys are merged on top (dicts merge
recursively, everything else replaces).

Overrides (:func:`apply_overrides`), as on the ``adowner train`` command line:

=============================  ================================================================
form                           meaning
=============================  ================================================================
``key.sub=value``              set a key of the composed config (``trainer.max_epochs=2``,
                               ``model.lr=3e-5``, ``model.encoder.normalizer.enabled=false``)
``group=name``                 replace a whole group by ``<group>/<name>.yaml`` (found as above)
                               (``logger=wandb-online``, ``logger=none``)
``+key.sub=value``             add a key the composed config lacks (Hydra's ``+``)
``++key.sub=value``            set or add, without the type check
``model.loss=NAME``            a section with a ``name`` (``model.loss``, ``model.miner``): pick
                               another entry, with its defaults; ``model.loss={name: ntxent,
                               temperature: 0.1}`` with arguments (the same name merges);
                               ``model.loss.name=NAME`` too drops the old entry's arguments
=============================  ================================================================

A value is parsed as a user writes it, not as YAML 1.1 (which reads ``3e-5`` as a string and
``00:10:00`` as a number): integers, floats (``3e-5``, ``1E-4``, ``.5``, ``inf``), ``true`` /
``false``, ``null`` / ``~``, a ``[...]`` or ``{...}`` list or mapping, a quoted string, and
anything else as the string written. It must fit the key: a number where the composed value is
a number (an integer where it is an integer), a boolean where it is a boolean; a key whose value
is a string takes the text as written, ``null`` is always allowed. A key the composed config
lacks is accepted where the code that reads that section takes it (a ``lightning.Trainer``
argument under ``trainer``, an :class:`~adowner.model.module.AuthorshipModule` argument under
``model``, ...: :data:`SECTION_KEYS`); anything else needs ``+``. A bad override is one
``InputError`` line naming the key.

Example::

    cfg = load_config("tiny", ["trainer.max_epochs=1", "logger=none"])
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from adowner.errors import InputError
from adowner.resources import config_root, resolve_config

GROUPS = ("data", "model", "trainer", "logger")


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("config file not found", path=str(path)) from None
    except yaml.YAMLError as exc:
        raise InputError(f"invalid YAML: {exc}".splitlines()[0], path=str(path)) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError("a config file must hold a mapping", path=str(path))
    return data


def merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge ``top`` onto ``base`` (a new dict; ``base`` is not changed)."""
    out = copy.deepcopy(dict(base))
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _roots(own: Path) -> list[Path]:
    """Where group files are looked up: the config's own tree, then the packaged configs."""
    packaged = config_root()
    return [own] if own.resolve() == packaged.resolve() else [own, packaged]


def _find_group_file(roots: Sequence[Path], group: str, name: str) -> Path | None:
    paths = (root / group / f"{name}.yaml" for root in roots)
    return next((p for p in paths if p.is_file()), None)


def _group_file(roots: Sequence[Path], group: str, name: str) -> Path:
    found = _find_group_file(roots, group, name)
    if found is not None:
        return found
    choices = sorted({p.stem for root in roots for p in (root / group).glob("*.yaml")})
    raise InputError(
        f"no {group} config {name!r} (choices: {', '.join(choices)})",
        path=str(roots[0] / group / f"{name}.yaml"),
    )


def compose(path: str | Path) -> dict[str, Any]:
    """Load one experiment (a path or a packaged name) with its ``defaults`` (group files from
    its parent's parent, else the packaged configs)."""
    path = resolve_config(path)
    own = _read_yaml(path)
    roots = _roots(path.resolve().parent.parent)
    cfg: dict[str, Any] = {}
    for entry in own.pop("defaults", None) or []:
        if not isinstance(entry, Mapping) or len(entry) != 1:
            raise InputError(
                f"defaults entries are {{group: name}}, got {entry!r}",
                path=str(path),
                field="defaults",
            )
        ((group, name),) = entry.items()
        cfg[group] = merge(cfg.get(group, {}), _read_yaml(_group_file(roots, group, str(name))))
    cfg = merge(cfg, own)
    cfg["_config_root"] = str(roots[0])
    return cfg


# ------------------------------------------------------------------ overrides

_INT = re.compile(r"[-+]?\d[\d_]*")
_FLOAT = re.compile(r"[-+]?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?|[-+]?\.?(inf|nan)", re.IGNORECASE)
_NULLS = {"null", "~", "none"}
_BOOLS = {"true": True, "false": False}


def parse_value(raw: str) -> Any:
    """An override's value as a user writes it (see the module docstring)."""
    text = raw.strip()
    if not text:
        return None
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    low = text.lower()
    if low in _NULLS:
        return None
    if low in _BOOLS:
        return _BOOLS[low]
    if _INT.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text):
        return float(re.sub(r"\.(?=inf|nan)", "", low))
    if text[0] in "[{":
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ValueError(f"not a YAML list or mapping ({exc.__class__.__name__})") from None
        return _reparse(value)
    return text


def _reparse(value: Any) -> Any:
    """YAML 1.1's strings that a user means as numbers (``[3e-5, 1e-4]``), parsed again."""
    if isinstance(value, str):
        return parse_value(value) if _FLOAT.fullmatch(value.strip()) else value
    if isinstance(value, list):
        return [_reparse(v) for v in value]
    if isinstance(value, dict):
        return {k: _reparse(v) for k, v in value.items()}
    return value


def _signature_keys(target: str, exclude: Sequence[str] = ()) -> Callable[[], set[str]]:
    """The keyword arguments of ``module:Class`` (imported only when a new key asks)."""

    def keys() -> set[str]:
        import importlib
        import inspect

        module, _, name = target.partition(":")
        obj = getattr(importlib.import_module(module), name)
        params = inspect.signature(obj.__init__).parameters.values()
        named = {p.name for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}
        return named - {"self", *exclude}

    return keys


def _normalizer_keys() -> set[str]:
    from dataclasses import fields

    from adowner.text.normalize import NormalizerConfig

    return {f.name for f in fields(NormalizerConfig)}


def _registry(module: str, name: str) -> Any:
    """A registry of ``adowner.model.<module>`` (imported only when a new key asks)."""
    import importlib

    return getattr(importlib.import_module(f"adowner.model.{module}"), name)


def _logger_keys(name: str) -> Callable[[], set[str]]:
    return lambda: set(_registry("callbacks", "LOGGERS").arguments(name))


#: The keys a section may take though the composed config lacks them: what the code that reads
#: the section accepts (``adowner.model.train``). Arguments that ``train`` sets itself are left
#: out (passing them again would be an error).
SECTION_KEYS: dict[str, tuple[str, Callable[[], set[str]]]] = {
    "": (
        "adowner.model.train",
        lambda: {*GROUPS, "seed", "threads", "callbacks", "test_file", "test_after_fit"},
    ),
    "callbacks": (
        "adowner.model.train",
        lambda: {
            "last_every_n_steps",
            "early_stopping_patience",
            "select",
            "keep_every_epoch",
            "extra",
        },
    ),
    "trainer": (
        "lightning.Trainer",
        _signature_keys(
            "lightning:Trainer",
            ("default_root_dir", "callbacks", "logger", "plugins", "use_distributed_sampler"),
        ),
    ),
    "model": (
        "AuthorshipModule",
        _signature_keys("adowner.model.module:AuthorshipModule", ("evaluator",)),
    ),
    "model.loss": ("the losses", lambda: {"name", *_registry("losses", "LOSSES").all_arguments()}),
    "model.miner": ("the miners", lambda: {"name", *_registry("losses", "MINERS").all_arguments()}),
    "model.encoder": (
        "AuthorshipEncoder",
        _signature_keys("adowner.model.encoder:AuthorshipEncoder"),
    ),
    "model.encoder.normalizer": ("NormalizerConfig", _normalizer_keys),
    "data": (
        "AdDataModule",
        _signature_keys(
            "adowner.model.datamodule:AdDataModule",
            ("data_dir", "tokenizer", "normalizer", "cache_dir", "max_length", "seed", "test_file"),
        ),
    ),
    "logger": ("the loggers", lambda: set(_registry("callbacks", "LOGGERS").names())),
    **{
        f"logger.{name}": (f"the {name} logger", _logger_keys(name))
        for name in ("csv", "wandb", "tensorboard")
    },
}

#: Keys that Lightning takes in several types (``devices=2``, ``devices=auto``, ``[0, 1]``).
ANY_TYPE = frozenset(
    {"trainer.devices", "trainer.precision", "trainer.strategy", "trainer.max_time"}
)

_MISSING = object()


def _leaf_paths(node: Mapping[str, Any], prefix: str = "") -> list[str]:
    out = []
    for k, v in node.items():
        if str(k).startswith("_"):
            continue
        path = f"{prefix}{k}"
        out.append(path)
        if isinstance(v, Mapping):
            out.extend(_leaf_paths(v, path + "."))
    return out


def _unknown(cfg: Mapping[str, Any], key: str, value_text: str, section: str) -> InputError:
    import difflib

    # not the key's own sections: "trainer" is no suggestion for "trainer.foo"
    known = [k for k in _leaf_paths(cfg) if not key.startswith(k + ".")]
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.75)
    if not close:  # the same last part elsewhere: model.normalizer.x -> model.encoder.normalizer.x
        tail = key.rsplit(".", 1)[-1]
        close = [k for k in known if k.endswith("." + tail) or k == tail][:1]
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    where = SECTION_KEYS.get(section)
    takes = f"; {where[0]} does not take it" if where and section else ""
    return InputError(
        f"unknown config key{hint}{takes}; to add a new key write +{key}={value_text}",
        field=key,
    )


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, Mapping):
        return "a section of keys"
    return "a string"


def _typed(key: str, old: Any, new: Any, raw: str) -> Any:
    """``new`` made to fit the composed value ``old``; ``InputError`` naming the key if not."""
    if new is None or old is None or key in ANY_TYPE:
        return new
    ok: bool
    if isinstance(old, bool):
        ok = isinstance(new, bool)
    elif isinstance(old, int):
        ok = isinstance(new, int) and not isinstance(new, bool)
    elif isinstance(old, float):
        ok = isinstance(new, int | float) and not isinstance(new, bool)
        new = float(new) if ok else new
    elif isinstance(old, str):
        if isinstance(new, str):
            return new
        if isinstance(new, list | dict):
            ok = False
        else:
            return raw.strip()  # a number or flag where the config has text: the text as written
    elif isinstance(old, list | tuple):
        ok = isinstance(new, list)
    elif isinstance(old, Mapping):
        if "name" in old and isinstance(new, str):  # a registry section: another entry
            return {"name": new}
        if (
            "name" in old
            and isinstance(new, Mapping)
            and new.get("name", old["name"]) != old["name"]
        ):
            return dict(new)  # another entry: the old one's arguments would not fit it
        if isinstance(new, Mapping):
            return merge(old, new)
        ok = False
    else:
        ok = True
    if not ok:
        shown = raw.strip() if len(raw.strip()) <= 60 else raw.strip()[:60] + "..."
        if isinstance(old, Mapping):
            has = f"set one of its keys: {', '.join(f'{key}.{k}' for k in list(old)[:4])}"
        else:
            has = f"the config has {_show(old)}"
        raise InputError(f"expects {_kind(old)} ({has}), got {shown!r}", field=key)
    return new


def _show(value: Any) -> str:
    """A config value as YAML writes it (``true``, ``null``, ``3.0e-05``), on one line."""
    text = yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()
    text = text.removesuffix("...").strip()
    return text if len(text) <= 60 else text[:60] + "..."


def apply_overrides(cfg: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Apply command-line overrides (forms and checks in the module docstring)."""
    cfg = copy.deepcopy(cfg)
    for item in overrides:
        key, sep, raw = str(item).partition("=")
        key = key.strip()
        add = force = False
        if key.startswith("++"):
            key, force = key[2:], True
        elif key.startswith("+"):
            key, add = key[1:], True
        parts = key.split(".")
        if not sep or not key or any(not p.strip() for p in parts):
            raise InputError(f"override {item!r} is not key=value", field="overrides")
        if any(p.startswith("_") for p in parts):
            raise InputError("keys starting with '_' are internal", field=key)
        if key in GROUPS and "_config_root" in cfg and not (add or force):
            roots, name = _roots(Path(cfg["_config_root"])), raw.strip()
            found = _find_group_file(roots, key, name) if name and "/" not in raw else None
            if found is not None:
                cfg[key] = _read_yaml(found)
                continue
            if isinstance(cfg.get(key), Mapping):
                _group_file(roots, key, name)  # raises with choices
        try:
            value = parse_value(raw)
        except ValueError as exc:
            raise InputError(f"cannot parse {raw!r}: {exc}", field=key) from None
        node: dict[str, Any] = cfg
        for depth, part in enumerate(parts[:-1]):
            child = node.get(part, _MISSING)
            if child is _MISSING or child is None:
                section = ".".join(parts[:depth])
                if not (add or force or _takes(section, part)):
                    raise _unknown(cfg, key, raw, section)
                node[part] = child = {}
            if not isinstance(child, dict):
                where = ".".join(parts[: depth + 1])
                raise InputError(f"{where!r} is a value ({_show(child)}), not a section", field=key)
            node = child
        last, section = parts[-1], ".".join(parts[:-1])
        old = node.get(last, _MISSING)
        if old is _MISSING:
            if not (add or force or _takes(section, last)):
                raise _unknown(cfg, key, raw, section)
            node[last] = value
        elif add:
            raise InputError(
                f"already in the config ({_show(old)}); drop the + to change it", field=key
            )
        else:
            new = value if force else _typed(key, old, value, raw)
            if last == "name" and isinstance(old, str) and new != old:
                node.clear()  # another entry of a named section: the old one's arguments go
            node[last] = new
    return cfg


def _takes(section: str, name: str) -> bool:
    """Whether the code reading ``section`` accepts the key ``name`` (:data:`SECTION_KEYS`)."""
    entry = SECTION_KEYS.get(section)
    return entry is not None and name in entry[1]()


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """Compose an experiment config and apply command-line overrides."""
    return apply_overrides(compose(path), overrides)


def to_yaml(cfg: Mapping[str, Any]) -> str:
    """The resolved config as YAML (private keys starting with ``_`` left out)."""
    return yaml.safe_dump(
        {k: v for k, v in cfg.items() if not str(k).startswith("_")}, sort_keys=False
    )
