"""``train(cfg) -> (metrics, objects)``: fit the authorship model from a composed config.

In the order of lightning-hydra-template's ``src/train.py``:

1. build the datamodule, model, callbacks, loggers and trainer from the config;
2. fit (resuming from ``RUN_DIR/checkpoints/last.ckpt`` when ``resume`` is set and it exists);
3. validate and test with the best checkpoint (its validation during fit is reused when there
   was one at its step);
4. write ``RUN_DIR/metrics.json`` and return the metrics.

Config keys (see ``configs/``): ``data_dir``, ``run_dir``, ``seed``, ``resume``, ``data``
(:class:`AdDataModule` arguments), ``model`` (:class:`AuthorshipModule` arguments, with
``encoder.backbone: tiny-bert`` building :func:`adowner.backbones.build_tiny_bert` in the run
dir), ``trainer`` (``lightning.Trainer`` arguments), ``callbacks`` (``early_stopping_patience``,
``last_every_n_steps``, ``select``: ``best`` by ``val/r_precision`` or ``last``,
``keep_every_epoch``: also keep ``checkpoints/epochN.ckpt`` after every epoch), ``threads`` (torch
CPU threads; null: torch's default), ``logger`` (``wandb``: ``{enabled, mode, project}``),
``test_file`` (a prepared split to test on instead of ``DATA_DIR/test.parquet``),
``test_after_fit`` (default true; false leaves the test split to ``adowner evaluate``).
``trainer.precision: auto`` is resolved on the machine that runs
(:func:`adowner.hardware.training_precision`: bf16-mixed where bf16 is native, else fp32).

An empty val split trains without validation (the last checkpoint is the one tested); an empty
test split skips the test stage.

Outputs in ``RUN_DIR``: ``checkpoints/{best,last}.ckpt``, ``config.yaml`` (resolved),
``metrics.json`` (best val + test metrics, training time and throughput), ``csv/metrics.csv``,
``wandb/`` (offline unless ``logger=wandb-online``), ``cache/`` (tokenised splits).

Example::

    from adowner.model.config import load_config
    cfg = load_config("configs/experiment/tiny.yaml", ["trainer.max_epochs=1"])
    cfg.update(data_dir="runs/prepared/sim", run_dir="runs/tiny")
    metrics, objects = train(cfg)
"""

from __future__ import annotations

import copy
import os
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint, RichProgressBar
from lightning.pytorch.plugins.io import TorchCheckpointIO

from adowner._io import atomic_open, atomic_path, write_json
from adowner.errors import InputError
from adowner.hardware import training_precision
from adowner.log import get_logger
from adowner.model.config import to_yaml
from adowner.model.datamodule import AdDataModule
from adowner.model.module import AuthorshipModule

log = get_logger(__name__)
MONITOR = "val/r_precision"


class AtomicCheckpointIO(TorchCheckpointIO):
    """Write each checkpoint to a temporary file and rename it: a SIGKILL never leaves half a file."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None
    ) -> None:
        with atomic_path(path) as tmp:
            super().save_checkpoint(checkpoint, tmp, storage_options)


class Throughput(Callback):
    """Wall time of training steps only (no validation): seconds per step and ads per second."""

    def __init__(self) -> None:
        self.steps, self.ads, self.seconds, self._t0 = 0, 0, 0.0, 0.0

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: Any, batch: Any, batch_idx: int
    ) -> None:
        self._t0 = time.perf_counter()

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        self.seconds += time.perf_counter() - self._t0
        self.steps += 1
        self.ads += len(batch["input_ids"])

    def summary(self) -> dict[str, float]:
        if not self.steps:
            return {}
        return {
            "train_steps_timed": self.steps,
            "s_per_step": self.seconds / self.steps,
            "ads_per_s": self.ads / self.seconds,
        }


def _loggers(cfg: dict[str, Any], run_dir: Path) -> list[Any]:
    from lightning.pytorch.loggers import CSVLogger

    old_csv = run_dir / "csv" / "metrics.csv"
    if cfg.get("resume") and old_csv.is_file():
        # Lightning's CSV writer deletes an existing metrics.csv: keep each session's rows.
        n = len(list(old_csv.parent.glob("metrics.session-*.csv")))
        old_csv.rename(old_csv.with_name(f"metrics.session-{n}.csv"))
    loggers: list[Any] = [CSVLogger(save_dir=str(run_dir), name="csv", version="")]
    wb = (cfg.get("logger") or {}).get("wandb") or {}
    if wb.get("enabled") and os.environ.get("WANDB_MODE", "").lower() != "disabled":
        from lightning.pytorch.loggers import WandbLogger

        mode = str(wb.get("mode", "offline"))
        id_file = run_dir / "wandb" / "run_id"
        run_id = id_file.read_text().strip() if id_file.is_file() else None
        (run_dir / "wandb").mkdir(parents=True, exist_ok=True)
        logger = WandbLogger(
            project=wb.get("project", "adowner"),
            name=run_dir.name,
            save_dir=str(run_dir),
            offline=mode != "online",
            id=run_id,
            resume="allow",
        )
        if run_id is None and logger.version:
            id_file.write_text(str(logger.version))
        loggers.append(logger)
    return loggers


def train(cfg: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Fit, test with the best checkpoint, write the outputs; return (metrics, objects)."""
    cfg = copy.deepcopy(cfg)
    for key in ("data_dir", "run_dir"):
        if not cfg.get(key):
            raise InputError(
                f"config needs {key!r} (--data / --out on the command line)", field=key
            )
    run_dir = Path(cfg["run_dir"])
    run_dir.mkdir(parents=True, exist_ok=True)
    ckpt_dir = run_dir / "checkpoints"
    seed = int(cfg.get("seed", 0))
    if cfg.get("threads"):
        # On a shared, oversubscribed CPU one thread per process is 2.5x faster than two
        # (OpenMP threads spin while their partner is descheduled; docs/BENCHMARKS.md).
        torch.set_num_threads(int(cfg["threads"]))
    L.seed_everything(seed, workers=True)

    # 1. datamodule, model, callbacks, loggers, trainer
    model_cfg = copy.deepcopy(cfg["model"])
    enc_cfg = model_cfg.setdefault("encoder", {})
    if enc_cfg.get("backbone") == "tiny-bert":
        from adowner.backbones import build_tiny_bert

        enc_cfg["backbone"] = str(build_tiny_bert(run_dir / "tiny-bert", seed=seed))
        cfg["model"]["encoder"]["backbone"] = enc_cfg["backbone"]
    model = AuthorshipModule(**model_cfg)
    datamodule = AdDataModule(
        cfg["data_dir"],
        model.encoder.tokenizer,
        model.encoder.normalizer,
        cache_dir=run_dir / "cache",
        max_length=model.encoder.max_length,
        seed=seed,
        test_file=cfg.get("test_file"),
        **cfg.get("data", {}),
    )
    datamodule.setup("fit")  # reads and tokenises every split once (cached), so we know sizes
    has_val, has_test = datamodule.has_split("val"), datamodule.has_split("test")
    cb_cfg = cfg.get("callbacks") or {}
    select = str(cb_cfg.get("select", "best"))
    if select not in ("best", "last"):
        raise InputError(f"must be 'best' or 'last', got {select!r}", field="callbacks.select")
    if not has_val:
        log.warning("the val split is empty: no validation; the last checkpoint is tested")
    best_cb = ModelCheckpoint(
        dirpath=ckpt_dir,
        filename="best",
        monitor=MONITOR,
        mode="max",
        save_top_k=1,
        save_last=False,
        enable_version_counter=False,
        auto_insert_metric_name=False,
    )
    last_cb = ModelCheckpoint(
        dirpath=ckpt_dir,
        save_top_k=0,
        save_last=True,
        enable_version_counter=False,
        every_n_train_steps=int(cb_cfg.get("last_every_n_steps", 20)),
    )
    throughput = Throughput()
    callbacks: list[Callback] = [best_cb, last_cb, throughput, RichProgressBar()]
    if cb_cfg.get("keep_every_epoch"):  # learning curves (``adowner cv --curve``)
        callbacks.append(
            ModelCheckpoint(
                dirpath=ckpt_dir,
                filename="epoch{epoch}",
                save_top_k=-1,
                save_weights_only=True,
                every_n_epochs=1,
                save_on_train_epoch_end=True,
                enable_version_counter=False,
                auto_insert_metric_name=False,
            )
        )
    patience = cb_cfg.get("early_stopping_patience")
    if not has_val:
        callbacks.remove(best_cb)
    if patience and has_val:
        callbacks.append(EarlyStopping(monitor=MONITOR, mode="max", patience=int(patience)))
    trainer_cfg = dict(cfg.get("trainer") or {})
    trainer_cfg["precision"] = training_precision(
        trainer_cfg.get("precision"), trainer_cfg.get("accelerator")
    )
    if not has_val:
        trainer_cfg["limit_val_batches"] = 0
    trainer = L.Trainer(
        default_root_dir=str(run_dir),
        callbacks=callbacks,
        logger=_loggers(cfg, run_dir),
        plugins=[AtomicCheckpointIO()],
        use_distributed_sampler=False,  # OwnerBatchSampler shards batches itself
        **trainer_cfg,
    )
    if trainer.is_global_zero:
        with atomic_open(run_dir / "config.yaml") as fh:
            fh.write(to_yaml(cfg))

    # 2. fit
    last = ckpt_dir / "last.ckpt"
    ckpt_path = str(last) if cfg.get("resume") and last.is_file() else None
    if cfg.get("resume") and ckpt_path is None:
        log.warning("--resume: no %s yet, starting from scratch", last)
    started = time.perf_counter()
    trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path)
    fit_seconds = time.perf_counter() - started
    if trainer.interrupted:
        raise KeyboardInterrupt

    # 3. validate and test with the selected checkpoint (best by val, or the last)
    if trainer.is_global_zero and not last.is_file():  # a run shorter than last_every_n_steps
        trainer.save_checkpoint(last)
    best = (best_cb.best_model_path if has_val and select == "best" else "") or str(last)
    best_ckpt = torch.load(best, map_location="cpu", weights_only=True)
    best_step, best_epoch = int(best_ckpt["global_step"]), int(best_ckpt["epoch"])
    del best_ckpt
    # the selected checkpoint was validated during fit (the usual case): reuse those figures;
    # after a resume, or for a last checkpoint saved between validations, validate it now
    seen = model.val_history.get(best_step) if has_val else None
    val = (
        [dict(seen)]
        if seen
        else trainer.validate(model, datamodule=datamodule, ckpt_path=best, verbose=False)
        if has_val
        else []
    )
    run_test = has_test and bool(cfg.get("test_after_fit", True))
    if has_test and not run_test:
        log.info("test_after_fit is false: the test split is left to `adowner evaluate`")
    test = (
        trainer.test(model, datamodule=datamodule, ckpt_path=best, verbose=False)
        if run_test
        else []
    )

    # 4. metrics
    metrics: dict[str, Any] = {**(val[0] if val else {}), **(test[0] if test else {})}
    metrics.update(
        best_checkpoint=str(Path(best).resolve()),
        selected=select if has_val else "last",
        precision=trainer_cfg["precision"],
        best_epoch=best_epoch,
        epochs=trainer.current_epoch,
        global_step=trainer.global_step,
        fit_seconds_this_session=round(fit_seconds, 1),
        resumed=ckpt_path is not None,
        batch_size=datamodule.owners_per_batch * datamodule.ads_per_owner,
        **throughput.summary(),
    )
    if trainer.is_global_zero:
        write_json(metrics, run_dir / "metrics.json")
    objects = {"cfg": cfg, "datamodule": datamodule, "model": model, "trainer": trainer}
    return metrics, objects
