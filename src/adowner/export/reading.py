"""Read the ads to embed for ``adowner embed``: ids and masked texts, bad rows quarantined.

=====================================  ================================================
file                                   read as
=====================================  ================================================
Parquet with a ``text`` column         a prepared split (``adowner prepare``): text as is
anything else ``adowner prepare``      :func:`adowner.data.prepare.load_ads`: validated,
reads (csv, jsonl, parquet, xlsx)      identifiers masked, bad rows quarantined
=====================================  ================================================

Quarantined rows are written to ``quarantine`` (jsonl) and counted in the log, never dropped
silently.
"""

from __future__ import annotations

import json
from pathlib import Path

from adowner._io import atomic_open
from adowner.errors import InputError
from adowner.log import get_logger

log = get_logger(__name__)


def read_ads(path: Path, *, quarantine: Path) -> tuple[list[str], list[str]]:
    """``(ad_ids, texts)`` of the ads in ``path`` (file order)."""
    if not path.is_file():
        raise InputError("ads file not found", path=str(path), field="--data")
    if path.suffix == ".parquet":
        import pandas as pd

        try:
            frame = pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises many types for a file that is not Parquet
            raise InputError(
                f"not a readable Parquet file ({type(exc).__name__})", path=str(path)
            ) from None
        if "text" in frame.columns:
            bad = frame["text"].isna() | ~frame["text"].map(
                lambda v: isinstance(v, str) or v is None
            )
            rows = [
                {
                    "file": str(path),
                    "row": int(k) + 1,
                    "field": "text",
                    "reason": "missing_text",
                    "detail": "",
                }
                for k in frame.index[bad]
            ]
            _quarantine(rows, quarantine)
            frame = frame[~bad]
            ids = (
                frame["ad_id"].astype(str)
                if "ad_id" in frame.columns
                else (frame.index + 1).astype(str)
            )
            return ids.tolist(), frame["text"].astype(str).tolist()
    from adowner.data.prepare import load_ads

    loaded = load_ads([path])
    _quarantine(loaded.quarantine, quarantine)
    frame = loaded.frame
    ids = frame["ad_id"].astype(str) if "ad_id" in frame.columns else (frame.index + 1).astype(str)
    return ids.tolist(), frame["text"].fillna("").astype(str).tolist()


def _quarantine(rows: list[dict], path: Path) -> None:
    if not rows:
        return
    with atomic_open(path) as fh:
        for row in rows:
            fh.write(json.dumps(row, default=str) + "\n")
    log.warning("quarantined %d rows of the ads file to %s", len(rows), path)
