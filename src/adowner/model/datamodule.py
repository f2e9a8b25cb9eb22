"""LightningDataModule over the splits that ``adowner prepare`` writes.

Reads ``DATA_DIR/{train,val,test}.parquet`` (contract in docs/ARCHITECTURE.md: ``text``,
``owner``, ``dup_group``), normalises and tokenises each split once through ``datasets`` (the
Arrow cache lives in ``cache_dir``, keyed by the split file, tokenizer, normaliser and
``max_length``, so a resumed or repeated run reuses it), and serves:

- training batches of P owners × K ads (:class:`adowner.model.sampler.OwnerBatchSampler`),
  padded to their longest row (dynamic padding);
- evaluation batches in length order (length bucketing: little padding), each row carrying its
  index so the module puts embeddings back in input order.

Rows without text or owner are written to ``cache_dir/quarantine-<split>.jsonl`` and counted,
never silently dropped. An empty ``val`` or ``test`` split is allowed (a user who keeps a test
set apart prepares with ``--split 0.85 0.15 0``): it has no loader, and ``train`` skips that
stage. ``test_file`` scores another prepared split (a ``test.parquet``, or a prepared folder)
instead of ``DATA_DIR/test.parquet``.

==================  ================================================================
input               meaning
==================  ================================================================
``data_dir``        folder with the prepared splits
``tokenizer``       the encoder's Hugging Face tokenizer
``normalizer``      the encoder's :class:`~adowner.text.normalize.StyleNormalizer`
``cache_dir``       where the tokenised Arrow files go (the run dir's ``cache/``)
``owners_per_batch``, ``ads_per_owner``, ``batches_per_epoch`` (None: distinct dup groups /
(P·K)), ``min_ads_per_owner``,
``distinct_ads``: the sampler (:class:`~adowner.model.sampler.OwnerBatchSampler`)
``test_file``       a prepared split scored as ``test`` (default ``DATA_DIR/test.parquet``)
``train_max_length`` tokens an ad keeps in *training* batches (None: ``max_length``, which
                    validation, test and the exported model keep); training shorter than
                    inference is cheaper and, on escort ads, no worse (docs/RESULTS.md)
``eval_batch_size``, ``max_length``, ``num_workers``, ``seed``
==================  ================================================================
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from adowner.errors import InputError
from adowner.io.quarantine import write_quarantine
from adowner.io.splits import SPLITS, read_split
from adowner.log import get_logger
from adowner.model.sampler import OwnerBatchSampler
from adowner.text.normalize import StyleNormalizer

log = get_logger(__name__)
REQUIRED = ("text", "owner", "dup_group")


class TokenisedSplit(Dataset):
    """Rows of one split: token ids, owner code, dup group and row index."""

    def __init__(self, input_ids: list[list[int]], owners: np.ndarray, dup_groups: np.ndarray):
        self.input_ids = input_ids
        self.owner_codes = np.unique(owners, return_inverse=True)[1]
        self.owners, self.dup_groups = owners, dup_groups

    def __len__(self) -> int:
        return len(self.input_ids)

    def __getitem__(self, i: int) -> dict[str, Any]:
        ids = self.input_ids[i]
        return {
            "input_ids": ids,
            "attention_mask": [1] * len(ids),
            "labels": int(self.owner_codes[i]),
            "idx": i,
        }


class AdDataModule(L.LightningDataModule):
    """Prepared splits → tokenised, cached datasets → P×K train batches and bucketed eval batches."""

    def __init__(
        self,
        data_dir: str | Path,
        tokenizer: Any,
        normalizer: StyleNormalizer,
        *,
        cache_dir: str | Path,
        owners_per_batch: int = 16,
        ads_per_owner: int = 4,
        batches_per_epoch: int | None = None,
        min_ads_per_owner: int = 2,
        distinct_ads: bool = False,
        train_max_length: int | None = None,
        test_file: str | Path | None = None,
        eval_batch_size: int = 64,
        max_length: int = 256,
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.data_dir, self.cache_dir = Path(data_dir), Path(cache_dir)
        self.tokenizer, self.normalizer = tokenizer, normalizer
        self.owners_per_batch, self.ads_per_owner = owners_per_batch, ads_per_owner
        self.batches_per_epoch, self.min_ads_per_owner = batches_per_epoch, min_ads_per_owner
        self.distinct_ads = bool(distinct_ads)
        self.train_max_length = int(train_max_length) if train_max_length else None
        self.test_file = Path(test_file) if test_file else None
        if self.test_file is not None and self.test_file.is_dir():
            self.test_file = self.test_file / "test.parquet"
        self.eval_batch_size, self.max_length = eval_batch_size, max_length
        self.num_workers, self.seed = num_workers, seed
        self.splits: dict[str, TokenisedSplit] = {}
        self.train_sampler: OwnerBatchSampler | None = None
        self.quarantined: dict[str, int] = {}

    # ------------------------------------------------------------------ reading
    def split_path(self, split: str) -> Path:
        if split == "test" and self.test_file is not None:
            if not self.test_file.is_file():
                raise InputError(
                    "test file not found (a prepared split: `adowner prepare ... --out DIR`, "
                    "then DIR or DIR/test.parquet)",
                    path=str(self.test_file),
                    field="--test",
                )
            return self.test_file
        return self.data_dir / f"{split}.parquet"

    def has_split(self, split: str) -> bool:
        """Whether ``split`` has at least one ad (after :meth:`setup`)."""
        return split in self.splits and len(self.splits[split]) > 0

    def read_split(self, split: str) -> Any:
        """The split's rows with text, owner and dup group; bad rows quarantined."""
        import pandas as pd

        path = self.split_path(split)
        df = read_split(path, required=REQUIRED)
        bad = df["text"].isna() | df["owner"].isna() | (df["text"].astype(str).str.strip() == "")
        if bad.any():
            self.quarantined[split] = int(bad.sum())
            q = self.cache_dir / f"quarantine-{split}.jsonl"
            ids = df["ad_id"] if "ad_id" in df.columns else None
            write_quarantine(
                (
                    {
                        "file": str(path),
                        "row": int(row) + 1,
                        "ad_id": None if ids is None else str(ids.iloc[row]),
                        "reason": "empty text or owner",
                    }
                    for row in np.flatnonzero(bad.to_numpy())
                ),
                q,
            )
            log.warning("%s: %d rows without text or owner quarantined to %s", path, bad.sum(), q)
            df = df[~bad]
        df = df.reset_index(drop=True)
        df["dup_group"] = df["dup_group"].fillna(df.get("ad_id", pd.Series(df.index.astype(str))))
        return df

    def _cache_file(self, split: str) -> Path:
        st = self.split_path(split).stat()
        key = json.dumps(
            [
                str(self.split_path(split).resolve()),
                st.st_size,
                st.st_mtime_ns,
                getattr(self.tokenizer, "name_or_path", ""),
                len(self.tokenizer),
                self.normalizer.to_dict(),
                self.max_length,
            ],
            sort_keys=True,
        )
        digest = hashlib.sha1(key.encode()).hexdigest()[:16]
        return self.cache_dir / f"tokens-{split}-{digest}.arrow"

    def _tokenise(self, split: str) -> Any:
        import datasets

        df = self.read_split(split)
        if len(df) == 0:  # datasets cannot map an empty table to token columns
            return df, None
        ds = datasets.Dataset.from_dict({"text": df["text"].astype(str).tolist()})
        normalizer, tokenizer, max_length = self.normalizer, self.tokenizer, self.max_length

        def encode(batch: dict[str, list[str]]) -> dict[str, Any]:
            texts = normalizer.normalize_batch(batch["text"])
            enc = tokenizer(
                texts,
                truncation=True,
                max_length=max_length,
                return_token_type_ids=False,
                return_attention_mask=False,
            )
            return {"input_ids": enc["input_ids"]}

        cache = self._cache_file(split)
        cache.parent.mkdir(parents=True, exist_ok=True)
        ds = ds.map(
            encode,
            batched=True,
            remove_columns=["text"],
            cache_file_name=str(cache),
            load_from_cache_file=True,
            desc=f"tokenising {split}",
        )
        return df, ds

    # ------------------------------------------------------------------ Lightning hooks
    def prepare_data(self) -> None:
        """Tokenise every split once (rank 0 only under DDP); later calls read the cache."""
        for split in SPLITS:
            self._tokenise(split)

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        for split in SPLITS:
            df, ds = self._tokenise(split)
            if split == "train" and ds is None:
                raise InputError(
                    "the train split has no usable ads", path=str(self.split_path(split))
                )
            self.splits[split] = TokenisedSplit(
                ds.to_dict()["input_ids"] if ds is not None else [],
                df["owner"].astype(str).to_numpy(),
                df["dup_group"].astype(str).to_numpy(),
            )
            log.info("%s: %d ads, %d owners", split, len(df), df["owner"].nunique())

    def _collate_train(self, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        """Training batches: rows cut to ``train_max_length`` (keeping the closing [SEP])."""
        cap = self.train_max_length
        if cap:
            rows = [
                {**r, "input_ids": r["input_ids"][: cap - 1] + r["input_ids"][-1:]}
                if len(r["input_ids"]) > cap
                else r
                for r in rows
            ]
        return self._collate(rows)

    def _collate(self, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        width = max(len(r["input_ids"]) for r in rows)
        pad = self.tokenizer.pad_token_id or 0
        ids = torch.full((len(rows), width), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            n = len(r["input_ids"])
            ids[i, :n] = torch.tensor(r["input_ids"], dtype=torch.long)
            mask[i, :n] = 1
        return {
            "input_ids": ids,
            "attention_mask": mask,
            "labels": torch.tensor([r["labels"] for r in rows], dtype=torch.long),
            "idx": torch.tensor([r["idx"] for r in rows], dtype=torch.long),
        }

    def train_dataloader(self) -> DataLoader:
        split = self.splits["train"]
        trainer = self.trainer
        self.train_sampler = OwnerBatchSampler(
            split.owners,
            owners_per_batch=self.owners_per_batch,
            ads_per_owner=self.ads_per_owner,
            num_batches=self.batches_per_epoch,
            # an epoch is one pass over distinct texts: near-duplicate reposts kept for training
            # (prepare --dedup eval) add positives, not steps
            epoch_size=len(np.unique(split.dup_groups)),
            seed=self.seed,
            min_ads=self.min_ads_per_owner,
            distinct=self.distinct_ads,
            rank=trainer.global_rank if trainer else 0,
            world_size=trainer.world_size if trainer else 1,
            progress=self._loop_progress if trainer else None,
        )
        return DataLoader(
            split,
            batch_sampler=self.train_sampler,
            collate_fn=self._collate_train,
            num_workers=self.num_workers,
            # Its own generator: creating the iterator must not draw from the global RNG, or a
            # resumed run's dropout masks would differ from an uninterrupted run's.
            generator=torch.Generator().manual_seed(self.seed),
        )

    def _loop_progress(self) -> tuple[int, int]:
        """(epoch, batches already trained in it): read when an epoch's iteration starts.

        Lightning has reset the counter to 0 for a new epoch, or restored it from the checkpoint
        when resuming mid-epoch, so a resumed run skips exactly the batches it had trained on.
        """
        loop: Any = self.trainer.fit_loop  # type: ignore[union-attr]
        return (
            loop.epoch_progress.current.processed,
            loop.epoch_loop.batch_progress.current.completed,
        )

    def _eval_loader(self, split: str) -> DataLoader:
        data = self.splits[split]
        order = np.argsort([-len(x) for x in data.input_ids], kind="stable")
        batches = [
            order[i : i + self.eval_batch_size].tolist()
            for i in range(0, len(order), self.eval_batch_size)
        ]
        return DataLoader(
            data, batch_sampler=batches, collate_fn=self._collate, num_workers=self.num_workers
        )

    def val_dataloader(self) -> DataLoader:
        return self._eval_loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._eval_loader("test")
