"""`prepare` with the issue-14 extractor: labels from obfuscated numbers, the safety net's count
in ``summary.json``, no digit chain left in what it writes, and checkpoints of an older masker
not reused."""

from __future__ import annotations

import json

import pandas as pd

from adowner.data.identifiers import digit_chains
from adowner.data.prepare import load_ads, prepare
from adowner.data.schema import DataConfig

CFG = DataConfig(show_progress=False, dedup=False)

# One owner's fictional number, written the ways issue 14 found on real ads.
FORMS = [
    "Text4155550162 babe",
    "Desiree415-555-0162 let's",
    "call 4one5-5five5-01six2",
    "📞415-555-0162Join us",
    "41.5..55.5..01.62 call",
    "Four1Five5Five5_01SixTwo",
]


def _frame() -> pd.DataFrame:
    rows = [
        {"ad_id": f"a{k}", "title": f"Mia ad {k}", "body": f"sweet girl {form} xoxo {k}"}
        for k, form in enumerate(FORMS)
    ]
    rows += [
        {"ad_id": "b0", "title": "Kim", "body": "call 213-555-0143Text Only : 424-555-0187"},
        {"ad_id": "b1", "title": "Kim again", "body": "424 555 0187 ask for Kim"},
        {"ad_id": "c0", "title": "Ava", "body": "rates 100 150 200 250, text 312 555 0199"},
        {"ad_id": "d0", "title": "Zoe", "body": "36-24-36 110lbs, no phone here"},
    ]
    for row in rows:
        row["posted_at"] = "2014-01-05T10:00:00"
    return pd.DataFrame(rows)


def test_prepare_joins_owners_across_forms_and_counts_the_safety_net(tmp_path):
    path = tmp_path / "ads.parquet"
    _frame().to_parquet(path)
    out = tmp_path / "prep"
    summary = prepare([path], out, config=CFG)
    written = pd.concat(pd.read_parquet(out / f"{s}.parquet") for s in ("train", "val", "test"))
    by_id = written.set_index("ad_id")
    # every form of the one number gives the one hash, so one owner
    assert by_id.loc[[f"a{k}" for k in range(len(FORMS))], "owner"].nunique() == 1
    assert all(len(p) == 1 for p in by_id.loc[[f"a{k}" for k in range(len(FORMS))], "phones"])
    # two numbers glued to words: both found, and the second joins Kim's other ad
    assert len(by_id.loc["b0", "phones"]) == 2
    assert by_id.loc["b0", "owner"] == by_id.loc["b1", "owner"]
    # the price list and the measurements are over-masked, and counted
    assert "[NUM]" in by_id.loc["c0", "text"]
    assert "[NUM]" in by_id.loc["d0", "text"]
    assert summary["safety_net_masked"] == 2
    assert summary["safety_net_ads"] == 2
    on_disk = json.loads((out / "summary.json").read_text())
    assert on_disk["safety_net_masked"] == 2
    # nothing of 7+ digit items is left in any text written
    for col in ("text", "title", "body"):
        assert all(digit_chains(t) == [] for t in written[col]), col


def test_checkpoints_of_an_older_masker_are_not_reused(tmp_path, monkeypatch):
    import adowner.data.prepare as prep

    path = tmp_path / "ads.parquet"
    _frame().to_parquet(path)
    ckpt = tmp_path / "ckpt"
    load_ads([path], config=CFG, checkpoint_dir=ckpt)
    before = {p.name for p in ckpt.glob("mask-*.parquet")}
    assert before
    monkeypatch.setattr(prep, "MASKER_VERSION", "older")
    load_ads([path], config=CFG, checkpoint_dir=ckpt)
    assert {p.name for p in ckpt.glob("mask-*.parquet")} - before  # masked again, new key
