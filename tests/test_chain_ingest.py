"""Chain ingest: every source gives one schema; bad parts are quarantined, the rest ingested."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow.parquet as pq
import pytest
from bitcoin.core import (
    CBlock,
    COutPoint,
    CScript,
    CTransaction,
    CTxIn,
    CTxOut,
    Hash160,
    b2lx,
)
from bitcoin.core.script import OP_CHECKSIG, OP_RETURN
from bitcoin.wallet import P2PKHBitcoinAddress, P2WPKHBitcoinAddress

from adowner.chain.address import input_address, script_address, taproot_address
from adowner.chain.ingest import ingest, read_mempool_log
from adowner.chain.schema import COINBASE_TXID, SCHEMAS
from conftest import shared_file

PUBKEY = bytes.fromhex("0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798")  # G
SIG = bytes.fromhex("30" + "44" * 70)  # 71 bytes: DER-sized, content irrelevant here


def _tables(d):
    return {n: pd.read_parquet(d / f"{n}.parquet") for n in ("transactions", "inputs", "outputs")}


def _sorted(df, keys):
    return df.sort_values(keys).reset_index(drop=True)


def _tiny_block(height: int, prev: bytes = b"\0" * 32) -> CBlock:
    """A coinbase paying P2PKH(PUBKEY) and a transaction spending it with <sig> <pubkey>."""
    p2pkh = P2PKHBitcoinAddress.from_pubkey(PUBKEY).to_scriptPubKey()
    cb = CTransaction(
        [CTxIn(COutPoint(), CScript([height, b"adowner"]))], [CTxOut(50 * 10**8, p2pkh)]
    )
    spend = CTransaction(
        [CTxIn(COutPoint(cb.GetTxid(), 0), CScript([SIG, PUBKEY]))],
        [CTxOut(49 * 10**8, P2WPKHBitcoinAddress.from_bytes(0, b"\x22" * 20).to_scriptPubKey())],
    )
    blk = CBlock(nVersion=2, hashPrevBlock=prev, nTime=1_435_708_800 + height, vtx=[cb, spend])
    return CBlock(
        nVersion=2,
        hashPrevBlock=prev,
        hashMerkleRoot=blk.calc_merkle_root(),
        nTime=blk.nTime,
        vtx=[cb, spend],
    )


def test_addresses_from_scripts_and_spends():
    h = Hash160(PUBKEY)
    assert script_address(P2PKHBitcoinAddress.from_bytes(h).to_scriptPubKey()) == (
        str(P2PKHBitcoinAddress.from_bytes(h)),
        "pubkeyhash",
    )
    bare = CScript([PUBKEY, OP_CHECKSIG])
    assert script_address(bare) == (str(P2PKHBitcoinAddress.from_pubkey(PUBKEY)), "pubkey")
    assert script_address(CScript([OP_RETURN, b"hello"]))[1] == "nulldata"
    # BIP 350 test vector (witness v1, bech32m).
    prog = bytes.fromhex("79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798")
    assert taproot_address(prog) == "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0"
    assert script_address(bytes([0x51, 0x20]) + prog)[1] == "witness_v1_taproot"
    assert input_address(CScript([SIG, PUBKEY])) == str(P2PKHBitcoinAddress.from_pubkey(PUBKEY))
    assert input_address(b"", [SIG, PUBKEY]) == str(P2WPKHBitcoinAddress.from_bytes(0, h))
    assert input_address(CScript([SIG])) is None  # bare pay-to-pubkey spend reveals nothing


def test_blk_file_with_corrupt_and_truncated_parts(tmp_path):
    magic = bytes.fromhex("f9beb4d9")
    b1, b2 = _tiny_block(300_001).serialize(), _tiny_block(300_002).serialize()
    framed = lambda raw: magic + len(raw).to_bytes(4, "little") + raw  # noqa: E731
    junk = b"\x13" * 40
    data = framed(b1) + junk + framed(b2) + framed(b"\x01" * 30) + framed(b1)[:50]
    (tmp_path / "blk00000.dat").write_bytes(data + b"\0" * 64)
    summary = ingest([tmp_path / "blk00000.dat"], tmp_path / "out")
    assert summary["blocks"] == 2
    assert summary["transactions"] == 4
    assert summary["quarantined"] == 3
    q = [json.loads(x) for x in (tmp_path / "out" / "quarantine.jsonl").read_text().splitlines()]
    offsets = [r["offset"] for r in q]
    assert offsets[0] == len(framed(b1))  # the junk, reported where it starts
    assert "corrupt block" in q[1]["error"]
    assert "truncated" in q[2]["error"]
    t = _tables(tmp_path / "out")
    assert sorted(t["transactions"]["block_height"]) == [300_001, 300_001, 300_002, 300_002]
    spends = t["inputs"][t["inputs"]["spent_txid"] != COINBASE_TXID]
    assert (spends["address"] == str(P2PKHBitcoinAddress.from_pubkey(PUBKEY))).all()
    # The spent coinbase output is in the data: its value and address come from it.
    assert (spends["value_sat"] == 50 * 10**8).all()
    assert set(spends["address_source"]) == {"spent_output"}
    assert summary["inputs_unresolved"] == 0
    for name, schema in SCHEMAS.items():
        assert pq.read_schema(tmp_path / "out" / f"{name}.parquet").equals(schema)


def test_core_json_v3_rawtx_and_etl_csv_parquet_agree(tmp_path):
    blk = _tiny_block(400_000)
    cb, spend = blk.vtx
    addr_in = str(P2PKHBitcoinAddress.from_pubkey(PUBKEY))
    addr_out = str(P2WPKHBitcoinAddress.from_bytes(0, b"\x22" * 20))
    spk_in = cb.vout[0].scriptPubKey.hex()
    spk_out = spend.vout[0].scriptPubKey.hex()
    core_spend = {
        "txid": b2lx(spend.GetTxid()),
        "vin": [
            {
                "txid": b2lx(cb.GetTxid()),
                "vout": 0,
                "scriptSig": {"hex": spend.vin[0].scriptSig.hex()},
                "prevout": {"value": 50.0, "scriptPubKey": {"hex": spk_in, "addresses": [addr_in]}},
            }
        ],
        "vout": [
            {
                "n": 0,
                "value": 49.0,
                "scriptPubKey": {"hex": spk_out, "address": addr_out, "type": "witness_v0_keyhash"},
            }
        ],
    }
    # getrawtransaction verbose, wrapped, one per line (JSONL)
    raw_tx = {**core_spend, "blockhash": "00" * 32, "blocktime": blk.nTime, "height": 400_000}
    (tmp_path / "core").mkdir()
    (tmp_path / "core" / "rawtx.jsonl").write_text(
        json.dumps({"result": raw_tx, "error": None, "id": 1}) + "\n"
    )
    etl = {
        "hash": b2lx(spend.GetTxid()),
        "block_number": 400_000,
        "block_timestamp": pd.Timestamp(blk.nTime, unit="s", tz="UTC").strftime(
            "%Y-%m-%d %H:%M:%S UTC"
        ),
        "is_coinbase": False,
        "inputs": [
            {
                "index": 0,
                "spent_transaction_hash": b2lx(cb.GetTxid()),
                "spent_output_index": 0,
                "script_hex": spend.vin[0].scriptSig.hex(),
                "addresses": [addr_in],
                "value": 50 * 10**8,
            }
        ],
        "outputs": [
            {
                "index": 0,
                "script_hex": spk_out,
                "addresses": [addr_out],
                "value": 49 * 10**8,
                "type": "witness_v0_keyhash",
            }
        ],
    }
    csv_row = {**etl, "inputs": json.dumps(etl["inputs"]), "outputs": json.dumps(etl["outputs"])}
    pd.DataFrame([csv_row]).to_csv(tmp_path / "etl.csv", index=False)
    pd.DataFrame([etl]).to_parquet(tmp_path / "etl.parquet")
    ingest([tmp_path / "core"], tmp_path / "a")
    ingest([tmp_path / "etl.csv"], tmp_path / "b")
    ingest([tmp_path / "etl.parquet"], tmp_path / "c")
    a, b, c = (_tables(tmp_path / x) for x in "abc")
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name])
        pd.testing.assert_frame_equal(a[name], c[name])
    assert a["inputs"].loc[0, "value_sat"] == 50 * 10**8
    assert a["transactions"].loc[0, "block_time"] == pd.Timestamp(blk.nTime, unit="s", tz="UTC")


def test_bad_json_rows_are_quarantined_with_line_and_mempool_join(tmp_path):
    good = {
        "txid": "ab" * 32,
        "vin": [{"coinbase": "00"}],
        "vout": [{"n": 0, "value": 1.5, "scriptPubKey": {"hex": "6a"}}],
    }
    lines = [
        json.dumps(good),
        "{not json",
        json.dumps({"result": {"tx": ["ab" * 32]}, "error": None}),
    ]
    (tmp_path / "rows.jsonl").write_text("\n".join(lines) + "\n")
    log = tmp_path / "mempool.jsonl"
    log.write_text(
        json.dumps({"txid": "ab" * 32, "first_seen": "2015-07-01T00:00:05+00:00"})
        + "\n"
        + json.dumps({"txid": "ab" * 32, "first_seen": "2015-07-01T00:00:01+00:00"})
        + "\n"
        + "{torn"
    )
    s = ingest([tmp_path / "rows.jsonl"], tmp_path / "out", mempool_log=log)
    assert s["transactions"] == 1
    assert s["quarantined"] == 2
    q = [json.loads(x) for x in (tmp_path / "out" / "quarantine.jsonl").read_text().splitlines()]
    assert [r["line"] for r in q] == [2, 3]
    assert "verbosity 1" in q[1]["error"]
    t = _tables(tmp_path / "out")
    assert t["transactions"].loc[0, "first_seen"] == pd.Timestamp("2015-07-01T00:00:01Z")
    assert t["outputs"].loc[0, "value_sat"] == 150_000_000
    assert read_mempool_log(log).attrs["bad_lines"] == 1


def test_resume_skips_finished_files(tmp_path, monkeypatch):
    import adowner.chain.ingest as ing

    (tmp_path / "b.hex").write_text(_tiny_block(1).vtx[1].serialize().hex() + "\n")
    parts = tmp_path / "out" / ".parts"
    parts.mkdir(parents=True)
    first = ing._ingest_file(tmp_path / "b.hex", parts)  # as if a previous run stopped here
    calls = []
    monkeypatch.setitem(ing.READERS, ".hex", lambda *a: calls.append(a))
    s = ingest([tmp_path / "b.hex"], tmp_path / "out")
    assert calls == []
    assert s["transactions"] == first["transactions"] == 1


# ------------------------------------------------------------------ real data


@pytest.mark.real_data
def test_block_413567(tmp_path):
    s = ingest([shared_file("bitcoin/block413567.raw")], tmp_path)
    assert s["transactions"] == 1557
    assert s["inputs"] == 4887
    assert s["script_disagrees_with_spent_output"] == 0
    t = _tables(tmp_path)
    assert set(t["transactions"]["block_height"]) == {413_567}
    assert t["inputs"]["address"].notna().sum() >= 3957  # at least every P2PKH spend


@pytest.mark.real_data
def test_core_json_and_etl_rows_give_identical_tables(tmp_path):
    core = [shared_file(f"bitcoin/rpc_json/getblock_v2_{x}.json") for x in ("a", "b")]
    ingest(core, tmp_path / "core")
    ingest([shared_file("bitcoin/etl_transactions_50001-50002.jsonl")], tmp_path / "etl")
    a, b = _tables(tmp_path / "core"), _tables(tmp_path / "etl")
    keys = {"transactions": ["txid"], "inputs": ["txid", "index"], "outputs": ["txid", "n"]}
    for name, k in keys.items():
        pd.testing.assert_frame_equal(_sorted(a[name], k), _sorted(b[name], k))
    assert len(a["transactions"]) == 4
    assert set(a["transactions"]["block_height"]) == {50_001, 50_002}


@pytest.mark.real_data
def test_segwit_and_bech32_samples_parse_and_invalid_is_quarantined(tmp_path):
    folder = shared_file("bitcoin/tx_hex/segwit.hex").parent
    s = ingest([folder], tmp_path)
    assert s["quarantined"] == 1
    q = json.loads((tmp_path / "quarantine.jsonl").read_text().splitlines()[0])
    assert q["file"].endswith("invalid_tx.hex")
    assert q["line"] == 1
    out = _tables(tmp_path)["outputs"]
    assert {"witness_v0_keyhash", "witness_v0_scripthash"} <= set(out["script_type"])
    assert out["address"].str.startswith("bc1q").sum() >= 3
    assert "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa" in set(out["address"])  # the genesis block
