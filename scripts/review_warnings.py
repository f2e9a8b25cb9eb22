"""How often the workbench's false-merge warnings fire on impure groups of a simulated run.

    python scripts/review_warnings.py SIM_ROOT   # SIM_ROOT/link (a link folder), SIM_ROOT/market (simulate)

A group is impure when its ads have more than one ``true_owner`` (the simulator's ground truth).
"""

import sys

import pandas as pd

from adowner.review.run import LinkRun

run = LinkRun(sys.argv[1] + "/link")
truth = pd.read_parquet(
    sys.argv[1] + "/market/ads.parquet", columns=["ad_id", "true_owner"]
).set_index("ad_id")["true_owner"]
rows = []
for g, ids in run.members.items():
    if len(ids) < 2:
        continue
    ex = run.explain(g)
    owners = truth.loc[ids].value_counts()
    rows.append(
        {
            "g": g,
            "n": len(ids),
            "impure": len(owners) > 1,
            "major_share": owners.iloc[0] / len(ids),
            "bridge": any(w.startswith("Possible false merge") for w in ex.warnings),
            "exchange": any(w.startswith("Exchange-like") for w in ex.warnings),
        }
    )
d = pd.DataFrame(rows)
print(
    "groups 2+:",
    len(d),
    "impure:",
    int(d.impure.sum()),
    "ads in impure groups:",
    int(d[d.impure].n.sum()),
)
for k in ("bridge", "exchange"):
    w = d[d[k]]
    print(
        k,
        "warned:",
        len(w),
        "of them impure:",
        int(w.impure.sum()),
        "| impure groups warned:",
        int(d[d.impure][k].sum()),
        "of",
        int(d.impure.sum()),
    )
any_ = d.bridge | d.exchange
print(
    "any warning:",
    int(any_.sum()),
    "impure among them:",
    int(d[any_].impure.sum()),
    "; impure groups with >=10% foreign ads:",
    int((d.major_share < 0.9).sum()),
    "warned:",
    int(d[d.major_share < 0.9][["bridge", "exchange"]].any(axis=1).sum()),
)
