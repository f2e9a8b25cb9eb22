"""Readers for ad tables in CSV, JSONL, Parquet and XLSX, with a column mapping.

What it computes
    :func:`read_table` turns one file into a :class:`RawTable`: a DataFrame of the rows as
    written (values not yet checked), a 1-based ``_row`` number per row, and the rows that could
    not even be parsed (a CSV line with the wrong number of fields, a JSONL line that is not a JSON
    object), which go to quarantine. ``n_read == len(frame) + len(quarantine)`` always.

What it requires of the data
    A header row (CSV), one JSON object a line (JSONL), or a table (Parquet, XLSX first sheet).

CSV dialect and encoding (:func:`sniff_csv`)
    The delimiter is sniffed (``csv.Sniffer`` on the first 4 KB, restricted to ``, ; TAB |``),
    and checked against the header line: a delimiter the header does not contain is not taken.
    Without a verdict, ``.tsv`` means tab and anything else comma. The encoding:

    ====================================  =========================================
    the file                              read as
    ====================================  =========================================
    starts with a UTF-8 / UTF-16 /        that encoding; the BOM is dropped
    UTF-32 byte-order mark
    every other byte NUL, no BOM          UTF-16 (little or big endian)
    valid UTF-8                           UTF-8
    mostly valid UTF-8, a few bad bytes   UTF-8; the rows with bad bytes are
                                          quarantined ("invalid UTF-8")
    no UTF-8 multi-byte sequence, its     cp1252 (a superset of latin-1 for text;
    high bytes all accented letters or    its 5 unassigned bytes read as latin-1)
    punctuation in cp1252
    ====================================  =========================================

    Bytes that cannot be decoded are kept as lone surrogates, so that validation quarantines
    the row (with its field) rather than the reader failing on the whole file; a column name
    with such bytes has them replaced by U+FFFD.

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

import codecs
import csv
import io
import json
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from adowner.errors import InputError
from adowner.log import get_logger

log = get_logger(__name__)

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
    encoding: str | None = None  # CSV only: what the file was decoded as
    delimiter: str | None = None  # CSV only: the delimiter used


def parse_column_map(items: list[str] | None) -> dict[str, str]:
    """``["vendor=owner", ...]`` → ``{"vendor": "owner"}`` (the ``--map`` option)."""
    out: dict[str, str] = {}
    for item in items or []:
        src, sep, dst = item.partition("=")
        if not sep or not src.strip() or not dst.strip():
            raise InputError(f"--map expects NAME_IN_FILE=CANONICAL_NAME, got {item!r}")
        out[src.strip()] = dst.strip()
    return out


def describe_columns(columns: Any, limit: int = 20) -> str:
    """A file's column names for a one-line message: at most ``limit``, each cut to 40 chars."""
    names = sorted(str(c) for c in columns if not str(c).startswith("_"))
    shown = repr([n if len(n) <= 40 else n[:40] + "..." for n in names[:limit]])
    return shown if len(names) <= limit else f"{shown[:-1]}, ... ({len(names) - limit} more)]"


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
                f"{describe_columns(table.frame.columns)}",
                path=str(p),
            )
        table.frame = table.frame.rename(columns=column_map)
    if table.frame.columns.duplicated().any():
        dup = describe_columns(set(table.frame.columns[table.frame.columns.duplicated()]))
        raise InputError(f"duplicate column(s) {dup} (after --map)", path=str(p))
    return table


# ------------------------------------------------------------------ CSV: encoding, dialect

DELIMITERS = ",;\t|"
SNIFF_CHARS = 4096  # csv.Sniffer's regexes are quadratic on quote-heavy text: keep it small
_SCAN_CHUNK = 1 << 20
_SCAN_MAX_BAD = 10_000  # enough undecodable sequences to decide; stop scanning there
_BOMS = (  # longest first: the UTF-32 LE BOM starts with the UTF-16 LE one
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# cp1252 bytes that are not plausible in Western text: its 5 unassigned bytes, thorn and
# y-diaeresis (0xFE 0xFF is also a UTF-16 byte-order mark: corruption, not latin-1 text).
_IMPLAUSIBLE_CP1252 = frozenset(b"\x81\x8d\x8f\x90\x9d\xfe\xff")
_SURROGATES = re.compile("[\ud800-\udfff]")


def _mark_undecodable(exc: UnicodeError) -> tuple[str, int]:
    """Error handler: each undecodable byte becomes a lone surrogate (U+DC80..U+DCFF).

    For UTF-8 this is exactly ``surrogateescape``; unlike it, it also takes the bytes below
    0x80 that a UTF-16 decoder cannot use, so that no decoder ever raises.
    """
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    bad = exc.object[exc.start : exc.end]
    return "".join(chr(0xDC80 | b) if b < 0x80 else chr(0xDC00 + b) for b in bad), exc.end


def _cp1252_or_latin1(exc: UnicodeError) -> tuple[str, int]:
    """Error handler: cp1252's unassigned bytes read as latin-1 (C1 controls)."""
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    return "".join(chr(b) for b in exc.object[exc.start : exc.end]), exc.end


_scan_state = threading.local()


def _record_bad(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    _scan_state.bad.append(exc.object[exc.start : exc.end])
    return "\ufffd", exc.end


codecs.register_error("adowner-mark", _mark_undecodable)
codecs.register_error("adowner-cp1252", _cp1252_or_latin1)
codecs.register_error("adowner-scan", _record_bad)


def _utf16_without_bom(head: bytes) -> str | None:
    """``utf-16-le``/``-be`` when every other byte of the head is NUL (ASCII-range text)."""
    if len(head) < 16:
        return None
    even, odd = head[0::2], head[1::2]
    z_even, z_odd = even.count(0) / len(even), odd.count(0) / len(odd)
    if z_odd > 0.6 and z_even < 0.05:
        return "utf-16-le"
    if z_even > 0.6 and z_odd < 0.05:
        return "utf-16-be"
    return None


def detect_encoding(p: Path) -> str:
    """The codec to read ``p`` with (see the module docstring); never raises on the content."""
    with open(p, "rb") as fh:
        head = fh.read(SNIFF_CHARS)
        for bom, name in _BOMS:
            if head.startswith(bom):
                return name
        utf16 = _utf16_without_bom(head)
        if utf16 is not None:
            return utf16
        fh.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")("adowner-scan")
        bad: list[bytes] = []
        _scan_state.bad = bad
        multibyte = 0  # valid non-ASCII characters
        try:
            while len(bad) < _SCAN_MAX_BAD:
                chunk = fh.read(_SCAN_CHUNK)
                before = len(bad)
                text = decoder.decode(chunk, final=not chunk)
                non_ascii = len(text) - len(text.encode("ascii", "ignore"))
                multibyte += non_ascii - (len(bad) - before)
                if not chunk:
                    break
        finally:
            del _scan_state.bad
    if not bad:
        return "utf-8"
    if multibyte >= len(bad):
        return "utf-8"  # a UTF-8 file with a few corrupt bytes: those rows are quarantined
    high = b"".join(bad)
    implausible = sum(1 for b in high if b in _IMPLAUSIBLE_CP1252)
    if implausible <= 0.01 * len(high):
        return "cp1252"
    return "utf-8"


def _errors_for(encoding: str) -> str:
    return "adowner-cp1252" if encoding == "cp1252" else "adowner-mark"


def _unquoted(line: str) -> str:
    """``line`` without its double-quoted parts (where a delimiter does not count)."""
    return re.sub(r'"[^"]*"?', "", line)


def sniff_delimiter(sample: str, default: str) -> str:
    """The delimiter of a CSV whose first characters are ``sample``."""
    first_line = sample.split("\n", 1)[0]
    in_header = {d: _unquoted(first_line).count(d) for d in DELIMITERS}
    cut = sample.rfind("\n")
    try:
        sniffed = csv.Sniffer().sniff(sample[:cut] if cut > 0 else sample, DELIMITERS).delimiter
    except csv.Error:
        sniffed = None
    if sniffed is not None and in_header.get(sniffed, 0) > 0:
        return sniffed
    if any(in_header.values()):  # the header line decides where the sniffer did not
        return max(DELIMITERS, key=lambda d: (in_header[d], d == default))
    return default


def sniff_csv(p: Path) -> tuple[str, str]:
    """``(encoding, delimiter)`` of the CSV file ``p``."""
    encoding = detect_encoding(p)
    default = "\t" if p.suffix.lower() == ".tsv" else ","
    with open(p, encoding=encoding, errors=_errors_for(encoding), newline="") as fh:
        sample = fh.read(SNIFF_CHARS)
    sample = sample.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    return encoding, sniff_delimiter(sample, default)


def csv_header(p: Path) -> list[str]:
    """The header cells of the CSV file ``p`` (sniffed encoding and delimiter); [] if none."""
    try:
        encoding, delimiter = sniff_csv(p)
        with open(p, encoding=encoding, errors=_errors_for(encoding), newline="") as fh:
            return [_clean_name(h) for h in next(csv.reader(fh, delimiter=delimiter), [])]
    except (OSError, csv.Error):
        return []


def _clean_name(name: str) -> str:
    name = name.removeprefix("\ufeff").strip()
    return _SURROGATES.sub("\ufffd", name)


def _records(fh: io.TextIOBase, delimiter: str) -> Iterator[tuple[list[str] | None, int, str]]:
    """``(record or None, line number, error)`` for each CSV record after a bad-line recovery."""
    reader = csv.reader(fh, delimiter=delimiter)
    while True:
        try:
            rec = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield None, reader.line_num, str(exc)
            continue
        yield rec, reader.line_num, ""


def _read_csv(p: Path) -> RawTable:
    # The stdlib csv reader (C code) gives each record's line number and lets a malformed line
    # go to quarantine instead of failing the file, which pandas.read_csv does not.
    encoding, delimiter = sniff_csv(p)
    rows: list[list[str]] = []
    numbers: list[int] = []
    bad: list[dict[str, Any]] = []
    with open(p, encoding=encoding, errors=_errors_for(encoding), newline="") as fh:
        records = _records(fh, delimiter)
        first = next(records, None)
        if first is None:
            raise InputError("file is empty", path=str(p))
        header_rec, _, error = first
        if header_rec is None:
            raise InputError(f"not a readable CSV file ({error})", path=str(p))
        header = [_clean_name(h) for h in header_rec]
        if len(header) < 1 or not any(header):
            raise InputError("CSV header is empty", path=str(p))
        width = len(header)
        n = 0
        for rec, line, error in records:
            if rec is None:
                n += 1
                bad.append(_bad_row(p, n, "malformed row", f"CSV line {line}: {error}"))
                continue
            if not rec:  # blank line
                continue
            n += 1
            if len(rec) != width:
                detail = f"line {line} has {len(rec)} fields, header has {width}"
                bad.append(_bad_row(p, n, "malformed row", detail))
                continue
            rows.append(rec)
            numbers.append(n)
    if encoding not in ("utf-8", "utf-8-sig") or delimiter != ",":
        log.info("%s: read as %s, delimiter %r", p, encoding, delimiter)
    frame = pd.DataFrame(rows, columns=header, dtype=object)
    frame = frame.replace({"": None})
    frame["_row"] = numbers
    return RawTable(str(p), frame, bad, n, encoding=encoding, delimiter=delimiter)


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
            except RecursionError:
                bad.append(_bad_row(p, n, "malformed row", "JSON nested too deeply"))
                continue
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
            records.append({_clean_name(str(k)): v for k, v in obj.items()})
            numbers.append(n)
    if n > 0 and not records and len(bad) == n and n <= 2:
        raise InputError(f"not a JSON Lines file ({bad[0]['detail']})", path=str(p))
    # object dtype: pandas would infer Arrow strings, which cannot hold the lone surrogates that
    # mark undecodable bytes (validation quarantines those rows)
    columns = list(dict.fromkeys(k for rec in records for k in rec))
    frame = pd.DataFrame(
        [[rec.get(c) for c in columns] for rec in records], columns=columns, dtype=object
    )
    frame = frame.where(frame.notna(), None) if len(frame) else frame
    frame["_row"] = numbers
    return RawTable(str(p), frame, bad, n)


def _read_parquet(p: Path) -> RawTable:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(p)
        # Parquet does not check that text is UTF-8; a text column with bad bytes is read as
        # bytes, so that validation quarantines those rows ("invalid UTF-8") and keeps the rest
        for i, col in enumerate(table.columns):
            if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
                try:
                    col.validate(full=True)
                except pa.ArrowInvalid:
                    table = table.set_column(i, table.field(i).name, col.cast(pa.binary()))
        frame = table.to_pandas()
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
