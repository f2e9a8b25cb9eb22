"""Metrics, pair sampling and the evaluator against hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from adowner.evaluation import metrics as M
from adowner.evaluation.evaluator import AuthorshipEvaluator, evaluate_embeddings
from adowner.scoring.pairs import sample_pairs

# ---------------------------------------------------------------- verification


def test_perfect_scorer():
    m = M.verification_metrics([0.9, 0.8, 0.7, 0.2, 0.1], [1, 1, 1, 0, 0])
    assert m == {"roc_auc": 1.0, "eer": 0.0, "tpr@fpr=0.01": 1.0, "tpr@fpr=0.001": 1.0}


def test_inverted_scorer():
    m = M.verification_metrics([0.1, 0.2, 0.8, 0.9], [1, 1, 0, 0])
    assert m["roc_auc"] == 0.0
    assert m["eer"] == 1.0
    assert m["tpr@fpr=0.01"] == 0.0


def test_all_tied_scores_earn_chance_only():
    # One tied score: the ROC is the diagonal, so TPR at FPR x is x, AUC 0.5, EER 0.5.
    m = M.verification_metrics(np.full(10, 0.3), [1] * 5 + [0] * 5)
    assert m["roc_auc"] == 0.5
    assert m["eer"] == pytest.approx(0.5)
    assert m["tpr@fpr=0.01"] == pytest.approx(0.01)
    assert m["tpr@fpr=0.001"] == pytest.approx(0.001)


def test_hand_computed_with_ties():
    # scores: pos 0.9, 0.5, 0.5, 0.2 ; neg 0.5, 0.1, 0.1, 0.1
    # ROC points: (0,0) -> (0,.25) [0.9] -> (.25,.75) [tie at 0.5] -> (.25,1) [0.2] -> (1,1)
    s = [0.9, 0.5, 0.5, 0.2, 0.5, 0.1, 0.1, 0.1]
    y = [1, 1, 1, 1, 0, 0, 0, 0]
    m = M.verification_metrics(s, y)
    # AUC: pairs (pos > neg) + 0.5 ties: pos .9:4, .5:3+.5, .5:3+.5, .2:3 -> 14/16
    assert m["roc_auc"] == pytest.approx(14 / 16)
    # At FPR 1% we are on the tie segment (0,.25)->(.25,.75): tpr = .25 + .01 * 2
    assert m["tpr@fpr=0.01"] == pytest.approx(0.25 + 0.01 * 2)
    assert m["tpr@fpr=0.001"] == pytest.approx(0.25 + 0.001 * 2)
    # EER: on the segment fpr from 0 to .25, fnr = .75 - 2 fpr -> fpr = .25
    assert m["eer"] == pytest.approx(0.25)


def test_vertical_segment_takes_highest_tpr():
    # Two positives above all negatives, third positive below: at FPR 0 the TPR is 2/3.
    m = M.verification_metrics([0.9, 0.8, 0.1, 0.5, 0.4], [1, 1, 1, 0, 0])
    assert m["tpr@fpr=0.01"] == pytest.approx(2 / 3)


def test_random_scorer_near_chance():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 20000)
    m = M.verification_metrics(rng.random(20000), y)
    assert abs(m["roc_auc"] - 0.5) < 0.02
    assert abs(m["eer"] - 0.5) < 0.02
    assert m["tpr@fpr=0.01"] < 0.03


def test_verification_needs_both_classes():
    with pytest.raises(ValueError, match="same-owner"):
        M.verification_metrics([0.1, 0.2], [1, 1])


# ---------------------------------------------------------------- retrieval


def test_rank_counting_from_neighbors():
    # owners: q=0 is "a"; relevant ads 1, 2 (R = 2); others are "b"
    owners = np.array(["a", "a", "a", "b", "b", "b", "b", "b", "b", "b", "b", "b"])
    # ranked list of query 0: itself first (dropped), then b b b b b b b a(1) ... a(2) at 9
    nb = np.array([[0, 3, 4, 5, 6, 7, 8, 9, 1, 10, 2]])
    per = M.per_query_retrieval(np.array([0]), nb, owners)
    # After dropping the query: ranks 1-7 are b, rank 8 is ad 1, rank 10 is ad 2
    assert per["p@1"][0] == 0.0
    assert per["recall@8"][0] == 1.0  # rank 8 is inside the top 8
    assert per["mrr"][0] == pytest.approx(1 / 8)
    assert per["r_precision"][0] == 0.0
    assert per["map@10"][0] == pytest.approx((1 / 8 + 2 / 10) / 2)
    nb9 = np.array([[0, 3, 4, 5, 6, 7, 8, 9, 10, 1, 2]])  # first relevant at rank 9
    assert M.per_query_retrieval(np.array([0]), nb9, owners)["recall@8"][0] == 0.0


def test_dup_group_neither_relevant_nor_ranked():
    owners = np.array(["a", "a", "a", "b"])
    dups = np.array(["x", "x", "y", "z"])  # ad 1 is a copy of ad 0
    assert M.relevant_counts(owners, dups).tolist() == [1, 1, 2, 0]
    # query 0 ranks its copy first: it is skipped, so ad 3 (other owner) is rank 1, ad 2 rank 2
    per = M.per_query_retrieval(np.array([0]), np.array([[1, 3, 2]]), owners, dups)
    assert per["p@1"][0] == 0.0
    assert per["mrr"][0] == 0.5
    assert per["r_precision"][0] == 0.0


def test_retrieval_perfect_and_faiss():
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(5, 16))
    owners = np.repeat(np.arange(5), 4)
    emb = centres[owners] + 0.01 * rng.normal(size=(20, 16))
    m = M.retrieval_metrics(emb, owners)
    assert all(m[k] == pytest.approx(1.0) for k in M.RETRIEVAL_KEYS)
    rand = M.retrieval_metrics(rng.normal(size=(200, 16)), np.repeat(np.arange(50), 4))
    assert rand["r_precision"] < 0.2


def test_retrieval_excludes_singletons():
    owners = np.array(["a", "a", "b"])
    assert M.query_ids(owners).tolist() == [0, 1]


# ---------------------------------------------------------------- grouping


def test_bcubed_textbook():
    # Amigó et al. 2009 style: true classes {0,1,2,3,4} = A, {5,6} = B; one cluster of all.
    true = [0, 0, 0, 0, 0, 1, 1]
    pred = [0] * 7
    b = M.bcubed(pred, true)
    assert b["bcubed_recall"] == 1.0
    assert b["bcubed_precision"] == pytest.approx((5 * 5 / 7 + 2 * 2 / 7) / 7)
    # singletons: precision 1, recall = mean(1/|class|)
    s = M.bcubed(list(range(7)), true)
    assert s["bcubed_precision"] == 1.0
    assert s["bcubed_recall"] == pytest.approx((5 * (1 / 5) + 2 * (1 / 2)) / 7)


def test_bcubed_matches_loop_definition():
    rng = np.random.default_rng(3)
    true = rng.integers(0, 6, 60)
    pred = rng.integers(0, 8, 60)
    p = np.mean([np.mean(true[pred == pred[k]] == true[k]) for k in range(60)])
    r = np.mean([np.mean(pred[true == true[k]] == pred[k]) for k in range(60)])
    b = M.bcubed(pred, true)
    assert b["bcubed_precision"] == pytest.approx(p)
    assert b["bcubed_recall"] == pytest.approx(r)
    g = M.grouping_metrics(true, true)
    assert g["bcubed_f1"] == g["ari"] == pytest.approx(1.0)
    assert g["nmi"] == pytest.approx(1.0)


# ---------------------------------------------------------------- bootstrap


def test_bootstrap_is_seeded_and_brackets_the_point():
    rng = np.random.default_rng(0)
    owners = np.repeat(np.arange(40), 5)
    emb = rng.normal(size=(40, 8))[owners] + 0.8 * rng.normal(size=(200, 8))
    a = evaluate_embeddings(emb, owners, bootstrap=50, seed=1)
    b = evaluate_embeddings(emb, owners, bootstrap=50, seed=1)
    assert a["ci"] == b["ci"]
    for key in ("roc_auc", "tpr@fpr=0.01", "r_precision", "p@1"):
        lo, hi = a["ci"][key]
        assert lo <= a[key] <= hi
        assert lo < hi


# ---------------------------------------------------------------- pairs


def test_pairs_all_positives_no_dup_group_and_deterministic():
    owners = np.array(["a"] * 4 + ["b"] * 3 + ["c", "d"])
    dups = np.array(["a1", "a1", "a2", "a3", "b1", "b2", "b3", "c1", "d1"])
    i, j, y = sample_pairs(owners, dups, neg_ratio=3, seed=7)
    pos = {(a, b) for a, b, t in zip(i, j, y, strict=True) if t}
    # owner a: 6 pairs minus (0,1) in one dup_group; owner b: 3 pairs
    assert pos == {(0, 2), (0, 3), (1, 2), (1, 3), (2, 3), (4, 5), (4, 6), (5, 6)}
    assert (i < j).all()
    assert (dups[i] != dups[j]).all()
    assert (owners[i[y == 0]] != owners[j[y == 0]]).all()
    assert int((y == 0).sum()) == 3 * 8  # 27 different-owner pairs exist, 24 wanted
    assert len(set(zip(i.tolist(), j.tolist(), strict=True))) == len(i)  # no repeated pair
    i2, j2, y2 = sample_pairs(owners, dups, neg_ratio=3, seed=7)
    assert (i == i2).all()
    assert (j == j2).all()
    assert (y == y2).all()


@pytest.mark.slow
def test_pairs_ratio_cap_and_scale():
    rng = np.random.default_rng(0)
    owners = rng.integers(0, 20000, 100_000)
    owners[:300] = -1  # one big owner: 44,850 pairs, capped
    i, j, y = sample_pairs(owners, None, neg_ratio=20, seed=0, max_pos_per_owner=1000)
    big = (owners[i] == -1) & (y == 1)
    assert big.sum() == 1000
    assert (y == 0).sum() == 20 * y.sum()
    assert (owners[i[y == 1]] == owners[j[y == 1]]).all()


# ---------------------------------------------------------------- evaluator


class _Lookup:
    def __init__(self, table: dict[str, np.ndarray]):
        self.table = table

    def embed(self, texts):
        return np.stack([self.table[t] for t in texts])


def test_evaluator_calls_model_and_reports_primary():
    rng = np.random.default_rng(2)
    owners = np.repeat(np.arange(10), 3)
    texts = [f"ad {k}" for k in range(30)]
    emb = rng.normal(size=(10, 8))[owners] + 0.05 * rng.normal(size=(30, 8))
    ev = AuthorshipEvaluator(texts, owners, None, neg_ratio=5)
    m = ev(_Lookup(dict(zip(texts, emb, strict=True))))
    assert ev.primary_metric == "r_precision"
    assert m["r_precision"] == pytest.approx(1.0)
    assert m["roc_auc"] == pytest.approx(1.0)
    assert m["n_ads"] == 30
    assert m["n_owners"] == 10
    assert m["n_pos_pairs"] == 30
    assert m["n_neg_pairs"] == 150
    assert ev(embeddings=emb) == m
