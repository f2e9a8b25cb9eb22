"""P owners × K ads batches: layout, replacement, determinism, resume skip and DDP shards."""

from __future__ import annotations

import numpy as np
import pytest

from adowner.model.sampler import OwnerBatchSampler

OWNERS = np.array(["a"] * 6 + ["b"] * 1 + ["c"] * 2 + ["d"] * 5 + ["e"] * 3 + ["f"] * 4)


def _sampler(**kw):
    kw.setdefault("owners_per_batch", 3)
    kw.setdefault("ads_per_owner", 4)
    kw.setdefault("num_batches", 6)
    return OwnerBatchSampler(OWNERS, **kw)


def test_each_batch_is_p_owners_times_k_ads() -> None:
    batches = list(_sampler())
    assert len(batches) == 6
    for batch in batches:
        assert len(batch) == 12
        owners, counts = np.unique(OWNERS[batch], return_counts=True)
        assert "b" not in owners  # a single-ad owner has no positive: never drawn
        assert all(c % 4 == 0 for c in counts)


def test_small_owners_are_drawn_with_replacement_large_ones_without() -> None:
    seen_c = seen_a = 0
    for batch in _sampler(num_batches=30):
        for start in range(0, len(batch), 4):
            group = batch[start : start + 4]
            owner = OWNERS[group[0]]
            if owner == "c":  # 2 ads, K = 4: repeats are unavoidable
                seen_c += 1
                assert len(set(group)) <= 2
            if owner == "a":  # 6 ads: 4 distinct
                seen_a += 1
                assert len(set(group)) == 4
    assert seen_c
    assert seen_a


def test_draw_depends_only_on_seed_and_epoch() -> None:
    s1, s2 = _sampler(seed=1), _sampler(seed=1)
    s1.set_epoch(3)
    s2.set_epoch(3)
    assert list(s1) == list(s2)
    s2.set_epoch(4)
    assert list(s1) != list(s2)
    assert list(_sampler(seed=2)) != list(_sampler(seed=1))


def test_skip_resumes_mid_epoch_once() -> None:
    s = _sampler()
    full = list(s)
    s.skip = 4
    assert list(s) == full[4:]
    assert list(s) == full  # the skip applies to one iteration only


def test_ddp_ranks_get_disjoint_equal_shares() -> None:
    whole = list(_sampler(num_batches=6))
    r0 = list(_sampler(num_batches=6, rank=0, world_size=2))
    r1 = list(_sampler(num_batches=6, rank=1, world_size=2))
    assert len(r0) == len(r1) == 3
    assert r0 == whole[0::2]
    assert r1 == whole[1::2]


def test_too_few_owners_is_an_error() -> None:
    with pytest.raises(ValueError, match="at least 2 owners"):
        OwnerBatchSampler(["a", "a", "b"], owners_per_batch=2, ads_per_owner=2)


def test_progress_callable_sets_epoch_and_skip_at_iteration_start() -> None:
    state = {"epoch": 2, "done": 3}
    s = _sampler(progress=lambda: (state["epoch"], state["done"]))
    ref = _sampler()
    ref.set_epoch(2)
    assert list(s) == list(ref)[3:]
    state.update(epoch=3, done=0)
    ref.set_epoch(3)
    assert list(s) == list(ref)


def test_distinct_gives_each_small_owner_all_its_ads_once() -> None:
    for batch in _sampler(num_batches=30, distinct=True):
        owners = OWNERS[batch]
        assert len(set(batch)) == len(batch)  # no ad twice in a batch
        for owner in np.unique(owners):
            n_owner = int((owner == OWNERS).sum())
            assert int((owners == owner).sum()) == min(4, n_owner)


def test_epoch_size_sets_the_default_number_of_batches() -> None:
    assert len(OwnerBatchSampler(OWNERS, owners_per_batch=2, ads_per_owner=2)) == len(OWNERS) // 4
    assert len(OwnerBatchSampler(OWNERS, owners_per_batch=2, ads_per_owner=2, epoch_size=8)) == 2
