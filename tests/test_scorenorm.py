"""AS-norm: hub ads stop looking alike, the state round-trips, and asnorm:SPEC evaluates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from adowner.errors import InputError
from adowner.evaluation.scorenorm import ASNormScorer
from adowner.scoring.asnorm import ASNorm
from adowner.scoring.vectors import l2_normalise


def _hub_world(seed: int = 0):
    """Owners as directions; one 'hub' direction that every ad leans towards a little, and two
    owners who lean on it a lot (generic ads): their cross pairs have high raw cosines."""
    rng = np.random.default_rng(seed)
    d, n_owner = 32, 40
    hub = l2_normalise(rng.normal(size=(1, d)))[0]
    centres = l2_normalise(rng.normal(size=(n_owner, d)))
    lean = np.where(np.arange(n_owner) < 10, 2.5, 0.3)  # owners 0-9 write generic ads
    emb, owners = [], []
    for o in range(n_owner):
        for _ in range(3):
            emb.append(centres[o] + lean[o] * hub + 0.12 * rng.normal(size=d))
            owners.append(o)
    cohort = l2_normalise(rng.normal(size=(300, d)) + 0.8 * hub)
    return l2_normalise(np.array(emb)), np.array(owners), cohort


def test_asnorm_raises_tpr_at_low_fpr_when_some_ads_are_hubs() -> None:
    from adowner.evaluation import metrics as M
    from adowner.scoring.pairs import sample_pairs

    emb, owners, cohort = _hub_world()
    i, j, y = sample_pairs(owners.astype(str), None, neg_ratio=20, seed=0)
    raw = np.einsum("ij,ij->i", emb[i], emb[j])
    norm = ASNorm(cohort, k=20)
    s = norm.pair_scores(emb, norm.stats(emb), i, j)
    assert (
        M.verification_metrics(s, y)["tpr@fpr=0.01"]
        > M.verification_metrics(raw, y)["tpr@fpr=0.01"]
    )


def test_normalise_is_symmetric_and_zero_at_the_cohort_mean() -> None:
    mu, sd = np.array([0.4, 0.2]), np.array([0.1, 0.05])
    assert ASNorm.normalise(np.array([0.4]), mu[:1], sd[:1], mu[:1], sd[:1])[0] == 0.0
    ab = ASNorm.normalise(np.array([0.5]), mu[:1], sd[:1], mu[1:], sd[1:])
    ba = ASNorm.normalise(np.array([0.5]), mu[1:], sd[1:], mu[:1], sd[:1])
    assert ab[0] == pytest.approx(ba[0])


def test_state_round_trips_and_bad_state_is_one_error() -> None:
    _, _, cohort = _hub_world()
    norm = ASNorm(cohort, k=7)
    back = ASNorm.from_state(norm.state())
    assert back.k == 7
    assert np.allclose(back.cohort, norm.cohort, atol=1e-3)  # float16 storage
    bad = dict(norm.state(), shape=[3, 3])
    with pytest.raises(InputError, match="score-normalisation state"):
        ASNorm.from_state(bad)
    with pytest.raises(InputError):
        ASNorm.from_state({"k": 5})


class _Fixed:
    """An embedder that looks texts up in a table."""

    def __init__(self, table: dict[str, np.ndarray]) -> None:
        self.table = table

    def embed(self, texts: list[str]) -> np.ndarray:
        return np.stack([self.table[t] for t in texts])


def test_asnorm_scorer_ranks_each_query_first_and_scores_in_unit_interval() -> None:
    emb, _, cohort = _hub_world(1)
    texts = [f"ad{k}" for k in range(len(emb))]
    train = [f"train{k}" for k in range(len(cohort))]
    table = {**dict(zip(texts, emb, strict=True)), **dict(zip(train, cohort, strict=True))}
    scorer = ASNormScorer(_Fixed(table), k=10)
    scorer.fit(pd.DataFrame({"text": train}))
    nb, sc = scorer.neighbors(texts, np.arange(5), 6)
    assert (nb[:, 0] == np.arange(5)).all()
    p = scorer.score_pairs(texts, np.array([0, 1]), np.array([1, 2]))
    assert ((p > 0) & (p < 1)).all()
    assert (np.diff(sc[:, 1:], axis=1) <= 1e-12).all()  # ranked best first
