"""Fusion logic on hand-built inputs: edges, groups, indicators, outputs and report."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from adowner.link.groups import connected_groups, guarded_groups
from adowner.link.identifier_edges import identifier_edges
from adowner.link.indicators import owner_indicators
from adowner.link.payment_edges import payment_edges
from adowner.link.pipeline import form_groups, run_link
from adowner.link.text_edges import text_edges


def _clique(nodes):
    return [(a, b) for i, a in enumerate(nodes) for b in nodes[i + 1 :]]


def test_weak_text_edge_does_not_chain_two_large_groups():
    # two text cliques of 8 ads, one weak text edge between them
    a, b = list(range(8)), list(range(8, 16))
    text = [*_clique(a), *_clique(b), (7, 8)]
    src, dst = zip(*text, strict=True)
    guarded = guarded_groups(16, ([], []), (src, dst), min_density=0.1)
    plain = connected_groups(16, (src, dst))
    assert len(set(guarded[:8])) == 1
    assert len(set(guarded[8:])) == 1
    assert guarded[0] != guarded[8]
    assert len(set(plain)) == 1  # plain components chain them


def test_weak_text_edge_does_not_chain_two_hard_groups():
    # two groups held by shared phones (stars), one text edge between them
    hard = ([0, 0, 0, 5, 5, 5], [1, 2, 3, 6, 7, 8])
    labels = guarded_groups(10, hard, ([3], [6]), min_density=0.1)
    assert labels[0] == labels[3]
    assert labels[5] == labels[8]
    assert labels[0] != labels[5]
    # but a singleton joins a hard group on one text edge, and hard edges always merge
    labels = guarded_groups(10, hard, ([3], [9]), min_density=0.1)
    assert labels[9] == labels[0]
    both = guarded_groups(10, ([0, 3], [1, 6]), ([], []))
    assert both[0] == both[1]
    assert both[3] == both[6]


def test_dense_text_links_do_merge_groups():
    a, b = list(range(4)), list(range(4, 8))
    cross = [(i, j) for i in a for j in b][:6]  # 6 of 16 cross pairs
    src, dst = zip(*_clique(a), *_clique(b), *cross, strict=True)
    labels = guarded_groups(8, ([], []), (src, dst), min_density=0.3)
    assert len(set(labels)) == 1
    labels = guarded_groups(8, ([], []), (src, dst), min_density=0.5)
    assert len(set(labels)) == 2


def test_labels_are_dense_and_cover_every_ad():
    rng = np.random.default_rng(0)
    src, dst = rng.integers(0, 200, 300), rng.integers(0, 200, 300)
    for labels in (
        guarded_groups(200, (src[:50], dst[:50]), (src, dst)),
        connected_groups(200, (src, dst)),
    ):
        assert len(labels) == 200
        assert set(labels.tolist()) == set(range(labels.max() + 1))


def test_text_edges_threshold_and_mutual():
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(5, 16))
    owner = np.repeat(np.arange(5), 6)
    emb = centres[owner] + 0.15 * rng.normal(size=(30, 16))
    emb = (emb / np.linalg.norm(emb, axis=1, keepdims=True)).astype(np.float32)
    e = text_edges(emb, threshold=0.8, k=5)
    assert len(e) > 0
    assert (e["i"] < e["j"]).all()
    assert e["mutual"].all()
    assert (e["score"] >= 0.8).all()
    assert not e.duplicated(["i", "j"]).any()
    assert (owner[e["i"]] == owner[e["j"]]).mean() > 0.95
    assert len(text_edges(emb, threshold=1.01, k=5)) == 0
    loose = text_edges(emb, threshold=-1.0, k=5, mutual=False)
    assert len(loose) >= len(text_edges(emb, threshold=-1.0, k=5))
    hnsw = text_edges(emb, threshold=0.8, k=5, index="hnsw")
    assert set(map(tuple, hnsw[["i", "j"]].values)) == set(map(tuple, e[["i", "j"]].values))


def test_no_text_edges_have_the_edge_schemas_types():
    from adowner.chain.tables import EDGES

    found = text_edges(np.eye(4, dtype=np.float32)[:3], threshold=0.5, k=2)  # none above 0.5
    none = text_edges(np.zeros((0, 4), dtype=np.float32), threshold=0.5, k=2)  # no ads at all
    some = text_edges(np.ones((3, 4), dtype=np.float32) / 2, threshold=0.5, k=2)
    assert len(found) == len(none) == 0
    assert len(some) == 3
    for frame in (found, none):
        assert list(frame.columns) == list(some.columns)
        assert frame.dtypes.to_dict() == some.dtypes.to_dict()
    for f in EDGES:
        if f.name in none.columns and f.name not in ("kind", "detail"):
            assert none[f.name].dtype == f.type.to_pandas_dtype(), f.name
    assert pd.api.types.is_string_dtype(none["kind"])
    assert pd.api.types.is_string_dtype(none["detail"])


def test_text_edges_rescore_replaces_the_cosine():
    rng = np.random.default_rng(2)
    centres = rng.normal(size=(4, 16))
    owner = np.repeat(np.arange(4), 5)
    emb = centres[owner] + 0.4 * rng.normal(size=(20, 16))
    emb = (emb / np.linalg.norm(emb, axis=1, keepdims=True)).astype(np.float32)
    calls = []

    def oracle(i, j):  # a perfect pair score: 1 for the same owner, 0 otherwise
        calls.append(len(i))
        assert (i < j).all()  # unordered pairs, each scored once
        return (owner[i] == owner[j]).astype(float)

    e = text_edges(emb, threshold=0.5, k=6, mutual=False, rescore=oracle)
    assert len(e) > 0
    assert (owner[e["i"]] == owner[e["j"]]).all()
    assert set(e["score"].tolist()) == {1.0}
    assert sum(calls) <= 20 * 6  # only k-NN candidates are scored, never all pairs


def test_identifier_edges_star_per_hash_and_no_raw_identifier():
    ads = pd.DataFrame(
        {
            "phones": [["p1"], ["p1", "p2"], ["p2"], [], ["p1"]],
            "emails": [[], [], [], ["e1"], ["e1"]],
            "handles": [None, [], [], [], []],
        }
    )
    e = identifier_edges(ads)
    phone = e[e["kind"] == "phone"]
    assert sorted(map(tuple, phone[["i", "j"]].values.tolist())) == [(0, 1), (0, 4), (1, 2)]
    assert e[e["kind"] == "email"][["i", "j"]].values.tolist() == [[3, 4]]
    assert connected_groups(5, (e["i"], e["j"])).tolist() == [0, 0, 0, 0, 0]


def test_payment_edges_join_one_wallet_and_list_ambiguous():
    ids = np.array(["a", "b", "c", "d", "e"])
    m = pd.DataFrame(
        {
            "ad_id": ["a", "b", "c", "d", "e"],
            "match_status": ["unique", "unique", "ambiguous", "unique", "none"],
            "txid": ["t1", "t2", "t3", "t4", None],
            "payer_cluster": [1, 1, 1, 2, None],
        }
    )
    e, amb = payment_edges(ids, m)
    assert e[["i", "j"]].values.tolist() == [[0, 1]]
    assert "wallet cluster 1" in e["detail"].iloc[0]
    assert amb["ad_id"].tolist() == ["c"]


def test_indicators_count_personas_cities_rate_and_payments():
    ads = pd.DataFrame(
        {
            "ad_id": list("abcdef"),
            "persona": ["Ann", "Bea", "Cat", "ann", "Dee", "Dee"],
            "location": [
                "Austin, TX",
                "Dallas, TX",
                "Reno, NV",
                "Austin, TX",
                "Ames, IA",
                "Ames, IA",
            ],
            "posted_at": pd.to_datetime(
                [
                    "2024-01-01 10:00",
                    "2024-01-01 11:00",
                    "2024-01-01 12:00",
                    "2024-01-01 13:00",
                    "2024-01-01 00:00",
                    "2024-01-11 00:00",
                ],
                utc=True,
            ),
        }
    )
    labels = np.array([0, 0, 0, 0, 1, 1])
    pay = pd.DataFrame(
        {
            "ad_id": ["a", "b", "e"],
            "wallet_cluster": ["w1", "w1", "w9"],
            "paid_usd": [10.0, 12.5, 7.0],
        }
    )
    o = owner_indicators(ads, labels, payments=pay).set_index("group_id")
    assert o.loc[0, "n_ads"] == 4
    assert o.loc[0, "n_personas"] == 3
    assert o.loc[0, "n_cities"] == 3
    assert o.loc[0, "n_regions"] == 2
    assert o.loc[0, "ads_per_day"] == 4.0
    assert o.loc[0, "total_paid_usd"] == 22.5
    assert o.loc[0, "wallet_clusters"] == ["w1"]
    assert set(o.loc[0, "flags"]) == {"many personas", "many cities", "high posting rate"}
    assert o.loc[1, "span_days"] == 10.0
    assert o.loc[1, "ads_per_day"] == 0.2
    assert o.loc[0, "rank"] == 1
    assert o.loc[1, "flags"] == []


def _market(n_owners=12, per=8, seed=0):
    """Ads of owners whose embeddings are noisy around a style centre; some share phones/wallets."""
    rng = np.random.default_rng(seed)
    owner = np.repeat(np.arange(n_owners), per)
    centres = rng.normal(size=(n_owners, 24))
    emb = centres[owner] + 0.9 * rng.normal(size=(len(owner), 24))
    emb = (emb / np.linalg.norm(emb, axis=1, keepdims=True)).astype(np.float32)
    n = len(owner)
    phones = [[f"ph{o}"] if rng.random() < 0.4 else [] for o in owner]
    ads = pd.DataFrame(
        {
            "ad_id": [f"ad{i:03d}" for i in range(n)],
            "text": [f"Call me at 202-555-0143, owner {o} style" for o in owner],
            "persona": [f"name{rng.integers(0, 3)}_{o}" for o in owner],
            "location": [f"City{o % 4}, R{o % 2}" for o in owner],
            "posted_at": pd.Timestamp("2024-03-01", tz="UTC")
            + pd.to_timedelta(rng.integers(0, 20 * 24, n), "h"),
            "price_usd": rng.integers(10, 60, n).astype(float),
            "phones": phones,
            "emails": [[] for _ in owner],
            "handles": [[] for _ in owner],
            "true_owner": [f"o{o}" for o in owner],
        }
    )
    paid = rng.random(n) < 0.5
    matches = pd.DataFrame(
        {
            "ad_id": ads["ad_id"],
            "match_status": np.where(
                paid, "unique", np.where(rng.random(n) < 0.5, "ambiguous", "none")
            ),
            "txid": [f"tx{i}" for i in range(n)],
            "payer_cluster": np.where(paid, owner, -1).astype(float),
        }
    )
    matches.loc[~paid, "payer_cluster"] = np.nan
    return ads, emb, matches


def test_fused_beats_each_single_kind_of_evidence():
    ads, emb, matches = _market()
    thr = 0.35
    f1 = {}
    for name, kw in {
        "fused": {"emb": emb, "threshold": thr, "matches": matches},
        "text": {"emb": emb, "threshold": thr, "matches": None},
        "payment": {"emb": None, "threshold": None, "matches": matches},
        "identifier": {"emb": None, "threshold": None, "matches": None},
    }.items():
        a = ads if name != "text" else ads.assign(phones=[[] for _ in range(len(ads))])
        if name == "payment":
            a = a.assign(phones=[[] for _ in range(len(ads))])
        res = run_link(a, kw["emb"], kw["threshold"], matches=kw["matches"], k=10, report=False)
        f1[name] = res.summary["metrics_vs_true_owner"]["bcubed_f1"]
    assert f1["fused"] > max(f1["text"], f1["payment"], f1["identifier"]), f1


def test_run_link_writes_outputs_and_masks_report(tmp_path):
    ads, emb, matches = _market(n_owners=5, per=6)
    res = run_link(ads, emb, 0.35, matches=matches, out=tmp_path, k=8, report_top=3)
    for name in ("groups", "edges", "owners", "ambiguous"):
        assert (tmp_path / f"{name}.parquet").is_file()
    groups = pd.read_parquet(tmp_path / "groups.parquet")
    assert groups["ad_id"].tolist() == ads["ad_id"].tolist()
    edges = pd.read_parquet(tmp_path / "edges.parquet")
    assert {"src", "dst", "kind", "score", "detail"} <= set(edges.columns)
    assert set(edges["kind"]) >= {"text", "phone", "payment"}
    owners = pd.read_parquet(tmp_path / "owners.parquet")
    assert owners["n_ads"].sum() == len(ads)
    assert len(owners) == res.summary["n_groups"]
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "202-555-0143" not in page
    assert page.count("class='group'") == 3
    assert page.count("<svg") == 3
    assert "http://" not in page
    assert "https://" not in page


def test_form_groups_rejects_unknown_method():
    with pytest.raises(ValueError, match="method"):
        form_groups(3, text_edges(np.eye(3, dtype=np.float32), 0.5, 2), method="magic")
