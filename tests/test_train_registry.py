"""Training from the config: every registered loss, miner, callback and logger builds and runs a
step on the tiny model; a bad name is one line listing the choices; the LightningModule scores
with the evaluator it is given; checkpoints and configs from before ``model.loss`` still load."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import lightning as L
import numpy as np
import pandas as pd
import pytest
import torch
from torch.utils.data import DataLoader

from adowner.errors import InputError
from adowner.model.callbacks import CALLBACKS, LOGGERS, RunContext, Throughput, build_loggers
from adowner.model.losses import DEFAULT_LOSS, LOSSES, MINERS, build_loss
from adowner.model.module import AuthorshipModule
from adowner.model.registry import Registry
from adowner.model.train import callback_specs


def _encoder(tiny_backbone: Path) -> dict[str, Any]:
    return {"backbone": str(tiny_backbone), "projection_dim": 16, "max_length": 32}


def _batch(module: AuthorshipModule, with_idx: bool = False) -> dict[str, torch.Tensor]:
    texts = [f"new girl {i % 4} in town, call {i % 4} now" for i in range(8)]
    enc = module.encoder.tokenizer(texts, padding=True, return_tensors="pt")
    batch = {
        "input_ids": enc["input_ids"],
        "attention_mask": enc["attention_mask"],
        "labels": torch.tensor([i % 4 for i in range(8)]),
    }
    if with_idx:
        batch["idx"] = torch.arange(8)
    return batch


def _step_is_finite(module: AuthorshipModule) -> None:
    loss = module.training_step(_batch(module), 0)
    assert torch.isfinite(loss)
    loss.backward()
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    assert grads
    assert all(torch.isfinite(g).all() for g in grads)


# ------------------------------------------------------------------ losses and miners


@pytest.mark.parametrize("name", LOSSES.names())
def test_every_loss_falls_when_positives_are_pulled_together(name: str) -> None:
    torch.manual_seed(0)
    labels = torch.tensor([i % 4 for i in range(8)])
    scattered = torch.nn.functional.normalize(torch.randn(8, 16), dim=1)
    centres = torch.nn.functional.normalize(torch.randn(4, 16), dim=1)
    together = torch.nn.functional.normalize(centres[labels] + 0.05 * torch.randn(8, 16), dim=1)
    loss = LOSSES.build(name)
    assert float(loss(together, labels)) < float(loss(scattered, labels))


@pytest.mark.parametrize("name", LOSSES.names())
def test_every_loss_trains_a_step_of_the_tiny_model(tiny_backbone: Path, name: str) -> None:
    torch.manual_seed(0)
    module = AuthorshipModule(_encoder(tiny_backbone), loss={"name": name})
    assert type(module.loss_fn).__name__ == name
    _step_is_finite(module)


@pytest.mark.parametrize("name", MINERS.names())
@pytest.mark.parametrize("loss", ["supcon", "triplet"])
def test_every_miner_feeds_a_step(tiny_backbone: Path, name: str, loss: str) -> None:
    torch.manual_seed(0)
    module = AuthorshipModule(_encoder(tiny_backbone), loss=loss, miner=name)
    assert type(module.miner).__name__ == name
    _step_is_finite(module)


def test_the_default_loss_is_supcon_at_the_old_default_temperature(tiny_backbone: Path) -> None:
    module = AuthorshipModule(_encoder(tiny_backbone))
    assert type(module.loss_fn).__name__ == "SupConLoss"
    assert module.loss_fn.temperature == pytest.approx(0.07)
    assert DEFAULT_LOSS == {"name": "SupConLoss", "temperature": 0.07}
    assert module.miner is None


def test_names_match_forgivingly_and_arguments_are_checked() -> None:
    for spelling in ("supcon", "SupConLoss", "sup_con", "SUPCON"):
        assert LOSSES.canonical(spelling) == "SupConLoss"
    assert LOSSES.canonical("infonce") == LOSSES.canonical("ntxent") == "NTXentLoss"
    assert MINERS.canonical("multi-similarity") == "MultiSimilarityMiner"
    loss = build_loss({"name": "multi-similarity", "alpha": 3})  # an int where a float is due
    assert loss.alpha == 3.0
    assert isinstance(loss.alpha, float)
    assert build_loss({"name": "ntxent", "temperature": 0.2}).temperature == pytest.approx(0.2)


@pytest.mark.parametrize(
    ("registry", "spec", "message"),
    [
        (LOSSES, "circle", r"field 'model.loss': unknown loss 'circle'; one of SupConLoss, "),
        (LOSSES, {"temperature": 0.1}, r"unknown loss None; one of .*NTXentLoss"),
        (LOSSES, {"name": "supcon", "temprature": 0.1}, r"SupConLoss: unknown argument"),
        (LOSSES, {"name": "supcon", "temperature": "hot"}, r"temperature expects a value like"),
        (LOSSES, {"name": "triplet", "swap": 1}, r"swap expects a value like False"),
        (MINERS, "PairMarginMiner", r"unknown miner 'PairMarginMiner'; one of .*BatchHardMiner"),
        (MINERS, {"name": "BatchHardMiner", "margin": 1}, r"takes: no arguments"),
        (MINERS, {"name": "TripletMarginMiner", "type_of_triplets": "x"}, r"semihard or easy"),
        (CALLBACKS, "lr-monitr", r"field 'callbacks': unknown callback 'lr-monitr'; one of "),
        (LOGGERS, "mlflow", r"field 'logger': unknown logger 'mlflow'; one of csv, wandb, "),
    ],
)
def test_a_bad_spec_is_one_line(registry: Registry[Any], spec: Any, message: str) -> None:
    ctx = (RunContext(Path("unused")),) if registry.context else ()
    with pytest.raises(InputError, match=message) as info:
        registry.build(spec, *ctx)
    assert "\n" not in str(info.value)


def test_a_bad_loss_fails_before_the_backbone_loads(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="unknown loss 'nope'"):
        AuthorshipModule({"backbone": str(tmp_path / "no-such-backbone")}, loss="nope")


# ------------------------------------------------------------------ old checkpoints and configs


def test_old_temperature_key_still_builds_supcon(tiny_backbone: Path, tmp_path: Path) -> None:
    """A checkpoint written before ``model.loss``: ``temperature`` in its hyper-parameters."""
    torch.manual_seed(0)
    new = AuthorshipModule(_encoder(tiny_backbone), loss={"name": "supcon", "temperature": 0.1})
    old_hparams = {k: v for k, v in new.hparams.items() if k != "loss"}
    old_hparams.update(temperature=0.1, miner=None)
    path = tmp_path / "old.ckpt"
    torch.save({"hyper_parameters": old_hparams, "state_dict": new.state_dict()}, path)
    ckpt = torch.load(path, weights_only=True)
    again = AuthorshipModule(**ckpt["hyper_parameters"])
    again.load_state_dict(ckpt["state_dict"])  # strict: the same weights, no loss state
    assert type(again.loss_fn).__name__ == "SupConLoss"
    assert again.loss_fn.temperature == pytest.approx(0.1)
    batch = _batch(new)
    new.eval()
    again.eval()
    torch.testing.assert_close(again.training_step(batch, 0), new.training_step(batch, 0))
    from adowner.model.checkpoint import load_encoder

    assert load_encoder(path).max_length == 32


def test_old_temperature_and_a_loss_together_is_one_clear_line(tiny_backbone: Path) -> None:
    with pytest.raises(InputError, match=r"'model.temperature': .*old spelling") as info:
        AuthorshipModule(_encoder(tiny_backbone), loss="supcon", temperature=0.1)
    assert "\n" not in str(info.value)


# ------------------------------------------------------------------ the module and its evaluator


class _StubEvaluator:
    """Records what it is given; scores the retrieval by the owners' label, as a stand-in."""

    def __init__(self) -> None:
        self.calls: list[tuple[np.ndarray, np.ndarray, Any, int]] = []

    def __call__(
        self, embeddings: np.ndarray, owners: np.ndarray, dup_groups: Any, *, seed: int
    ) -> dict[str, Any]:
        self.calls.append((embeddings, owners, dup_groups, seed))
        return {"r_precision": 0.5 + 0.01 * len(self.calls), "n_ads": len(embeddings), "ci": {}}


class _TinyData(L.LightningDataModule):
    """One training batch and one val batch of 8 ads of 4 owners (what the module reads)."""

    def __init__(self, module: AuthorshipModule) -> None:
        super().__init__()
        self.train_batch = _batch(module)
        self.val_batch = _batch(module, with_idx=True)
        owners = np.array([f"o{i % 4}" for i in range(8)])
        self.splits = {"val": SimpleNamespace(owners=owners, dup_groups=None)}

    def train_dataloader(self) -> DataLoader:
        return DataLoader([self.train_batch], batch_size=None)

    def val_dataloader(self) -> DataLoader:
        return DataLoader([self.val_batch], batch_size=None)


def _trainer(run_dir: Path, callbacks: list[Any], loggers: list[Any]) -> L.Trainer:
    return L.Trainer(
        default_root_dir=str(run_dir),
        accelerator="cpu",
        devices=1,
        max_steps=1,
        num_sanity_val_steps=0,
        enable_model_summary=False,
        log_every_n_steps=1,
        callbacks=callbacks,
        logger=loggers,
    )


def test_every_callback_and_logger_runs_a_step_with_a_stub_evaluator(
    tiny_backbone: Path, tmp_path: Path
) -> None:
    torch.manual_seed(0)
    evaluator = _StubEvaluator()
    module = AuthorshipModule(_encoder(tiny_backbone), eval_seed=3, evaluator=evaluator)
    assert "evaluator" not in module.hparams  # not saved with the checkpoint
    ctx = RunContext(tmp_path, has_val=True)
    args = {"last_checkpoint": {"every_n_steps": 1}, "early_stopping": {"patience": 1}}
    built = {
        name: CALLBACKS.build({"name": name, **args.get(name, {})}, ctx)
        for name in CALLBACKS.names()
    }
    loggers = build_loggers({"csv": {}, "wandb": {"enabled": False}}, ctx)
    trainer = _trainer(tmp_path, list(built.values()), loggers)
    trainer.fit(module, datamodule=_TinyData(module))

    assert len(evaluator.calls) == 1  # the one validation, on the val split in split order
    emb, owners, dups, seed = evaluator.calls[0]
    assert emb.shape == (8, 16)
    assert list(owners[:4]) == ["o0", "o1", "o2", "o3"]
    assert dups is None
    assert seed == 3
    assert float(trainer.callback_metrics["val/r_precision"]) == pytest.approx(0.51)
    assert "val/n_ads" not in trainer.callback_metrics  # counts and intervals are not logged
    assert module.val_history == {1: {"val/r_precision": pytest.approx(0.51)}}
    for name in ("best.ckpt", "last.ckpt", "epoch0.ckpt"):
        assert (tmp_path / "checkpoints" / name).is_file(), name
    throughput = built["throughput"]
    assert isinstance(throughput, Throughput)
    assert throughput.summary()["train_steps_timed"] == 1
    assert built["early_stopping"].best_score is not None  # type: ignore[attr-defined]
    logged = pd.read_csv(tmp_path / "csv" / "metrics.csv")
    assert "train/loss" in logged
    assert "val/r_precision" in logged
    assert any(c.startswith("lr-AdamW") for c in logged.columns)  # lr_monitor


def test_the_module_without_an_evaluator_trains_but_cannot_validate(
    tiny_backbone: Path, tmp_path: Path
) -> None:
    module = AuthorshipModule(_encoder(tiny_backbone))
    trainer = _trainer(tmp_path, [], [])
    with pytest.raises(RuntimeError, match="without an evaluator: it cannot score the val split"):
        trainer.fit(module, datamodule=_TinyData(module))
    assert trainer.global_step == 1  # the training step ran


def test_loggers_follow_the_logger_section(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lightning.pytorch.loggers import CSVLogger, WandbLogger

    ctx = RunContext(tmp_path)
    assert [type(x) for x in build_loggers(None, ctx)] == [CSVLogger]  # CSV always
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert len(build_loggers({"wandb": {"enabled": True}}, ctx)) == 1  # the env var wins
    monkeypatch.setenv("WANDB_MODE", "offline")
    assert len(build_loggers({"wandb": {"enabled": False}}, ctx)) == 1
    wandb = build_loggers({"wandb": {"mode": "offline", "project": "p"}}, ctx)[1]
    assert isinstance(wandb, WandbLogger)
    assert (tmp_path / "wandb").is_dir()
    with pytest.raises(InputError, match=r"'logger.wandb': wandb: mode is offline or online"):
        build_loggers({"wandb": {"mode": "cloud"}}, ctx)
    with pytest.raises(InputError, match=r"'logger.csv': csv: unknown argument 'enabled'"):
        build_loggers({"csv": {"enabled": False}}, ctx)  # CSV cannot be turned off
    with pytest.raises(InputError, match=r"'logger.tensorbord': unknown logger"):
        build_loggers({"tensorbord": {}}, ctx)
    assert len(build_loggers({"tensorboard": {"enabled": False}}, ctx)) == 1


def test_tensorboard_logs_a_step_or_names_the_missing_package(
    tiny_backbone: Path, tmp_path: Path
) -> None:
    import importlib.util

    ctx = RunContext(tmp_path)
    have = any(importlib.util.find_spec(m) for m in ("tensorboard", "tensorboardX"))
    if not have:
        with pytest.raises(InputError, match=r"needs the tensorboard package") as info:
            build_loggers({"tensorboard": {}}, ctx)
        assert "\n" not in str(info.value)
        return
    loggers = build_loggers({"tensorboard": {}}, ctx)
    module = AuthorshipModule(_encoder(tiny_backbone), evaluator=_StubEvaluator())
    _trainer(tmp_path, [], loggers).fit(module, datamodule=_TinyData(module))
    assert list((tmp_path / "tensorboard").glob("events.*"))


# ------------------------------------------------------------------ the callbacks section


def test_callback_specs_keep_todays_set_and_order() -> None:
    names = [s["name"] for s in callback_specs({"last_every_n_steps": 5}, has_val=True)]
    assert names == ["best_checkpoint", "last_checkpoint", "throughput", "progress_bar"]
    specs = callback_specs(
        {"keep_every_epoch": True, "early_stopping_patience": 2, "extra": ["lr-monitor"]},
        has_val=False,  # no val split: no best checkpoint, no early stopping
    )
    assert specs == [
        {"name": "last_checkpoint", "every_n_steps": 20},
        {"name": "throughput"},
        {"name": "progress_bar"},
        {"name": "epoch_checkpoints"},
        {"name": "lr_monitor"},
    ]
    with_val = callback_specs({"early_stopping_patience": 2}, has_val=True)
    assert with_val[-1] == {"name": "early_stopping", "patience": 2}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["throughput"], r"throughput is built from the other callbacks settings"),
        ([{"name": "best_checkpoint"}], r"best_checkpoint is built from"),
        (["nope"], r"field 'callbacks.extra': unknown callback 'nope'; one of best_checkpoint"),
        ("lr_monitor", r"field 'callbacks.extra': a list of callback names"),
    ],
)
def test_a_bad_extra_callback_is_one_line(extra: Any, message: str) -> None:
    with pytest.raises(InputError, match=message):
        callback_specs({"extra": extra}, has_val=True)
