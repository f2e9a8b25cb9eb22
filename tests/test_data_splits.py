"""Owner labels from identifiers, duplicate groups and owner-disjoint splits."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from adowner.data.dedup import drop_duplicates, dup_groups, shingle_hashes
from adowner.data.labels import owners_from_identifiers
from adowner.data.splits import split_by_owner


def test_owners_are_connected_components_with_joining_kinds():
    df = pd.DataFrame(
        {
            "ad_id": ["a", "b", "c", "d", "e"],
            "phones": [["p1"], ["p1"], [], [], ["p9"]],
            "emails": [[], ["e1"], ["e1"], [], []],
            "urls": [[], [], [], [], []],
            "handles": [[], [], [], ["h1"], []],
        }
    )
    got = owners_from_identifiers(df)
    assert got["owner"].tolist() == ["id-a", "id-a", "id-a", "id-d", "id-e"]
    # a-b share a phone, b-c an e-mail; d's and e's identifiers are their own
    assert got["owner_joined_by"].tolist() == ["phones+emails"] * 3 + ["none", "none"]


def test_same_hash_in_different_kinds_does_not_join():
    df = pd.DataFrame({"ad_id": ["a", "b"], "phones": [["x"], []], "handles": [[], ["x"]]})
    assert owners_from_identifiers(df)["owner"].nunique() == 2


def test_shingles_ignore_case_and_whitespace():
    assert np.array_equal(shingle_hashes("Hello   World"), shingle_hashes("hello world"))
    assert len(shingle_hashes("abc")) == 1


def test_exact_and_near_duplicates_are_grouped_and_dropped_per_owner():
    base = (
        "Sweet new girl in town, upscale and discreet. Incall and outcall, 24/7, ask for Mia. "
        "Special tonight only $150 for the hour, no rush, clean and friendly place near the "
        "airport, text [PHONE] first, serious gentlemen only please, no games xoxo"
    )
    texts = [
        base,
        base.replace(" ", "  "),  # exact after whitespace folding
        base.replace("$150", "$160"),  # near duplicate: a repost with a new price
        "Completely different text about cars and engines and motor oil for sale today",
        base,  # same text, another owner
    ]
    ids = ["a", "b", "c", "d", "e"]
    groups = dup_groups(texts, ids, threshold=0.9)
    assert groups[:3] == ["dup-a"] * 3
    assert groups[3] == "dup-d"
    assert groups[4] == "dup-a"
    assert dup_groups(texts, ids, threshold=1.0)[2] == "dup-c"  # exact only
    df = pd.DataFrame(
        {"ad_id": ids, "text": texts, "owner": ["o1", "o1", "o1", "o1", "o2"], "dup_group": groups}
    )
    kept, counts = drop_duplicates(df)
    assert kept["ad_id"].tolist() == ["a", "d", "e"]  # one per (group, owner)
    assert counts == {"exact": 1, "near": 1}


@st.composite
def ad_table(draw):
    n = draw(st.integers(5, 80))
    owners = draw(st.lists(st.integers(0, 15), min_size=n, max_size=n))
    groups = draw(st.lists(st.integers(0, 40), min_size=n, max_size=n))
    return pd.DataFrame(
        {"owner": [f"o{o}" for o in owners], "dup_group": [f"g{g}" for g in groups]}
    )


@settings(max_examples=60, deadline=None)
@given(ad_table(), st.integers(0, 3))
def test_splits_are_owner_and_dup_group_disjoint(df, seed):
    split = split_by_owner(df, (0.8, 0.1, 0.1), seed=seed)
    assert split.isin(["train", "val", "test"]).all()
    assert (split.groupby(df["owner"]).nunique() == 1).all()
    assert (split.groupby(df["dup_group"]).nunique() == 1).all()
    assert split.equals(split_by_owner(df, (0.8, 0.1, 0.1), seed=seed))  # deterministic


def test_split_fractions_are_fractions_of_owners():
    df = pd.DataFrame({"owner": [f"o{i // 3}" for i in range(3000)]})
    df["dup_group"] = [f"g{i}" for i in range(3000)]
    split = split_by_owner(df, (0.8, 0.1, 0.1), seed=1)
    owners = df.groupby(split)["owner"].nunique()
    assert owners.to_dict() == {"test": 100, "train": 800, "val": 100}
