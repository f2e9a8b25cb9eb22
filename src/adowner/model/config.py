"""YAML experiment configs: a ``defaults:`` list composing files split by concern, plus overrides.

A small stand-in for Hydra's composition (Hydra and OmegaConf are not dependencies here), in the
layout of lightning-hydra-template::

    configs/
      data/agora.yaml  model/minilm.yaml  trainer/cpu.yaml  logger/default.yaml
      experiment/minilm-agora.yaml        # defaults: [{data: agora}, {model: minilm}, ...]

Composition: each ``{group: name}`` entry of ``defaults`` loads ``configs/<group>/<name>.yaml``
into ``cfg[group]``; then the experiment file's own keys are merged on top (dicts merge
recursively, everything else replaces). Overrides are ``key.sub=value`` strings, the value parsed
as YAML (``trainer.max_epochs=2``, ``model.normalizer.enabled=false``); ``group=name`` for a
config group replaces the whole group (``logger=wandb-online``, ``logger=none``).

Example::

    cfg = load_config("configs/experiment/tiny.yaml", ["trainer.max_epochs=1", "logger=none"])
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from adowner.errors import InputError

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


def _group_file(root: Path, group: str, name: str) -> Path:
    path = root / group / f"{name}.yaml"
    if not path.is_file():
        choices = sorted(p.stem for p in (root / group).glob("*.yaml"))
        raise InputError(
            f"no {group} config {name!r} (choices: {', '.join(choices)})", path=str(path)
        )
    return path


def compose(path: str | Path) -> dict[str, Any]:
    """Load one experiment file with its ``defaults`` (group files live in its parent's parent)."""
    path = Path(path)
    own = _read_yaml(path)
    root = path.resolve().parent.parent
    cfg: dict[str, Any] = {}
    for entry in own.pop("defaults", None) or []:
        if not isinstance(entry, Mapping) or len(entry) != 1:
            raise InputError(
                f"defaults entries are {{group: name}}, got {entry!r}",
                path=str(path),
                field="defaults",
            )
        ((group, name),) = entry.items()
        cfg[group] = merge(cfg.get(group, {}), _read_yaml(_group_file(root, group, str(name))))
    cfg = merge(cfg, own)
    cfg["_config_root"] = str(root)
    return cfg


def apply_overrides(cfg: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Apply ``key.sub=value`` overrides (values parsed as YAML) and ``group=name`` swaps."""
    cfg = copy.deepcopy(cfg)
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise InputError(f"override {item!r} is not key=value", field="overrides")
        if key in GROUPS and "_config_root" in cfg and isinstance(cfg.get(key), Mapping | None):
            path = Path(cfg["_config_root"]) / key / f"{raw}.yaml"
            if path.is_file():
                cfg[key] = _read_yaml(path)
                continue
        try:
            value = yaml.safe_load(raw) if raw else None
        except yaml.YAMLError:
            value = raw
        node = cfg
        parts = key.split(".")
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[parts[-1]] = value
    return cfg


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """Compose an experiment config and apply command-line overrides."""
    return apply_overrides(compose(path), overrides)


def to_yaml(cfg: Mapping[str, Any]) -> str:
    """The resolved config as YAML (private keys starting with ``_`` left out)."""
    return yaml.safe_dump(
        {k: v for k, v in cfg.items() if not str(k).startswith("_")}, sort_keys=False
    )
