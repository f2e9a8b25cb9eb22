"""Address clustering: local engine = plain union-find; CoinJoin rules; change heuristic."""

from __future__ import annotations

import pandas as pd
import pytest

from adowner.chain.change import change_edges
from adowner.chain.cluster import cluster_dir, cluster_tables, load_tables
from adowner.chain.coinjoin import (
    coinjoin_rule,
    is_generic_coinjoin,
    is_joinmarket,
    is_wasabi,
    is_wasabi_1,
    is_wasabi_2,
    is_whirlpool,
    tx_features,
)
from adowner.chain.ingest import ingest
from adowner.chain.schema import COINBASE_TXID
from conftest import shared_file
from test_chain_sim import simulated


def reference_clusters(inputs: pd.DataFrame, outputs: pd.DataFrame, skipped: set[str]) -> dict:
    """Plain union-find over the multi-input heuristic: address -> smallest address of its set."""
    parent: dict[str, str] = {}

    def find(a: str) -> str:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for a in pd.concat([inputs["address"], outputs["address"]]).dropna():
        parent.setdefault(a, a)
    ins = inputs[inputs["address"].notna() & (inputs["spent_txid"] != COINBASE_TXID)]
    for txid, group in ins.groupby("txid"):
        if txid in skipped:
            continue
        addrs = list(group["address"])
        for other in addrs[1:]:
            ra, rb = find(addrs[0]), find(other)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
    return {a: find(a) for a in parent}


def _assert_same(clusters: pd.DataFrame, ref: dict) -> None:
    got = dict(zip(clusters["address"], clusters["cluster_id"], strict=True))
    assert got == ref


def _tables(ins: list[tuple], outs: list[tuple]) -> tuple[pd.DataFrame, pd.DataFrame]:
    inputs = pd.DataFrame(ins, columns=["txid", "index", "spent_txid", "address"])
    outputs = pd.DataFrame(outs, columns=["txid", "n", "address", "value_sat", "script_type"])
    return inputs, outputs


def _tx(txid, in_addrs, out_values, out_type="pubkeyhash"):
    ins = [(txid, i, f"prev{txid}{i}", a) for i, a in enumerate(in_addrs)]
    outs = [(txid, n, f"{txid}-out{n}", v, out_type) for n, v in enumerate(out_values)]
    return ins, outs


def _features(*txs):
    ins, outs = [], []
    for i, o in txs:
        ins += i
        outs += o
    return tx_features(*_tables(ins, outs))


def test_rules_fire_on_their_patterns_and_not_on_a_payment():
    f = _features(
        _tx("pay", ["a1", "a2"], [500_000, 123_456]),
        _tx("jm", ["b1", "b2", "b3", "b4"], [2_000_000] * 3 + [11, 22, 33]),
        _tx("wp", [f"c{i}" for i in range(5)], [1_000_000] * 5, "witness_v0_keyhash"),
        _tx("ws", [f"d{i}" for i in range(12)], [10_000_000] * 11 + [77], "witness_v0_keyhash"),
        _tx("gen", ["e1", "e2"], [300, 300, 5]),
        # WabiSabi: 60 inputs, segwit, standard denominations repeated (no 0.1 BTC pattern)
        _tx(
            "w2",
            [f"f{i}" for i in range(60)],
            [5_000, 5_000, 6_561, 6_561, 20_000, 7],
            "witness_v0_keyhash",
        ),
    )
    assert is_joinmarket(f).to_dict() == {
        "pay": False,
        "jm": True,
        "wp": False,
        "ws": False,
        "gen": False,
        "w2": False,
    }
    assert is_whirlpool(f)["wp"]
    assert not is_whirlpool(f)["jm"]
    assert is_wasabi_1(f)["ws"]
    assert not is_wasabi_2(f)["ws"]
    assert is_wasabi_2(f)["w2"]
    assert not is_wasabi_1(f)["w2"]
    assert is_wasabi(f)["ws"]
    assert not is_wasabi(f)["jm"]
    assert is_generic_coinjoin(f)["gen"]
    assert not is_generic_coinjoin(f)["pay"]
    rule = coinjoin_rule(f)
    assert rule.isna()["pay"]
    assert rule.dropna().to_dict() == {
        "jm": "joinmarket",
        "wp": "whirlpool",
        "ws": "wasabi_1",
        "w2": "wasabi_2",
        "gen": "generic_coinjoin",
    }
    # a policy's subset of the rules: the others never fire (BlockSci's test also takes jm)
    only = coinjoin_rule(f, ["whirlpool", "generic_coinjoin"]).dropna().to_dict()
    assert only == {"wp": "whirlpool", "jm": "generic_coinjoin", "gen": "generic_coinjoin"}


def test_guard_keeps_a_coinjoin_from_merging_wallets_and_records_the_rule():
    txs = [
        _tx("w1", ["alice1", "alice2"], [10, 20]),
        _tx("w2", ["bob1", "bob2"], [10, 20]),
        _tx("cj", ["alice1", "bob1", "carol1"], [2_000_000] * 3 + [11, 22, 33]),
    ]
    ins = [row for t in txs for row in t[0]]
    outs = [row for t in txs for row in t[1]]
    inputs, outputs = _tables(ins, outs)
    on, skipped, _ = cluster_tables(inputs, outputs)
    off, _, _ = cluster_tables(inputs, outputs, coinjoin_guard=False)
    cid = dict(zip(on["address"], on["cluster_id"], strict=True))
    assert cid["alice2"] == cid["alice1"] == "alice1"
    assert cid["bob2"] == "bob1"
    assert skipped.to_dict("records") == [{"txid": "cj", "rule": "joinmarket"}]
    cid_off = dict(zip(off["address"], off["cluster_id"], strict=True))
    assert cid_off["alice2"] == cid_off["bob2"] == cid_off["carol1"] == "alice1"


def test_change_heuristic_links_the_one_fresh_output_only():
    inputs, outputs = _tables(
        [("t1", 0, "p", "A"), ("t1", 1, "p", "B"), ("t2", 0, "p", "C")],
        [
            ("t1", 0, "shop", 5, "pubkeyhash"),
            ("t1", 1, "fresh", 7, "pubkeyhash"),
            ("t0", 0, "shop", 9, "pubkeyhash"),  # "shop" received before: not change
            ("t2", 0, "new1", 1, "pubkeyhash"),
            ("t2", 1, "new2", 1, "pubkeyhash"),  # two fresh outputs: ambiguous, no link
        ],
    )
    e = change_edges(inputs, outputs, skipped=set())
    assert e.to_dict("records") == [{"src": "fresh", "dst": "A"}]
    clusters, _, _ = cluster_tables(inputs, outputs, change_heuristic=True)
    cid = dict(zip(clusters["address"], clusters["cluster_id"], strict=True))
    assert cid["fresh"] == cid["B"] == "A"
    assert cid["new1"] != cid["C"]


def test_local_engine_equals_reference_union_find_on_simulated_chain(tmp_path):
    s = simulated()
    inputs, outputs = load_tables(s["chain"])
    for guard in (True, False):
        clusters, skipped, _ = cluster_tables(inputs, outputs, coinjoin_guard=guard)
        _assert_same(clusters, reference_clusters(inputs, outputs, set(skipped["txid"])))


@pytest.mark.real_data
def test_local_engine_equals_reference_union_find_on_block_413567(tmp_path):
    ingest([shared_file("bitcoin/block413567.raw")], tmp_path / "chain")
    stats = cluster_dir(tmp_path / "chain", tmp_path / "clusters.parquet")
    inputs, outputs = load_tables(tmp_path / "chain")
    skipped = pd.read_parquet(tmp_path / "clusters_skipped.parquet")
    clusters = pd.read_parquet(tmp_path / "clusters.parquet")
    _assert_same(clusters, reference_clusters(inputs, outputs, set(skipped["txid"])))
    assert stats["inputs"] == 4886  # every input but the coinbase's
    assert stats["clusters_with_2_or_more"] > 100
    assert (
        clusters.groupby("cluster_id").size()
        == clusters.groupby("cluster_id")["cluster_size"].first()
    ).all()
