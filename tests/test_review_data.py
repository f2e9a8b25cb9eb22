"""The workbench's data layer: why a group exists, false-merge warnings, the template view,
decisions in SQLite (schema version, last write wins, history, matching across link reruns) and
the label export that `prepare --owner-pairs` takes."""

from __future__ import annotations

import json
import sqlite3
import threading

import pandas as pd
import pytest

from adowner.data.labels import apply_owner_pairs, read_owner_pairs
from adowner.errors import InputError
from adowner.review.explain import explain_group, highlight, shared_phrases, shared_spans
from adowner.review.labels import decision_pairs, export_pairs
from adowner.review.run import Filters, LinkRun
from adowner.review.store import SCHEMA_VERSION, Store, group_key


def _edges(rows: list[tuple[str, str, str, float, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["src", "dst", "kind", "score", "detail"])


def test_the_summary_names_each_kind_of_evidence_and_the_text_only_ads() -> None:
    e = _edges(
        [
            ("a", "b", "phone", 1.0, "phone #aaaaaaaaaaaa"),
            ("a", "c", "phone", 1.0, "phone #bbbbbbbbbbbb"),
            ("c", "d", "payment", 1.0, "wallet cluster 1136XYZWQ: tx 1… and tx 2…"),
            ("d", "e", "text", 0.953, "mutual k-NN, best rank 1"),
            ("e", "f", "text", 0.97, "mutual k-NN, best rank 2"),
        ]
    )
    ex = explain_group(list("abcdef"), e)
    assert ex.summary == (
        "3 ads share 2 phone numbers; 2 were paid from wallet cluster 1136XYZW…; "
        "2 more joined by writing style (cosine ≥ 0.95)."
    )
    assert [len(p.ad_ids) for p in ex.parts] == [4, 1, 1]  # a-b-c-d by hard evidence
    assert ex.counts == {"phone": 2, "text": 2, "payment": 1}
    assert explain_group(["x"], e.iloc[0:0]).summary.startswith("One ad")


def test_a_single_weak_text_edge_between_two_dense_parts_is_a_warning() -> None:
    left = [("a", "b", "phone", 1.0, "phone #1"), ("b", "c", "phone", 1.0, "phone #1")]
    right = [("x", "y", "email", 1.0, "email #2"), ("y", "z", "email", 1.0, "email #2")]
    bridge = [("c", "x", "text", 0.91, "k-NN rank 3")]
    ex = explain_group(list("abcxyz"), _edges(left + right + bridge))
    assert len(ex.warnings) == 1
    assert "one text edge (cosine 0.91)" in ex.warnings[0]
    assert "3 ads to 3 ads" in ex.warnings[0]
    assert ex.collapsed == [{"a": 0, "b": 1, "n_a": 3, "n_b": 3, "counts": {"text": 1}, "total": 1}]
    # three text edges between the parts are not weak; a pendant ad is not a false merge
    thick = [*bridge, ("a", "y", "text", 0.9, ""), ("b", "z", "text", 0.9, "")]
    assert explain_group(list("abcxyz"), _edges(left + right + thick)).warnings == []
    pendant = [*left, ("c", "q", "text", 0.9, "")]
    assert explain_group(list("abcq"), _edges(pendant)).warnings == []


def test_a_payer_cluster_that_alone_joins_separate_ads_looks_like_an_exchange() -> None:
    ids = [f"a{k}" for k in range(10)]
    pay = [(ids[0], b, "payment", 1.0, "wallet cluster W1: tx") for b in ids[1:]]
    # five owners of two ads each, each pair with its own phone: the payer alone joins them
    own = [(ids[k], ids[k + 1], "phone", 1.0, f"phone #{k}") for k in range(0, 10, 2)]
    wallet = dict.fromkeys(ids, "W1")
    names = {a: f"name{k // 2}" for k, a in enumerate(ids)}
    ex = explain_group(ids, _edges(pay + own), wallet=wallet, personas=names)
    assert any(
        "Exchange-like payer" in w and "5 otherwise separate sets of its 10 ads, 5 personas" in w
        for w in ex.warnings
    )
    # four such sets (one owner's burner phones, as the simulator makes them) are no warning,
    # nor ads that only the payer joins (payment linking at work), nor one phone on every ad
    assert explain_group(ids[:8], _edges(pay[:7] + own[:4]), wallet=wallet).warnings == []
    assert explain_group(ids, _edges(pay), wallet=wallet, personas=names).warnings == []
    phone = [(ids[0], b, "phone", 1.0, "phone #x") for b in ids[1:]]
    assert explain_group(ids, _edges(pay + phone), wallet=wallet).warnings == []
    # or a cluster that pays for a large share of every matched ad of the run
    run = {"W1": 40, "W2": 60}
    ex = explain_group(ids, _edges(pay + phone), wallet=wallet, matched_in_run=run)
    assert any("40% of all matched ads" in w for w in ex.warnings)


def test_shared_spans_highlight_the_phrases_the_ads_have_in_common() -> None:
    texts = [
        "Hi I am Ann, sweet and petite, call me now",
        "New in town: sweet and petite, call me now!",
        "Nothing in common with the others here",
    ]
    spans = shared_spans(texts)
    assert [texts[0][a:b] for a, b in spans[0]] == ["sweet and petite, call me now"]
    assert spans[2] == []
    assert shared_phrases(texts)[0] == ("sweet and petite, call me now", 2)
    assert highlight("a <b> c", [(2, 5)]) == "a <mark>&lt;b&gt;</mark> c"


def test_decisions_last_write_wins_and_history_keeps_every_one(tmp_path) -> None:
    store = Store(tmp_path / "d.sqlite")
    assert store.schema_version() == SCHEMA_VERSION
    ids = ["ad3", "ad1", "ad2"]
    store.decide(ids, "confirmed", note="one phone", analyst="ann")
    store.decide(ids, "split", chosen=["ad3"], analyst="bob")
    d = store.get(group_key(["ad1", "ad2", "ad3"]))
    assert (d.state, d.chosen, d.note, d.revision) == ("split", ("ad3",), "one phone", 2)
    assert [h.state for h in store.history(d.group_key)] == ["confirmed", "split"]
    with pytest.raises(ValueError, match="split needs"):
        store.decide(ids, "split", chosen=ids)
    with pytest.raises(ValueError, match="state must be"):
        store.decide(ids, "maybe")
    # survives a restart: a new Store on the same file
    again = Store(tmp_path / "d.sqlite")
    assert again.get(d.group_key).state == "split"
    rows = sqlite3.connect(tmp_path / "d.sqlite").execute("select version from schema_version")
    assert rows.fetchall() == [(SCHEMA_VERSION,)]


def test_two_writers_at_once_are_both_in_history(tmp_path) -> None:
    path = tmp_path / "d.sqlite"
    Store(path)
    ids = [f"ad{k}" for k in range(5)]
    errors: list[BaseException] = []

    def write(state: str) -> None:
        try:
            s = Store(path)
            for _ in range(10):
                s.decide(ids, state, analyst=state)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(s,)) for s in ("confirmed", "dismissed")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    store = Store(path)
    history = store.history(group_key(ids))
    assert len(history) == 20
    assert store.get(group_key(ids)).state == history[-1].state  # the last write is the decision
    assert store.get(group_key(ids)).revision == 20


def test_a_newer_schema_is_refused(tmp_path) -> None:
    path = tmp_path / "d.sqlite"
    Store(path)
    con = sqlite3.connect(path)
    con.execute("insert into schema_version values (?)", (SCHEMA_VERSION + 1,))
    con.commit()
    con.close()
    with pytest.raises(InputError, match="schema version"):
        Store(path)
    (tmp_path / "junk.sqlite").write_text("not a database", encoding="utf-8")
    with pytest.raises(InputError, match="cannot open"):
        Store(tmp_path / "junk.sqlite")


def test_decisions_follow_their_ads_into_a_rerun_of_link() -> None:
    store = Store(":memory:")
    store.decide(["a", "b", "c", "d"], "split", chosen=["d"])
    store.decide(["x", "y"], "confirmed")
    # the rerun: same ads x, y (exact key); a, b, c now with a new ad e; d went elsewhere
    found = store.match({0: ["x", "y"], 1: ["a", "b", "c", "e"], 2: ["d"]})
    assert found[0].state == "confirmed"
    assert not found[0].carried
    assert found[1].carried
    assert found[1].state == "open"
    assert 2 not in found
    store.decide(["a", "b", "c", "d"], "dismissed")
    assert store.match({1: ["a", "b", "c", "e"]})[1].state == "dismissed"
    assert store.match({1: ["a", "e", "f", "g", "h"]}) == {}  # 1 of 4 ads: not the same group


def test_pairs_of_each_decision() -> None:
    store = Store(":memory:")
    edges = pd.DataFrame({"src": ["a", "b", "c"], "dst": ["b", "c", "d"]})
    split = store.decide(["a", "b", "c", "d"], "split", chosen=["c", "d"])
    assert set(decision_pairs(split, edges)) == {
        ("c", "d", "must-link"),
        ("a", "b", "must-link"),
        ("a", "c", "cannot-link"),
        ("b", "c", "cannot-link"),  # the evidence edge the split cut
    }
    dismissed = store.decide(["a", "b", "c", "d"], "dismissed")
    assert {p[2] for p in decision_pairs(dismissed, edges)} == {"cannot-link"}
    assert len(decision_pairs(dismissed, edges)) == 3
    confirmed = store.decide(["a", "b", "c"], "confirmed")
    assert decision_pairs(confirmed) == [("a", "b", "must-link"), ("a", "c", "must-link")]


def test_owner_pairs_relabel_owners_and_quarantine_what_cannot_hold(tmp_path) -> None:
    df = pd.DataFrame({"ad_id": list("abcdef"), "owner": ["o1", "o1", "o1", "o2", "o3", "o3"]})
    pairs = pd.DataFrame(
        {
            "ad_a": ["a", "c", "a", "e", "zz"],
            "ad_b": ["b", "d", "c", "f", "a"],
            "label": ["must-link", "must-link", "cannot-link", "cannot-link", "must-link"],
        }
    )
    owner, joined, quarantine, counts = apply_owner_pairs(df, pairs, "p.csv")
    # a-b joined; c-d joined (a split of o1, c moves to d); a/c cannot-link holds
    assert owner.tolist() == ["review-a", "review-a", "review-c", "review-c", "o3", "o3"]
    assert joined.tolist()[:4] == ["review"] * 4
    assert counts["unmatched"] == 1
    assert counts["cannot_link_conflicts"] == 1
    assert quarantine == [
        {
            "file": "p.csv",
            "row": 4,
            "field": "label",
            "reason": "cannot-link pair ends in one owner (joined by ); the pair is not applied",
        }
    ]


def test_a_bad_pairs_file_names_file_row_and_field(tmp_path) -> None:
    bad = tmp_path / "pairs.csv"
    bad.write_text("ad_a,ad_b,label\na,b,must-link\nc,d,maybe\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        read_owner_pairs(str(bad))
    assert (err.value.row, err.value.field) == (2, "label")
    assert "pairs.csv" in str(err.value)
    bad.write_text("ad_a,label\na,must-link\n", encoding="utf-8")
    with pytest.raises(InputError, match="ad_b"):
        read_owner_pairs(str(bad))


def test_link_run_filters_and_searches(review_link) -> None:
    run = LinkRun(review_link)
    every = run.select(Filters())
    assert len(every) == len(run.members)
    assert every[0]["rank"] == 1
    top = every[0]
    big = run.select(Filters(min_size=int(top["n_ads"])))
    assert all(r["n_ads"] >= top["n_ads"] for r in big)
    assert top["group_id"] in {r["group_id"] for r in big}
    ad = run.members[int(top["group_id"])][0]
    assert [r["group_id"] for r in run.select(Filters(q=ad))] == [top["group_id"]]
    wallet = next(w for a, w in run.wallet.items())
    hit = run.select(Filters(q=wallet[:10]))
    assert run.group_of[next(a for a, w in run.wallet.items() if w == wallet)] in {
        r["group_id"] for r in hit
    }
    assert run.select(Filters(q="zzzz-no-such-words")) == []
    states = {int(top["group_id"]): "confirmed"}
    assert [r["group_id"] for r in run.select(Filters(state="confirmed"), states)] == [
        top["group_id"]
    ]
    city = run.options()["cities"][0]
    assert all(city in r["cities"] for r in run.select(Filters(city=city)))
    assert all("phone" in r["evidence"] for r in run.select(Filters(evidence="phone")))


def test_prepare_takes_the_exported_labels(review_link, tmp_path) -> None:
    from adowner.cli import main

    run = LinkRun(review_link)
    store = Store(tmp_path / "d.sqlite")
    g0, g1 = (int(r) for r in run.owners["group_id"].iloc[:2])
    store.decide(run.members[g0] + run.members[g1][:1], "confirmed")  # joins two groups' ads
    chosen = run.members[g1][1:2]
    store.decide(run.members[g1], "split", chosen=chosen)
    pairs = tmp_path / "pairs.csv"
    counts = export_pairs(store.all(), pairs, run.edges)
    assert counts["must-link"] > 0
    assert counts["cannot-link"] >= 1
    ads = review_link.parent / "market" / "ads.parquet"
    out = tmp_path / "prepared"
    assert main(["prepare", str(ads), "--out", str(out), "--owner-pairs", str(pairs),
                 "--no-dedup", "--no-progress"]) == 0  # fmt: skip
    summary = json.loads((out / "summary.json").read_text())
    assert summary["owner_pairs"]["must_link"] == counts["must-link"]
    prepared = pd.concat(pd.read_parquet(out / f"{s}.parquet") for s in ("train", "val", "test"))
    owner = prepared.set_index("ad_id")["owner"]
    assert owner.loc[run.members[g1][0]] == owner.loc[run.members[g0][0]]
    assert owner.loc[run.members[g0][0]].startswith("review-")
    assert owner.loc[chosen[0]] != owner.loc[run.members[g1][0]]
    assert (out / "owner_pairs.quarantine.jsonl").is_file()


def test_the_command_exports_labels_and_reads_an_older_link_folder(review_link, tmp_path, capsys):
    import shutil

    from adowner.cli import main

    run = LinkRun(review_link)
    g = int(run.owners["group_id"].iloc[0])
    db = tmp_path / "d.sqlite"
    Store(db).decide(run.members[g], "confirmed")
    out = tmp_path / "pairs.csv"
    assert main(["review", str(review_link), "--db", str(db), "--export-labels", str(out)]) == 0
    assert f"wrote {len(run.members[g]) - 1} must-link" in capsys.readouterr().out
    assert len(read_owner_pairs(str(out))) == len(run.members[g]) - 1
    # a link folder from before ads.parquet: named in the error, read with --ads
    old = tmp_path / "old-link"
    shutil.copytree(review_link, old)
    (old / "ads.parquet").unlink()
    assert main(["review", str(old), "--db", str(db), "--export-labels", str(out)]) == 2
    assert "ads.parquet" in capsys.readouterr().err
    ads = review_link.parent / "market" / "ads.parquet"
    again = LinkRun(old, ads=ads)
    assert again.members == run.members
    assert "555-01" not in "".join(again.ads["text"])
    assert main(["review", str(tmp_path / "nowhere"), "--export-labels", str(out)]) == 2
