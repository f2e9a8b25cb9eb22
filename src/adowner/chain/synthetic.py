"""A synthetic ingest folder at any size, with real-length ids: the benchmark's and tests' chain.

What it writes: the ``chain.schema`` tables (``transactions``, ``inputs``, ``outputs`` Parquet)
of about ``n`` inputs, in transactions of 1-6 inputs (geometric), input addresses drawn from a
pool of ``n/2`` with Zipf-like reuse (``pareto(1.2)``, as ``scripts/bench_chain.py``'s older
generator), so wallets merge through shared addresses as in the real chain. Ids have real
lengths: 64-hex txids and spent txids, 42-character bech32-shaped addresses (``bc1q`` + 38
characters of the bech32 alphabet; no valid checksum, nothing here decodes them). Each
transaction pays one output to a reused pool address and one fresh change output; one
transaction in 100 is Whirlpool-shaped (5 inputs, 5 outputs of 0.01 BTC) so the CoinJoin guard
has work. Strings are built as Arrow buffers from numpy bytes (no Python objects), written in
chunks of ``chunk`` transactions: memory grows with the chunk and the address pool
(n/2 addresses of 42 bytes), not with the whole folder.

Example::

    counts = write_ingest_folder(200_000, Path("chain/"))   # {'transactions': ..., 'inputs': ...}
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from adowner.chain.schema import INPUTS, OUTPUTS, TRANSACTIONS

HEX = np.frombuffer(b"0123456789abcdef", np.uint8)
BECH32 = np.frombuffer(b"qpzry9x8gf2tvdw0s3jn54khce6mua7l", np.uint8)


def _fixed_strings(chars: np.ndarray) -> pa.Array:
    """An Arrow string array from an ``(n, width)`` uint8 matrix, without Python objects."""
    n, width = chars.shape
    offsets = np.arange(n + 1, dtype=np.int64) * width
    return pa.Array.from_buffers(
        pa.large_string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(chars.tobytes())]
    ).cast(pa.string())


def _hex_ids(rng: np.random.Generator, n: int) -> pa.Array:
    return _fixed_strings(HEX[rng.integers(0, 16, (n, 64), dtype=np.uint8)])


def _bech32(rng: np.random.Generator, n: int) -> pa.Array:
    body = BECH32[rng.integers(0, 32, (n, 38), dtype=np.uint8)]
    prefix = np.broadcast_to(np.frombuffer(b"bc1q", np.uint8), (n, 4))
    return _fixed_strings(np.concatenate([prefix, body], axis=1))


def write_ingest_folder(
    n_inputs: int, out: Path, seed: int = 0, chunk: int = 1_000_000
) -> dict[str, int]:
    """An ingest folder of about ``n_inputs`` inputs (see the module docstring); its counts."""
    rng = np.random.default_rng(seed)
    sizes = np.minimum(rng.geometric(0.5, n_inputs), 6)
    sizes[::100] = 5  # CoinJoin-shaped transactions
    sizes = sizes[np.cumsum(sizes) <= n_inputs]
    n_tx, n_in = len(sizes), int(sizes.sum())
    pool = max(n_in // 2, 2)
    pool_addr = _bech32(rng, pool)
    out.mkdir(parents=True, exist_ok=True)
    writers = {
        name: pq.ParquetWriter(out / f"{name}.parquet", schema)
        for name, schema in (
            ("transactions", TRANSACTIONS),
            ("inputs", INPUTS),
            ("outputs", OUTPUTS),
        )
    }
    n_out = 0
    t_block = np.datetime64("2020-01-01T00:00:00", "us")
    for start in range(0, n_tx, chunk):
        sz = sizes[start : start + chunk]
        k = len(sz)
        txid = _hex_ids(rng, k)
        cj = (np.arange(start, start + k) % 100) == 0
        rows = np.repeat(np.arange(k), sz)
        m = len(rows)
        addr_ids = (rng.pareto(1.2, m) * pool / 20).astype(np.int64) % pool
        first = np.cumsum(sz) - sz
        writers["inputs"].write_table(
            pa.table(
                {
                    "txid": txid.take(pa.array(rows)),
                    "index": pa.array(np.arange(m) - np.repeat(first, sz), pa.int32()),
                    "spent_txid": _hex_ids(rng, m),
                    "spent_vout": pa.array(rng.integers(0, 3, m), pa.int64()),
                    "address": pool_addr.take(pa.array(addr_ids)),
                    "value_sat": pa.array(rng.integers(1_000, 10**8, m), pa.int64()),
                    "address_source": pa.array(np.full(m, "data", dtype=object), pa.string()),
                },
                schema=INPUTS,
            )
        )
        nout = np.where(cj, 5, 2)
        orow = np.repeat(np.arange(k), nout)
        mo = len(orow)
        ofirst = np.cumsum(nout) - nout
        n_in_tx = np.arange(mo) - np.repeat(ofirst, nout)
        paid = pool_addr.take(pa.array((rng.pareto(1.2, mo) * pool / 20).astype(np.int64) % pool))
        fresh = _bech32(rng, mo)
        is_payment = (n_in_tx == 0) & ~cj[orow]
        value = np.where(cj[orow], 1_000_000, rng.integers(1_000, 10**8, mo))
        writers["outputs"].write_table(
            pa.table(
                {
                    "txid": txid.take(pa.array(orow)),
                    "n": pa.array(n_in_tx, pa.int32()),
                    "address": pc.if_else(pa.array(is_payment), paid, fresh),
                    "value_sat": pa.array(value, pa.int64()),
                    "script_type": pa.array(
                        np.full(mo, "witness_v0_keyhash", dtype=object), pa.string()
                    ),
                },
                schema=OUTPUTS,
            )
        )
        times = t_block + (np.arange(start, start + k) // 2000).astype("timedelta64[m]") * 10
        writers["transactions"].write_table(
            pa.table(
                {
                    "txid": txid,
                    "block_height": pa.array(600_000 + np.arange(start, start + k) // 2000),
                    "block_time": pa.array(times.astype("datetime64[us]")).cast(
                        TRANSACTIONS.field("block_time").type
                    ),
                    "first_seen": pa.nulls(k, TRANSACTIONS.field("first_seen").type),
                    "is_coinbase": pa.array(np.zeros(k, bool)),
                },
                schema=TRANSACTIONS,
            )
        )
        n_out += mo
    for w in writers.values():
        w.close()
    return {"transactions": n_tx, "inputs": n_in, "outputs": n_out, "address_pool": pool}
