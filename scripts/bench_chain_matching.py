"""Payment matching quality: precision and recall against the simulator's ground truth.

    python scripts/bench_chain_matching.py --owners 300 --days 30 --out runs/chain-matching

Simulates a marketplace (``adowner.simulate.marketplace``) and its chain
(``adowner.simulate.chain``), ingests the chain with the mempool log, clusters it, then
matches ads to payments for a grid of windows and tolerances. Prints a Markdown table (the
one in docs/RESULTS.md) and writes ``grid.json``. Also reports payer purity: the share of
uniquely matched ads whose payer wallet cluster paid for no other true owner's ads, and the
most owners one payer cluster paid for, with and without the CoinJoin guard.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd

from adowner.chain.cluster import cluster_dir
from adowner.chain.ingest import ingest
from adowner.chain.match import evaluate, match_ads, payments_to_site, read_address_list
from adowner.chain.rates import read_rates
from adowner.simulate.chain import simulate_chain
from adowner.simulate.marketplace import SimConfig, simulate_marketplace

GRID = [
    # (window_minutes, minutes_after, tol, tol_sponsored)
    (0, 0, 0.02, 0.05),
    (1, 0, 0.02, 0.05),  # the paper's rule
    (1, 1, 0.02, 0.05),
    (2, 0, 0.02, 0.05),
    (5, 0, 0.02, 0.05),
    (1, 0, 0.01, 0.02),
    (1, 0, 0.05, 0.10),
]


def payer_purity(matches: pd.DataFrame, ads: pd.DataFrame) -> tuple[float, int]:
    """(share of uniquely matched ads whose payer cluster paid for no other owner's ads,
    the most owners whose ads one payer cluster paid for)."""
    m = matches[(matches["match_status"] == "unique") & matches["payer_cluster_id"].notna()]
    m = m.merge(ads[["ad_id", "true_owner"]], on="ad_id")
    owners = m.groupby("payer_cluster_id")["true_owner"].nunique()
    if not len(owners):
        return float("nan"), 0
    return float((m["payer_cluster_id"].map(owners) == 1).mean()), int(owners.max())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--owners", type=int, default=300)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("runs/chain-matching"))
    args = ap.parse_args()
    out = args.out
    t0 = time.perf_counter()
    market = simulate_marketplace(
        SimConfig(n_owners=args.owners, days=args.days, seed=args.seed, progress=False)
    )
    ads = market.ads
    info = simulate_chain(ads, market.owners, out / "sim", seed=args.seed)
    ingest([out / "sim" / "chain"], out / "chain", mempool_log=out / "sim" / "mempool.jsonl")
    cluster_dir(out / "chain", out / "clusters.parquet")
    cluster_dir(out / "chain", out / "clusters_noguard.parquet", coinjoin_guard=False)
    inputs = pd.read_parquet(out / "chain" / "inputs.parquet", columns=["txid", "index", "address"])
    clusters = pd.read_parquet(out / "clusters.parquet")
    clusters_off = pd.read_parquet(out / "clusters_noguard.parquet")
    truth = pd.read_parquet(out / "sim" / "truth_ad_tx.parquet")
    pays = payments_to_site(out / "chain", read_address_list(out / "sim" / "site_addresses.txt"))
    rates = read_rates(out / "sim" / "rates.csv")
    rows = []
    for w, after, tol, tol_s in GRID:
        start = time.perf_counter()
        m = match_ads(
            ads, pays, rates, inputs=inputs, clusters=clusters,
            window_minutes=w, minutes_after=after, tol=tol, tol_sponsored=tol_s,
        )  # fmt: skip
        took = time.perf_counter() - start
        ev = evaluate(m, truth)
        row = {
            "window_minutes": w,
            "minutes_after": after,
            "tol": tol,
            "tol_sponsored": tol_s,
            **ev,
        }
        row["match_s"] = round(took, 2)
        row["payer_purity"], row["max_owners_per_payer"] = payer_purity(m, ads)
        if (w, after, tol) == (1, 0, 0.02):
            m_off = match_ads(ads, pays, rates, inputs=inputs, clusters=clusters_off)
            pure, worst = payer_purity(m_off, ads)
            row["payer_purity_without_guard"], row["max_owners_per_payer_without_guard"] = (
                pure,
                worst,
            )
        rows.append(row)
    summary = {"simulation": {k: v for k, v in info.items() if k != "paths"}, "grid": rows}
    summary["total_s"] = round(time.perf_counter() - t0, 1)
    (out / "grid.json").write_text(json.dumps(summary, indent=2, default=str))
    print(
        f"ads {len(ads)}, paid in Bitcoin {info['ad_payments']}, transactions {info['transactions']}"
    )
    print(
        "| ad after payment (min) | payment after ad (min) | tol | tol sponsored | precision | recall | precision (unique) | recall (unique) | ambiguous | payer purity | max owners / payer |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| ≤{r['window_minutes']} | ≤{r['minutes_after']} | ±{r['tol']:.0%} | ±{r['tol_sponsored']:.0%} "
            f"| {r['precision']:.3f} | {r['recall']:.3f} | {r['precision_unique']:.3f} "
            f"| {r['recall_unique']:.3f} | {r['ambiguous']} | {r['payer_purity']:.3f} "
            f"| {r['max_owners_per_payer']} |"
        )
    base = next(r for r in rows if "payer_purity_without_guard" in r)
    print(
        f"payer purity, paper rule: {base['payer_purity']:.3f} with the CoinJoin guard, "
        f"{base['payer_purity_without_guard']:.3f} without"
    )


if __name__ == "__main__":
    main()
