"""Size and render time of link's report.html on one link folder, beside the renderer before
issue 19 (the file given as --old, e.g. `git show f0d6c89:src/adowner/link/report.py > old.py`).

    python scripts/report_size.py runs/qs/link --old /tmp/report_old.py
"""

import argparse
import importlib.util
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from adowner.link.pipeline import _flat
from adowner.link.report import render_report

ap = argparse.ArgumentParser()
ap.add_argument("link_dir")
ap.add_argument("--old", required=True, help="report.py of the renderer to compare with")
args = ap.parse_args()
d = args.link_dir
ads = pd.read_parquet(f"{d}/ads.parquet")
groups = pd.read_parquet(f"{d}/groups.parquet")
labels = groups["group_id"].to_numpy()
pos = pd.Series(np.arange(len(ads)), index=ads["ad_id"].astype(str))
e = pd.read_parquet(f"{d}/edges.parquet")
edges = pd.DataFrame(
    {
        "i": pos[e["src"]].to_numpy(),
        "j": pos[e["dst"]].to_numpy(),
        "kind": e["kind"],
        "score": e["score"],
        "mutual": e["mutual"],
        "detail": e["detail"],
    }
)
owners = pd.read_parquet(f"{d}/owners.parquet")
summary = _flat(json.loads(Path(d, "summary.json").read_text(encoding="utf-8")))
wallet = {
    a: w for a, w in zip(ads["ad_id"], ads["wallet_cluster"], strict=False) if isinstance(w, str)
}
spec = importlib.util.spec_from_file_location("old_report", args.old)
old = importlib.util.module_from_spec(spec)
spec.loader.exec_module(old)
t = time.perf_counter()
a = old.render_report(ads, labels, edges, owners, summary=summary)
t_old = time.perf_counter() - t
t = time.perf_counter()
b = render_report(ads, labels, edges, owners, summary=summary, wallet=wallet)
t_new = time.perf_counter() - t
print(f"ads {len(ads)} groups {len(owners)} edges {len(e)}")
print(
    f"old report.html {len(a.encode()) / 1e6:.2f} MB in {t_old:.1f} s; new {len(b.encode()) / 1e6:.2f} MB in {t_new:.1f} s"
)
