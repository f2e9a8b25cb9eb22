"""How the calibrated thresholds of an exported folder hold on owners it never saw.

For each (model folder, held-out split, pairs) triple: score the held-out pairs with the folder
itself (the hybrid probability where it has ``hybrid.json``, else the cosine), apply the
folder's thresholds at each target FPR, and print the FPR and TPR achieved. The pairs come from
an ``evaluate``/``cv`` ``scores.npz`` (its ``i``, ``j``, ``y`` index the split's rows), so
the pairs are exactly those the evaluation scored.

    python scripts/check_thresholds.py \\
        --model runs/cv-loc/fold0/model --split runs/cv-loc/fold0/data/test.parquet \\
        --pairs runs/cv-loc/fold0/eval/hybrid-best/scores.npz [--model ... --split ... --pairs ...]

Thresholds come from ``export``'s calibration on val owners (the hybrid's out of fold), so
this is the check the real-ads issue asks for: achieved FPR on held-out owners against the
target.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def check(model: str, split: str, pairs: str) -> list[dict[str, float | str]]:
    import adowner
    from adowner.evaluation.data import load_eval_data
    from adowner.scoring.hybrid import locations_of

    enc = adowner.load(model, precision="fp32")
    data = load_eval_data(str(Path(split).parent), test=split)
    df = data.test
    texts = df["text"].astype(str).tolist()
    z = np.load(pairs)
    i, j, y = z["i"], z["j"], z["y"].astype(bool)
    scorer = enc.scorer  # the folder's same-owner score: its hybrid where it has one
    emb = None if scorer.kind == "hybrid" else enc.embed(texts)
    scores = scorer.score_pairs(texts, i, j, locations=locations_of(df), emb=emb)
    thresholds, kind = scorer.thresholds, scorer.kind
    rows: list[dict[str, float | str]] = []
    for fpr, t in sorted(thresholds.items(), reverse=True):
        hit = scores >= t
        rows.append(
            {
                "model": model,
                "score": kind,
                "target_fpr": fpr,
                "threshold": float(t),
                "achieved_fpr": float(hit[~y].mean()),
                "tpr": float(hit[y].mean()),
                "pos": int(y.sum()),
                "neg": int((~y).sum()),
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", action="append", required=True, help="exported folder")
    ap.add_argument("--split", action="append", required=True, help="held-out split (.parquet)")
    ap.add_argument("--pairs", action="append", required=True, help="scores.npz of that split")
    ap.add_argument("--out", help="write the rows as JSON here")
    args = ap.parse_args(argv)
    if not len(args.model) == len(args.split) == len(args.pairs):
        ap.error("give --model, --split and --pairs the same number of times")
    rows = [
        r
        for m, s, p in zip(args.model, args.split, args.pairs, strict=True)
        for r in check(m, s, p)
    ]
    print("| model | score | target FPR | threshold | achieved FPR | TPR | pairs (same/diff) |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['model']} | {r['score']} | {r['target_fpr']:.1%} | {r['threshold']:.4f} | "
            f"{r['achieved_fpr']:.2%} | {r['tpr']:.3f} | {r['pos']}/{r['neg']} |"
        )
    for fpr in sorted({float(r["target_fpr"]) for r in rows}, reverse=True):
        got = [r for r in rows if r["target_fpr"] == fpr]
        fp = sum(float(r["achieved_fpr"]) * int(r["neg"]) for r in got)
        tp = sum(float(r["tpr"]) * int(r["pos"]) for r in got)
        neg, pos = sum(int(r["neg"]) for r in got), sum(int(r["pos"]) for r in got)
        print(f"pooled at target {fpr:.1%}: achieved FPR {fp / neg:.2%}, TPR {tp / pos:.3f}")
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
