"""Readers for ad tables in CSV, JSONL, Parquet and XLSX, with a column mapping.

What it computes
    :func:`read_table` turns one file into a :class:`RawTable`: a DataFrame of the rows as
    written (values not yet checked), a 1-based ``_row`` number per row, and the rows that could
    not even be parsed (a CSV line with the wrong number of fields, a JSONL line that is not a JSON
    object), which go to quarantine. ``n_read == len(frame) + len(quarantine)`` always.

What it requires of the data
    A header row (CSV), one JSON object a line (JSONL), or a table (Parquet, XLSX first sheet).
    Text is UTF-8; bytes that are not valid UTF-8 are kept as lone surrogates so that validation
    can quarantine the row rather than the reader failing on the whole file.

Inputs

    ==========  ======================================================  ==========
    name        meaning                                                 default
    ==========  ======================================================  ==========
    path        file to read (.csv, .tsv, .jsonl, .ndjson, .parquet,   required
                .xlsx)
    column_map  ``{name in file: canonical name}``, e.g. vendor→owner   ``None``
    ==========  ======================================================  ==========

Example
    >>> table = read_table("ads.csv", {"vendor": "owner"})  # doctest: +SKIP
    >>> table.frame.columns.tolist()  # doctest: +SKIP
    ['ad_id', 'title', 'body', 'owner', '_row']
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from adowner.errors import InputError

FORMATS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".xlsx": "xlsx",
}


@dataclass
class RawTable:
    """One file's rows as written, before validation."""

    path: str
    frame: pd.DataFrame  # one row a record; a ``_row`` column holds its 1-based number
    quarantine: list[dict[str, Any]] = field(default_factory=list)
    n_read: int = 0


def parse_column_map(items: list[str] | None) -> dict[str, str]:
    """``["vendor=owner", ...]`` → ``{"vendor": "owner"}`` (the ``--map`` option)."""
    out: dict[str, str] = {}
    for item in items or []:
        src, sep, dst = item.partition("=")
        if not sep or not src.strip() or not dst.strip():
            raise InputError(f"--map expects NAME_IN_FILE=CANONICAL_NAME, got {item!r}")
        out[src.strip()] = dst.strip()
    return out


def read_table(path: str | os.PathLike[str], column_map: dict[str, str] | None = None) -> RawTable:
    """Read one ad table; raise ``InputError`` naming the file if it cannot be read at all."""
    p = Path(path)
    if not p.is_file():
        raise InputError("no such file", path=str(p))
    if p.stat().st_size == 0:
        raise InputError("file is empty", path=str(p))
    fmt = FORMATS.get(p.suffix.lower())
    if fmt is None:
        known = ", ".join(sorted(FORMATS))
        raise InputError(f"unsupported format {p.suffix!r} (known: {known})", path=str(p))
    reader = {"csv": _read_csv, "jsonl": _read_jsonl, "parquet": _read_parquet, "xlsx": _read_xlsx}
    table = reader[fmt](p)
    if table.n_read == 0:
        raise InputError("file has a header but no rows", path=str(p))
    if column_map:
        missing = sorted(set(column_map) - set(table.frame.columns))
        if missing:
            raise InputError(
                f"--map names column(s) {missing} that the file lacks; it has "
                f"{sorted(c for c in table.frame.columns if c != '_row')}",
                path=str(p),
            )
        table.frame = table.frame.rename(columns=column_map)
    if table.frame.columns.duplicated().any():
        dup = sorted(set(table.frame.columns[table.frame.columns.duplicated()]))
        raise InputError(f"duplicate column(s) {dup} (after --map)", path=str(p))
    return table


def _read_csv(p: Path) -> RawTable:
    # The stdlib csv reader (C code) gives each record's line number and lets a malformed line
    # go to quarantine instead of failing the file, which pandas.read_csv does not.
    delimiter = "\t" if p.suffix.lower() == ".tsv" else ","
    rows: list[list[str]] = []
    numbers: list[int] = []
    bad: list[dict[str, Any]] = []
    with open(p, encoding="utf-8-sig", errors="surrogateescape", newline="") as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        try:
            header = next(reader)
        except StopIteration:
            raise InputError("file is empty", path=str(p)) from None
        except csv.Error as exc:
            raise InputError(f"not a readable CSV file ({exc})", path=str(p)) from None
        header = [h.strip() for h in header]
        if len(header) < 1 or not any(header):
            raise InputError("CSV header is empty", path=str(p))
        width = len(header)
        n = 0
        while True:
            try:
                rec = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                n += 1
                bad.append(_bad_row(p, n, "malformed row", f"CSV line {reader.line_num}: {exc}"))
                continue
            if not rec:  # blank line
                continue
            n += 1
            if len(rec) != width:
                detail = f"line {reader.line_num} has {len(rec)} fields, header has {width}"
                bad.append(_bad_row(p, n, "malformed row", detail))
                continue
            rows.append(rec)
            numbers.append(n)
    frame = pd.DataFrame(rows, columns=header, dtype=object)
    frame = frame.replace({"": None})
    frame["_row"] = numbers
    return RawTable(str(p), frame, bad, n)


def _read_jsonl(p: Path) -> RawTable:
    records: list[dict[str, Any]] = []
    numbers: list[int] = []
    bad: list[dict[str, Any]] = []
    n = 0
    with open(p, "rb") as fh:
        for line in fh:
            if not line.strip():
                continue
            n += 1
            text = line.decode("utf-8-sig" if n == 1 else "utf-8", errors="surrogateescape")
            try:
                obj = json.loads(text)
            except ValueError as exc:
                if n == 1 and not records and text.lstrip().startswith("["):
                    raise InputError(
                        "a JSON array, not JSON Lines (one object a line)", path=str(p)
                    ) from None
                bad.append(_bad_row(p, n, "malformed row", f"not JSON: {exc}"))
                continue
            if not isinstance(obj, dict):
                bad.append(
                    _bad_row(p, n, "malformed row", f"JSON {type(obj).__name__}, not object")
                )
                continue
            records.append(obj)
            numbers.append(n)
    if n > 0 and not records and len(bad) == n and n <= 2:
        raise InputError(f"not a JSON Lines file ({bad[0]['detail']})", path=str(p))
    frame = pd.DataFrame.from_records(records) if records else pd.DataFrame()
    frame = frame.astype(object).where(frame.notna(), None) if len(frame) else frame
    frame["_row"] = numbers
    return RawTable(str(p), frame, bad, n)


def _read_parquet(p: Path) -> RawTable:
    try:
        frame = pd.read_parquet(p)
    except Exception as exc:  # pyarrow raises many types for a file that is not Parquet
        raise InputError(
            f"not a readable Parquet file ({type(exc).__name__})", path=str(p)
        ) from None
    frame = frame.reset_index(drop=True)
    frame["_row"] = range(1, len(frame) + 1)
    return RawTable(str(p), frame, [], len(frame))


def _read_xlsx(p: Path) -> RawTable:
    try:
        frame = pd.read_excel(p, sheet_name=0, dtype=object, engine="openpyxl")
    except Exception as exc:  # openpyxl raises zipfile/KeyError/ValueError for non-XLSX
        raise InputError(f"not a readable XLSX file ({type(exc).__name__})", path=str(p)) from None
    frame.columns = [str(c).strip() for c in frame.columns]
    frame = frame.astype(object).where(frame.notna(), None)
    frame["_row"] = range(1, len(frame) + 1)
    return RawTable(str(p), frame, [], len(frame))


def _bad_row(p: Path, row: int, reason: str, detail: str) -> dict[str, Any]:
    return {"file": str(p), "row": row, "field": None, "reason": reason, "detail": detail}
