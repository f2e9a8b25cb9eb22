"""Adapters: one per known source, each turning a file into canonical ad columns.

=========  ====================================================  ==============================
adapter    reads                                                 chosen by ``auto`` when
=========  ====================================================  ==============================
generic    CSV/JSONL/Parquet/XLSX already in (or mapped to) the  anything else
           canonical columns (``adowner.data.schema``)
agora      the Agora vendor listings (``vendor`` → owner,         the file has the columns
           ``price`` in BTC, ``date``)                            ``vendor, product, description``
beer       a Stack Exchange ``Posts.xml`` dump (``OwnerUserId``   the file is ``.xml``
           → owner, HTML body → text)
=========  ====================================================  ==============================
"""

from __future__ import annotations

import os
from pathlib import Path

from adowner.data.readers import RawTable, read_table

ADAPTERS = ("auto", "generic", "agora", "beer")


def detect_adapter(path: str | os.PathLike[str]) -> str:
    """The adapter ``auto`` picks for ``path``: by suffix, then by the CSV header."""
    p = Path(path)
    if p.suffix.lower() == ".xml":
        return "beer"
    if p.suffix.lower() in (".csv", ".tsv") and p.is_file():
        from adowner.data.readers import csv_header

        header = {h.lower() for h in csv_header(p)}  # sniffed encoding and delimiter
        if {"vendor", "product", "description"} <= header:
            return "agora"
    return "generic"


def read_with_adapter(
    path: str | os.PathLike[str], adapter: str = "auto", column_map: dict[str, str] | None = None
) -> tuple[RawTable, str]:
    """Read ``path`` with ``adapter`` (``auto`` detects it); returns the table and the name used."""
    from adowner.errors import InputError

    if adapter not in ADAPTERS:
        raise InputError(f"unknown adapter {adapter!r} (known: {', '.join(ADAPTERS)})")
    name = detect_adapter(path) if adapter == "auto" else adapter
    if name == "agora":
        from adowner.data.adapters.agora import read_agora

        return read_agora(path, column_map), name
    if name == "beer":
        from adowner.data.adapters.beer import read_beer

        return read_beer(path, column_map), name
    return read_table(path, column_map), name
