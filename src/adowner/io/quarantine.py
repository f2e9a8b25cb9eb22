"""The one quarantine writer: rejected rows, one JSON object a line, written atomically.

Every command that rejects input rows (``prepare``, ``embed``, ``evaluate``/``compare``,
``link``, ``train``'s data module, ``chain ingest``) writes them here, so that they are counted
and kept, never dropped silently. A record names where the row came from (``file`` and ``row``,
``line`` or ``offset``), the ``field`` at fault where one is, and the ``reason``; rows from
:func:`adowner.data.prepare.load_ads` also carry the ad's text **already masked** (identifiers
replaced by placeholders, see :mod:`adowner.data.identifiers`): this module never sees a raw one.

Example::

    n = write_quarantine(loaded.quarantine, out / "quarantine.jsonl")
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from typing import Any

from adowner._io import atomic_open


def quarantine_line(record: Mapping[str, Any]) -> str:
    """``record`` as one JSONL line (non-ASCII kept; values JSON lacks written as text)."""
    return json.dumps(dict(record), default=str, ensure_ascii=False) + "\n"


def write_quarantine(records: Iterable[Mapping[str, Any]], path: str | os.PathLike[str]) -> int:
    """Write ``records`` to ``path`` as JSONL, atomically; return how many were written.

    The file is written even when there are none (an empty file says "nothing rejected");
    callers that want no file then skip the call.
    """
    n = 0
    with atomic_open(path) as fh:
        for record in records:
            fh.write(quarantine_line(record))
            n += 1
    return n
