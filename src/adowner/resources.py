"""The configs shipped inside the package, and how a ``--config`` argument finds one.

The YAML configs live in ``adowner/configs/<group>/<name>.yaml`` (package data, so an installed
wheel has them; in a checkout ``configs/`` links there). Every command that takes a config
(``train``, ``cv``, ``quickstart``, ``prepare``) resolves it with :func:`resolve_config`:

=================================  ==========================================================
``--config``                       file read
=================================  ==========================================================
an existing file                   that file (a path always wins)
``ads``                            ``adowner/configs/experiment/ads.yaml`` (the command's group)
``experiment/ads``                 ``adowner/configs/experiment/ads.yaml``
``configs/experiment/ads.yaml``    the packaged file, when no such file is under the current
                                   folder (the repository paths of the docs work anywhere)
=================================  ==========================================================

Anything else is one :class:`~adowner.errors.InputError` line listing the packaged names.

Example::

    path = resolve_config("tiny")  # .../adowner/configs/experiment/tiny.yaml
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path, PurePosixPath

from adowner.errors import InputError

SUFFIXES = (".yaml", ".yml")


def config_root() -> Path:
    """The packaged ``configs`` folder (one ``<group>/`` folder of YAML files per config group)."""
    return Path(str(resources.files("adowner") / "configs"))


def packaged_names(group: str = "experiment") -> list[str]:
    """The names of the packaged configs of one group (``ads``, ``tiny``, ...), sorted."""
    folder = config_root() / group
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def _packaged(spec: str, group: str) -> Path | None:
    """The packaged file that a name (``ads``, ``experiment/ads``, ``configs/...``) means."""
    name = PurePosixPath(spec.replace("\\", "/"))
    if name.is_absolute() or ".." in name.parts or not name.parts:
        return None
    parts = list(name.parts)
    if parts[0] == "configs":
        parts = parts[1:]
    if not parts:
        return None
    if parts[-1].endswith(SUFFIXES):
        parts[-1] = parts[-1].rsplit(".", 1)[0]
    if len(parts) == 1:
        parts.insert(0, group)
    path = config_root().joinpath(*parts[:-1], parts[-1] + ".yaml")
    return path if path.is_file() else None


def resolve_config(spec: str | Path, group: str = "experiment") -> Path:
    """The YAML file a ``--config`` argument names: a path that exists, else a packaged config."""
    path = Path(spec)
    if path.is_file():
        return path
    found = _packaged(str(spec), group)
    if found is not None:
        return found
    names = ", ".join(packaged_names(group)) or "none"
    raise InputError(
        f"config not found: no such file, nor a packaged {group} config of that name "
        f"(packaged: {names})",
        path=str(spec),
        field="--config",
    )
