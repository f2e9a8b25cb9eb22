"""Payment edges on the simulated chain: the known-payee change rule joins a wallet's payments,
and the CoinJoin guard keeps other owners' payments out of them."""

from __future__ import annotations

import pandas as pd

from adowner.chain import match as M
from adowner.chain.change import merge_change, payee_change_edges
from adowner.chain.cluster import cluster_tables, load_tables
from adowner.chain.rates import read_rates
from adowner.link.payment_edges import payment_edges
from test_chain_sim import simulated


def _edges(guard: bool, payee: bool) -> tuple[int, int]:
    """(payment edges, edges between two true owners) on the shared simulated chain."""
    s = simulated()
    inputs, outputs = load_tables(s["chain"])
    site = set(M.read_address_list(s["sim"] / "site_addresses.txt"))
    clusters, skipped, _ = cluster_tables(inputs, outputs, coinjoin_guard=guard)
    if payee:
        clusters = merge_change(
            clusters, payee_change_edges(inputs, outputs, set(skipped["txid"]), site)
        )
    ads = s["ads"]
    matches = M.match_ads(
        M.ads_to_match(s["root"] / "ads.parquet"),
        M.payments_to_site(s["chain"], sorted(site)),
        read_rates(s["sim"] / "rates.csv"),
        inputs=inputs,
        clusters=clusters,
    )
    # Exchange-paid ads share the exchange's cluster whatever the guard does: leave them out.
    truth = pd.read_parquet(s["sim"] / "truth_ad_tx.parquet")
    exchange = set(truth.loc[truth["paid_via"] == "exchange", "ad_id"])
    matches = matches[~matches["ad_id"].isin(exchange)]
    ids = ads["ad_id"].astype(str).to_numpy()
    e, _ = payment_edges(ids, matches)
    owner = ads["true_owner"].astype(str).to_numpy()
    return len(e), int((owner[e["i"]] != owner[e["j"]]).sum())


def test_payee_rule_joins_more_payments_and_guard_keeps_owners_apart():
    none_on, cross_none_on = _edges(guard=True, payee=False)
    payee_on, cross_payee_on = _edges(guard=True, payee=True)
    _, cross_payee_off = _edges(guard=False, payee=True)
    assert payee_on > 2 * max(none_on, 1)
    assert cross_none_on == 0
    assert cross_payee_on == 0
    assert cross_payee_off > 0  # CoinJoins merge owners' wallets once change links join them


def test_cluster_cli_payee_change_matches_the_library(tmp_path):
    import json

    from adowner.cli import main

    s = simulated()
    site_file = s["sim"] / "site_addresses.txt"
    out = tmp_path / "clusters.parquet"
    rc = main(["chain", "cluster", str(s["chain"]), "--out", str(out),
               "--payee-change", str(site_file)])  # fmt: skip
    assert rc == 0
    stats = json.loads(out.with_suffix(".json").read_text())
    assert stats["payee_change_links"] > 0
    plain = pd.read_parquet(s["root"] / "clusters.parquet")
    merged = pd.read_parquet(out)
    assert merged["cluster_id"].nunique() < plain["cluster_id"].nunique()
    assert stats["clusters"] == merged["cluster_id"].nunique()
    # the same as the library path that `adowner link` uses
    inputs, outputs = load_tables(s["chain"])
    cl, skipped, _ = cluster_tables(inputs, outputs, coinjoin_guard=True)
    lib = merge_change(
        cl,
        payee_change_edges(
            inputs, outputs, set(skipped["txid"]), set(M.read_address_list(site_file))
        ),
    )
    a = merged.set_index("address")["cluster_id"].sort_index()
    b = lib.set_index("address")["cluster_id"].sort_index()
    assert a.equals(b)
