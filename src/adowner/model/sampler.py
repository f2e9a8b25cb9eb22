"""P owners × K ads per batch, deterministic per epoch, resumable mid-epoch, sharded for DDP.

The batch layout of supervised contrastive / metric learning (FaceNet's "P×K", Hermans et al.
2017, "In Defense of the Triplet Loss"): every batch holds P owners with K ads each, so that each
anchor has K-1 positives and (P-1)·K negatives. pytorch-metric-learning's ``MPerClassSampler``
draws the same layout but from numpy's global random state, with no epoch seeding, no
mid-epoch skip and no DDP sharding; resuming a killed run exactly needs all three, hence this
small sampler.

Requires at least 2 owners with ``min_ads`` ads or more (only those are drawn; the rest of the
training ads are never sampled). An owner with fewer than K ads gives **all its ads once**
(``distinct=True``: the batch then holds fewer than P·K ads) or K ads drawn with replacement
(``distinct=False``, the default: fixed batch size, but an ad can be paired with its own copy,
a positive that teaches nothing). Owners with K ads or more give K distinct ads either way.

=====================  ===============================================================
input                  meaning
=====================  ===============================================================
``owners``             owner label of each training ad (array-like, length n)
``owners_per_batch``   P
``ads_per_owner``      K
``num_batches``        batches per epoch (default: ``epoch_size`` / (P·K), at least 1)
``epoch_size``         ads an epoch stands for (default n; the datamodule passes the number
                       of distinct texts, so reposts do not lengthen an epoch)
``seed``               with the epoch (``set_epoch``) seeds the draw
``min_ads``            owners with fewer ads are not drawn (2)
``distinct``           never repeat an ad in a batch: min(K, n) ads an owner (False)
``rank, world_size``   DDP: this process takes every world_size-th batch
=====================  ===============================================================

No owner appears twice in one batch (its ads would be positives of themselves). Yields lists
of row indices. ``skip`` batches are left out at the start of the next epoch's
iteration (set when resuming mid-epoch). Under Lightning, ``progress`` (a callable returning
``(epoch, batches already done in it)``, read from the trainer's loop counters) sets both when
iteration starts: Lightning calls ``set_epoch`` only on a loader's ``sampler``, not on its batch
sampler, and calls no epoch-start hook when it restarts mid-epoch.

Example::

    sampler = OwnerBatchSampler(df.owner, owners_per_batch=16, ads_per_owner=4, seed=0)
    DataLoader(dataset, batch_sampler=sampler, collate_fn=collator)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np


class OwnerBatchSampler:
    """Batches of P owners × K ads (see the module docstring)."""

    def __init__(
        self,
        owners: Any,
        *,
        owners_per_batch: int,
        ads_per_owner: int,
        num_batches: int | None = None,
        epoch_size: int | None = None,
        seed: int = 0,
        min_ads: int = 2,
        distinct: bool = False,
        rank: int = 0,
        world_size: int = 1,
        progress: Callable[[], tuple[int, int]] | None = None,
    ) -> None:
        labels = np.asarray(owners).astype(str)
        uniq, codes = np.unique(labels, return_inverse=True)
        groups = [np.flatnonzero(codes == c) for c in range(len(uniq))]
        self.groups = [g for g in groups if len(g) >= min_ads]
        if len(self.groups) < 2:
            raise ValueError(
                f"need at least 2 owners with {min_ads}+ ads to form contrastive batches, "
                f"found {len(self.groups)}"
            )
        self.p = min(int(owners_per_batch), len(self.groups))
        self.k = int(ads_per_owner)
        if self.p < 2 or self.k < 1:
            raise ValueError("owners_per_batch must be >= 2 and ads_per_owner >= 1")
        total = num_batches or max(1, int(epoch_size or len(labels)) // (self.p * self.k))
        self.rank, self.world_size = int(rank), int(world_size)
        self.num_batches = max(1, total // self.world_size)  # equal count on every rank
        self.distinct = bool(distinct)
        self.seed, self.epoch, self.skip = int(seed), 0, 0
        self.progress = progress

    def set_epoch(self, epoch: int) -> None:
        """Called by Lightning at each epoch start: the draw depends on (seed, epoch) only."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.num_batches

    def _all_batches(self) -> list[list[int]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        stream: list[int] = []  # owners in the order they are dealt, refilled by permutations
        batches = []
        for _ in range(self.num_batches * self.world_size):
            owners: list[int] = []
            held: list[int] = []  # an owner already in this batch waits for the next one
            while len(owners) < self.p:
                if not stream:
                    stream = rng.permutation(len(self.groups)).tolist()
                o = stream.pop(0)
                (held if o in owners else owners).append(o)
            stream = held + stream
            batch: list[int] = []
            for o in owners:
                ads = self.groups[o]
                if len(ads) >= self.k or not self.distinct:
                    batch.extend(rng.choice(ads, size=self.k, replace=len(ads) < self.k).tolist())
                else:
                    batch.extend(rng.permutation(ads).tolist())
            batches.append(batch)
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        if self.progress is not None:
            self.epoch, self.skip = self.progress()
        mine = self._all_batches()[self.rank :: self.world_size][: self.num_batches]
        skip, self.skip = self.skip, 0
        yield from mine[skip:]
