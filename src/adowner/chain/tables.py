"""The match and edge tables, defined once: what ``chain match`` and ``link`` write and read.

| table     | written by                  | one row per     | columns                              |
|-----------|-----------------------------|-----------------|--------------------------------------|
| `matches` | `chain match`, `link --chain` | ad            | ad_id, posted_at, price_usd,         |
|           | (:func:`adowner.chain.match.match_ads`) |     | sponsored, n_candidates,             |
|           |                             |                 | match_status, candidate_txids, txid, |
|           |                             |                 | vout, value_sat, first_seen,         |
|           |                             |                 | paid_usd, rate_usd, rel_error,       |
|           |                             |                 | score, payer_cluster_id,             |
|           |                             |                 | payer_clusters                       |
| `edges`   | `link` (``edges.parquet``)  | evidence edge   | src, dst, kind, score, mutual,       |
|           |                             |                 | detail, same_group                   |

`matches`: `match_status` is one of :data:`MATCH_STATUSES`; the chosen output (`txid`, `vout`,
`value_sat`, `first_seen`, `paid_usd`, `rate_usd`, `rel_error`, `score`) is null where the status
is ``none``; `payer_cluster_id` is the wallet cluster of the chosen transaction's first input
and `payer_clusters` how many distinct clusters its inputs fall in (null without clusters). The
column meanings are in :mod:`adowner.chain.match`. `link` also reads tables written by other
tools, with other spellings of these columns (:data:`adowner.link.payment_edges.COLUMNS`).

`edges`: `src` and `dst` are ad ids; `kind` is one of :data:`EDGE_KINDS`; `score` the cosine
or hybrid probability of a text edge (1.0 for identifier and payment edges); `mutual` whether
each ad is among the other's k nearest neighbours; `detail` a readable reason that never holds
an identifier (a shortened hash, a wallet cluster id); `same_group` whether the two ads ended up
in one owner group.
"""

from __future__ import annotations

import os
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from adowner._io import atomic_path
from adowner.chain.schema import TIMESTAMP

MATCH_STATUSES = ("unique", "ambiguous", "none")
EDGE_KINDS = ("text", "phone", "email", "handle", "payment")

MATCHES = pa.schema(
    [
        pa.field("ad_id", pa.string(), nullable=False),
        pa.field("posted_at", pa.timestamp("ns", tz="UTC")),
        pa.field("price_usd", pa.float64()),
        pa.field("sponsored", pa.bool_(), nullable=False),
        pa.field("n_candidates", pa.int64(), nullable=False),
        pa.field("match_status", pa.string(), nullable=False),
        pa.field("candidate_txids", pa.list_(pa.string()), nullable=False),
        pa.field("txid", pa.string()),
        pa.field("vout", pa.int64()),
        pa.field("value_sat", pa.int64()),
        pa.field("first_seen", TIMESTAMP),
        pa.field("paid_usd", pa.float64()),
        pa.field("rate_usd", pa.float64()),
        pa.field("rel_error", pa.float64()),
        pa.field("score", pa.float64()),
        pa.field("payer_cluster_id", pa.string()),
        pa.field("payer_clusters", pa.int64()),
    ]
)

EDGES = pa.schema(
    [
        pa.field("src", pa.string(), nullable=False),
        pa.field("dst", pa.string(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("score", pa.float32(), nullable=False),
        pa.field("mutual", pa.bool_(), nullable=False),
        pa.field("detail", pa.string(), nullable=False),
        pa.field("same_group", pa.bool_(), nullable=False),
    ]
)

SCHEMAS: dict[str, pa.Schema] = {"matches": MATCHES, "edges": EDGES}


def to_table(frame: pd.DataFrame, schema: pa.Schema) -> pa.Table:
    """``frame``'s columns of ``schema``, in its order and types (a missing column raises)."""
    missing = [name for name in schema.names if name not in frame.columns]
    if missing:
        raise KeyError(f"table lacks column(s) {missing}")
    frame = frame[schema.names]
    for f in schema:  # ids given as numbers (a cluster id from another tool) are kept as text
        if pa.types.is_string(f.type) and frame[f.name].dtype == object:
            frame = frame.assign(**{f.name: frame[f.name].map(_text_or_none)})
    return pa.Table.from_pandas(frame, schema=schema, preserve_index=False)


def _text_or_none(value: Any) -> str | None:
    return None if value is None or bool(pd.isna(value)) else str(value)


def write_table(frame: pd.DataFrame, schema: pa.Schema, path: str | os.PathLike[str]) -> None:
    """Write ``frame`` as Parquet with exactly ``schema``, atomically (``adowner._io``)."""
    table = to_table(frame, schema)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
