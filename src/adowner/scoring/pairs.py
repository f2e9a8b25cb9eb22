"""Verification pairs: every same-owner pair plus a seeded sample of different-owner pairs.

The protocol of Portnoff et al. (KDD 2017): same-owner pairs are positives, different-owner
pairs negatives, scored at a fixed negative:positive ratio (default 20:1). Two ads of one
``dup_group`` (near-duplicates found by ``prepare``) are never paired: a scorer would get
credit for spotting a copy, not a writer.

Requires: an owner label per ad; owners with one ad give no positive pair.

=================  ========================  ===============================================
input              type                      meaning
=================  ========================  ===============================================
``owners``         array (n_ads,)            owner label of each ad
``dup_groups``     array (n_ads,) or None    near-duplicate group of each ad (None: none)
``neg_ratio``      int                       different-owner pairs per same-owner pair
``seed``           int                       seeds the negative sample (and the positive cap)
``max_pos_per_owner``  int                   cap on same-owner pairs of one owner (see below)
=================  ========================  ===============================================

An owner with thousands of ads has millions of pairs and would swamp every other owner, so an
owner's same-owner pairs are capped at ``max_pos_per_owner`` (default 5,000, i.e. all pairs of
owners up to 100 ads; ``adowner.defaults.PAIRS``): above it, a seeded uniform sample of that
many distinct pairs is kept.

Example
-------
>>> i, j, y = sample_pairs(np.array(["a", "a", "b", "b", "c"]), None, neg_ratio=2)
>>> int(y.sum()), int((y == 0).sum())
(2, 4)
"""

from __future__ import annotations

import numpy as np

from adowner.defaults import PAIRS

_ENUMERATE_MAX = 5_000_000  # all pairs of up to ~3,160 ads are listed when most are wanted


def _codes(values: np.ndarray) -> np.ndarray:
    _, inv = np.unique(np.asarray(values).astype(str), return_inverse=True)
    return inv.astype(np.int64).ravel()


def _positive_pairs(
    owner: np.ndarray, rng: np.random.Generator, cap: int
) -> tuple[np.ndarray, np.ndarray]:
    """All i<j with owner[i] == owner[j], vectorised over owners of one size; capped per owner."""
    order = np.argsort(owner, kind="stable")
    sizes = np.bincount(owner)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    out_i, out_j = [], []
    for size in np.unique(sizes[sizes >= 2]):
        owners_of_size = np.flatnonzero(sizes == size)
        n_pairs = size * (size - 1) // 2
        if n_pairs <= cap:
            members = order[starts[owners_of_size][:, None] + np.arange(size)[None, :]]
            a, b = np.triu_indices(size, k=1)
            out_i.append(members[:, a].ravel())
            out_j.append(members[:, b].ravel())
            continue
        for o in owners_of_size:  # few owners are this large: sample pairs without listing all
            members = order[starts[o] : starts[o] + size]
            keys = np.empty(0, dtype=np.int64)
            while len(keys) < cap:
                a = rng.integers(0, size, 2 * cap)
                b = rng.integers(0, size, 2 * cap)
                lo, hi = np.minimum(a, b), np.maximum(a, b)
                new = (lo * size + hi)[lo != hi]
                keys = np.unique(np.concatenate([keys, new]))
            keys = rng.permutation(keys)[:cap]
            out_i.append(members[keys // size])
            out_j.append(members[keys % size])
    if not out_i:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    return np.concatenate(out_i).astype(np.int64), np.concatenate(out_j).astype(np.int64)


def _negative_pairs(
    owner: np.ndarray, dup: np.ndarray, n_wanted: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``n_wanted`` distinct i<j pairs with different owners and dup_groups, uniform over pairs."""
    n = len(owner)
    sizes = np.bincount(owner).astype(np.float64)
    possible = int((n * (n - 1) - (sizes * (sizes - 1)).sum()) // 2)
    n_wanted = min(n_wanted, possible)
    if n_wanted * 4 > possible and n * (n - 1) // 2 <= _ENUMERATE_MAX:
        # A large share of all pairs is wanted: list them and draw without replacement
        # (rejection sampling would crawl collecting the last few).
        a, b = np.triu_indices(n, k=1)
        ok = (owner[a] != owner[b]) & (dup[a] != dup[b])
        keys = a[ok].astype(np.int64) * n + b[ok]
        keys = keys[rng.permutation(len(keys))[:n_wanted]]
        return keys // n, keys % n
    keys = np.empty(0, dtype=np.int64)
    stalled = 0
    while len(keys) < n_wanted and stalled < 20:
        before = len(keys)
        draw = int(1.2 * (n_wanted - len(keys))) + 64
        a = rng.integers(0, n, draw)
        b = rng.integers(0, n, draw)
        ok = (owner[a] != owner[b]) & (dup[a] != dup[b])
        lo, hi = np.minimum(a, b)[ok], np.maximum(a, b)[ok]
        merged = np.concatenate([keys, lo.astype(np.int64) * n + hi])
        # keep first occurrences in draw order, so the sample does not depend on sort order
        _, first = np.unique(merged, return_index=True)
        keys = merged[np.sort(first)]
        # pairs sharing a dup_group across owners may make n_wanted unreachable: stop when stuck
        stalled = stalled + 1 if len(keys) == before else 0
    keys = keys[:n_wanted]
    return keys // n, keys % n


def sample_pairs(
    owners: np.ndarray,
    dup_groups: np.ndarray | None,
    neg_ratio: int = PAIRS.neg_ratio,
    seed: int = 0,
    max_pos_per_owner: int = PAIRS.max_pos_per_owner,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(i, j, y)``: ad index pairs (i < j) and labels (1 same owner, 0 different).

    Positives first (sorted by i, j), then ``neg_ratio`` times as many negatives (fewer only if
    the data has not that many different-owner pairs). Deterministic for a seed.
    """
    owner = _codes(np.asarray(owners))
    dup = np.arange(len(owner)) if dup_groups is None else _codes(np.asarray(dup_groups))
    if len(dup) != len(owner):
        raise ValueError("owners and dup_groups differ in length")
    rng = np.random.default_rng(seed)
    pi, pj = _positive_pairs(owner, rng, max_pos_per_owner)
    keep = dup[pi] != dup[pj]
    pi, pj = pi[keep], pj[keep]
    order = np.lexsort((pj, pi))
    pi, pj = pi[order], pj[order]
    ni, nj = _negative_pairs(owner, dup, neg_ratio * len(pi), rng)
    i = np.concatenate([pi, ni]).astype(np.int64)
    j = np.concatenate([pj, nj]).astype(np.int64)
    y = np.concatenate([np.ones(len(pi), np.int8), np.zeros(len(ni), np.int8)])
    return i, j, y
