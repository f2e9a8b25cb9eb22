"""Owner-disjoint train/val/test splits in which no duplicate group spans two splits.

What it computes
    :func:`split_by_owner` assigns every ad to ``train``, ``val`` or ``test`` so that

    * all ads of one owner are in one split (authorship is always evaluated on unseen owners);
    * all ads of one ``dup_group`` are in one split: owners joined by a cross-owner duplicate
      group are merged into one *unit* first (connected components of owners ↔ dup groups);
    * the fractions (default 0.8/0.1/0.1) are fractions of **owners**, not of ads.

    Units are shuffled with ``seed`` and dealt in order: each goes to the split whose owner
    count is furthest below its target, so the result is deterministic for a seed and close to
    the fractions even when a few units are large.

    Owners with a single ad are kept. They cannot form a positive pair, but they are useful
    negatives (distractors) in retrieval and pair evaluation; a trainer that needs K ads per
    owner filters them itself.

What it requires of the data
    Columns ``owner`` and ``dup_group`` (strings).

Example
    >>> df = pd.DataFrame({"owner": list("aabbcd"), "dup_group": ["1", "2", "3", "3", "4", "5"]})
    >>> s = split_by_owner(df, (0.5, 0.25, 0.25), seed=0)
    >>> bool((s.groupby(df["owner"]).nunique() == 1).all())
    True
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

SPLITS = ("train", "val", "test")


def owner_units(df: pd.DataFrame) -> pd.Series:
    """A unit id per row: owners that share any dup group are one unit."""
    owner_codes, owners = pd.factorize(df["owner"])
    group_codes, groups = pd.factorize(df["dup_group"])
    n_o = len(owners)
    rows = owner_codes.astype(np.int64)
    cols = group_codes.astype(np.int64) + n_o
    size = n_o + len(groups)
    graph = coo_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(size, size))
    _, comp = connected_components(graph, directed=False)
    return pd.Series(comp[owner_codes], index=df.index)


def split_by_owner(
    df: pd.DataFrame, fractions: tuple[float, float, float] = (0.8, 0.1, 0.1), seed: int = 0
) -> pd.Series:
    """``"train"``/``"val"``/``"test"`` per row of ``df`` (same index)."""
    units = owner_units(df)
    owners_per_unit = df.groupby(units)["owner"].nunique()
    order = np.random.default_rng(seed).permutation(np.array(owners_per_unit.index))
    total = float(owners_per_unit.sum())
    frac = np.asarray(fractions, dtype=float) / float(sum(fractions))
    target = frac * total
    have = np.zeros(3)
    assign: dict[int, str] = {}
    for unit in order:
        k = int(owners_per_unit[unit])
        # Deal to the split with the largest shortfall relative to its target.
        gap = np.where(target > 0, (target - have) / np.maximum(target, 1e-9), -np.inf)
        i = int(np.argmax(gap))
        assign[int(unit)] = SPLITS[i]
        have[i] += k
    return units.map(assign)
