"""Rates and payment matching: the rule's edges, and precision/recall on the simulated chain."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from adowner.chain.match import (
    evaluate,
    match_ads,
    payments_to_site,
    read_address_list,
    site_from_seeds,
)
from adowner.chain.rates import rate_at, read_rates
from adowner.cli import main
from conftest import shared_file
from test_chain_sim import simulated

T0 = pd.Timestamp("2015-07-01 12:00:00", tz="UTC")


def _flat_rates(usd: float = 250.0) -> pd.Series:
    idx = pd.date_range(T0 - pd.Timedelta(days=1), T0 + pd.Timedelta(days=1), freq="10min")
    return pd.Series(usd, index=idx)


def _pay(txid: str, usd: float, seen: pd.Timestamp, rate: float = 250.0) -> dict:
    return {
        "txid": txid,
        "vout": 0,
        "address": "site",
        "value_sat": round(usd / rate * 1e8),
        "first_seen": seen,
    }


def _ads(*rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["ad_id", "posted_at", "price_usd", "sponsored"])


def test_rates_read_both_real_formats_and_average():
    yahoo = read_rates(shared_file("rates/btc_usd_daily_2014-2022.csv"))
    coindesk = read_rates(shared_file("rates/btc_usd_daily_2010-2016_coindesk.csv"))
    assert coindesk.attrs["bad_rows"] == 2  # the footer lines
    t = pd.DatetimeIndex(["2015-07-01 12:00"], tz="UTC")
    a, b = rate_at(yahoo, t)[0], rate_at(coindesk, t)[0]
    assert 200 < a < 300
    assert abs(a - b) / a < 0.03  # two sources agree within a few percent
    assert np.isnan(rate_at(yahoo, pd.DatetimeIndex(["2030-01-01"], tz="UTC"))[0])


def test_rate_is_a_ten_minute_average(tmp_path):
    (tmp_path / "r.csv").write_text(
        "timestamp,price_usd\n2015-07-01T00:00:00Z,100\n2015-07-01T01:00:00Z,160\n"
    )
    s = read_rates(tmp_path / "r.csv")
    t = pd.DatetimeIndex(["2015-07-01T00:30:00Z"])
    assert rate_at(s, t, 0)[0] == pytest.approx(130.0)
    assert rate_at(s, t, 10)[0] == pytest.approx(125.0)  # mean over 00:20..00:30


def test_window_tolerance_and_ambiguity():
    pays = pd.DataFrame(
        [
            _pay("exact", 12.0, T0 + pd.Timedelta(seconds=10)),  # ad a1 posted 00:50 later
            _pay("prev_minute", 40.0, T0 - pd.Timedelta(seconds=30)),  # a2: the minute before
            _pay("two_before", 25.0, T0 - pd.Timedelta(seconds=90)),  # a3: two minutes before
            _pay("off_3pct", 10.3, T0 + pd.Timedelta(seconds=5)),  # a4: 3% off, not sponsored
            _pay("spons_4pct", 52.0, T0 + pd.Timedelta(seconds=5)),  # a5: 4% off, sponsored
            _pay("twin_a", 60.0, T0 + pd.Timedelta(seconds=1)),
            _pay("twin_b", 60.3, T0 + pd.Timedelta(seconds=2)),
        ]
    )
    at = T0 + pd.Timedelta(seconds=50)
    ads = _ads(
        ("a1", at, 12.0, False),
        ("a2", at, 40.0, False),
        ("a3", at, 25.0, False),
        ("a4", at, 10.0, False),
        ("a5", at, 50.0, True),
        ("a6", at, 60.0, False),
    )
    m = match_ads(ads, pays, _flat_rates()).set_index("ad_id")
    assert m.loc["a1", "txid"] == "exact"
    assert m.loc["a1", "match_status"] == "unique"
    assert m.loc["a1", "score"] == pytest.approx(1.0, abs=1e-6)
    assert m.loc["a2", "txid"] == "prev_minute"
    assert m.loc["a3", "match_status"] == "none"  # outside the 1-minute window
    assert m.loc["a4", "match_status"] == "none"  # outside ±2%
    assert m.loc["a5", "txid"] == "spons_4pct"  # inside ±5% for sponsored ads
    assert m.loc["a6", "match_status"] == "ambiguous"
    assert m.loc["a6", "txid"] == "twin_a"  # the closer price
    assert m.loc["a6", "candidate_txids"] == ["twin_a", "twin_b"]
    wide = match_ads(ads, pays, _flat_rates(), window_minutes=2, tol=0.04).set_index("ad_id")
    assert wide.loc["a3", "txid"] == "two_before"
    assert wide.loc["a4", "txid"] == "off_3pct"


def test_matching_on_the_simulated_chain_and_cli(tmp_path):
    s = simulated()
    site = read_address_list(s["sim"] / "site_addresses.txt")
    clusters = pd.read_parquet(s["root"] / "clusters.parquet")
    seeded = site_from_seeds(read_address_list(s["sim"] / "site_seed_addresses.txt"), clusters)
    assert set(seeded) >= set(site)  # the sweeps tie every payment address to the seeds
    truth = pd.read_parquet(s["sim"] / "truth_ad_tx.parquet")
    pays = payments_to_site(s["chain"], site)
    rates = read_rates(s["sim"] / "rates.csv")
    paper = evaluate(match_ads(s["ads"], pays, rates), truth)
    assert paper["precision"] > 0.9
    assert paper["recall"] > 0.7
    narrow = evaluate(match_ads(s["ads"], pays, rates, window_minutes=0), truth)
    assert narrow["recall"] < paper["recall"]  # half the ads come the minute after
    rc = main(
        [
            "chain", "match",
            "--ads", str(s["root"] / "ads.parquet"),
            "--chain", str(s["chain"]),
            "--rates", str(s["sim"] / "rates.csv"),
            "--site-seed-addresses", str(s["sim"] / "site_seed_addresses.txt"),
            "--clusters", str(s["root"] / "clusters.parquet"),
            "--out", str(tmp_path / "m.parquet"),
            "--truth", str(s["sim"] / "truth_ad_tx.parquet"),
        ]
    )  # fmt: skip
    assert rc == 0
    m = pd.read_parquet(tmp_path / "m.parquet")
    summary = json.loads((tmp_path / "m.json").read_text())
    assert summary["evaluation"]["precision"] == pytest.approx(paper["precision"])
    # The payer is the wallet cluster of the true wallet's addresses.
    wallets = pd.read_parquet(s["sim"] / "truth_owner_wallet.parquet").dropna()
    right = m.merge(truth, on=["ad_id", "txid"]).dropna(subset=["payer_cluster_id"])
    own = right[right["paid_via"] == "own_wallet"]
    cid = dict(zip(clusters["address"], clusters["cluster_id"], strict=True))
    wallet_clusters = (
        wallets.assign(c=wallets["address"].map(cid)).groupby("wallet_id")["c"].agg(set)
    )
    assert len(own) > 50
    assert all(
        c in wallet_clusters[w]
        for c, w in zip(own["payer_cluster_id"], own["wallet_id"], strict=True)
    )


def test_bad_inputs_give_one_line_errors(tmp_path, capsys):
    (tmp_path / "ads.csv").write_text("ad_id,price_usd\n1,12\n")
    (tmp_path / "r.csv").write_text("when,what\nx,y\n")
    s = simulated()
    base = [
        "chain",
        "match",
        "--chain",
        str(s["chain"]),
        "--site-addresses",
        str(s["sim"] / "site_addresses.txt"),
        "--out",
        str(tmp_path / "o.parquet"),
    ]
    assert (
        main([*base, "--ads", str(tmp_path / "ads.csv"), "--rates", str(s["sim"] / "rates.csv")])
        == 2
    )
    assert "posted_at" in capsys.readouterr().err
    assert (
        main([*base, "--ads", str(s["root"] / "ads.parquet"), "--rates", str(tmp_path / "r.csv")])
        == 2
    )
    assert "no price column" in capsys.readouterr().err


def test_no_payments_means_no_match():
    ads = _ads(("a", T0, 12.0, False))
    empty = pd.DataFrame([_pay("t", 12.0, T0)]).iloc[:0]
    m = match_ads(ads, empty, _flat_rates())
    assert m.loc[0, "match_status"] == "none"
    assert m["txid"].isna().all()
