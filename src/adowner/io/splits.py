"""A prepared folder (``adowner prepare --out DIR``) and its splits, read with one set of checks.

A **prepared split** is ``DIR/{train,val,test}.parquet`` as ``prepare`` writes it (the contract
of docs/ARCHITECTURE.md, "Prepared splits"): one row an ad with at least :data:`REQUIRED`
(``ad_id``, ``text``, ``owner``, ``dup_group``), ``text`` already masked. A **prepared folder**
is a folder with at least one of them.

=========================  ===========================================================
function                   does
=========================  ===========================================================
:func:`split_path`         ``DIR/NAME.parquet``; a folder given where a split is wanted
                           means its ``test.parquet`` (or ``NAME``)
:func:`require_split`      the split's path; ``InputError`` when it is missing
:func:`read_split`         one split; ``InputError`` naming the file (and field) when it
                           is missing, unreadable or lacks a required column
:func:`read_prepared`      the splits a folder has, by name; ``InputError`` when none
:func:`is_prepared_folder` whether a folder has any split
=========================  ===========================================================
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from adowner.errors import InputError

SPLITS = ("train", "val", "test")
# What every prepared split has, whatever else it carries (ARCHITECTURE, "Prepared splits").
REQUIRED = ("ad_id", "text", "owner", "dup_group")


def split_path(path: str | os.PathLike[str], name: str = "test") -> Path:
    """The split ``path`` names: a prepared folder's ``NAME.parquet``, or ``path`` itself."""
    p = Path(path)
    return p / f"{name}.parquet" if p.is_dir() else p


def is_prepared_folder(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a folder with at least one ``{train,val,test}.parquet``."""
    p = Path(path)
    return p.is_dir() and any((p / f"{name}.parquet").is_file() for name in SPLITS)


def require_split(path: str | os.PathLike[str], *, field: str | None = None) -> Path:
    """The split ``path`` names (see :func:`split_path`); ``InputError`` when it is missing."""
    p = split_path(path)
    if not p.is_file():
        raise InputError(
            f"not a prepared folder: {p.name} is missing (run `adowner prepare --out "
            f"{p.parent}` first)",
            path=str(p),
            field=field,
        )
    return p


def read_split(
    path: str | os.PathLike[str],
    *,
    required: Sequence[str] = REQUIRED,
    field: str | None = None,
) -> pd.DataFrame:
    """The split at ``path`` (a file, or a prepared folder's ``test.parquet``).

    ``field`` names the command-line option the path came from, for the error when the file is
    missing; a missing column is named as the field.
    """
    p = require_split(path, field=field)
    try:
        frame = pd.read_parquet(p)
    except Exception as exc:  # pyarrow raises many types for a file that is not Parquet
        raise InputError(
            f"not a readable Parquet file ({type(exc).__name__}: {exc})", path=str(p)
        ) from None
    for col in required:
        if col not in frame.columns:
            raise InputError("column missing from prepared split", path=str(p), field=col)
    return frame


def read_prepared(
    folder: str | os.PathLike[str],
    *,
    names: Sequence[str] = SPLITS,
    required: Sequence[str] = REQUIRED,
    field: str | None = None,
) -> dict[str, pd.DataFrame]:
    """The splits among ``names`` that ``folder`` has, in that order; ``InputError`` if none."""
    d = Path(folder)
    found = {
        n: read_split(d / f"{n}.parquet", required=required, field=field)
        for n in names
        if (d / f"{n}.parquet").is_file()
    }
    if not found:
        wanted = "/".join(names)
        raise InputError(
            f"not a prepared folder: no {wanted}.parquet (run `adowner prepare --out {d}` first)",
            path=str(d),
            field=field,
        )
    return found
