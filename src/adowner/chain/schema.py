"""The chain tables, defined once: every ingest source writes exactly these Arrow schemas.

| table          | one row per           | columns                                                      |
|----------------|-----------------------|--------------------------------------------------------------|
| `transactions` | transaction           | txid, block_height, block_time, first_seen, is_coinbase      |
| `inputs`       | spending input        | txid, index, spent_txid, spent_vout, address, value_sat,     |
|                | (coinbase inputs are  | address_source                                               |
|                | not rows, as in       |                                                              |
|                | bitcoin-etl/BigQuery) |                                                              |
| `outputs`      | output                | txid, n, address, value_sat, script_type                     |

`address` is null where the script has no single address (multisig, OP_RETURN, non-standard) or
where an input's address could not be derived. Bare pay-to-pubkey outputs get the P2PKH address
of their key, as Bitcoin Core before v23 and bitcoin-etl do. `address_source` says where an
input's address came from: ``data`` (the source gave it), ``spent_output`` (the output it spends
is in the same data), ``script`` (derived from scriptSig or witness), or null (unresolved).
`script_type` uses Bitcoin Core's names (``pubkeyhash``, ``witness_v0_keyhash``, ...).
"""

from __future__ import annotations

import pyarrow as pa

TIMESTAMP = pa.timestamp("us", tz="UTC")

# A coinbase input is a row with this null outpoint (as in Bitcoin Core); it has no address.
COINBASE_TXID = "0" * 64
COINBASE_VOUT = 0xFFFFFFFF

TRANSACTIONS = pa.schema(
    [
        pa.field("txid", pa.string(), nullable=False),
        pa.field("block_height", pa.int64()),
        pa.field("block_time", TIMESTAMP),
        pa.field("first_seen", TIMESTAMP),
        pa.field("is_coinbase", pa.bool_(), nullable=False),
    ]
)

INPUTS = pa.schema(
    [
        pa.field("txid", pa.string(), nullable=False),
        pa.field("index", pa.int32(), nullable=False),
        pa.field("spent_txid", pa.string(), nullable=False),
        pa.field("spent_vout", pa.int64(), nullable=False),
        pa.field("address", pa.string()),
        pa.field("value_sat", pa.int64()),
        pa.field("address_source", pa.string()),
    ]
)

OUTPUTS = pa.schema(
    [
        pa.field("txid", pa.string(), nullable=False),
        pa.field("n", pa.int32(), nullable=False),
        pa.field("address", pa.string()),
        pa.field("value_sat", pa.int64(), nullable=False),
        pa.field("script_type", pa.string(), nullable=False),
    ]
)

SCHEMAS: dict[str, pa.Schema] = {
    "transactions": TRANSACTIONS,
    "inputs": INPUTS,
    "outputs": OUTPUTS,
}

# Bitcoin Core's script type names; bitcoin-etl uses the same words.
SCRIPT_TYPES = (
    "pubkey",
    "pubkeyhash",
    "scripthash",
    "multisig",
    "nulldata",
    "witness_v0_keyhash",
    "witness_v0_scripthash",
    "witness_v1_taproot",
    "witness_unknown",
    "nonstandard",
)

# Older Core versions and bitcoin-etl spell a few of them differently.
SCRIPT_TYPE_ALIASES = {
    "witness_v1_taproot": "witness_v1_taproot",
    "witness_v0_keyhash": "witness_v0_keyhash",
    "witness_v0_scripthash": "witness_v0_scripthash",
    "null_data": "nulldata",
    "op_return": "nulldata",
    "nonstandard": "nonstandard",
    "": "nonstandard",
}


def table_path(directory: str, name: str) -> str:
    """Where table ``name`` lives inside an ingest folder."""
    return f"{directory}/{name}.parquet"
