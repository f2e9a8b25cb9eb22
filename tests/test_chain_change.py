"""Change rules: the known-payee rule links exactly the payer's change; merge_change = union-find."""

from __future__ import annotations

import pandas as pd

from adowner.chain.change import merge_change, payee_change_edges
from adowner.chain.cluster import cluster_tables, load_tables
from adowner.chain.match import read_address_list
from test_chain_cluster import _tables, reference_clusters
from test_chain_sim import simulated


def _cid(clusters: pd.DataFrame) -> dict:
    return dict(zip(clusters["address"], clusters["cluster_id"], strict=True))


def test_payee_rule_links_the_other_output_of_a_two_output_payment_only():
    inputs, outputs = _tables(
        [
            ("pay", 0, "p", "A"),
            ("pay", 1, "p", "B"),
            ("three", 0, "p", "C"),  # site + two others: which one is change? no link
            ("both", 0, "p", "D"),  # both outputs to the site: no change
            ("cj", 0, "p", "E"),  # skipped by the guard
            ("other", 0, "p", "F"),  # pays no known payee
        ],
        [
            ("pay", 0, "site1", 5, "pubkeyhash"),
            ("pay", 1, "chg", 7, "pubkeyhash"),
            ("three", 0, "site2", 5, "pubkeyhash"),
            ("three", 1, "x1", 5, "pubkeyhash"),
            ("three", 2, "x2", 5, "pubkeyhash"),
            ("both", 0, "site3", 5, "pubkeyhash"),
            ("both", 1, "site4", 5, "pubkeyhash"),
            ("cj", 0, "site5", 5, "pubkeyhash"),
            ("cj", 1, "y", 5, "pubkeyhash"),
            ("other", 0, "z1", 5, "pubkeyhash"),
            ("other", 1, "z2", 5, "pubkeyhash"),
            ("cb", 0, "site6", 5, "pubkeyhash"),  # a coinbase-like tx with no inputs
            ("cb", 1, "w", 5, "pubkeyhash"),
        ],
    )
    site = {f"site{i}" for i in range(1, 7)}
    e = payee_change_edges(inputs, outputs, skipped={"cj"}, payees=site)
    assert e.to_dict("records") == [{"src": "chg", "dst": "A"}]


def test_merge_change_joins_clusters_and_keeps_smallest_address_as_id():
    inputs, outputs = _tables(
        [("t1", 0, "p", "m"), ("t1", 1, "p", "k"), ("t2", 0, "p", "q")],
        [("t1", 0, "site", 1, "pubkeyhash"), ("t1", 1, "q", 2, "pubkeyhash")],
    )
    clusters, _, _ = cluster_tables(inputs, outputs, coinjoin_guard=False)
    assert _cid(clusters)["q"] == "q"
    merged = merge_change(clusters, pd.DataFrame({"src": ["q", "unknown"], "dst": ["m", "k"]}))
    cid = _cid(merged)
    assert cid["q"] == cid["m"] == cid["k"] == "k"
    assert cid["site"] == "site"
    assert merged.set_index("address").loc["q", "cluster_size"] == 3
    assert len(merged) == len(clusters)


def test_payee_rule_on_simulated_chain_equals_union_find_and_mends_split_wallets():
    s = simulated()
    inputs, outputs = load_tables(s["chain"])
    site = set(read_address_list(s["sim"] / "site_addresses.txt"))
    truth = pd.read_parquet(s["sim"] / "truth_owner_wallet.parquet")
    own = truth[truth["wallet_kind"] == "own"]
    plain, skipped, _ = cluster_tables(inputs, outputs)
    edges = payee_change_edges(inputs, outputs, set(skipped["txid"]), site)
    merged = merge_change(plain, edges)

    # Same as one union-find over the multi-input links plus the change links.
    extra = pd.DataFrame({"txid": "chg" + edges.index.astype(str), "index": 0, "spent_txid": "p"})
    pairs = pd.concat(
        [
            extra.assign(address=edges["src"].to_numpy()),
            extra.assign(index=1, address=edges["dst"].to_numpy()),
        ]
    )
    ref = reference_clusters(pd.concat([inputs, pairs]), outputs, set(skipped["txid"]))
    assert _cid(merged) == {a: ref[a] for a in merged["address"]}

    # Every change link stays inside one true wallet (the simulator's change is the payer's),
    # and wallets split into fewer clusters than under the multi-input heuristic alone.
    wallet = own.set_index("address")["wallet_id"]
    both = edges[edges["src"].isin(wallet.index) & edges["dst"].isin(wallet.index)]
    assert len(both) > 0
    assert (wallet.reindex(both["src"]).to_numpy() == wallet.reindex(both["dst"]).to_numpy()).all()

    def split(clusters: pd.DataFrame) -> float:
        c = own["address"].map(clusters.set_index("address")["cluster_id"])
        return float(c.groupby(own["wallet_id"]).nunique().mean())

    assert split(merged) < 0.8 * split(plain)
    # With the guard on, no cluster holds two owners' own wallets.
    per = own.assign(c=own["address"].map(merged.set_index("address")["cluster_id"]))
    assert per.groupby("c")["true_owner"].nunique().max() == 1
