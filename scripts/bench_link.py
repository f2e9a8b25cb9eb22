"""Benchmark ``adowner link`` at 10k, 30k and 100k ads; and measure its quality variants.

``speed``: time the link step (FAISS k-NN text edges, identifier and payment edges, grouping,
indicators, Parquet outputs and the HTML report) on generated ads with *precomputed*
embeddings (384-d like MiniLM, clustered by owner), so the figure is the linking itself;
embedding throughput is benchmarked separately by the export part. Guarded grouping and plain
connected components run on the same edges in the same process.

    nice -n 10 python scripts/bench_link.py speed --sizes 10000 30000 100000
    # with the hybrid text score (text candidates re-scored; real ad texts, cycled):
    python scripts/bench_link.py speed --hybrid runs/qs-hybrid/model --texts runs/sim-b/ads.parquet

``rss``: the peak memory of ``adowner link`` run as its own process on ``--n`` generated ads
(the generator above, written as a prepared split, so the ads are not masked again; their
embeddings are put in link's own cache, ``OUT/embeddings.npy``, so the figure is the linking,
not the encoder), beside a peer child that only loads the same ads and embeddings. Peak
resident set from ``wait4``'s ``ru_maxrss``; text-only evidence plus identifiers and the
generator's payment matches (``--matches``).

    python scripts/bench_link.py rss --n 1000000 --model runs/quickstart/model --out runs/bench_link_1m

``quality``: on a simulated marketplace whose owners the model never saw, B-cubed F1 and ARI
of the groups vs ``true_owner`` for fused vs text-only, payments-only and identifiers-only
evidence, each grouping method, a sweep of the text threshold's FPR, and the false merges
that the CoinJoin guard prevents: the chain clustered with and without it, under each change
rule of ``chain.change`` (none, one-time, known-payee: the site's addresses); ``--change``
picks the rule behind the main tables' payments (``none``, as ``adowner link`` clusters).

    adowner simulate --out runs/market-s7 --owners 300 --seed 7
    python scripts/bench_link.py quality --market runs/market-s7 --model runs/quickstart/model \\
        --val runs/quickstart/prepared/val.parquet --out runs/link-quality
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

    hybrid, pool = None, None
    if args.hybrid:  # real ad texts, so that the hybrid's character features cost what they do
        import adowner

        hybrid = adowner.load(args.hybrid).hybrid
        if hybrid is None:
            raise SystemExit(f"{args.hybrid} has no hybrid.json (export with --hybrid)")
        frame = pd.read_parquet(args.texts)
        if "text" not in frame:  # a simulate/raw ads file: title and body
            frame["text"] = frame["title"].fillna("") + "\n" + frame["body"].fillna("")
        pool = frame["text"].astype(str).tolist()
    rows = []
    for n in args.sizes:
        ads, emb, matches = synthetic(n)
        thr = args.threshold
        rescore = None
        if hybrid is not None:
            # the pool's ads in turn, each with its row number so no two texts are equal
            texts = [f"{pool[i % len(pool)]} {i}" for i in range(n)]
            ads["text"] = texts
            hybrid.prime(texts, emb)
            rescore = lambda i, j, t=texts: hybrid.score_pairs(t, i, j)  # noqa: E731
            thr = args.hybrid_threshold
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            res = run_link(
                ads,
                emb,
                thr,
                matches=matches,
                out=tmp,
                k=args.k,
                report_top=args.top,
                rescore=rescore,
            )
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


def rss(args: argparse.Namespace) -> None:
    import sys
    from pathlib import Path

    from adowner.link.pipeline import embedding_cache_key, write_embedding_cache
    from bench_prepare import _child_peak, check_ceiling  # scripts/ is on sys.path as a script

    out = Path(args.out)
    (out / "link").mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    ads, emb, matches = synthetic(args.n)
    ads_path, matches_path = out / "ads.parquet", out / "matches.parquet"
    ads.to_parquet(ads_path, index=False)
    matches.to_parquet(matches_path, index=False)
    key = embedding_cache_key(args.model, ads["text"].fillna("").astype(str).tolist())
    write_embedding_cache(out / "link" / "embeddings.npy", emb, key, args.model)
    print(f"generated {args.n} ads in {time.perf_counter() - t0:.0f} s", flush=True)
    del ads, emb, matches
    exe = Path(sys.executable).parent / "adowner"
    cmd = [str(exe), "link", "--ads", str(ads_path), "--model", str(args.model), "--out",
           str(out / "link"), "--matches", str(matches_path)]  # fmt: skip
    wall, peak = _child_peak(cmd)
    code = (
        "import sys, numpy as np, pandas as pd; a = pd.read_parquet(sys.argv[1]); "
        "m = pd.read_parquet(sys.argv[2]); e = np.load(sys.argv[3]); print(len(a), e.shape)"
    )
    peer_wall, peer_peak = _child_peak(
        [
            sys.executable,
            "-c",
            code,
            str(ads_path),
            str(matches_path),
            str(out / "link" / "embeddings.npy"),
        ]
    )
    summary = json.loads((out / "link" / "summary.json").read_text())
    row = {
        "ads": args.n,
        "link_wall_s": round(wall, 1),
        "link_peak_mib": round(peak),
        "peer_wall_s": round(peer_wall, 1),
        "peer_peak_mib": round(peer_peak),
        "ratio": round(peak / peer_peak, 2),
        "kib_per_ad": round(peak * 1024 / args.n, 1),
        "groups": summary["n_groups"],
        "edges": summary["edges"],
        "seconds_edges": summary["seconds_edges"],
        "seconds_embed": summary["seconds_embed"],  # ~0: the cache was reused
    }
    print(json.dumps(row), flush=True)
    print(f"machine: {platform.processor() or platform.machine()}")
    (out / "rss.json").write_text(json.dumps(row, indent=1))
    check_ceiling(peak, args.n, args.ceiling_kib_per_ad)


def quality(args: argparse.Namespace) -> None:
    """Fused vs single kinds of evidence, grouping methods, FPR sweep and the CoinJoin guard,
    on a marketplace whose owners the model never saw (simulate it with another seed)."""
    import tempfile
    from pathlib import Path

    from adowner._io import write_parquet
    from adowner.chain.change import merge_change, payee_change_edges
    from adowner.chain.cluster import cluster_tables, load_tables
    from adowner.chain.ingest import ingest
    from adowner.chain.match import read_address_list
    from adowner.export.calibrate import calibrate
    from adowner.export.folder import ModelFolder
    from adowner.export.same_owner import choose_kind
    from adowner.io.ads import read_ads
    from adowner.link.pipeline import (
        embed_ads,
        match_payments,
        model_threshold,
        run_link,
    )

    market, out = Path(args.market), Path(args.out or tempfile.mkdtemp())
    chain = out / "chain"
    if not (chain / "inputs.parquet").exists():
        files = sorted((market / "chain" / "chain").glob("*"))
        ingest(files, chain, mempool_log=market / "chain" / "mempool.jsonl")
    src = market / "chain"
    inputs, outputs = load_tables(chain)
    site = set(read_address_list(src / "site_addresses.txt"))
    largest = {}

    def cluster_and_match(guard: bool, change: str) -> pd.DataFrame:
        """Cluster the chain (CoinJoin guard on/off, a change rule) and match the ads."""
        sub = out / f"{'guard' if guard else 'noguard'}-{change}"
        sub.mkdir(parents=True, exist_ok=True)
        cl, skipped, _ = cluster_tables(
            inputs, outputs, coinjoin_guard=guard, change_heuristic=change == "one-time"
        )
        if change == "payee":
            cl = merge_change(cl, payee_change_edges(inputs, outputs, set(skipped["txid"]), site))
        largest[guard, change] = int(cl["cluster_size"].max())
        write_parquet(cl, sub / "clusters.parquet")
        path = match_payments(
            market / "ads.parquet",
            chain,
            src / "rates.csv",
            src / "site_addresses.txt",
            sub,
            clusters=sub / "clusters.parquet",
        )
        return pd.read_parquet(path)

    changes = ("none", "one-time", "payee")
    matches = {(g, c): cluster_and_match(g, c) for g in (True, False) for c in changes}
    ads, _ = read_ads(market / "ads.parquet")
    emb = embed_ads(args.model, ads["text"].fillna("").astype(str).tolist(), out / "embeddings.npy")
    none = {c: [[] for _ in range(len(ads))] for c in ("phones", "emails", "handles")}
    no_ids = ads.assign(**none)
    texts = ads["text"].fillna("").astype(str).tolist()
    folder = ModelFolder.read(args.model)
    kind = choose_kind(folder, args.text_score)  # raises for hybrid without hybrid.json
    rescore, hybrid = None, None
    if kind == "hybrid":
        import adowner

        # cosine + char n-grams + pairwise features
        scorer = adowner.load(args.model).same_owner_scorer(kind)
        scorer.prime(texts, emb)
        hybrid = scorer.hybrid
        rescore = lambda i, j: scorer.score_pairs(texts, i, j)  # noqa: E731
    thr = model_threshold(folder, kind, args.fpr)
    m = matches[True, args.change]
    table = []

    def row(name, frame, e, mt, method="guarded", t=thr, fpr=args.fpr, min_density=0.1):
        res = run_link(
            frame,
            e,
            t if e is not None else None,
            matches=mt,
            k=args.k,
            method=method,
            min_density=min_density,
            report=False,
            rescore=rescore if e is not None else None,
        )
        met = res.summary["metrics_vs_true_owner"]
        return {
            "evidence": name,
            "grouping": method,
            "text FPR": fpr if e is not None else "",
            "groups": res.summary["n_groups"],
            "B-cubed P": round(met["bcubed_precision"], 3),
            "B-cubed R": round(met["bcubed_recall"], 3),
            "B-cubed F1": round(met["bcubed_f1"], 3),
            "ARI": round(met["ari"], 3),
        }

    table.append(row("fused (text + identifiers + payments)", ads, emb, m))
    table.append(row("text only", no_ids, emb, None))
    table.append(row("payments only", no_ids, None, m))
    table.append(row("identifiers only", ads, None, None))
    table.append(row("fused", ads, emb, m, method="mutual-components"))
    table.append(row("fused", ads, emb, m, method="components"))
    print(
        f"ads {len(ads)}, true owners {ads['true_owner'].nunique()}, "
        f"text score {'hybrid' if hybrid is not None else 'cosine'}, "
        f"threshold {thr:.4f} at FPR {args.fpr}, payments: change rule {args.change}"
    )
    print(markdown(table))

    # the guarded grouping's one setting: how dense text links between two groups must be
    dens = []
    for d in (0.0, 0.05, 0.1, 0.2, 0.3, 0.5):
        r = row("fused", ads, emb, m, min_density=d)
        r["min density"] = d
        dens.append(r)
    print(markdown(dens))

    # FPR sweep: thresholds calibrated like the export's, on the prepared validation split
    sweep = []
    if args.val:
        val, _ = read_ads(args.val)
        vemb = embed_ads(args.model, val["text"].fillna("").astype(str).tolist(), out / "val.npy")
        fprs = (0.05, 0.02, 0.01, 0.005, 0.001)
        if hybrid is not None:  # the hybrid's own thresholds, from held-out val folds
            vdf = pd.read_parquet(args.val)
            cal = hybrid.calibrate(vdf, fprs=fprs)
        else:
            cal = calibrate(vemb, val["owner"].astype(str).to_numpy(), fprs=fprs)
        for t in cal["thresholds"]:
            r = row("fused", ads, emb, m, t=t["threshold"], fpr=t["fpr"])
            r["threshold"] = round(t["threshold"], 4)
            sweep.append(r)
        print(markdown(sweep))

    # CoinJoin guard: payment edges that join two different true owners, with and without it,
    # for each change rule; "through the exchange" = both ads paid from the exchange's hot wallet
    # (the simulator's truth), a false merge the guard cannot see.
    owner = ads.set_index(ads["ad_id"].astype(str))["true_owner"].astype(str)
    via = pd.read_parquet(src / "truth_ad_tx.parquet", columns=["ad_id", "paid_via", "wallet_id"])
    exchange = set(via.loc[via["paid_via"] == "exchange", "ad_id"].astype(str))
    ids = ads["ad_id"].astype(str).to_numpy()
    guard_rows = []
    configs = [(c, g, "") for c in changes for g in (True, False)]
    # Oracle (upper bound, uses the truth): the exchange-paid ads' payments join nothing, as if
    # link recognised the exchange's cluster as a service and skipped it.
    configs += [("payee", g, "exchange payments dropped (oracle)") for g in (True, False)]
    for change, guard, note in configs:
        mt = matches[guard, change]
        if note:
            mt = mt.assign(
                payer_cluster_id=mt["payer_cluster_id"].where(~mt["ad_id"].isin(exchange))
            )
        res = run_link(no_ids, None, None, matches=mt, report=False)
        e = res.edges
        a, b = ids[e["i"]], ids[e["j"]]
        cross = owner.reindex(a).to_numpy() != owner.reindex(b).to_numpy()
        through = cross & np.isin(a, list(exchange)) & np.isin(b, list(exchange))
        pay = row("payments only", no_ids, None, mt)
        fused = row("fused", ads, emb, mt)
        lab = pd.Series(res.labels)
        mixed = ads["true_owner"].astype(str).groupby(lab.to_numpy()).nunique()
        in_mixed = ads["true_owner"].astype(str)[lab.isin(mixed.index[mixed > 1]).to_numpy()]
        # how many payer clusters one owner's wallet splits into (uniquely matched payments)
        paid = mt[mt["match_status"] == "unique"].merge(via, on="ad_id")
        paid = paid[paid["paid_via"] == "own_wallet"]
        split = paid.groupby("wallet_id")["payer_cluster_id"].nunique().mean()
        guard_rows.append(
            {
                "change rule": change + (f", {note}" if note else ""),
                "CoinJoin guard": "on" if guard else "off",
                "largest cluster": largest[guard, change],
                "payer clusters per paying wallet": round(float(split), 2),
                "payment edges": len(e),
                "edges joining 2 owners": int(cross.sum()),
                "of them through the exchange": int(through.sum()),
                "payment groups with 2+ owners": int((mixed > 1).sum()),
                "owners (ads) in them": f"{in_mixed.nunique()} ({len(in_mixed)})",
                "largest payment group": int(lab.value_counts().max()),
                "payments-only B-cubed P": pay["B-cubed P"],
                "payments-only B-cubed F1": pay["B-cubed F1"],
                "fused B-cubed P": fused["B-cubed P"],
                "fused B-cubed F1": fused["B-cubed F1"],
                "fused ARI": fused["ARI"],
            }
        )
        print(json.dumps(guard_rows[-1]), flush=True)
    print(markdown(guard_rows))


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
    s.add_argument("--hybrid", help="model folder with hybrid.json: re-score text candidates")
    s.add_argument("--texts", help="Parquet with a text column (real ads) for --hybrid")
    s.add_argument("--hybrid-threshold", type=float, default=0.5)
    s.set_defaults(func=speed)
    r = sub.add_parser("rss")
    r.add_argument("--n", type=int, default=100_000, help="generated ads")
    r.add_argument("--model", required=True, help="exported folder (384-d, as the generator)")
    r.add_argument("--out", required=True, help="work folder")
    r.add_argument(
        "--ceiling-kib-per-ad",
        type=float,
        help="exit 1 if link's peak RSS per ad is above this (stated: 11 at 1 M ads)",
    )
    r.set_defaults(func=rss)
    q = sub.add_parser("quality")
    q.add_argument(
        "--market", required=True, help="adowner simulate folder (owners unseen in training)"
    )
    q.add_argument("--model", required=True, help="exported model folder")
    q.add_argument("--val", help="prepared val.parquet to calibrate the FPR sweep's thresholds")
    q.add_argument("--out", help="work folder (chain tables, matches, embeddings cache)")
    q.add_argument("--fpr", type=float, default=0.01)
    q.add_argument("-k", type=int, default=20)
    q.add_argument(
        "--change",
        choices=("none", "one-time", "payee"),
        default="payee",
        help="change rule for the main tables' payments (default payee, as `adowner link`; "
        "the guard table measures all three)",
    )
    q.add_argument(
        "--text-score",
        choices=("auto", "cosine", "hybrid"),
        default="auto",
        help="text candidates scored by the folder's hybrid.json (auto: where there is one)",
    )
    q.set_defaults(func=quality)
    args = ap.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
