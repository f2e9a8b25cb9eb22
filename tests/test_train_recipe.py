"""The ads recipe's training levers: user-kept test sets, train length, chunked forward,
precision chosen on the machine, dedup of val/test only, and owner-fold cross-validation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from adowner import hardware
from adowner.model.config import load_config
from adowner.model.crossval import cross_validate, owner_folds, read_pool
from adowner.model.train import train
from test_train import WORDS  # the same fictional ad vocabulary as the other fit tests

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "configs" / "experiment" / "tiny.yaml"
FAST = ["trainer.max_epochs=1", "data.batches_per_epoch=3", "callbacks.last_every_n_steps=2"]


def _ads(owners: range, n: int = 3, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    words = np.array(WORDS)
    rows = []
    for o in owners:
        sig = " ".join(rng.choice(words, 3))
        for k in range(n + o % 2):
            body = " ".join(rng.choice(words, 6 + 4 * k))
            rows.append(
                {
                    "ad_id": f"o{o}-{k}",
                    "text": f"{sig.upper() if o % 2 else sig}\n{body}",
                    "owner": f"owner{o}",
                    "dup_group": f"o{o}-{k}",
                }
            )
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("prep")
    _ads(range(12)).to_parquet(out / "train.parquet", index=False)
    _ads(range(12, 16)).to_parquet(out / "val.parquet", index=False)
    _ads(range(0)).reindex(columns=["ad_id", "text", "owner", "dup_group"]).to_parquet(
        out / "test.parquet", index=False
    )
    return out


def _cfg(data: Path, run: Path, *overrides: str) -> dict:
    cfg = load_config(TINY, [*FAST, *overrides])
    cfg.update(data_dir=str(data), run_dir=str(run))
    return cfg


def test_train_with_an_empty_test_split_skips_the_test(folder: Path, tmp_path: Path) -> None:
    metrics, _ = train(_cfg(folder, tmp_path / "run"))
    assert "val/r_precision" in metrics
    assert not any(k.startswith("test/") for k in metrics)
    assert (tmp_path / "run" / "checkpoints" / "best.ckpt").is_file()


def test_train_tests_on_a_separate_file(folder: Path, tmp_path: Path) -> None:
    held = tmp_path / "held"
    held.mkdir()
    _ads(range(20, 26), seed=3).to_parquet(held / "test.parquet", index=False)
    cfg = _cfg(folder, tmp_path / "run", "callbacks.select=last")
    cfg["test_file"] = str(held)
    metrics, _ = train(cfg)
    assert 0.0 <= metrics["test/r_precision"] <= 1.0
    assert metrics["selected"] == "last"
    assert metrics["best_checkpoint"].endswith("last.ckpt")


def test_selected_checkpoint_is_not_validated_twice_and_test_can_wait(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The best checkpoint's validation during fit gives metrics.json's val figures (no second
    pass over val); ``test_after_fit=false`` leaves a test split alone."""
    import lightning as L

    held = tmp_path / "held"
    held.mkdir()
    _ads(range(20, 26), seed=3).to_parquet(held / "test.parquet", index=False)
    calls: list[str] = []
    for stage in ("validate", "test"):
        real = getattr(L.Trainer, stage)

        def spy(self, *a, _real=real, _stage=stage, **kw):  # type: ignore[no-untyped-def]
            calls.append(_stage)
            return _real(self, *a, **kw)

        monkeypatch.setattr(L.Trainer, stage, spy)
    cfg = _cfg(folder, tmp_path / "run", "test_after_fit=false", "trainer.max_epochs=2")
    cfg["test_file"] = str(held)
    metrics, _ = train(cfg)
    assert calls == []
    assert not any(k.startswith("test/") for k in metrics)
    logged = pd.read_csv(tmp_path / "run" / "csv" / "metrics.csv")
    best = logged.dropna(subset=["val/r_precision"]).iloc[metrics["best_epoch"]]
    assert metrics["val/r_precision"] == pytest.approx(best["val/r_precision"])
    # after a resume there is no record of the earlier validation: it is run again
    cfg2 = _cfg(folder, tmp_path / "run", "trainer.max_epochs=2")
    cfg2.update(resume=True, test_file=str(held))
    metrics2, _ = train(cfg2)
    assert calls == ["validate", "test"]
    assert metrics2["val/r_precision"] == pytest.approx(metrics["val/r_precision"], abs=1e-6)


def test_train_without_val_tests_the_last_checkpoint(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    _ads(range(10)).to_parquet(data / "train.parquet", index=False)
    _ads(range(0)).reindex(columns=["ad_id", "text", "owner", "dup_group"]).to_parquet(
        data / "val.parquet", index=False
    )
    _ads(range(10, 14)).to_parquet(data / "test.parquet", index=False)
    metrics, _ = train(_cfg(data, tmp_path / "run"))
    assert metrics["best_checkpoint"].endswith("last.ckpt")
    assert "test/r_precision" in metrics
    assert "val/r_precision" not in metrics


def test_train_max_length_cuts_training_rows_only(folder: Path, tmp_path: Path) -> None:
    cfg = _cfg(folder, tmp_path / "run", "data.train_max_length=8")
    _, objects = train(cfg)
    dm = objects["datamodule"]
    batch = dm._collate_train([dm.splits["train"][i] for i in range(8)])
    assert batch["input_ids"].shape[1] <= 8
    sep = dm.tokenizer.sep_token_id
    ends = batch["input_ids"][
        torch.arange(len(batch["input_ids"])), batch["attention_mask"].sum(1) - 1
    ]
    assert bool((ends == sep).all())  # the closing [SEP] is kept
    val = next(iter(dm.val_dataloader()))
    assert val["input_ids"].shape[1] > 8  # evaluation keeps the model's max_length


def test_chunked_forward_equals_whole_batch(folder: Path, tmp_path: Path) -> None:
    _, objects = train(_cfg(folder, tmp_path / "run"))
    model, dm = objects["model"], objects["datamodule"]
    model.eval()
    batch = dm._collate([dm.splits["train"][i] for i in range(10)])
    whole = model(batch["input_ids"], batch["attention_mask"])
    model.hparams["forward_chunk"] = 3
    chunked = model._chunked_forward(batch["input_ids"], batch["attention_mask"])
    assert torch.allclose(whole, chunked, atol=1e-5)


def test_precision_auto_follows_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(hardware, "native_bf16_cpu", lambda: True)
    assert hardware.training_precision("auto", "cpu") == "bf16-mixed"
    monkeypatch.setattr(hardware, "native_bf16_cpu", lambda: False)
    assert hardware.training_precision("auto", "cpu") == "32-true"
    assert hardware.training_precision("16-mixed", "cpu") == "16-mixed"


def test_owner_folds_keep_owners_and_cross_owner_copies_together() -> None:
    df = _ads(range(12))
    df.loc[df["owner"] == "owner3", "dup_group"] = "shared"
    df.loc[df.index[df["owner"] == "owner7"][:1], "dup_group"] = "shared"
    fold = owner_folds(df, 3, seed=0)
    assert pd.Series(fold).groupby(df["owner"].to_numpy()).nunique().max() == 1
    assert len(set(fold[df["dup_group"].to_numpy() == "shared"])) == 1
    assert sorted(set(fold)) == [0, 1, 2]


def test_cross_validation_writes_a_table_and_resumes(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    _ads(range(18)).to_parquet(data / "train.parquet", index=False)
    cfg = load_config(TINY, FAST)
    out = tmp_path / "cv"
    summary = cross_validate(
        cfg, data, out, folds=2, baselines=("tfidf-char",), hybrid=False, bootstrap=10
    )
    assert set(summary["models"]) == {"model-best", "asnorm-best", "tfidf-char"}
    for m in summary["models"].values():
        lo, hi = m["ci"]["r_precision"]
        assert lo <= m["mean"]["r_precision"] <= hi + 1e-9
    assert "| tfidf-char |" in (out / "cv.md").read_text()
    # every held-out ad is in exactly one fold's test split
    tests = [pd.read_parquet(out / f"fold{k}" / "data" / "test.parquet") for k in range(2)]
    assert sorted(pd.concat(tests)["ad_id"]) == sorted(read_pool(data)["ad_id"])
    stamp = (out / "fold0" / "run" / "metrics.json").stat().st_mtime_ns
    again = cross_validate(cfg, data, out, folds=2, baselines=("tfidf-char",), hybrid=False)
    assert (out / "fold0" / "run" / "metrics.json").stat().st_mtime_ns == stamp  # reused
    assert json.loads((out / "cv.json").read_text())["models"].keys() == again["models"].keys()


def test_cv_scores_the_average_of_the_last_epochs(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    _ads(range(12)).to_parquet(data / "train.parquet", index=False)
    cfg = load_config(TINY, [*FAST, "trainer.max_epochs=2"])
    out = tmp_path / "cv"
    summary = cross_validate(
        cfg, data, out, folds=2, baselines=(), hybrid=False, bootstrap=0,
        only_folds=[0], checkpoints=("last", "avg2"), curve=True,
    )  # fmt: skip
    assert {"model-last", "model-avg2", "asnorm-avg2"} <= set(summary["models"])
    ckpts = out / "fold0" / "run" / "checkpoints"
    e0, e1, avg = (
        torch.load(ckpts / f"{n}.ckpt", weights_only=True)["state_dict"]
        for n in ("epoch0", "epoch1", "avg2")
    )
    key = next(k for k, v in avg.items() if v.is_floating_point() and v.ndim == 2)
    assert not torch.equal(e0[key], e1[key])
    torch.testing.assert_close(avg[key], (e0[key] + e1[key]) / 2)


@pytest.mark.parametrize(
    ("checkpoints", "curve", "message"),
    [
        (("avg3",), False, "avg3 averages the last epoch checkpoints, which only --curve keeps"),
        (("avgx",), True, "must be best, last or avgN, got 'avgx'"),
        (("avg0",), True, "must be best, last or avgN, got 'avg0'"),
    ],
)
def test_cv_refuses_an_average_it_cannot_make(tmp_path: Path, checkpoints, curve, message) -> None:
    from adowner.errors import InputError

    data = tmp_path / "data"
    data.mkdir()
    _ads(range(6)).to_parquet(data / "train.parquet", index=False)
    with pytest.raises(InputError, match=message):
        cross_validate(
            load_config(TINY, FAST), data, tmp_path / "cv", folds=2, checkpoints=checkpoints,
            curve=curve,
        )  # fmt: skip
    assert not (tmp_path / "cv" / "fold0" / "run").exists()  # refused before any training
