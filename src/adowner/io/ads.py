"""The one ``read_ads``: the ads of any ads file, a prepared split or a prepared folder.

=======================================  ==================================================
``path``                                 read as
=======================================  ==================================================
a prepared folder (:mod:`.splits`)       its splits, train then val then test, as they are
a prepared split: Parquet whose schema   as it is (``text`` is already masked); rows without
has ``ad_id, text, owner, dup_group``    text quarantined (``missing_text``)
anything else ``adowner prepare`` reads  :func:`adowner.data.prepare.load_ads`: validated,
(csv, jsonl, parquet, xlsx)              identifiers masked and hashed, bad rows quarantined
=======================================  ==================================================

That is the one idea of a prepared split, shared by ``embed``, ``link`` and ``chain match``:
a file ``prepare`` wrote, recognised by the columns it always writes (:data:`.splits.REQUIRED`).
The identifier columns (``phones``, ``emails``, ``urls``, ``handles``) are empty lists where a
prepared split lacks them. The quarantined rows come back to the caller, who writes them with
:func:`adowner.io.quarantine.write_quarantine`.

:func:`read_ad_columns` reads only some columns, as stored, with no text processing: the
step that needs no text (payment matching) does not pay for masking.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from adowner.errors import InputError
from adowner.io.splits import REQUIRED, SPLITS, is_prepared_folder, read_split


def is_prepared_split(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a Parquet file with the columns every prepared split has."""
    p = Path(path)
    if p.suffix != ".parquet" or not p.is_file():
        return False
    import pyarrow.parquet as pq

    try:
        names = set(pq.read_schema(p).names)
    except Exception:  # not Parquet: load_ads says so, naming the file
        return False
    return set(REQUIRED) <= names


def _prepared_files(p: Path) -> list[Path]:
    if is_prepared_folder(p):
        return [p / f"{n}.parquet" for n in SPLITS if (p / f"{n}.parquet").is_file()]
    return [p] if is_prepared_split(p) else []


def _missing_text(frame: pd.DataFrame) -> pd.Series:
    return frame["text"].isna() | ~frame["text"].map(lambda v: isinstance(v, str) or v is None)


def read_ads(
    path: str | os.PathLike[str], *, field: str | None = None
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """The ads (masked ``text``, hashed identifier lists) and the quarantined rows.

    ``field`` names the command-line option ``path`` came from, for the error when it does not
    exist. The frame has a fresh index, in file order.
    """
    p = Path(path)
    if not p.exists():
        raise InputError("ads file not found", path=str(p), field=field)
    files = _prepared_files(p)
    if not files:
        if p.is_dir():
            raise InputError("not an ads file nor a prepared folder", path=str(p), field=field)
        from adowner.data.prepare import load_ads

        loaded = load_ads([p])
        return loaded.frame.reset_index(drop=True), loaded.quarantine
    frames, quarantine = [], []
    for f in files:
        frame = read_split(f, required=("text",))
        bad = _missing_text(frame)
        quarantine += [
            {
                "file": str(f),
                "row": int(k) + 1,
                "field": "text",
                "reason": "missing_text",
                "detail": "",
            }
            for k in frame.index[bad]
        ]
        frames.append(frame[~bad])
    out = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    out = out.reset_index(drop=True)
    from adowner.data.schema import IDENTIFIER_COLUMNS

    for col in IDENTIFIER_COLUMNS:
        if col not in out.columns:
            out[col] = [[] for _ in range(len(out))]
    return out, quarantine


def ad_ids(frame: pd.DataFrame) -> list[str]:
    """The ``ad_id`` of each ad as text (its 1-based row where the frame has none)."""
    ids = frame["ad_id"] if "ad_id" in frame.columns else pd.Series(frame.index + 1)
    return [str(v) for v in ids]


def read_ad_columns(
    path: str | os.PathLike[str], columns: Sequence[str], optional: Sequence[str] = ()
) -> pd.DataFrame:
    """``columns`` (all required) and those of ``optional`` the file has, as stored.

    ``path`` is a Parquet, CSV or JSONL ads file, or a prepared folder (its splits in order).
    """
    p = Path(path)
    files = _prepared_files(p) if p.is_dir() else [p]
    if not files:
        raise InputError("not an ads file nor a prepared folder", path=str(p))
    parts = []
    for f in files:
        try:
            if f.suffix == ".parquet":
                df = pd.read_parquet(f)
            elif f.suffix in (".jsonl", ".ndjson"):
                df = pd.read_json(f, lines=True)
            else:
                df = pd.read_csv(f)
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read ads: {exc}", path=str(f)) from exc
        missing = [c for c in columns if c not in df.columns]
        if missing:
            raise InputError(f"ads file lacks column(s) {missing}", path=str(f), field=missing[0])
        parts.append(df[[*columns, *(c for c in optional if c in df.columns)]])
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]


def read_ad_texts(
    path: str | os.PathLike[str], *, quarantine: str | os.PathLike[str], field: str | None = None
) -> tuple[list[str], list[str]]:
    """``(ad_ids, texts)`` of the ads in ``path`` (file order), for ``adowner embed``.

    The quarantined rows go to ``quarantine`` (written only when there are some) and are
    counted in the log.
    """
    from adowner.io.quarantine import write_quarantine
    from adowner.log import get_logger

    frame, rejected = read_ads(path, field=field)
    if rejected:
        n = write_quarantine(rejected, quarantine)
        get_logger(__name__).warning("quarantined %d rows of the ads file to %s", n, quarantine)
    return ad_ids(frame), frame["text"].fillna("").astype(str).tolist()
