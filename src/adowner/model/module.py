"""LightningModule: contrastive fine-tuning of the authorship encoder.

Loss: chosen by ``model.loss`` from :data:`adowner.model.losses.LOSSES`; the default, and what
every shipped recipe uses, is the supervised contrastive loss (Khosla et al., NeurIPS 2020), as
LUAR (Rivera-Soto et al., EMNLP 2021) trains authorship embeddings: for each ad, the other ads
of its owner in the batch are positives and every other ad a negative, softmax with a
temperature over cosine similarities (pytorch-metric-learning's ``losses.SupConLoss``).
Optimiser: AdamW, learning rate warmed up linearly then decayed linearly to 0
(``transformers``' ``get_linear_schedule_with_warmup``).

Requires batches with at least two ads of some owner (:class:`~adowner.model.sampler.OwnerBatchSampler`).

Validation and test embed every ad of the split and score them with the ``evaluator`` given to
the constructor (``train`` passes :func:`adowner.evaluation.evaluator.evaluate_embeddings`;
owner-disjoint from training), logging ``val/r_precision``, ``val/tpr@fpr=0.01`` and the other
metrics under ``val/`` or ``test/``. The module itself imports no evaluation code.

==================  =====================================================================
input               meaning
==================  =====================================================================
``encoder``         dict for :class:`~adowner.model.encoder.AuthorshipEncoder` (backbone,
                    projection_dim, normalizer, max_length)
``lr``              peak learning rate of the backbone (head: ``head_lr_mult`` × lr)
``weight_decay``    AdamW weight decay (not on biases and LayerNorm)
``warmup_ratio``    fraction of the steps spent warming up
``loss``            the loss: a name of :data:`~adowner.model.losses.LOSSES` or
                    ``{name: ..., **arguments}``, e.g. ``{name: supcon, temperature: 0.07}``
                    (None: SupCon at temperature 0.07)
``temperature``     the old spelling of ``loss: {name: supcon, temperature: T}``, kept so
                    that configs and checkpoints written before ``loss`` existed still load
                    (None: not given; it cannot be combined with ``loss``)
``eval_seed``       seeds the validation pair sample (fixed, so epochs are comparable)
``schedule_steps``  length of the warm-up/decay schedule (None: the trainer's step count);
                    lets a shorter run follow a longer run's schedule exactly (ablations)
``forward_chunk``   rows per forward pass inside a training batch, sorted by length and cut
                    to each chunk's longest row (None: the whole batch at once). The loss
                    still sees the whole batch; only padding is saved (a P×K batch of ads of
                    mixed lengths is padded to its longest ad, see docs/BENCHMARKS.md)
``miner``           hard-pair mining before the loss (None: every pair of the batch). A
                    name of :data:`~adowner.model.losses.MINERS`, or a dict with ``name`` and
                    its keyword arguments, e.g. ``{name: MultiSimilarityMiner, epsilon: 0.1}``;
                    the loss then sees only the mined positive and negative pairs
``evaluator``       scores a split's embeddings (:class:`Evaluator`); needed to validate or
                    test, not to train. Not a hyper-parameter: it is not saved
==================  =====================================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import lightning as L
import numpy as np
import torch

from adowner.errors import InputError
from adowner.model.encoder import AuthorshipEncoder
from adowner.model.losses import DEFAULT_LOSS, build_loss, build_miner
from adowner.model.registry import Spec

__all__ = ["AuthorshipModule", "Evaluator", "build_miner"]


class Evaluator(Protocol):
    """Metrics of one split's embeddings (rows in split order) against its owners."""

    def __call__(
        self,
        embeddings: np.ndarray,
        owners: np.ndarray,
        dup_groups: np.ndarray | None,
        *,
        seed: int,
    ) -> Mapping[str, Any]: ...


def loss_spec(loss: Spec, temperature: float | None) -> Spec:
    """The loss to build from ``loss`` and the old ``temperature`` key (one of them at most)."""
    if temperature is None:
        return loss
    if loss is not None:
        raise InputError(
            "model.temperature is the old spelling of model.loss.temperature: set only model.loss",
            field="model.temperature",
        )
    return {**DEFAULT_LOSS, "temperature": float(temperature)}


class AuthorshipModule(L.LightningModule):
    """Contrastive fine-tuning of :class:`AuthorshipEncoder`, validated by the given evaluator."""

    def __init__(
        self,
        encoder: dict[str, Any],
        *,
        lr: float = 5e-5,
        head_lr_mult: float = 10.0,
        weight_decay: float = 0.01,
        warmup_ratio: float = 0.1,
        loss: Spec = None,
        temperature: float | None = None,
        eval_seed: int = 0,
        schedule_steps: int | None = None,
        forward_chunk: int | None = None,
        miner: Spec = None,
        evaluator: Evaluator | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["evaluator"])
        self.loss_fn = build_loss(loss_spec(loss, temperature))  # a bad name fails before loading
        self.miner = build_miner(miner)
        self.encoder = AuthorshipEncoder(**encoder)
        self.encoder.train()  # from_pretrained returns eval mode; Lightning keeps module modes
        self.evaluator = evaluator
        self._eval_outputs: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.val_history: dict[int, dict[str, float]] = {}  # global step -> val metrics (fit)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.encoder(input_ids, attention_mask)

    # ------------------------------------------------------------------ training
    def _chunked_forward(self, input_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Embeddings of a batch, computed in length-sorted chunks (same math, less padding)."""
        chunk = self.hparams.get("forward_chunk")
        if not chunk or len(input_ids) <= int(chunk):
            return self(input_ids, mask)
        lengths = mask.sum(1)
        order = torch.argsort(lengths, descending=True)
        parts = []
        for s in range(0, len(order), int(chunk)):
            rows = order[s : s + int(chunk)]
            width = int(lengths[rows].max())
            parts.append(self(input_ids[rows, :width], mask[rows, :width]))
        return torch.cat(parts)[torch.argsort(order)]  # back to batch order

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        emb = self._chunked_forward(batch["input_ids"], batch["attention_mask"])
        pairs = None
        if self.miner is not None:
            pairs = self.miner(emb, batch["labels"])
            self.log("train/mined_negatives", float(len(pairs[2])), batch_size=len(emb))
        loss = self.loss_fn(emb, batch["labels"], pairs)
        self.log("train/loss", loss, prog_bar=True, batch_size=len(emb))
        return loss

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # The RNG state at a step boundary: restored on resume so dropout masks match an
        # uninterrupted run (Lightning does not save it).
        checkpoint["adowner_rng"] = {"torch": torch.get_rng_state()}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint.get("adowner_rng")
        if state is not None:
            torch.set_rng_state(state["torch"])

    # ------------------------------------------------------------------ evaluation
    def _eval_step(self, batch: dict[str, torch.Tensor]) -> None:
        emb = self(batch["input_ids"], batch["attention_mask"])
        self._eval_outputs.append((batch["idx"].cpu(), emb.float().cpu()))

    def _eval_end(self, stage: str) -> dict[str, Any]:
        if self.evaluator is None:
            raise RuntimeError(
                f"AuthorshipModule was built without an evaluator: it cannot score the {stage} "
                "split (pass evaluator=..., as adowner.model.train does)"
            )
        dm: Any = getattr(self.trainer, "datamodule", None)
        split = dm.splits[stage]
        idx = torch.cat([i for i, _ in self._eval_outputs]).numpy()
        emb = torch.cat([e for _, e in self._eval_outputs]).numpy()
        self._eval_outputs.clear()
        ordered = np.zeros_like(emb)
        ordered[idx] = emb
        metrics = dict(
            self.evaluator(
                ordered, split.owners, split.dup_groups, seed=int(self.hparams["eval_seed"])
            )
        )
        scalars = {
            f"{stage}/{k}": float(v)
            for k, v in metrics.items()
            if isinstance(v, int | float | np.number) and not k.startswith("n_")
        }
        # Every rank scores the whole split (the eval loaders are not sharded): no sync needed.
        self.log_dict(scalars, prog_bar=False, sync_dist=False, rank_zero_only=False)
        if stage == "val" and self.trainer.state.fn == "fit":
            # what validation gave at this step: `train` reuses it for the selected checkpoint
            # instead of validating that checkpoint again
            self.val_history[int(self.global_step)] = scalars
        return metrics

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._eval_step(batch)

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:
            self._eval_outputs.clear()
            return
        self._eval_end("val")

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._eval_step(batch)

    def on_test_epoch_end(self) -> None:
        self._eval_end("test")

    # ------------------------------------------------------------------ optimiser
    def configure_optimizers(self) -> Any:
        from transformers import get_linear_schedule_with_warmup

        hp: Any = self.hparams
        no_decay = ("bias", "LayerNorm.weight", "layer_norm.weight")
        groups: list[dict[str, Any]] = []
        for name, lr in (("backbone", hp.lr), ("projection", hp.lr * hp.head_lr_mult)):
            module = getattr(self.encoder, name)
            if module is None:
                continue
            params = list(module.named_parameters())
            groups.append(
                {
                    "params": [p for n, p in params if not n.endswith(no_decay)],
                    "lr": lr,
                    "weight_decay": hp.weight_decay,
                }
            )
            groups.append(
                {
                    "params": [p for n, p in params if n.endswith(no_decay)],
                    "lr": lr,
                    "weight_decay": 0.0,
                }
            )
        optimizer = torch.optim.AdamW([g for g in groups if g["params"]])
        total = int(hp.get("schedule_steps") or self.trainer.estimated_stepping_batches)
        scheduler = get_linear_schedule_with_warmup(optimizer, int(hp.warmup_ratio * total), total)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }
