"""Benchmark ``adowner link`` at 10k, 30k and 100k ads; and measure its quality variants.

``speed``: time the link step (FAISS k-NN text edges, identifier and payment edges, grouping,
indicators, Parquet outputs and the HTML report) on generated ads with *precomputed*
embeddings (384-d like MiniLM, clustered by owner), so the figure is the linking itself;
embedding throughput is benchmarked separately by the export part. Guarded grouping and plain
connected components run on the same edges in the same process.

    nice -n 10 python scripts/bench_link.py speed --sizes 10000 30000 100000

``quality``: on a finished quickstart folder (or any prepared split + exported model +
matches), B-cubed F1 and ARI of the groups vs ``true_owner`` for fused vs text-only,
payments-only and identifiers-only evidence, each grouping method, and a sweep of the text
threshold's FPR. With ``--matches-noguard`` it also counts the false merges that the CoinJoin
guard prevents.

    python scripts/bench_link.py quality --ads runs/quickstart/prepared/test.parquet \\
        --model runs/quickstart/model --matches runs/quickstart/matches.parquet
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import pandas as pd


def synthetic(
    n_ads: int, dim: int = 384, seed: int = 0
) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
    """Ads of owners with 1-60 ads each, style embeddings around an owner centre, ~30% with a
    shared phone hash, ~50% uniquely matched to a payment from the owner's wallet."""
    rng = np.random.default_rng(seed)
    sizes = []
    while sum(sizes) < n_ads:
        sizes.append(int(min(60, 1 + rng.pareto(1.2) * 3)))
    owner = np.repeat(np.arange(len(sizes)), sizes)[:n_ads]
    centres = rng.normal(size=(len(sizes), dim)).astype(np.float32)
    emb = centres[owner] + 0.8 * rng.normal(size=(n_ads, dim)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    has_phone = rng.random(n_ads) < 0.3
    ads = pd.DataFrame(
        {
            "ad_id": [f"ad{i:07d}" for i in range(n_ads)],
            "text": [f"synthetic ad {i} of owner {o}" for i, o in enumerate(owner)],
            "persona": [f"p{o}_{rng.integers(0, 4)}" for o in owner],
            "location": [f"City{(o + rng.integers(0, 3)) % 200}, R{o % 40}" for o in owner],
            "posted_at": pd.Timestamp("2015-07-01", tz="UTC")
            + pd.to_timedelta(rng.integers(0, 365 * 24 * 60, n_ads), "min"),
            "price_usd": rng.integers(10, 200, n_ads).astype(float),
            "phones": [[f"ph{o:07d}"] if p else [] for o, p in zip(owner, has_phone, strict=True)],
            "emails": [[] for _ in range(n_ads)],
            "handles": [[] for _ in range(n_ads)],
            "true_owner": owner.astype(str),
        }
    )
    r = rng.random(n_ads)
    status = np.where(r < 0.5, "unique", np.where(r < 0.6, "ambiguous", "none"))
    matches = pd.DataFrame(
        {
            "ad_id": ads["ad_id"],
            "match_status": status,
            "txid": [f"{i:064x}" for i in range(n_ads)],
            "payer_cluster": np.where(status == "unique", owner, -1),
        }
    )
    matches["payer_cluster"] = matches["payer_cluster"].where(status == "unique")
    return ads, emb, matches


def markdown(rows: list[dict]) -> str:
    """A Markdown table (hand-written: pandas' to_markdown needs the optional tabulate)."""
    if not rows:
        return ""
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(r[c]) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def speed(args: argparse.Namespace) -> None:
    import tempfile

    import faiss

    from adowner.link.pipeline import build_edges, form_groups, run_link

    rows = []
    for n in args.sizes:
        ads, emb, matches = synthetic(n)
        thr = args.threshold
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            res = run_link(ads, emb, thr, matches=matches, out=tmp, k=args.k, report_top=args.top)
            total = time.perf_counter() - t0
        edges, _ = build_edges(ads, emb, thr, matches=matches, k=args.k, mutual=False)
        t1 = time.perf_counter()
        form_groups(n, edges, method="components")
        t_cc = time.perf_counter() - t1
        t1 = time.perf_counter()
        form_groups(n, edges, method="guarded")
        t_guard = time.perf_counter() - t1
        row = {
            "ads": n,
            "total_s": round(total, 1),
            "edges_s": res.summary["seconds_edges"],
            "ads_per_s": round(n / total),
            "guarded_grouping_s": round(t_guard, 2),
            "components_grouping_s": round(t_cc, 2),
            "n_edges": int(sum(res.summary["edges"].values())),
            "bcubed_f1": round(res.summary["metrics_vs_true_owner"]["bcubed_f1"], 3),
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    print(
        f"\nmachine: {platform.processor() or platform.machine()}, faiss threads {faiss.omp_get_max_threads()}"
    )
    print(markdown(rows))


def quality(args: argparse.Namespace) -> None:
    from adowner.link.pipeline import (
        calibrated_threshold,
        embed_ads,
        read_ads,
        read_matches,
        run_link,
    )

    ads, _ = read_ads(args.ads)
    emb = embed_ads(args.model, ads["text"].fillna("").astype(str).tolist())
    matches = read_matches(args.matches) if args.matches else None
    no_ids = ads.assign(
        **{c: [[] for _ in range(len(ads))] for c in ("phones", "emails", "handles") if c in ads}
    )
    thr = calibrated_threshold(args.model, args.fpr)
    table = []

    def row(
        name: str, frame: pd.DataFrame, e: np.ndarray | None, m: pd.DataFrame | None, **kw
    ) -> None:
        res = run_link(
            frame, e, thr if e is not None else None, matches=m, k=args.k, report=False, **kw
        )
        met = res.summary["metrics_vs_true_owner"]
        table.append(
            {
                "evidence": name,
                "method": kw.get("method", "guarded"),
                "text FPR": kw.pop("fpr", args.fpr) if e is not None else "",
                "groups": res.summary["n_groups"],
                "B-cubed P": round(met["bcubed_precision"], 3),
                "B-cubed R": round(met["bcubed_recall"], 3),
                "B-cubed F1": round(met["bcubed_f1"], 3),
                "ARI": round(met["ari"], 3),
            }
        )

    row("fused", ads, emb, matches)
    row("text only", no_ids, emb, None)
    if matches is not None:
        row("payments only", no_ids, None, matches)
    row("identifiers only", ads, None, None)
    for method in ("components", "mutual-components"):
        row("fused", ads, emb, matches, method=method)
    print(markdown(table))

    sweep = []
    for fpr in args.sweep:
        t = calibrated_threshold(args.model, fpr) if fpr in (0.01, 0.001) else None
        if t is None:
            continue
        res = run_link(ads, emb, t, matches=matches, k=args.k, report=False)
        met = res.summary["metrics_vs_true_owner"]
        sweep.append(
            {
                "FPR": fpr,
                "threshold": round(t, 4),
                "groups": res.summary["n_groups"],
                "B-cubed F1": round(met["bcubed_f1"], 3),
                "ARI": round(met["ari"], 3),
            }
        )
    print(markdown(sweep))


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("speed")
    s.add_argument("--sizes", type=int, nargs="+", default=[10_000, 30_000, 100_000])
    s.add_argument("--threshold", type=float, default=0.35)
    s.add_argument("-k", type=int, default=20)
    s.add_argument("--top", type=int, default=50)
    s.set_defaults(func=speed)
    q = sub.add_parser("quality")
    q.add_argument("--ads", required=True)
    q.add_argument("--model", required=True)
    q.add_argument("--matches")
    q.add_argument("--matches-noguard")
    q.add_argument("--fpr", type=float, default=0.01)
    q.add_argument("--sweep", type=float, nargs="+", default=[0.01, 0.001])
    q.add_argument("-k", type=int, default=20)
    q.set_defaults(func=quality)
    args = ap.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
