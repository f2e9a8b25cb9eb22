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
dir; ``loss`` and ``miner`` name entries of :mod:`adowner.model.losses`), ``trainer``
(``lightning.Trainer`` arguments), ``callbacks`` (``early_stopping_patience``,
``last_every_n_steps``, ``select``: ``best`` by ``val/r_precision`` or ``last``,
``keep_every_epoch``: also keep ``checkpoints/epochN.ckpt`` after every epoch, ``extra``: more
callbacks by name; :func:`callback_specs`, :data:`adowner.model.callbacks.CALLBACKS`),
``threads`` (torch CPU threads; null: torch's default), ``logger`` (logger name -> its
arguments, e.g. ``wandb: {enabled, mode, project}``; CSV is always written:
:data:`adowner.model.callbacks.LOGGERS`),
``test_file`` (a prepared split to test on instead of ``DATA_DIR/test.parquet``),
``test_after_fit`` (default true; false leaves the test split to ``adowner evaluate``).
``trainer.precision: auto`` is resolved on the machine that runs
(:func:`adowner.hardware.training_precision`: bf16-mixed where bf16 is native, else fp32).

An empty val split trains without validation (the last checkpoint is the one tested); an empty
test split skips the test stage.

Outputs in ``RUN_DIR``: ``checkpoints/{best,last}.ckpt``, ``config.yaml`` (resolved),
``metrics.json`` (best val + test metrics, training time and throughput), ``csv/metrics.csv``,
``wandb/`` (offline unless ``logger=wandb-online``), ``tensorboard/`` (``logger=tensorboard``),
``cache/`` (tokenised splits).

The model is given its evaluator here
(:func:`adowner.evaluation.evaluator.evaluate_embeddings`); the LightningModule does not import
the evaluation layer.

Example::

    from adowner.model.config import load_config
    cfg = load_config("configs/experiment/tiny.yaml", ["trainer.max_epochs=1"])
    cfg.update(data_dir="runs/prepared/sim", run_dir="runs/tiny")
    metrics, objects = train(cfg)
"""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.plugins.io import TorchCheckpointIO

from adowner._io import atomic_open, atomic_path, write_json
from adowner.errors import InputError
from adowner.evaluation.evaluator import evaluate_embeddings
from adowner.hardware import training_precision
from adowner.log import get_logger
from adowner.model.callbacks import CALLBACKS, MONITOR, RunContext, Throughput, build_loggers
from adowner.model.config import to_yaml
from adowner.model.datamodule import AdDataModule
from adowner.model.module import AuthorshipModule

__all__ = ["MONITOR", "AtomicCheckpointIO", "Throughput", "callback_specs", "train"]

log = get_logger(__name__)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Write each checkpoint to a temporary file and rename it: a SIGKILL never leaves half a file."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None
    ) -> None:
        with atomic_path(path) as tmp:
            super().save_checkpoint(checkpoint, tmp, storage_options)


def callback_specs(cb_cfg: Mapping[str, Any], has_val: bool) -> list[dict[str, Any]]:
    """The callbacks that the ``callbacks`` section asks for, as ``{name, **arguments}``.

    Always: the best checkpoint (with a val split), the last checkpoint, throughput and the
    progress bar; then the epoch checkpoints (``keep_every_epoch``), early stopping
    (``early_stopping_patience``, with a val split) and each entry of ``extra`` (a name of
    :data:`~adowner.model.callbacks.CALLBACKS` or ``{name: ..., **arguments}``).
    """
    specs: list[dict[str, Any]] = [{"name": "best_checkpoint"}] if has_val else []
    specs.append(
        {"name": "last_checkpoint", "every_n_steps": int(cb_cfg.get("last_every_n_steps", 20))}
    )
    specs += [{"name": "throughput"}, {"name": "progress_bar"}]
    if cb_cfg.get("keep_every_epoch"):  # learning curves (``adowner cv --curve``)
        specs.append({"name": "epoch_checkpoints"})
    patience = cb_cfg.get("early_stopping_patience")
    if patience and has_val:
        specs.append({"name": "early_stopping", "patience": int(patience)})
    extra = cb_cfg.get("extra") or []
    if not isinstance(extra, list):
        raise InputError(f"a list of callback names, got {extra!r}", field="callbacks.extra")
    built = {s["name"] for s in specs}
    for item in extra:
        spec = dict(item) if isinstance(item, Mapping) else {"name": item}
        spec["name"] = CALLBACKS.canonical(spec.get("name"), field="callbacks.extra")
        if spec["name"] in built or spec["name"] in ("best_checkpoint", "last_checkpoint"):
            raise InputError(
                f"{spec['name']} is built from the other callbacks settings; leave it out of extra",
                field="callbacks.extra",
            )
        built.add(spec["name"])
        specs.append(spec)
    return specs


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
    model = AuthorshipModule(**model_cfg, evaluator=evaluate_embeddings)
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
    ctx = RunContext(run_dir, has_val=has_val, resume=bool(cfg.get("resume")), monitor=MONITOR)
    built = {
        spec["name"]: CALLBACKS.build(spec, ctx, field="callbacks")
        for spec in callback_specs(cb_cfg, has_val)
    }
    callbacks: list[Callback] = list(built.values())
    best_cb = built.get("best_checkpoint")
    throughput = built["throughput"]
    assert isinstance(throughput, Throughput)
    trainer_cfg = dict(cfg.get("trainer") or {})
    trainer_cfg["precision"] = training_precision(
        trainer_cfg.get("precision"), trainer_cfg.get("accelerator")
    )
    if not has_val:
        trainer_cfg["limit_val_batches"] = 0
    trainer = L.Trainer(
        default_root_dir=str(run_dir),
        callbacks=callbacks,
        logger=build_loggers(cfg.get("logger"), ctx),
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
    best_path = best_cb.best_model_path if isinstance(best_cb, ModelCheckpoint) else ""
    best = (best_path if has_val and select == "best" else "") or str(last)
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
