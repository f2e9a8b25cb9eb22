"""The simulated chain: deterministic, complete ground truth, and the traps it is meant to set.

``simulated()`` is shared by the other chain test modules (built once per test run).
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from bitcoin.wallet import CBitcoinAddress

from adowner.chain.cluster import cluster_dir
from adowner.chain.ingest import ingest
from adowner.simulate.chain import simulate_chain

PRICES = (12.0, 60.0, 8.0, 40.0, 25.0)


def make_market(
    n_owners: int = 40, days: float = 4.0, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A small ads/owners pair with the columns the marketplace simulator gives."""
    rng = np.random.default_rng(seed)
    owners = pd.DataFrame(
        {
            "true_owner": [f"o{i:03d}" for i in range(n_owners)],
            "kind": np.where(rng.random(n_owners) < 0.2, "operator", "independent"),
        }
    )
    rows = []
    start = pd.Timestamp("2015-07-01", tz="UTC")
    for owner, kind in zip(owners["true_owner"], owners["kind"], strict=True):
        n = int(rng.integers(8, 25)) if kind == "operator" else int(rng.integers(1, 8))
        for _ in range(n):
            sponsored = bool(rng.random() < 0.2)
            rows.append(
                {
                    "ad_id": f"ad{len(rows):05d}",
                    "title": "t",
                    "body": "b",
                    "posted_at": start + pd.Timedelta(seconds=float(rng.uniform(0, days * 86400))),
                    "site": "backlist.example",
                    "location": "x",
                    "price_usd": float(rng.choice(PRICES)) * (5 if sponsored else 1),
                    "sponsored": sponsored,
                    "persona": f"{owner}-p{int(rng.integers(0, 3))}",
                    "true_owner": owner,
                }
            )
    return pd.DataFrame(rows), owners


@functools.lru_cache(maxsize=1)
def simulated() -> dict:
    """Simulate, ingest (with the mempool log) and cluster one small market; paths and info."""
    root = Path(tempfile.mkdtemp(prefix="adowner-chain-sim-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    ads, owners = make_market()
    ads.to_parquet(root / "ads.parquet")
    info = simulate_chain(ads, owners, root / "sim", seed=3)
    ingest([root / "sim" / "chain"], root / "chain", mempool_log=root / "sim" / "mempool.jsonl")
    cluster_dir(root / "chain", root / "clusters.parquet")
    return {
        "root": root,
        "sim": root / "sim",
        "chain": root / "chain",
        "ads": ads,
        "owners": owners,
        "info": info,
    }


def test_deterministic_for_a_seed(tmp_path):
    ads, owners = make_market(n_owners=8, days=1)
    a = simulate_chain(ads, owners, tmp_path / "a", seed=1)
    b = simulate_chain(ads, owners, tmp_path / "b", seed=1)
    simulate_chain(ads, owners, tmp_path / "c", seed=2)
    for name in ("chain/transactions.jsonl", "mempool.jsonl", "rates.csv", "site_addresses.txt"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert (tmp_path / "a" / "mempool.jsonl").read_bytes() != (
        tmp_path / "c" / "mempool.jsonl"
    ).read_bytes()
    assert a["transactions"] == b["transactions"]


def test_truth_and_files_are_complete_and_addresses_valid():
    s = simulated()
    sim, ads = s["sim"], s["ads"]
    truth = pd.read_parquet(sim / "truth_ad_tx.parquet")
    # Every ad is either paid on chain or by card.
    assert len(truth) + s["info"]["ads_paid_by_card"] == len(ads)
    assert truth["ad_id"].is_unique
    assert set(truth["paid_via"]) == {"own_wallet", "exchange"}
    tx = pd.read_parquet(s["chain"] / "transactions.parquet")
    assert set(truth["txid"]) <= set(tx["txid"])
    wallets = pd.read_parquet(sim / "truth_owner_wallet.parquet")
    assert set(wallets["true_owner"]) == set(s["owners"]["true_owner"])
    ops = wallets[wallets["wallet_kind"] == "own"].groupby("true_owner")["wallet_id"].nunique()
    assert ops.max() >= 2  # some operators have several wallets
    site = (sim / "site_addresses.txt").read_text().split()
    for a in site[:50] + list(wallets["address"].dropna()[:50]):
        CBitcoinAddress(a)  # raises unless a valid base58check / bech32 address
    # Most ads follow their payment's first sighting within the same or the next minute.
    posted = ads.set_index("ad_id").loc[truth["ad_id"], "posted_at"].to_numpy()
    seen = pd.DatetimeIndex(truth["first_seen"])
    gap = pd.DatetimeIndex(posted).floor("min") - seen.floor("min")
    minutes = gap.total_seconds().to_numpy() // 60
    assert np.mean((minutes >= 0) & (minutes <= 1)) > 0.85
    assert (minutes >= 0).all()
    rates = pd.read_csv(sim / "rates.csv")
    assert list(rates.columns) == ["timestamp", "price_usd"]
    assert rates["price_usd"].between(50, 2000).all()


def test_coinjoins_would_merge_wallets_without_the_guard(tmp_path):
    s = simulated()
    guarded = pd.read_parquet(s["root"] / "clusters.parquet")
    stats = cluster_dir(s["chain"], tmp_path / "off.parquet", coinjoin_guard=False)
    unguarded = pd.read_parquet(tmp_path / "off.parquet")
    skipped = pd.read_parquet(s["root"] / "clusters_skipped.parquet")
    assert {"joinmarket", "whirlpool"} <= set(skipped["rule"])
    wallets = pd.read_parquet(s["sim"] / "truth_owner_wallet.parquet").dropna()
    own = wallets[wallets["wallet_kind"] == "own"]

    def wallets_per_cluster(clusters: pd.DataFrame) -> int:
        m = own.merge(clusters, on="address")
        return int(m.groupby("cluster_id")["wallet_id"].nunique().max())

    assert wallets_per_cluster(guarded) == 1  # no owner wallet merged with another
    assert wallets_per_cluster(unguarded) > 1
    assert stats["clusters"] < len(guarded["cluster_id"].unique())
