"""Ingest chain data from any of the usual sources into the three tables of ``chain.schema``.

| source                                  | recognised by                                   |
|-----------------------------------------|-------------------------------------------------|
| raw serialized block                    | ``.raw``/``.bin``/``.blk`` file without magic   |
| ``blk*.dat`` (magic + size + block)*    | starts with a network magic (main/test/signet/  |
|                                         | regtest); trailing zero padding is ignored      |
| raw transaction or block as hex         | ``.hex`` / ``.txt``                             |
| Bitcoin Core JSON-RPC                   | JSON object with ``tx`` (``getblock`` 2 or 3)   |
|                                         | or ``vin``/``vout`` (``getrawtransaction`` 1),  |
|                                         | bare or in ``{"result": ...}``; one document,   |
|                                         | a list, or one per line                         |
| bitcoin-etl / BigQuery transactions     | rows with ``hash``, ``inputs``, ``outputs``     |
|                                         | (JSONL, CSV with JSON columns, or Parquet)      |

Deserialisation and address encoding come from python-bitcoinlib; this module is the glue.
Where an input lacks its address it is taken, in order, from the spent output when that is in
the same data (with its value), or from the scriptSig/witness (``chain.address``). What stays
unknown is counted (``summary.json``: ``inputs_unresolved``).

Bad parts never stop the run: a corrupt or truncated block (with its byte offset), an
unparseable hex transaction, or a bad JSON/CSV row (with its line) is written to
``DIR/quarantine.jsonl`` and counted; the rest is ingested. A record is added whole or not at
all (:meth:`Rows.check_since`): every value must fit its column (text that is valid Unicode,
amounts in 0..21 M BTC, heights, indexes and output numbers in their ranges), else the record
is quarantined with nothing of it kept. Each input file is checkpointed
(``DIR/.parts``), so an interrupted run resumes without re-reading finished files.

Example::

    summary = ingest(["../shared/data/bitcoin/block413567.raw"], "chain/")
    summary["transactions"]  # 1557
"""

from __future__ import annotations

import csv
import hashlib
import json
import mmap
import os
import shutil
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from bitcoin.core import CBlock, CTransaction, b2lx, x

from adowner._io import atomic_open, atomic_path, write_json
from adowner.chain.address import input_address, script_address
from adowner.chain.schema import COINBASE_TXID, COINBASE_VOUT, SCHEMAS, SCRIPT_TYPE_ALIASES
from adowner.errors import InputError
from adowner.io.quarantine import write_quarantine
from adowner.log import get_logger
from adowner.progress import track

log = get_logger(__name__)

MAGICS = {
    bytes.fromhex("f9beb4d9"): "mainnet",
    bytes.fromhex("0b110907"): "testnet",
    bytes.fromhex("0a03cf40"): "signet",
    bytes.fromhex("fabfb5da"): "regtest",
}
SAT_PER_BTC = Decimal(100_000_000)
MAX_MONEY = 21_000_000 * 100_000_000  # consensus limit on an amount, in satoshi
_INT_RANGES = {  # column -> allowed values: what Bitcoin allows, inside the Arrow type
    "block_height": (0, 2**31 - 1),
    "index": (0, 2**31 - 1),
    "n": (0, 2**31 - 1),
    "spent_vout": (0, 2**32 - 1),
    "value_sat": (0, MAX_MONEY),
}

Quarantine = Callable[[dict[str, Any]], None]


@dataclass
class Rows:
    """Column lists for the three tables, filled by the readers."""

    transactions: dict[str, list[Any]] = field(
        default_factory=lambda: {f: [] for f in SCHEMAS["transactions"].names}
    )
    inputs: dict[str, list[Any]] = field(
        default_factory=lambda: {f: [] for f in SCHEMAS["inputs"].names}
    )
    outputs: dict[str, list[Any]] = field(
        default_factory=lambda: {f: [] for f in SCHEMAS["outputs"].names}
    )

    def tx(self, txid: str, height: int | None, time: Any, coinbase: bool) -> None:
        t = self.transactions
        t["txid"].append(txid)
        t["block_height"].append(height)
        t["block_time"].append(_timestamp(time))
        t["first_seen"].append(None)
        t["is_coinbase"].append(coinbase)

    def inp(
        self,
        txid: str,
        index: int,
        spent_txid: str,
        spent_vout: int,
        address: str | None,
        value: int | None,
        source: str | None,
    ) -> None:
        source = source if address is not None else None
        _add(self.inputs, txid, index, spent_txid, spent_vout, address, value, source)

    def out(self, txid: str, n: int, address: str | None, value: int, script_type: str) -> None:
        _add(self.outputs, txid, n, address, value, script_type)

    def mark(self) -> tuple[int, int, int]:
        """The table lengths now; :meth:`rollback` to it drops a half-added record."""
        return (
            len(self.transactions["txid"]),
            len(self.inputs["txid"]),
            len(self.outputs["txid"]),
        )

    def rollback(self, mark: tuple[int, int, int]) -> None:
        for table, n in zip((self.transactions, self.inputs, self.outputs), mark, strict=True):
            for values in table.values():
                del values[n:]

    def check_since(self, mark: tuple[int, int, int]) -> None:
        """``ValueError`` naming the column if a value added since ``mark`` does not fit it."""
        for name, n in zip(("transactions", "inputs", "outputs"), mark, strict=True):
            table = getattr(self, name)
            lengths = {len(v) for v in table.values()}
            if len(lengths) != 1:
                raise ValueError(f"{name}: a record was added in part")
            for f in SCHEMAS[name]:
                for v in table[f.name][n:]:
                    _check_value(name, f, v)

    def tables(self) -> dict[str, pa.Table]:
        return {
            name: pa.Table.from_pydict(getattr(self, name), schema=schema)
            for name, schema in SCHEMAS.items()
        }


def _add(table: dict[str, list[Any]], *row: Any) -> None:
    """Append one row to a table of column lists, its values in the schema's column order."""
    if len(row) != len(table):
        raise ValueError(f"a row of {len(row)} values for {len(table)} columns")
    for column, value in zip(table.values(), row, strict=True):
        column.append(value)


def _check_value(table: str, f: pa.Field, v: Any) -> None:
    where = f"{table}.{f.name}"
    if v is None:
        if not f.nullable:
            raise ValueError(f"{where}: missing")
        return
    if pa.types.is_string(f.type):
        if not isinstance(v, str):
            raise ValueError(f"{where}: not text")
        try:
            v.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(f"{where}: not valid Unicode (lone surrogate)") from None
    elif pa.types.is_integer(f.type):
        lo, hi = _INT_RANGES.get(f.name, (-(2**31), 2**31 - 1))
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise ValueError(f"{where}: {v!r} is not an integer in {lo}..{hi}")
    elif pa.types.is_boolean(f.type):
        if not isinstance(v, bool):
            raise ValueError(f"{where}: not true/false")
    elif pa.types.is_timestamp(f.type) and not isinstance(v, pd.Timestamp):
        raise ValueError(f"{where}: not a time")


def _add_whole(
    rows: Rows,
    stats: dict[str, int],
    quarantine: Quarantine,
    where: dict[str, Any],
    prefix: str,
    add: Callable[..., Any],
    *args: Any,
) -> bool:
    """Run ``add`` (which appends one record to ``rows``); keep all of it or, on any error,
    none of it, and quarantine it at ``where`` with ``prefix`` and the error (the error's type
    and message without a prefix)."""
    mark, before = rows.mark(), dict(stats)
    try:
        add(*args)
        rows.check_since(mark)
    except Exception as exc:
        rows.rollback(mark)
        stats.clear()
        stats.update(before)
        error = f"{prefix}{exc}" if prefix else f"{type(exc).__name__}: {exc}"
        quarantine({**where, "error": error})
        return False
    return True


def _timestamp(value: Any) -> pd.Timestamp | None:
    if value is None or value == "" or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, int | float | Decimal):
        return pd.Timestamp(int(value), unit="s", tz="UTC")
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


# ------------------------------------------------------------------ raw (python-bitcoinlib)


def _add_ctx(rows: Rows, tx: CTransaction, height: int | None, time: Any) -> None:
    txid = b2lx(tx.GetTxid())
    coinbase = bool(tx.is_coinbase())
    rows.tx(txid, height, time, coinbase)
    wit = tx.wit.vtxinwit
    for i, txin in enumerate(tx.vin):
        if coinbase:
            rows.inp(txid, i, COINBASE_TXID, COINBASE_VOUT, None, None, None)
            continue
        stack = [bytes(s) for s in wit[i].scriptWitness.stack] if i < len(wit) else []
        addr = input_address(bytes(txin.scriptSig), stack)
        rows.inp(txid, i, b2lx(txin.prevout.hash), txin.prevout.n, addr, None, "script")
    for n, txout in enumerate(tx.vout):
        addr, kind = script_address(bytes(txout.scriptPubKey))
        rows.out(txid, n, addr, int(txout.nValue), kind)


def _bip34_height(block: CBlock) -> int | None:
    """Height from the coinbase (BIP 34, block version >= 2); None for older blocks."""
    if block.nVersion < 2 or not block.vtx:
        return None
    sig = bytes(block.vtx[0].vin[0].scriptSig)
    if not sig or not 1 <= sig[0] <= 8 or len(sig) < 1 + sig[0]:
        return None
    height = int.from_bytes(sig[1 : 1 + sig[0]], "little")
    return height if height < 2**31 else None  # no BIP 34 height: pre-BIP 34 coinbase data


def _add_block(rows: Rows, block: CBlock, stats: dict[str, int]) -> None:
    if block.calc_merkle_root() != block.hashMerkleRoot:
        # Counted, not fatal: Bitcoin Core's own bench copy of block 413,567 fails this check.
        stats["merkle_mismatch_blocks"] = stats.get("merkle_mismatch_blocks", 0) + 1
        log.warning("block %s: merkle root does not match its transactions", b2lx(block.GetHash()))
    height, time = _bip34_height(block), block.nTime
    for tx in block.vtx:
        _add_ctx(rows, tx, height, time)
    stats["blocks"] = stats.get("blocks", 0) + 1


def _add_raw_block(rows: Rows, raw: bytes, stats: dict[str, int]) -> None:
    _add_block(rows, CBlock.deserialize(raw), stats)


def _add_raw_tx(rows: Rows, raw: bytes) -> None:
    _add_ctx(rows, CTransaction.deserialize(raw), None, None)


def read_raw_blocks(path: Path, rows: Rows, quarantine: Quarantine, stats: dict[str, int]) -> None:
    """A single serialized block, or a ``blk*.dat`` file of magic-framed blocks."""
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size == 0:
            raise InputError("empty file", path=str(path))
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
            if data[:4] not in MAGICS:
                _add_whole(
                    rows,
                    stats,
                    quarantine,
                    {"offset": 0},
                    "not a valid block: ",
                    _add_raw_block,
                    rows,
                    data[:],
                    stats,
                )
                return
            _read_framed(data, rows, quarantine, stats)


def _read_framed(
    data: mmap.mmap, rows: Rows, quarantine: Quarantine, stats: dict[str, int]
) -> None:
    off, end = 0, len(data)
    while True:
        if off + 8 > end or data[off : off + 4] == b"\0\0\0\0":
            if off < end and data[off:end].strip(b"\0"):
                quarantine({"offset": off, "error": "trailing bytes that are not a block"})
            return
        if data[off : off + 4] not in MAGICS:
            nxt = min((p for m in MAGICS if (p := data.find(m, off + 1)) != -1), default=-1)
            quarantine({"offset": off, "error": "bad magic bytes; skipped to the next block"})
            if nxt == -1:
                return
            off = nxt
            continue
        length = int.from_bytes(data[off + 4 : off + 8], "little")
        start = off + 8
        if start + length > end:
            quarantine(
                {
                    "offset": off,
                    "error": f"truncated block: {length} bytes declared, {end - start} left",
                }
            )
            return
        raw = data[start : start + length]
        _add_whole(
            rows,
            stats,
            quarantine,
            {"offset": off},
            "corrupt block: ",
            _add_raw_block,
            rows,
            raw,
            stats,
        )
        off = start + length


def read_hex(path: Path, rows: Rows, quarantine: Quarantine, stats: dict[str, int]) -> None:
    """One raw transaction (or block) per line, as hex."""
    with open(path, "rb") as fh:
        for lineno, line in enumerate(fh, 1):
            text = line.decode("ascii", errors="replace").strip()
            if not text:
                continue
            try:
                raw = x(text)
            except ValueError as exc:
                quarantine({"line": lineno, "error": f"not hex: {exc}"})
                continue
            try:
                block = CBlock.deserialize(raw)
            except Exception:
                block = None
            if block is not None and len(raw) > 80:
                _add_whole(
                    rows,
                    stats,
                    quarantine,
                    {"line": lineno},
                    "invalid block: ",
                    _add_block,
                    rows,
                    block,
                    stats,
                )
                continue
            _add_whole(
                rows,
                stats,
                quarantine,
                {"line": lineno},
                "invalid transaction: ",
                _add_raw_tx,
                rows,
                raw,
            )


# ------------------------------------------------------------------ Bitcoin Core JSON


def _btc_to_sat(value: Any) -> int:
    return int((Decimal(str(value)) * SAT_PER_BTC).to_integral_value())


def _one_address(spk: dict[str, Any]) -> str | None:
    if spk.get("address"):
        return str(spk["address"])
    addrs = spk.get("addresses") or []
    return str(addrs[0]) if len(addrs) == 1 else None


def _output_fields(spk: dict[str, Any]) -> tuple[str | None, str]:
    derived: tuple[str | None, str] = (None, "nonstandard")
    if spk.get("hex") is not None:
        derived = script_address(x(spk["hex"]))
    kind = str(spk.get("type") or derived[1])
    kind = SCRIPT_TYPE_ALIASES.get(kind, kind)
    given = _one_address(spk)
    if kind == "multisig":
        given = None  # one script, several keys: no single address (as from raw blocks)
    return (given if given is not None else derived[0]), kind


def add_core_tx(rows: Rows, tx: dict[str, Any], height: int | None, time: Any) -> None:
    """One transaction from ``getblock`` (2/3) or ``getrawtransaction`` (verbose)."""
    txid = str(tx["txid"])
    vin = tx["vin"]
    coinbase = bool(vin) and "coinbase" in vin[0]
    rows.tx(txid, height, time, coinbase)
    for i, txin in enumerate(vin):
        if "coinbase" in txin:
            rows.inp(txid, i, COINBASE_TXID, COINBASE_VOUT, None, None, None)
            continue
        addr, value, source = None, None, None
        prev = txin.get("prevout")
        if prev:  # getblock verbosity 3
            value = _btc_to_sat(prev["value"])
            addr, _ = _output_fields(prev.get("scriptPubKey") or {})
            source = "data"
        if addr is None:
            sig = x((txin.get("scriptSig") or {}).get("hex", ""))
            addr = input_address(sig, [x(w) for w in txin.get("txinwitness") or []])
            source = "script"
        rows.inp(txid, i, str(txin["txid"]), int(txin["vout"]), addr, value, source)
    for out in tx["vout"]:
        addr, kind = _output_fields(out.get("scriptPubKey") or {})
        rows.out(txid, int(out["n"]), addr, _btc_to_sat(out["value"]), kind)


def add_core_doc(rows: Rows, doc: Any) -> int:
    """A Core response (block or transaction, bare or wrapped); returns transactions added."""
    if isinstance(doc, dict) and "result" in doc and ("error" in doc or len(doc) <= 3):
        if doc.get("error"):
            raise ValueError(f"RPC error in file: {doc['error']}")
        doc = doc["result"]
    if not isinstance(doc, dict):
        raise ValueError("expected a JSON object")
    if "tx" in doc:
        txs = doc["tx"]
        if txs and isinstance(txs[0], str):
            raise ValueError("getblock verbosity 1 lists only txids; use verbosity 2 or 3")
        height = doc.get("height")
        for tx in txs:
            add_core_tx(rows, tx, None if height is None else int(height), doc.get("time"))
        return len(txs)
    if "vin" in doc and "vout" in doc:
        add_core_tx(rows, doc, doc.get("height"), doc.get("blocktime"))
        return 1
    raise ValueError("neither a Core block (tx) nor a transaction (vin/vout)")


# ------------------------------------------------------------------ bitcoin-etl / BigQuery


def _etl_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str):
        return list(json.loads(value)) if value.strip() else []
    return list(value)


def add_etl_row(rows: Rows, row: dict[str, Any]) -> None:
    """One bitcoin-etl / BigQuery ``crypto_bitcoin.transactions`` row (values in satoshi)."""
    txid = str(row["hash"])
    height = row.get("block_number")
    height = None if height is None or height != height else int(height)
    coinbase = str(row.get("is_coinbase")).lower() in ("true", "1")
    rows.tx(txid, height, row.get("block_timestamp"), coinbase)
    if coinbase:
        rows.inp(txid, 0, COINBASE_TXID, COINBASE_VOUT, None, None, None)
    for inp in _etl_list(row.get("inputs")):
        addrs = _etl_list(inp.get("addresses"))
        addr = str(addrs[0]) if len(addrs) == 1 else None
        source = "data"
        if addr is None:
            wit = [x(w) for w in _etl_list(inp.get("txinwitness"))]
            addr = input_address(x(inp.get("script_hex") or ""), wit)
            source = "script"
        value = inp.get("value")
        rows.inp(
            txid,
            int(inp["index"]),
            str(inp["spent_transaction_hash"]),
            int(inp["spent_output_index"]),
            addr,
            None if value is None or value != value else int(value),
            source,
        )
    for out in _etl_list(row.get("outputs")):
        addrs = _etl_list(out.get("addresses"))
        spk = {"hex": out.get("script_hex"), "type": out.get("type"), "addresses": addrs}
        addr, kind = _output_fields(spk)
        rows.out(txid, int(out["index"]), addr, int(out["value"]), kind)


# ------------------------------------------------------------------ files → rows


def _add_json_record(rows: Rows, rec: Any) -> None:
    if isinstance(rec, dict) and "hash" in rec and "outputs" in rec:
        add_etl_row(rows, rec)
    else:
        add_core_doc(rows, rec)


def read_json(path: Path, rows: Rows, quarantine: Quarantine, stats: dict[str, int]) -> None:
    """A JSON document (object or list) or JSON Lines of Core responses / bitcoin-etl rows."""
    data = path.read_bytes()
    if not data.strip():
        raise InputError("empty file", path=str(path))
    try:
        doc = json.loads(data.decode("utf-8-sig"), parse_float=Decimal)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        doc = None
    if doc is not None:
        for i, rec in enumerate(doc if isinstance(doc, list) else [doc]):
            _add_whole(
                rows,
                stats,
                quarantine,
                {"row": i},
                "",
                _add_json_record,
                rows,
                rec,
            )
        return
    for lineno, line in enumerate(data.splitlines(), 1):
        if not line.strip():
            continue
        _add_whole(
            rows,
            stats,
            quarantine,
            {"line": lineno},
            "",
            _add_json_line,
            rows,
            line,
            lineno == 1,
        )


def _add_json_line(rows: Rows, line: bytes, first: bool) -> None:
    try:
        text = line.decode("utf-8-sig" if first else "utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    _add_json_record(rows, json.loads(text, parse_float=Decimal))


def read_etl_csv(path: Path, rows: Rows, quarantine: Quarantine, stats: dict[str, int]) -> None:
    """bitcoin-etl rows as CSV; ``inputs``/``outputs`` hold JSON arrays."""
    # undecodable bytes become lone surrogates, which the row check rejects (that row only)
    with open(path, newline="", encoding="utf-8-sig", errors="surrogateescape") as fh:
        reader = csv.DictReader(fh)
        try:
            names = reader.fieldnames
        except csv.Error as exc:
            raise InputError(f"not a readable CSV file ({exc})", path=str(path)) from None
        if not names or "hash" not in names:
            raise InputError("not a bitcoin-etl CSV (no 'hash' column)", path=str(path))
        while True:
            try:
                rec = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                quarantine({"line": reader.line_num, "error": f"malformed CSV: {exc}"})
                continue
            _add_whole(
                rows,
                stats,
                quarantine,
                {"line": reader.line_num},
                "",
                add_etl_row,
                rows,
                rec,
            )


def read_etl_parquet(path: Path, rows: Rows, quarantine: Quarantine, stats: dict[str, int]) -> None:
    """bitcoin-etl / BigQuery rows as Parquet (nested ``inputs``/``outputs``)."""
    try:
        pf = pq.ParquetFile(path)
        names = pf.schema_arrow.names
    except Exception as exc:  # pyarrow raises several types for a file that is not Parquet
        raise InputError(
            f"not a readable Parquet file ({type(exc).__name__})", path=str(path)
        ) from None
    if "hash" not in names:
        raise InputError("not a bitcoin-etl Parquet file (no 'hash' column)", path=str(path))
    row_no = 0
    batches = pf.iter_batches(batch_size=10_000)
    while True:
        try:
            batch = next(batches)
            records = batch.to_pylist()
        except StopIteration:
            break
        except Exception as exc:  # a corrupt page: the rows from here on cannot be read
            quarantine({"row": row_no, "error": f"unreadable Parquet data: {exc}"})
            break
        for rec in records:
            _add_whole(
                rows,
                stats,
                quarantine,
                {"row": row_no},
                "",
                add_etl_row,
                rows,
                rec,
            )
            row_no += 1


READERS: dict[str, Callable[[Path, Rows, Quarantine, dict[str, int]], None]] = {
    ".raw": read_raw_blocks,
    ".dat": read_raw_blocks,
    ".blk": read_raw_blocks,
    ".bin": read_raw_blocks,
    ".hex": read_hex,
    ".txt": read_hex,
    ".json": read_json,
    ".jsonl": read_json,
    ".ndjson": read_json,
    ".csv": read_etl_csv,
    ".parquet": read_etl_parquet,
}


def expand_inputs(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Files named, with folders expanded to the readable files inside them (sorted)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.is_file() and f.suffix in READERS))
        elif p.is_file():
            if p.suffix.lower() not in READERS:
                raise InputError(
                    f"unknown chain file type {p.suffix!r} (expected one of {sorted(READERS)})",
                    path=str(p),
                )
            out.append(p)
        else:
            raise InputError("no such file or folder", path=str(p))
    if not out:
        raise InputError("no chain files found in the inputs given")
    return out


# ------------------------------------------------------------------ the pipeline


def _part_key(path: Path) -> str:
    st = path.stat()
    return hashlib.sha1(f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:16]


def _ingest_file(path: Path, parts: Path) -> dict[str, Any]:
    """Read one file into checkpointed part tables; returns its stats (read from disk if done)."""
    key = _part_key(path)
    done = parts / f"{key}.done.json"
    if done.exists():
        return dict(json.loads(done.read_text()))
    rows, stats = Rows(), {"quarantined": 0}
    qrows: list[dict[str, Any]] = []

    def quarantine(rec: dict[str, Any]) -> None:
        rec = {"file": str(path), **rec}
        log.warning("quarantined %s", rec)
        qrows.append(rec)
        stats["quarantined"] += 1

    READERS[path.suffix.lower()](path, rows, quarantine, stats)
    for name, table in rows.tables().items():
        pq.write_table(table, parts / f"{key}.{name}.parquet")
    write_quarantine(qrows, parts / f"{key}.quarantine.jsonl")
    result = {
        "file": str(path),
        "key": key,
        "transactions": len(rows.transactions["txid"]),
        **stats,
    }
    write_json(result, done)
    return result


def read_mempool_log(path: str | os.PathLike[str]) -> pd.DataFrame:
    """``txid, first_seen`` (earliest per txid) from a ``mempool-watch`` JSON Lines log."""
    recs, bad = [], 0
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                recs.append((str(rec["txid"]), rec["first_seen"]))
            except (json.JSONDecodeError, KeyError, TypeError):
                bad += 1
                log.warning("%s line %d: not a mempool log record; skipped", path, lineno)
    df = pd.DataFrame(recs, columns=["txid", "first_seen"])
    df["first_seen"] = pd.to_datetime(df["first_seen"], utc=True, format="ISO8601").dt.floor("us")
    df = df.groupby("txid", as_index=False).agg(first_seen=("first_seen", "min"))
    df.attrs["bad_lines"] = bad
    return df


def resolve_inputs(inputs: pd.DataFrame, outputs: pd.DataFrame) -> pd.DataFrame:
    """Fill input address and value from outputs spent within the same data."""
    spent = outputs[["txid", "n", "address", "value_sat"]].rename(
        columns={"txid": "spent_txid", "n": "spent_vout", "address": "_a", "value_sat": "_v"}
    )
    spent["spent_vout"] = spent["spent_vout"].astype("int64")
    merged = inputs.merge(spent, on=["spent_txid", "spent_vout"], how="left")
    found = merged["_v"].notna()
    merged.loc[found & merged["value_sat"].isna(), "value_sat"] = merged["_v"]
    derived = merged["address_source"].eq("script") & merged["_a"].notna()
    merged.attrs["script_disagrees_with_spent_output"] = int(
        (derived & merged["address"].ne(merged["_a"])).sum()
    )
    take = found & merged["_a"].notna() & merged["address_source"].ne("data")
    merged.loc[take, "address"] = merged.loc[take, "_a"]
    merged.loc[take, "address_source"] = "spent_output"
    return merged.drop(columns=["_a", "_v"])


def ingest(
    paths: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    mempool_log: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Ingest ``paths`` into ``out_dir/{transactions,inputs,outputs}.parquet``; returns the summary."""
    out = Path(out_dir)
    files = expand_inputs(paths)
    parts = out / ".parts"
    parts.mkdir(parents=True, exist_ok=True)
    results = [_ingest_file(f, parts) for f in track(files, "chain files")]

    tables: dict[str, pd.DataFrame] = {}
    for name, schema in SCHEMAS.items():
        pieces = [pq.read_table(parts / f"{r['key']}.{name}.parquet") for r in results]
        tables[name] = pa.concat_tables(pieces).cast(schema).to_pandas()
    tx = tables["transactions"].drop_duplicates("txid", keep="first")
    inputs = tables["inputs"].drop_duplicates(["txid", "index"], keep="first")
    outputs = tables["outputs"].drop_duplicates(["txid", "n"], keep="first")
    inputs = resolve_inputs(inputs, outputs)

    summary: dict[str, Any] = {"files": len(files)}
    if mempool_log is not None:
        seen = read_mempool_log(mempool_log)
        tx = tx.drop(columns="first_seen").merge(seen, on="txid", how="left")
        summary["mempool_log_txids"] = len(seen)
        summary["first_seen_known"] = int(tx["first_seen"].notna().sum())

    # summary.json is the commit marker: removed before the tables are replaced, written last
    (out / "summary.json").unlink(missing_ok=True)
    for name, df in (("transactions", tx), ("inputs", inputs), ("outputs", outputs)):
        table = pa.Table.from_pandas(df, schema=SCHEMAS[name], preserve_index=False)
        with atomic_path(out / f"{name}.parquet") as tmp:
            pq.write_table(table, tmp)
    with atomic_open(out / "quarantine.jsonl") as fh:
        for r in results:
            fh.write((parts / f"{r['key']}.quarantine.jsonl").read_text(encoding="utf-8"))

    spending = inputs["spent_txid"] != COINBASE_TXID
    summary.update(
        transactions=len(tx),
        inputs=len(inputs),
        outputs=len(outputs),
        coinbase_inputs=int((~spending).sum()),
        inputs_unresolved=int((spending & inputs["address"].isna()).sum()),
        # A check on chain.address: derived input addresses that the spent output contradicts.
        script_disagrees_with_spent_output=inputs.attrs.get(
            "script_disagrees_with_spent_output", 0
        ),
        input_address_sources={
            str(k): int(v) for k, v in inputs.loc[spending, "address_source"].value_counts().items()
        },
        blocks=sum(int(r.get("blocks", 0)) for r in results),
        merkle_mismatch_blocks=sum(int(r.get("merkle_mismatch_blocks", 0)) for r in results),
        quarantined=sum(int(r["quarantined"]) for r in results),
        per_file=results,
    )
    write_json(summary, out / "summary.json")
    shutil.rmtree(parts, ignore_errors=True)
    log.info(
        "ingested %d transactions, %d inputs (%d unresolved), %d outputs; %d quarantined",
        summary["transactions"],
        summary["inputs"],
        summary["inputs_unresolved"],
        summary["outputs"],
        summary["quarantined"],
    )
    return summary
