"""The clustering policy: named rules, written into the output and read back; the fast local
engine against reference implementations (union-find, the pandas change rules)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import polars as pl
import pyarrow.parquet as pq
import pytest

from adowner.chain import match as M
from adowner.chain.change import change_edges, merge_change, payee_change_edges
from adowner.chain.cluster import (
    cluster_dir,
    cluster_frames,
    cluster_tables,
    encode_strings,
    load_tables,
    read_chain,
)
from adowner.chain.policy import GROUPS, HEURISTICS, Policy, read_policy
from adowner.chain.rates import read_rates
from adowner.chain.synthetic import write_ingest_folder
from adowner.cli import main
from adowner.defaults import CHAIN
from adowner.errors import InputError
from test_chain_cluster import reference_clusters
from test_chain_sim import simulated


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """The benchmark's generator at 6,000 inputs: real-length ids, Zipf reuse, CoinJoins."""
    d = tmp_path_factory.mktemp("synthetic")
    counts = write_ingest_folder(6_000, d, seed=3, chunk=1_000)  # several row groups
    return d, counts


def test_policy_expands_groups_keeps_order_and_round_trips():
    p = Policy.parse("known_payee_change, coinjoin_guard,multi_input")
    assert p.heuristics == ("multi_input", *GROUPS["coinjoin_guard"], "known_payee_change")
    assert p.spec == "multi_input,coinjoin_guard,known_payee_change"
    assert p.spec == CHAIN.heuristics
    part = Policy.parse("whirlpool,multi_input")
    assert part.guard_rules == ("whirlpool",)
    assert part.spec == "multi_input,whirlpool"
    inactive = p.without("known_payee_change", "no payees")
    assert not inactive.has("known_payee_change")
    for q in (p, part, inactive, Policy.parse("")):
        assert Policy.from_json(json.loads(json.dumps(q.to_json()))) == q
    assert set(p.to_json()["rules"]) == set(p.heuristics)
    assert all(h.source for h in HEURISTICS.values())


def test_unknown_heuristic_names_the_option():
    with pytest.raises(InputError, match=r"unknown heuristic 'wasabi'.*known: multi_input"):
        Policy.parse("multi_input,wasabi")


def test_local_engine_equals_union_find_on_the_benchmark_generator(synthetic):
    d, counts = synthetic
    inputs, outputs = load_tables(d)
    assert len(inputs) == counts["inputs"]
    assert inputs["txid"].str.len().eq(64).all()
    assert inputs["address"].str.len().eq(42).all()
    for guard in (True, False):
        clusters, skipped, stats = cluster_tables(inputs, outputs, coinjoin_guard=guard)
        got = dict(zip(clusters["address"], clusters["cluster_id"], strict=True))
        assert got == reference_clusters(inputs, outputs, set(skipped["txid"]))
        assert (stats["skipped_transactions"] > 0) == guard
    assert set(skipped["rule"]) <= set(GROUPS["coinjoin_guard"])
    assert stats["clusters_with_2_or_more"] > 10


def test_policy_and_links_round_trip_through_the_output(synthetic, tmp_path):
    d, _ = synthetic
    out = tmp_path / "clusters.parquet"
    stats = cluster_dir(d, out)  # the default policy, without payee addresses
    policy = read_policy(out)
    assert policy.spec == "multi_input,coinjoin_guard"
    assert dict(policy.inactive) == {"known_payee_change": policy.inactive[0][1]}
    assert Policy.from_json(stats["policy"]) == policy
    summary = json.loads(out.with_suffix(".json").read_text())
    assert Policy.from_json(summary["policy"]) == policy
    # every link names its rule: multi_input for each transaction whose inputs were joined
    links = pd.read_parquet(tmp_path / "clusters_links.parquet")
    skipped = pd.read_parquet(tmp_path / "clusters_skipped.parquet")
    assert set(links["rule"].astype(str)) == {"multi_input"}
    assert links["address"].isna().all()
    inputs, _ = load_tables(d)
    kept = inputs[~inputs["txid"].isin(skipped["txid"])]
    joined = kept.groupby("txid")["address"].nunique()
    assert set(links["txid"]) == set(joined.index[joined >= 2])
    assert stats["links_by_rule"] == {"multi_input": len(links)}

    payees = set(pd.read_parquet(d / "outputs.parquet")["address"].iloc[::7])
    cluster_dir(d, out, policy="multi_input,whirlpool,known_payee_change", payees=payees)
    policy = read_policy(out)
    assert policy == Policy.parse("multi_input,whirlpool,known_payee_change")
    links = pd.read_parquet(tmp_path / "clusters_links.parquet")
    change = links[links["rule"].astype(str) == "known_payee_change"]
    assert len(change) > 0
    assert change["address"].notna().all()
    assert not change["address"].isin(payees).any()  # the change, never the payee


def test_coded_change_rules_equal_the_pandas_reference_on_the_simulated_chain():
    s = simulated()
    inputs, outputs = load_tables(s["chain"])
    site = set(M.read_address_list(s["sim"] / "site_addresses.txt"))
    plain, skipped, _ = cluster_tables(inputs, outputs, policy="multi_input,coinjoin_guard")
    skip = set(skipped["txid"])
    for spec, edges in (
        ("one_time_change", change_edges(inputs, outputs, skip)),
        ("known_payee_change", payee_change_edges(inputs, outputs, skip, site)),
        (
            "one_time_change,known_payee_change",
            pd.concat(
                [
                    change_edges(inputs, outputs, skip),
                    payee_change_edges(inputs, outputs, skip, site),
                ]
            ),
        ),
    ):
        ref = merge_change(plain, edges)
        got, _, stats = cluster_tables(
            inputs, outputs, policy=f"multi_input,coinjoin_guard,{spec}", payees=site
        )
        a = got.set_index("address")["cluster_id"].sort_index()
        b = ref.set_index("address")["cluster_id"].sort_index()
        pd.testing.assert_series_equal(a.astype(str), b.astype(str))
        assert sum(v for k, v in stats["links_by_rule"].items() if k != "multi_input") == len(edges)


def test_a_hash_collision_falls_back_to_the_exact_encoding(monkeypatch):
    values = ["bc1qb", "1A", None, "bc1qb", "3C", "1A"]
    more = ["3C", "zz", None]
    monkeypatch.setattr(
        pl.Series, "hash", lambda self, *a, **k: pl.Series(np.zeros(len(self), "u8"))
    )
    dictionary, (a, b) = encode_strings([pl.Series(values), pl.Series(more)])
    words = dictionary.to_pylist()
    assert [None if c < 0 else words[c] for c in a] == values
    assert [None if c < 0 else words[c] for c in b] == more
    assert len(words) == 4


def test_read_chain_reads_the_needed_columns_and_drops_coinbase_rows(synthetic, tmp_path):
    d, counts = synthetic
    inputs, outputs = read_chain(d)
    assert inputs.columns == ["txid", "address"]
    assert len(inputs) == counts["inputs"]
    assert len(outputs) == counts["outputs"]
    # a folder from another tool, with a coinbase input row
    t = pq.read_table(d / "inputs.parquet")
    first = t.slice(0, 1).to_pylist()[0]
    first.update(spent_txid="0" * 64, spent_vout=0xFFFFFFFF, address=None)
    import pyarrow as pa

    for name in ("transactions", "outputs"):
        (tmp_path / f"{name}.parquet").write_bytes((d / f"{name}.parquet").read_bytes())
    pq.write_table(
        pa.concat_tables([pa.Table.from_pylist([first], t.schema), t]), tmp_path / "inputs.parquet"
    )
    ins, _ = read_chain(tmp_path)
    assert len(ins) == counts["inputs"]
    res = cluster_frames(*read_chain(tmp_path))
    assert res.stats["inputs"] == counts["inputs"]


def test_cli_heuristics_by_name(synthetic, tmp_path, capsys):
    d, _ = synthetic
    out = tmp_path / "c.parquet"
    assert main(["chain", "cluster", str(d), "--out", str(out), "--heuristics", "multi_input"]) == 0
    assert read_policy(out) == Policy.parse("multi_input")
    assert len(pd.read_parquet(tmp_path / "c_skipped.parquet")) == 0
    rc = main(["chain", "cluster", str(d), "--out", str(out), "--heuristics", "multi_input,nope"])
    assert rc == 2
    assert "unknown heuristic 'nope'" in capsys.readouterr().err


def test_chain_match_clusters_with_the_shared_default_and_records_it(tmp_path):
    s = simulated()
    run = M.match_chain(
        s["ads"],
        s["chain"],
        read_rates(s["sim"] / "rates.csv"),
        site=M.read_address_list(s["sim"] / "site_addresses.txt"),
    )
    assert run.clustered
    assert run.policy is not None
    assert Policy.from_json(run.policy) == Policy.parse(CHAIN.heuristics)  # payee change active
    assert run.cluster_stats is not None
    assert run.cluster_stats["payee_change_links"] > 0
    # read clusters carry their own policy (the simulated fixture's default, payee rule inactive)
    again = M.match_chain(
        s["ads"],
        s["chain"],
        read_rates(s["sim"] / "rates.csv"),
        site=M.read_address_list(s["sim"] / "site_addresses.txt"),
        clusters=s["root"] / "clusters.parquet",
    )
    assert not again.clustered
    assert again.policy == read_policy(s["root"] / "clusters.parquet").to_json()
    assert (run.matches["match_status"] == again.matches["match_status"]).all()
