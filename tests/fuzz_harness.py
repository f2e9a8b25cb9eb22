"""Fuzz targets shared by ``tests/test_fuzz.py`` (hypothesis, a small fixed budget) and
``scripts/fuzz.py`` (atheris or hypothesis, long runs for the record).

Every entry point that reads outside data is a :class:`Target`: ``run(data, workdir)`` writes
``data`` where the entry point reads it (a file of the target's format, a request body, one
file of an exported model folder) and calls it. The contract checked (:func:`expect_clean`):
the call works, or raises :class:`~adowner.errors.InputError` whose message is one line naming
the file; bad parts that a reader quarantines carry their file and row/line/offset. Anything
else (another exception type, a 5xx from the service, a broken accounting) raises, which is a
finding. ``seeds()`` are well-formed inputs to mutate from; ``strategy()`` the hypothesis
strategy of inputs (well-formed, mutated, or random bytes).
"""

from __future__ import annotations

import csv
import io
import json
import math
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from adowner.errors import AdownerError, InputError

SLOW_S = 20.0  # one input taking longer than this is reported as a hang


class Finding(AssertionError):
    """The entry point broke its contract on an input."""


def expect_clean(call: Callable[[], Any], path: Path | str) -> Any:
    """``call()``'s result, or None when it raised a one-line ``InputError`` naming ``path``."""
    started = time.monotonic()
    try:
        return call()
    except InputError as exc:
        msg = str(exc)
        if "\n" in msg or str(path) not in msg:
            raise Finding(f"InputError not one line naming {path}: {msg[:300]!r}") from exc
        return None
    finally:
        if time.monotonic() - started > SLOW_S:
            raise Finding(f"took {time.monotonic() - started:.0f} s (> {SLOW_S:.0f} s)")


# ------------------------------------------------------------------ mutations


@st.composite
def mutated(draw: st.DrawFn, base: st.SearchStrategy[bytes], max_ops: int = 4) -> bytes:
    """``base``'s bytes with up to ``max_ops`` flips, cuts, inserts, deletions or repeats."""
    data = bytearray(draw(base))
    for _ in range(draw(st.integers(0, max_ops))):
        op = draw(st.sampled_from(("flip", "truncate", "insert", "delete", "repeat")))
        pos = draw(st.integers(0, len(data)))
        if op == "flip" and pos < len(data):
            data[pos] = draw(st.integers(0, 255))
        elif op == "truncate":
            del data[pos:]
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 16))]
        elif op == "repeat":
            data[pos:pos] = data[pos : pos + draw(st.integers(1, 64))]
    return bytes(data)


def inputs(
    structured: st.SearchStrategy[bytes], max_random: int = 2048
) -> st.SearchStrategy[bytes]:
    """Well-formed inputs, the same mutated, and random bytes."""
    return st.one_of(structured, mutated(structured), st.binary(max_size=max_random))


TRICKY_TEXT = [
    "",
    " ",
    "\x00",
    "\ufeff",
    "\ud800",
    "\udcff",
    '"',
    '""',
    "'",
    ",",
    ";",
    "\t",
    "|",
    "\r",
    "\n",
    "\r\n",
    "\u2028",
    "1e400",
    "-0",
    "nan",
    "NaN",
    "inf",
    "9" * 30,
    "2014-01-01",
    "2014-13-45T25:61:00",
    "1388534400",
    "-99999999999",
    "true",
    "yes",
    "💋" * 5,
    "é",
    "[PHONE]",
    "202-555-0143",
    "a@b.co",
    "<b>x</b>",
    "&amp;",
]

text_cells = st.one_of(st.text(max_size=30), st.sampled_from(TRICKY_TEXT))
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    text_cells,
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(text_cells, inner, max_size=4)
    ),
    max_leaves=12,
)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=True, allow_nan=True)


@st.composite
def mutated_json(draw: st.DrawFn, template: Any, max_ops: int = 3) -> Any:
    """``template`` with up to ``max_ops`` values replaced, keys deleted or lists emptied."""
    obj = json.loads(json.dumps(template))
    for _ in range(draw(st.integers(0, max_ops))):
        paths = list(_json_paths(obj))
        path = draw(st.sampled_from(paths))
        if not path:
            continue
        parent = obj
        for p in path[:-1]:
            parent = parent[p]
        op = draw(st.sampled_from(("replace", "replace", "delete")))
        if op == "delete":
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(json_values)
    return obj


def _json_paths(obj: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _json_paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _json_paths(v, (*prefix, i))


# ------------------------------------------------------------------ targets


@dataclass
class Target:
    name: str
    what: str  # the entry point, for reports
    run: Callable[[bytes, Path], None]
    strategy: Callable[[], st.SearchStrategy[bytes]]
    seeds: Callable[[], list[bytes]]


def run_in_tmp(target: Target, data: bytes) -> None:
    with tempfile.TemporaryDirectory(prefix=f"fuzz-{target.name}-") as tmp:
        target.run(data, Path(tmp))


# ---- ad readers: load_ads (read, validate, mask) on one file


AD_COLUMNS = [
    "ad_id",
    "title",
    "body",
    "text",
    "posted_at",
    "site",
    "location",
    "price_usd",
    "price_btc",
    "owner",
    "sponsored",
    "vendor",
]
ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "cp1252", "latin-1"]


def _load_ads(path: Path) -> None:
    from adowner.data.prepare import load_ads
    from adowner.data.schema import DataConfig

    loaded = expect_clean(lambda: load_ads([path], config=DataConfig(show_progress=False)), path)
    if loaded is None:
        return
    c = loaded.counts
    if c["read"] != c["kept"] + c["quarantined"] or len(loaded.frame) != c["kept"]:
        raise Finding(f"row accounting broken: {c}")
    for q in loaded.quarantine:
        if q.get("file") != str(path) or not isinstance(q.get("row"), int):
            raise Finding(f"quarantine record without file and row: {q}")
    for col in ("text", "title", "body"):
        for v in loaded.frame[col]:
            if not isinstance(v, str):
                raise Finding(f"kept row with non-text {col}: {v!r}")
            v.encode("utf-8")  # raises on a surrogate that got through


def _ads_runner(suffix: str) -> Callable[[bytes, Path], None]:
    def run(data: bytes, tmp: Path) -> None:
        path = tmp / f"ads{suffix}"
        path.write_bytes(data)
        _load_ads(path)

    return run


@st.composite
def csv_tables(draw: st.DrawFn) -> tuple[list[list[str]], str, str]:
    header = draw(st.lists(st.sampled_from(AD_COLUMNS), min_size=1, max_size=6, unique=True))
    if draw(st.booleans()):
        header.append(draw(text_cells))
    rows = draw(
        st.lists(
            st.lists(text_cells, min_size=len(header), max_size=len(header)), min_size=1, max_size=6
        )
    )
    return [header, *rows], draw(st.sampled_from(",;\t|")), draw(st.sampled_from(ENCODINGS))


def encode_csv(rows: list[list[str]], delimiter: str, encoding: str) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter).writerows(rows)
    return buf.getvalue().encode(encoding, errors="replace")


def csv_bytes() -> st.SearchStrategy[bytes]:
    return csv_tables().map(lambda t: encode_csv(*t))


@st.composite
def jsonl_bytes(draw: st.DrawFn) -> bytes:
    keys = st.one_of(st.sampled_from(AD_COLUMNS), text_cells)
    lines = []
    for rec in draw(
        st.lists(st.dictionaries(keys, json_values, max_size=6), min_size=1, max_size=6)
    ):
        lines.append(_dumps(rec))
    if draw(st.booleans()):
        lines.insert(draw(st.integers(0, len(lines))), _dumps(draw(json_values)))
    text = "\n".join(lines) + draw(st.sampled_from(["", "\n", "\r\n"]))
    return (b"\xef\xbb\xbf" if draw(st.booleans()) else b"") + text.encode("utf-8", "surrogatepass")


_PARQUET_COLUMN = st.sampled_from(("str", "int", "float", "bool", "bytes", "ts", "list", "null"))


@st.composite
def ad_frames(draw: st.DrawFn, kinds: tuple[str, ...] | None = None) -> Any:
    import pandas as pd

    n = draw(st.integers(1, 5))
    cols = draw(st.lists(st.sampled_from(AD_COLUMNS), min_size=1, max_size=6, unique=True))
    data: dict[str, Any] = {}
    for c in cols:
        kind = draw(st.sampled_from(kinds) if kinds else _PARQUET_COLUMN)
        cell = {
            "str": st.one_of(st.none(), st.text(max_size=20), st.sampled_from(TRICKY_TEXT[:4])),
            "int": st.integers(-(2**63), 2**63 - 1),
            "float": st.floats(allow_nan=True, allow_infinity=True),
            "bool": st.booleans(),
            "bytes": st.binary(max_size=10),
            "ts": st.datetimes(),
            "list": st.lists(st.text(max_size=5), max_size=3),
            "null": st.none(),
        }[kind]
        data[c] = draw(st.lists(cell, min_size=n, max_size=n))
    return pd.DataFrame(data)


def _surrogate_free(df: Any) -> Any:
    return df.map(
        lambda v: v.encode("utf-8", "replace").decode("utf-8") if isinstance(v, str) else v
    )


@st.composite
def parquet_bytes(draw: st.DrawFn) -> bytes:
    df = draw(ad_frames())
    buf = io.BytesIO()
    try:
        df.to_parquet(buf, index=False)
    except Exception:  # a column pyarrow cannot type: write it as text
        buf = io.BytesIO()
        _surrogate_free(df.astype(str)).to_parquet(buf, index=False)
    return buf.getvalue()


@st.composite
def xlsx_bytes(draw: st.DrawFn) -> bytes:
    import re

    df = draw(ad_frames(("str", "int", "float", "bool", "null")))
    # openpyxl refuses control characters in cells; that is the writer's limit, not the reader's
    df = _surrogate_free(df).map(
        lambda v: re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", "", v) if isinstance(v, str) else v
    )
    df = df.map(lambda v: None if isinstance(v, float) and not math.isfinite(v) else v)
    buf = io.BytesIO()
    df.to_excel(buf, index=False)
    return _fixed_time_zip(buf.getvalue())


def _fixed_time_zip(blob: bytes) -> bytes:
    """The same archive with the writer's clock taken out: openpyxl stamps ``docProps/core.xml``
    and every member with the time of writing, so the compressed size (and with it the draws
    of ``mutated``, which depend on the length) changed between runs of one example, and
    Hypothesis stopped with ``FlakyStrategyDefinition`` (CI, ads-xlsx)."""
    import re
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(blob)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                data = re.sub(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", b"2015-07-01T00:00:00Z", data)
            fixed = zipfile.ZipInfo(info.filename, date_time=(2015, 7, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(fixed, data)
    return out.getvalue()


@st.composite
def posts_xml_bytes(draw: st.DrawFn) -> bytes:
    from xml.sax.saxutils import quoteattr

    rows = []
    attrs = st.sampled_from(("Id", "PostTypeId", "Title", "Body", "OwnerUserId", "CreationDate"))
    for _ in range(draw(st.integers(0, 5))):
        fields = draw(st.dictionaries(attrs, text_cells, max_size=6))
        if draw(st.booleans()):
            fields["Body"] = draw(
                st.sampled_from(["<p>hi <b>there</b></p>", "<li>a", "</p>&amp;&#0;", "<<>>"])
            )
        safe = {k: v.encode("utf-8", "replace").decode("utf-8") for k, v in fields.items()}
        xml_ok = {
            k: "".join(ch for ch in v if ch in "\t\n\r" or ord(ch) >= 0x20) for k, v in safe.items()
        }
        rows.append("  <row " + " ".join(f"{k}={quoteattr(v)}" for k, v in xml_ok.items()) + " />")
    prolog = draw(
        st.sampled_from(
            [
                '<?xml version="1.0" encoding="utf-8"?>\n',
                "",
                '<!DOCTYPE posts [<!ENTITY a "aaaa">]>\n',
                '<?xml version="1.0" encoding="utf-16"?>\n',
            ]
        )
    )
    return (prolog + "<posts>\n" + "\n".join(rows) + "\n</posts>\n").encode("utf-8")


# ---- chain parsers: ingest one file into a fresh folder


def _tx_block() -> Any:
    """A two-transaction block (coinbase + a P2PKH spend to P2WPKH), merkle root set."""
    from bitcoin.core import CBlock, COutPoint, CScript, CTransaction, CTxIn, CTxOut
    from bitcoin.wallet import P2PKHBitcoinAddress, P2WPKHBitcoinAddress

    pub = bytes.fromhex("0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798")
    sig = bytes.fromhex("30" + "44" * 70)
    p2pkh = P2PKHBitcoinAddress.from_pubkey(pub).to_scriptPubKey()
    cb = CTransaction([CTxIn(COutPoint(), CScript([100, b"fuzz"]))], [CTxOut(50 * 10**8, p2pkh)])
    wpkh = P2WPKHBitcoinAddress.from_bytes(0, b"\x22" * 20).to_scriptPubKey()
    spend = CTransaction(
        [CTxIn(COutPoint(cb.GetTxid(), 0), CScript([sig, pub]))], [CTxOut(49 * 10**8, wpkh)]
    )
    blk = CBlock(nVersion=2, nTime=1_435_708_900, vtx=[cb, spend])
    return CBlock(
        nVersion=2, hashMerkleRoot=blk.calc_merkle_root(), nTime=blk.nTime, vtx=[cb, spend]
    )


def _block_bytes() -> bytes:
    return bytes(_tx_block().serialize())


def _tx_hexes() -> list[str]:
    return [bytes(tx.serialize()).hex() for tx in _tx_block().vtx]


def core_block_doc() -> dict[str, Any]:
    """The block as ``getblock <hash> 3`` gives it (prevout on the spending input)."""
    from bitcoin.core import b2lx

    from adowner.chain.address import script_address

    blk = _tx_block()

    def vout(tx: Any) -> list[dict[str, Any]]:
        out = []
        for n, o in enumerate(tx.vout):
            addr, kind = script_address(bytes(o.scriptPubKey))
            spk = {"hex": bytes(o.scriptPubKey).hex(), "type": kind, "address": addr}
            out.append({"value": o.nValue / 1e8, "n": n, "scriptPubKey": spk})
        return out

    cb, spend = blk.vtx
    txs = [
        {
            "txid": b2lx(cb.GetTxid()),
            "vin": [{"coinbase": "0164", "sequence": 0xFFFFFFFF}],
            "vout": vout(cb),
        },
        {
            "txid": b2lx(spend.GetTxid()),
            "vin": [
                {
                    "txid": b2lx(cb.GetTxid()),
                    "vout": 0,
                    "scriptSig": {"hex": bytes(spend.vin[0].scriptSig).hex()},
                    "txinwitness": [],
                    "prevout": {"value": 50.0, "scriptPubKey": vout(cb)[0]["scriptPubKey"]},
                }
            ],
            "vout": vout(spend),
        },
    ]
    return {"hash": b2lx(blk.GetHash()), "height": 100, "time": blk.nTime, "tx": txs}


def etl_row() -> dict[str, Any]:
    """The spending transaction as a bitcoin-etl / BigQuery row."""
    doc = core_block_doc()
    spend = doc["tx"][1]
    vin, vout = spend["vin"][0], spend["vout"][0]
    return {
        "hash": spend["txid"],
        "block_number": 100,
        "block_timestamp": "2015-07-01 00:01:40 UTC",
        "is_coinbase": False,
        "inputs": [
            {
                "index": 0,
                "spent_transaction_hash": vin["txid"],
                "spent_output_index": 0,
                "script_hex": vin["scriptSig"]["hex"],
                "addresses": [vin["prevout"]["scriptPubKey"]["address"]],
                "value": 5_000_000_000,
                "txinwitness": [],
            }
        ],
        "outputs": [
            {
                "index": 0,
                "script_hex": vout["scriptPubKey"]["hex"],
                "type": vout["scriptPubKey"]["type"],
                "addresses": [vout["scriptPubKey"]["address"]],
                "value": 4_900_000_000,
            }
        ],
    }


def _ingest(path: Path, tmp: Path) -> None:
    from adowner.chain.ingest import ingest

    out = tmp / "chain"
    summary = expect_clean(lambda: ingest([path], out), path)
    if summary is None:
        return
    lines = (out / "quarantine.jsonl").read_text(encoding="utf-8").splitlines()
    if len(lines) != summary["quarantined"]:
        raise Finding(f"{len(lines)} quarantine lines, summary says {summary['quarantined']}")
    for line in lines:
        rec = json.loads(line)
        if rec.get("file") != str(path) or not ({"offset", "line", "row"} & set(rec)):
            raise Finding(f"quarantine record without file and offset/line/row: {rec}")
    import pandas as pd

    for name in ("transactions", "inputs", "outputs"):
        pd.read_parquet(out / f"{name}.parquet")  # what was written reads back


def _chain_runner(suffix: str) -> Callable[[bytes, Path], None]:
    def run(data: bytes, tmp: Path) -> None:
        path = tmp / f"chain{suffix}"
        path.write_bytes(data)
        _ingest(path, tmp)

    return run


@st.composite
def hex_lines(draw: st.DrawFn) -> bytes:
    pool = [*_tx_hexes(), _block_bytes().hex()]
    lines = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=4))
    if draw(st.booleans()):  # a mutation inside the decoded bytes, then hex again
        k = draw(st.integers(0, len(lines) - 1))
        lines[k] = draw(mutated(st.just(bytes.fromhex(lines[k])))).hex()
    if draw(st.booleans()):
        lines.append(draw(st.text(alphabet="0123456789abcdefABCDEFxg \t", max_size=40)))
    return "\n".join(lines).encode()


@st.composite
def blk_files(draw: st.DrawFn) -> bytes:
    from adowner.chain.ingest import MAGICS

    block = _block_bytes()
    if draw(st.booleans()):
        return draw(mutated(st.just(block)))  # a bare serialized block
    out = b""
    for _ in range(draw(st.integers(1, 3))):
        magic = draw(st.sampled_from(list(MAGICS)))
        body = draw(st.one_of(st.just(block), mutated(st.just(block)), st.binary(max_size=100)))
        size = draw(st.one_of(st.just(len(body)), st.integers(0, 2**32 - 1)))
        out += magic + size.to_bytes(4, "little") + body
    return out + b"\0" * draw(st.integers(0, 8))


@st.composite
def chain_json_bytes(draw: st.DrawFn) -> bytes:
    doc = core_block_doc()
    templates = [doc, doc["tx"][1], {"result": doc, "error": None, "id": 1}, etl_row()]
    docs = [
        draw(mutated_json(draw(st.sampled_from(templates)))) for _ in range(draw(st.integers(1, 3)))
    ]
    if draw(st.booleans()):
        text = "\n".join(_dumps(d) for d in docs)  # JSON Lines
    else:
        text = _dumps(docs if len(docs) > 1 else docs[0])
    return text.encode("utf-8", "surrogatepass")


@st.composite
def etl_csv_bytes(draw: st.DrawFn) -> bytes:
    rows = [draw(mutated_json(etl_row())) for _ in range(draw(st.integers(1, 3)))]
    cols = ["hash", "block_number", "block_timestamp", "is_coinbase", "inputs", "outputs"]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(cols)
    for r in rows:
        w.writerow(
            [
                _dumps(r.get(c))
                if isinstance(r.get(c), list | dict)
                else ("" if r.get(c) is None else r.get(c))
                for c in cols
            ]
        )
    return buf.getvalue().encode("utf-8", "surrogatepass")


@st.composite
def etl_parquet_bytes(draw: st.DrawFn) -> bytes:
    import pandas as pd

    row = etl_row()
    rows = []
    for _ in range(draw(st.integers(1, 3))):
        r = json.loads(json.dumps(row))
        # typed changes only: Parquet columns have one type
        r["block_number"] = draw(st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)))
        r["block_timestamp"] = draw(
            st.sampled_from([None, "", "2015-07-01", "garbage", "99999-01-01"])
        )
        for item in r["inputs"] + r["outputs"]:
            item["value"] = draw(st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)))
            item["index"] = draw(st.integers(-(2**31), 2**31 - 1))
            item["script_hex"] = draw(st.sampled_from([item["script_hex"], "", "zz", "00"]))
        if draw(st.booleans()):
            r["inputs"] = []
        rows.append(r)
    buf = io.BytesIO()
    pd.DataFrame(rows).to_parquet(buf, index=False)
    return buf.getvalue()


# ---- rates reader


@st.composite
def rates_bytes(draw: st.DrawFn) -> bytes:
    layout = draw(
        st.sampled_from(
            [
                ["timestamp", "price_usd"],
                ["Date", "Open", "High", "Low", "Close"],
                ["Date", "Close Price"],
            ]
        )
    )
    times = st.one_of(
        st.datetimes().map(str),
        st.sampled_from(
            ["2015-07-01", "2015-07-01T00:00:00Z", "07/01/2015", "1435708800", "x", ""]
        ),
        text_cells,
    )
    prices = st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(str), text_cells)
    rows = [layout]
    for _ in range(draw(st.integers(0, 6))):
        rows.append([draw(times)] + [draw(prices) for _ in layout[1:]])
    if draw(st.booleans()):
        rows.append(["Data by CoinDesk"])
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    return buf.getvalue().encode("utf-8", "surrogatepass")


def _rates(data: bytes, tmp: Path) -> None:
    import numpy as np
    import pandas as pd

    from adowner.chain.rates import rate_at, read_rates

    path = tmp / "rates.csv"
    path.write_bytes(data)
    series = expect_clean(lambda: read_rates(path), path)
    if series is None:
        return
    if not (np.isfinite(series.to_numpy()).all() and (series > 0).all()):
        raise Finding("read_rates kept a non-finite or non-positive price")
    times = pd.to_datetime(["2015-07-01 12:00", "1970-01-01 00:00", "2262-01-01 00:00"], utc=True)
    rate_at(series, times)


# ---- the service's request bodies


@dataclass
class ServeState:
    url: str
    client: Any


@st.composite
def request_bodies(draw: st.DrawFn) -> bytes:
    body = draw(
        st.one_of(
            st.fixed_dictionaries({"texts": st.lists(text_cells, max_size=5)}),
            st.fixed_dictionaries(
                {"a": text_cells, "b": text_cells},
                optional={"fpr": st.one_of(st.sampled_from([0.01, 0.001]), json_scalars)},
            ),
            mutated_json({"texts": ["HOT new girl", "call now"]}),
            mutated_json({"a": "HOT new girl", "b": "call now", "fpr": 0.01}),
            json_values,
        )
    )
    text = _dumps(body)
    if draw(st.booleans()):
        return draw(mutated(st.just(text.encode("utf-8", "surrogatepass"))))
    return text.encode("utf-8", "surrogatepass")


# ---- the model-folder loader


MODEL_FILES = ("adowner.json", "hybrid.json", "model_ort.onnx", "model.onnx", "tokenizer.json")


def model_file_bytes(folder: Path, name: str) -> st.SearchStrategy[bytes]:
    """Inputs for one file of an exported model: its JSON with values changed, or its bytes
    mutated (a few flips in a 4 MB ONNX file mostly land in weights; cuts break the graph)."""
    original = (folder / name).read_bytes()
    ops = mutated(st.just(original), max_ops=3)
    if name.endswith(".json") and len(original) < 100_000:
        tree = json.loads(original)
        structured = mutated_json(tree).map(lambda o: _dumps(o).encode("utf-8", "surrogatepass"))
        return st.one_of(structured, ops, st.binary(max_size=256))
    return st.one_of(ops, st.binary(max_size=256))


def load_model_with(folder: Path, name: str, data: bytes, tmp: Path) -> None:
    """Copy ``folder`` with ``name`` replaced by ``data``; load it and embed and score two ads."""
    import numpy as np

    import adowner

    work = tmp / "model"
    shutil.copytree(folder, work)
    if name == "model.onnx":  # so that model.onnx, not the fused copy, is what loads
        (work / "model_ort.onnx").unlink()
    (work / name).write_bytes(data)

    # a changed ONNX file must be what runs: on a CPU with native bf16 backend="auto" would
    # take PyTorch and never read it
    backend = "onnx" if name.endswith(".onnx") else "auto"

    def use() -> Any:
        enc = adowner.load(work, threads=1, backend=backend)
        emb = enc.embed(["HOT new girl in town", "call me now 💋"])
        if emb.shape != (2, enc.dimension) or not np.isfinite(emb).all():
            raise Finding(f"embeddings of shape {emb.shape}, finite: {np.isfinite(emb).all()}")
        try:
            score, _ = enc.same_owner("HOT new girl", "HOT new girl!!", fpr=0.01)
        except AdownerError as exc:  # e.g. no threshold for 1% in the changed adowner.json
            if "threshold" not in str(exc):
                raise
        else:
            if not math.isfinite(score):
                raise Finding(f"same-owner score {score}")
        return enc

    expect_clean(use, work)


def build_model_folder(root: Path) -> Path:
    """A tiny exported model with ONNX (plain and fused) and the hybrid score (about 15 s)."""
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from adowner.backbones import build_tiny_bert
    from adowner.export.export import export_checkpoint
    from test_export_fixtures import generated_ads, make_checkpoint, make_prepared

    backbone = build_tiny_bert(root / "tiny-bert")
    ckpt = make_checkpoint(backbone, root)
    prepared = make_prepared(root / "prepared")
    generated_ads(60, seed=2).to_parquet(prepared / "train.parquet", index=False)
    out = root / "tiny-model"
    export_checkpoint(ckpt, out, data=prepared, onnx=True, hybrid=True)
    return out


# ---- the registry


def _seeds(strategy: st.SearchStrategy[bytes], n: int = 8) -> Callable[[], list[bytes]]:
    def seeds() -> list[bytes]:
        import warnings

        from hypothesis.errors import NonInteractiveExampleWarning

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NonInteractiveExampleWarning)
            return [strategy.example() for _ in range(n)]

    return seeds


def _file_target(
    name: str,
    what: str,
    run: Callable[[bytes, Path], None],
    structured: Callable[[], st.SearchStrategy[bytes]],
) -> Target:
    return Target(name, what, run, lambda: inputs(structured()), _seeds_lazy(structured))


def _seeds_lazy(structured: Callable[[], st.SearchStrategy[bytes]]) -> Callable[[], list[bytes]]:
    return lambda: _seeds(structured())()


FILE_TARGETS: dict[str, Target] = {
    t.name: t
    for t in [
        _file_target("ads-csv", "load_ads(.csv)", _ads_runner(".csv"), csv_bytes),
        _file_target("ads-tsv", "load_ads(.tsv)", _ads_runner(".tsv"), csv_bytes),
        _file_target("ads-jsonl", "load_ads(.jsonl)", _ads_runner(".jsonl"), jsonl_bytes),
        _file_target("ads-parquet", "load_ads(.parquet)", _ads_runner(".parquet"), parquet_bytes),
        _file_target("ads-xlsx", "load_ads(.xlsx)", _ads_runner(".xlsx"), xlsx_bytes),
        _file_target(
            "ads-xml", "load_ads(.xml, beer adapter)", _ads_runner(".xml"), posts_xml_bytes
        ),
        _file_target("chain-hex", "ingest(.hex)", _chain_runner(".hex"), hex_lines),
        _file_target("chain-blocks", "ingest(.dat/.raw)", _chain_runner(".dat"), blk_files),
        _file_target(
            "chain-json", "ingest(.json, Core + etl)", _chain_runner(".json"), chain_json_bytes
        ),
        _file_target(
            "chain-jsonl", "ingest(.jsonl, Core + etl)", _chain_runner(".jsonl"), chain_json_bytes
        ),
        _file_target(
            "chain-etl-csv", "ingest(.csv, bitcoin-etl)", _chain_runner(".csv"), etl_csv_bytes
        ),
        _file_target(
            "chain-etl-parquet",
            "ingest(.parquet, bitcoin-etl)",
            _chain_runner(".parquet"),
            etl_parquet_bytes,
        ),
        _file_target("rates", "read_rates + rate_at", _rates, rates_bytes),
    ]
}


# ---- the service: one POST, checked

SERVE_LIMITS = {"max_texts": 8, "max_chars": 500}
CONTENT_TYPES = ["application/json", "application/json; charset=utf-8", "text/plain", ""]
ALLOWED_STATUS = {200, 400, 409, 413, 422}


def _strict_json(body: bytes) -> Any:
    def no_constants(name: str) -> Any:
        raise ValueError(name)

    try:
        return json.loads(body.decode("utf-8"), parse_constant=no_constants)
    except ValueError:
        return None


def _valid_text(t: Any) -> bool:
    if not isinstance(t, str) or len(t) > SERVE_LIMITS["max_chars"]:
        return False
    try:
        t.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def is_good_request(endpoint: str, body: bytes, content_type: str, fprs: set[float]) -> bool:
    """Whether the service must answer 200 (a well-formed request within the limits)."""
    if not content_type.startswith("application/json"):
        return False
    obj = _strict_json(body)
    if not isinstance(obj, dict):
        return False
    if endpoint == "/embed":
        texts = obj.get("texts")
        return (
            set(obj) == {"texts"}
            and isinstance(texts, list)
            and len(texts) <= SERVE_LIMITS["max_texts"]
            and all(_valid_text(t) for t in texts)
        )
    fpr = obj.get("fpr")
    return (
        {"a", "b"} <= set(obj) <= {"a", "b", "fpr"}
        and _valid_text(obj["a"])
        and _valid_text(obj["b"])
        and (
            fpr is None
            or (
                not isinstance(fpr, bool)
                and isinstance(fpr, int | float)
                and any(abs(fpr - f) < 1e-12 for f in fprs)
            )
        )
    )


def serve_request(
    client: Any, base: str, endpoint: str, body: bytes, content_type: str, fprs: set[float]
) -> None:
    """POST ``body`` to ``endpoint``; a 5xx, an unexpected status or a lost good request is a
    finding, and so is an error answer that is not ``{"detail": str}``."""
    headers = {"content-type": content_type} if content_type else {}
    r = client.post(f"{base}{endpoint}", content=body, headers=headers, timeout=60)
    where = f"POST {endpoint} ({content_type or 'no content-type'}, {len(body)} bytes)"
    if r.status_code not in ALLOWED_STATUS:
        raise Finding(f"{where}: status {r.status_code}: {r.text[:200]!r}")
    answer = r.json()
    if r.status_code != 200 and not (
        isinstance(answer, dict) and isinstance(answer.get("detail"), str)
    ):
        raise Finding(f"{where}: error answer without a detail: {r.text[:200]!r}")
    if is_good_request(endpoint, body, content_type, fprs) and r.status_code != 200:
        raise Finding(f"{where}: a good request got {r.status_code}: {answer}")


@st.composite
def serve_cases(draw: st.DrawFn) -> tuple[str, bytes, str]:
    endpoint = draw(st.sampled_from(["/embed", "/same-owner"]))
    body = draw(st.one_of(request_bodies(), st.binary(max_size=200)))
    return endpoint, body, draw(st.sampled_from(CONTENT_TYPES))
