"""The Lightning callbacks and loggers that a training config chooses by name.

``train`` builds its callbacks from the ``callbacks`` section (:func:`adowner.model.train.callback_specs`)
and its loggers from the ``logger`` section (:func:`build_loggers`); both are
:class:`~adowner.model.registry.Registry` entries whose arguments are config keys. Every factory
takes the :class:`RunContext` of the run first.

Callbacks (``CALLBACKS``; ``callbacks.extra: [NAME, {name: NAME, ...}]`` adds any of them):

=====================  =======================================================================
name                   what it does
=====================  =======================================================================
``best_checkpoint``    ``checkpoints/best.ckpt``, best by ``val/r_precision`` (built when
                       there is a val split)
``last_checkpoint``    ``checkpoints/last.ckpt`` every ``every_n_steps`` steps
                       (``callbacks.last_every_n_steps``, 20)
``epoch_checkpoints``  also ``checkpoints/epochN.ckpt`` (weights only) after every epoch
                       (``callbacks.keep_every_epoch``; learning curves, checkpoint averaging)
``early_stopping``     stop after ``patience`` validations without a better
                       ``val/r_precision`` (``callbacks.early_stopping_patience``)
``throughput``         seconds per training step and ads per second, validation not counted
``progress_bar``       Rich's progress bar
``lr_monitor``         the learning rate of each parameter group, logged every step
=====================  =======================================================================

Loggers (``LOGGERS``; the ``logger`` section maps a name to its arguments, ``enabled: false``
turns one off): ``csv`` (always: ``RUN_DIR/csv/metrics.csv``; on resume the old file is kept as
``metrics.session-N.csv``), ``wandb`` (``mode`` offline or online, ``project``; its folder
under ``RUN_DIR/wandb``, off when ``WANDB_MODE=disabled``) and ``tensorboard``
(``RUN_DIR/tensorboard``; needs the ``tensorboard`` package).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback

from adowner.errors import InputError
from adowner.model.registry import Registry

#: The metric that selects the best checkpoint and stops early.
MONITOR = "val/r_precision"


@dataclass(frozen=True)
class RunContext:
    """What every callback and logger of one run is built from."""

    run_dir: Path
    has_val: bool = True
    resume: bool = False
    monitor: str = MONITOR

    @property
    def ckpt_dir(self) -> Path:
        return self.run_dir / "checkpoints"


CALLBACKS: Registry[Callback] = Registry("callback", "callbacks", context=1)
LOGGERS: Registry[Any] = Registry("logger", "logger", context=1)


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


def _checkpoint(ctx: RunContext, **kwargs: Any) -> Callback:
    """A ``ModelCheckpoint`` in ``RUN_DIR/checkpoints`` that overwrites its file (no ``-v1``)."""
    from lightning.pytorch.callbacks import ModelCheckpoint

    return ModelCheckpoint(dirpath=ctx.ckpt_dir, enable_version_counter=False, **kwargs)


@CALLBACKS.register("best_checkpoint")
def _best_checkpoint(ctx: RunContext) -> Callback:
    return _checkpoint(
        ctx,
        filename="best",
        monitor=ctx.monitor,
        mode="max",
        save_top_k=1,
        save_last=False,
        auto_insert_metric_name=False,
    )


@CALLBACKS.register("last_checkpoint")
def _last_checkpoint(ctx: RunContext, every_n_steps: int = 20) -> Callback:
    return _checkpoint(ctx, save_top_k=0, save_last=True, every_n_train_steps=every_n_steps)


@CALLBACKS.register("epoch_checkpoints")
def _epoch_checkpoints(ctx: RunContext) -> Callback:
    return _checkpoint(
        ctx,
        filename="epoch{epoch}",
        save_top_k=-1,
        save_weights_only=True,
        every_n_epochs=1,
        save_on_train_epoch_end=True,
        auto_insert_metric_name=False,
    )


@CALLBACKS.register("early_stopping")
def _early_stopping(ctx: RunContext, patience: int = 3) -> Callback:
    from lightning.pytorch.callbacks import EarlyStopping

    return EarlyStopping(monitor=ctx.monitor, mode="max", patience=patience)


@CALLBACKS.register("throughput")
def _throughput(ctx: RunContext) -> Callback:
    return Throughput()


@CALLBACKS.register("progress_bar")
def _progress_bar(ctx: RunContext) -> Callback:
    from lightning.pytorch.callbacks import RichProgressBar

    return RichProgressBar()


@CALLBACKS.register("lr_monitor")
def _lr_monitor(ctx: RunContext) -> Callback:
    from lightning.pytorch.callbacks import LearningRateMonitor

    return LearningRateMonitor(logging_interval="step")


@LOGGERS.register("csv")
def _csv(ctx: RunContext) -> Any:
    from lightning.pytorch.loggers import CSVLogger

    old_csv = ctx.run_dir / "csv" / "metrics.csv"
    if ctx.resume and old_csv.is_file():
        # Lightning's CSV writer deletes an existing metrics.csv: keep each session's rows.
        n = len(list(old_csv.parent.glob("metrics.session-*.csv")))
        old_csv.rename(old_csv.with_name(f"metrics.session-{n}.csv"))
    return CSVLogger(save_dir=str(ctx.run_dir), name="csv", version="")


@LOGGERS.register("wandb")
def _wandb(
    ctx: RunContext, enabled: bool = True, mode: str = "offline", project: str = "adowner"
) -> Any:
    if not enabled or os.environ.get("WANDB_MODE", "").lower() == "disabled":
        return None
    if mode not in ("offline", "online"):
        raise InputError(f"wandb: mode is offline or online, not {mode!r}", field="logger.wandb")
    from lightning.pytorch.loggers import WandbLogger

    id_file = ctx.run_dir / "wandb" / "run_id"
    run_id = id_file.read_text().strip() if id_file.is_file() else None
    (ctx.run_dir / "wandb").mkdir(parents=True, exist_ok=True)
    logger = WandbLogger(
        project=project,
        name=ctx.run_dir.name,
        save_dir=str(ctx.run_dir),
        offline=mode != "online",
        id=run_id,
        resume="allow",
    )
    if run_id is None and logger.version:
        id_file.write_text(str(logger.version))
    return logger


@LOGGERS.register("tensorboard")
def _tensorboard(ctx: RunContext, enabled: bool = True) -> Any:
    if not enabled:
        return None
    from lightning.pytorch.loggers import TensorBoardLogger

    try:
        return TensorBoardLogger(save_dir=str(ctx.run_dir), name="tensorboard", version="")
    except ModuleNotFoundError:
        raise InputError(
            "tensorboard: needs the tensorboard package (pip install tensorboard)",
            field="logger.tensorboard",
        ) from None


def build_loggers(section: Mapping[str, Any] | None, ctx: RunContext) -> list[Any]:
    """CSV first, then every logger of the ``logger`` section that is enabled."""
    loggers = [LOGGERS.build("csv", ctx)]
    for name, args in (section or {}).items():
        field = f"logger.{name}"
        canonical = LOGGERS.canonical(name, field=field)
        if args is not None and not isinstance(args, Mapping):
            raise InputError(f"{canonical}: expects a section of keys, got {args!r}", field=field)
        if canonical == "csv":  # always built, once
            LOGGERS.parse({"name": canonical, **(args or {})}, field=field)
            continue
        logger = LOGGERS.build({"name": canonical, **(args or {})}, ctx, field=field)
        if logger is not None:
            loggers.append(logger)
    return loggers
