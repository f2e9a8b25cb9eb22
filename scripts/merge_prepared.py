"""Merge prepared folders of several domains into one, for multi-domain training.

What it does
    Reads ``DIR/{train,val,test}.parquet`` of each ``NAME=DIR`` given, prefixes every owner,
    ``dup_group`` and ``ad_id`` with ``NAME/`` (owners of two domains never merge), adds a
    ``domain`` column, keeps the columns all inputs share, and writes the three splits and a
    ``summary.json`` to ``--out`` (atomically). Owner-disjointness holds per split because it
    held in each input. With ``--max-train-ads NAME=N`` a domain's train split is cut to its
    first ``N`` owners' worth of ads (whole owners), so one large domain does not drown the rest.

Usage
    python scripts/merge_prepared.py agora=runs/prepared/agora sim=runs/prepared/sim-b \\
        --out runs/prepared/agora+sim
    adowner train --config configs/experiment/minilm-agora.yaml --data runs/prepared/agora+sim \\
        --out runs/minilm-multi
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from adowner._io import atomic_dir, write_json
from adowner.errors import InputError

SPLITS = ("train", "val", "test")
PREFIXED = ("owner", "dup_group", "ad_id")


def merge(inputs: dict[str, Path], out: Path, max_train_ads: dict[str, int]) -> dict:
    frames: dict[str, list[pd.DataFrame]] = {s: [] for s in SPLITS}
    summary: dict = {"inputs": {}, "splits": {}}
    for name, folder in inputs.items():
        summary["inputs"][name] = {"path": str(folder)}
        for split in SPLITS:
            path = folder / f"{split}.parquet"
            if not path.is_file():
                raise InputError("prepared split missing", path=str(path))
            df = pd.read_parquet(path)
            for col in ("text", "owner"):
                if col not in df.columns:
                    raise InputError("column missing", path=str(path), field=col)
            if "dup_group" not in df.columns:
                df["dup_group"] = df.get("ad_id", pd.Series(df.index.astype(str)))
            for col in PREFIXED:
                if col in df.columns:
                    df[col] = name + "/" + df[col].astype(str)
            if split == "train" and name in max_train_ads:
                sizes = df.groupby("owner", sort=False).size()
                keep = sizes.index[sizes.cumsum() <= max_train_ads[name]]
                df = df[df["owner"].isin(keep)]
            df["domain"] = name
            frames[split].append(df)
            summary["inputs"][name][split] = {"ads": len(df), "owners": int(df["owner"].nunique())}
    with atomic_dir(out) as tmp:
        for split in SPLITS:
            common = sorted(set.intersection(*(set(f.columns) for f in frames[split])))
            merged = pd.concat([f[common] for f in frames[split]], ignore_index=True)
            merged.to_parquet(tmp / f"{split}.parquet", index=False)
            summary["splits"][split] = {
                "ads": len(merged),
                "owners": int(merged["owner"].nunique()),
                "columns": common,
            }
        write_json(summary, tmp / "summary.json")
    return summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("inputs", nargs="+", help="NAME=PREPARED_DIR, one per domain")
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--max-train-ads", action="append", default=[], help="NAME=N (repeatable)")
    args = ap.parse_args()
    inputs = {}
    for item in args.inputs:
        name, sep, folder = item.partition("=")
        if not sep or not name or "/" in name:
            raise SystemExit(f"expected NAME=DIR, got {item!r}")
        inputs[name] = Path(folder)
    caps = {k: int(v) for k, _, v in (x.partition("=") for x in args.max_train_ads)}
    print(json.dumps(merge(inputs, args.out, caps)["splits"], indent=1, default=str))


if __name__ == "__main__":
    main()
