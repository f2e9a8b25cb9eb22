"""``adowner cv``: owner-disjoint k-fold cross-validation of a training recipe beside the baselines.

What it computes
    The ads of a prepared folder (every split pooled) are dealt into ``folds`` folds of owners
    (owners joined by a cross-owner duplicate group stay in one fold, as in ``prepare``'s
    splits). For each fold, the recipe is trained on the other folds (a ``val_fraction`` of
    their owners held out for checkpoint selection and for fitting the hybrid's combiner) and
    every model spec is scored on the held-out fold (the checkpoint's cosine, its AS-normalised
    cosine ``asnorm:``, the ``hybrid:`` score and the baselines) with :func:`adowner.evaluation.runner.
    evaluate_model`, the same code as ``adowner evaluate``. Settings are chosen this way, on
    training data only, never on a test split.

    Per metric, the table gives the mean over folds (retrieval: the mean over every held-out
    query of all folds) and a 95% interval from resampling **owners** of all folds together
    (each replicate recomputes every fold's metric with the drawn owners' weights, then
    averages over folds; :func:`adowner.evaluation.metrics.bootstrap_ci`).

What it requires of the data
    A folder written by ``adowner prepare`` with ``owner`` and ``dup_group``. Prepare it with
    ``--dedup eval`` or ``--dedup none`` so that training keeps near-duplicate reposts; the
    held-out fold and the val owners are deduplicated here (one ad per ``dup_group`` and owner),
    as ``prepare`` would, so that figures compare with a deduplicated test split.

Inputs

    ================  ===========================================================  =========
    name              meaning                                                      default
    ================  ===========================================================  =========
    cfg               composed training config (``load_config``)                   required
    data_dir          prepared folder                                              required
    out_dir           where folds, runs, evaluations and ``cv.json``/``cv.md`` go  required
    folds             number of owner folds                                        ``3``
    baselines         model specs scored beside the trained one                    paper-pairwise, tfidf-char
    checkpoints       ``best``, ``last`` and/or ``avgN`` checkpoint of each fold's ``best``
                      run (``avgN``: the mean weights of the last N epochs, with
                      ``curve``; see ``average_checkpoints``)
    hybrid            also score ``hybrid:<checkpoint>`` (and ``hybrid-text:``, its    ``True``
                      text-only twin, where the ads have locations)
    val_fraction      owners of the training folds held out as val                 ``0.15``
    only_folds        run just these folds (the table covers the finished ones)    all
    curve             keep a checkpoint every epoch and score each (cosine only):  ``False``
                      the learning curve on held-out owners, to choose the number
                      of epochs by cross-validation
    ================  ===========================================================  =========

Each finished step leaves its file (a fold's ``run/metrics.json``, an evaluation's
``metrics.json``); a rerun after an interruption skips them and resumes training from
``last.ckpt``.

Example::

    cfg = load_config("configs/experiment/ads.yaml")
    summary = cross_validate(cfg, "runs/prepared/escort-eval", "runs/cv/ads", folds=3)
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from adowner._io import atomic_open, atomic_path, write_json, write_parquet
from adowner.defaults import EVALUATE
from adowner.errors import InputError
from adowner.log import get_logger

log = get_logger(__name__)

SHOWN = (
    "roc_auc",
    "tpr@fpr=0.01",
    "tpr@fpr=0.001",
    "p@1",
    "r_precision",
    "mrr",
    "bcubed_f1",
)
VERIFICATION = ("roc_auc", "eer", "tpr@fpr=0.01", "tpr@fpr=0.001")
RETRIEVAL = ("p@1", "r_precision", "mrr", "recall@8", "map@10")


def read_pool(data_dir: str | Path) -> pd.DataFrame:
    """Every prepared split of ``data_dir`` in one frame (split order, then row order)."""
    from adowner.io.splits import read_prepared

    parts = read_prepared(data_dir, required=("text", "owner", "dup_group"))
    df = pd.concat(parts.values(), ignore_index=True)
    df["owner"] = df["owner"].astype(str)
    df["dup_group"] = df["dup_group"].astype(str)
    return df


def owner_folds(df: pd.DataFrame, folds: int, seed: int = 0) -> np.ndarray:
    """Fold number of each row: owner units dealt round the folds by owner count."""
    from adowner.data.splits import owner_units

    if folds < 2:
        raise InputError(f"need at least 2 folds, got {folds}", field="--folds")
    units = owner_units(df)
    owners_per_unit = df.groupby(units)["owner"].nunique()
    if len(owners_per_unit) < folds:
        raise InputError(f"{len(owners_per_unit)} owner groups cannot fill {folds} folds")
    order = np.random.default_rng(seed).permutation(np.array(owners_per_unit.index))
    have = np.zeros(folds)
    assign: dict[int, int] = {}
    for unit in order:
        f = int(np.argmin(have))
        assign[int(unit)] = f
        have[f] += int(owners_per_unit[unit])
    return units.map(assign).to_numpy()


def _dedup(df: pd.DataFrame) -> pd.DataFrame:
    from adowner.data.dedup import drop_duplicates

    return drop_duplicates(df.reset_index(drop=True))[0]


def write_fold(
    df: pd.DataFrame, fold_of: np.ndarray, k: int, out: Path, val_fraction: float, seed: int
) -> dict[str, int]:
    """Write fold ``k``'s ``train/val/test.parquet`` to ``out`` (test = fold k, deduplicated)."""
    from adowner.data.splits import split_by_owner

    test = _dedup(df[fold_of == k])
    rest = df[fold_of != k].reset_index(drop=True)
    part = split_by_owner(rest, (1.0 - val_fraction, val_fraction, 0.0), seed=seed + k)
    train = rest[part == "train"].reset_index(drop=True)
    val = _dedup(rest[part == "val"])
    out.mkdir(parents=True, exist_ok=True)
    for name, frame in (("train", train), ("val", val), ("test", test)):
        write_parquet(frame, out / f"{name}.parquet")
    return {
        "train_ads": len(train),
        "train_owners": int(train["owner"].nunique()),
        "val_ads": len(val),
        "val_owners": int(val["owner"].nunique()),
        "test_ads": len(test),
        "test_owners": int(test["owner"].nunique()),
    }


def cross_validate(
    cfg: dict[str, Any],
    data_dir: str | Path,
    out_dir: str | Path,
    *,
    folds: int = 3,
    baselines: Sequence[str] = ("paper-pairwise", "tfidf-char"),
    checkpoints: Sequence[str] = ("best",),
    hybrid: bool = True,
    val_fraction: float = 0.15,
    seed: int = EVALUATE.seed,
    bootstrap: int = EVALUATE.bootstrap,
    only_folds: Sequence[int] | None = None,
    curve: bool = False,
) -> dict[str, Any]:
    """Run the folds (see the module docstring); write and return the summary."""
    from adowner.evaluation.data import load_eval_data
    from adowner.evaluation.runner import evaluate_model
    from adowner.model.train import train

    out = Path(out_dir)
    df = read_pool(data_dir)
    fold_of = owner_folds(df, folds, seed)
    wanted = sorted(set(only_folds)) if only_folds else list(range(folds))
    if any(k < 0 or k >= folds for k in wanted):
        raise InputError(f"folds are 0..{folds - 1}, got {wanted}", field="--only-folds")
    for c in checkpoints:
        if c not in ("best", "last") and not re.fullmatch(r"avg[1-9][0-9]*", c):
            raise InputError(
                f"checkpoint must be best, last or avgN, got {c!r}", field="--checkpoints"
            )
        if c.startswith("avg") and not curve:
            raise InputError(
                f"{c} averages the last epoch checkpoints, which only --curve keeps",
                field="--checkpoints",
            )
    from adowner.scoring.hybrid import MIN_LOCATION_COVERAGE, location_coverage

    has_locations = "location" in df and (
        location_coverage(df["location"].tolist()) >= MIN_LOCATION_COVERAGE
    )
    fold_info: list[dict[str, Any]] = []
    for k in wanted:
        fdir = out / f"fold{k}"
        info: dict[str, Any] = dict(write_fold(df, fold_of, k, fdir / "data", val_fraction, seed))
        run_dir = fdir / "run"
        if not (run_dir / "metrics.json").is_file():
            run_cfg = copy.deepcopy(cfg)
            run_cfg.update(data_dir=str(fdir / "data"), run_dir=str(run_dir), resume=True)
            if curve:
                run_cfg.setdefault("callbacks", {})["keep_every_epoch"] = True
            log.info("fold %d/%d: training on %d ads", k + 1, folds, info["train_ads"])
            train(run_cfg)
        run_metrics = json.loads((run_dir / "metrics.json").read_text())
        info.update(
            train_seconds=run_metrics.get("fit_seconds_this_session"),
            best_epoch=run_metrics.get("best_epoch"),
            ads_per_s=run_metrics.get("ads_per_s"),
            s_per_step=run_metrics.get("s_per_step"),
        )
        specs: dict[str, str] = {}
        for c in checkpoints:
            ckpt = str(run_dir / "checkpoints" / f"{c}.ckpt")
            if c.startswith("avg"):
                _write_average(run_dir / "checkpoints", int(c[3:]), Path(ckpt))
            elif not Path(ckpt).is_file():
                ckpt = str(run_dir / "checkpoints" / "last.ckpt")
            specs[f"model:{c}"] = ckpt
            specs[f"asnorm:{c}"] = f"asnorm:{ckpt}"
            if hybrid:
                specs[f"hybrid:{c}"] = f"hybrid:{ckpt}"
                if has_locations:  # the same hybrid from the texts alone, for comparison
                    specs[f"hybrid-text:{c}"] = f"hybrid-text:{ckpt}"
        for b in baselines:
            specs[b] = b
        if curve:
            for ep in sorted((run_dir / "checkpoints").glob("epoch*.ckpt")):
                specs[f"curve:{ep.stem}"] = str(ep)
        data = load_eval_data(str(fdir / "data"))
        shared: dict[str, Any] = {}  # model:, asnorm: and hybrid: of a checkpoint share it
        for name, spec in specs.items():
            edir = fdir / "eval" / name.replace(":", "-")
            if (edir / "metrics.json").is_file():
                continue
            log.info("fold %d/%d: scoring %s", k + 1, folds, name)
            evaluate_model(spec, data, edir, seed=seed, bootstrap=0, shared=shared)
        fold_info.append({"fold": k, **info})
    summary = summarise(out, wanted, fold_info, bootstrap=bootstrap, seed=seed)
    if curve:
        summary["curve"] = {
            n: m["mean"] for n, m in summary["models"].items() if n.startswith("curve-")
        }
        summary["models"] = {
            n: m for n, m in summary["models"].items() if not n.startswith("curve-")
        }
    summary["settings"] = {
        "data": str(data_dir),
        "folds": folds,
        "val_fraction": val_fraction,
        "seed": seed,
        "checkpoints": list(checkpoints),
        "hybrid": hybrid,
        "baselines": list(baselines),
        "curve": curve,
    }
    write_json(summary, out / "cv.json")
    with atomic_open(out / "cv.md") as fh:
        fh.write(cv_markdown(summary))
    return summary


def _write_average(ckpt_dir: Path, n: int, out: Path) -> None:
    """``out``: the mean weights of the last ``n`` epoch checkpoints (kept once written)."""
    import torch

    from adowner.model.checkpoint import average_checkpoints

    if out.is_file():
        return
    epochs = sorted(ckpt_dir.glob("epoch*.ckpt"), key=lambda p: int(p.stem[len("epoch") :]))
    if len(epochs) < n:
        raise InputError(
            f"avg{n} needs {n} epoch checkpoints, the run kept {len(epochs)}", path=str(ckpt_dir)
        )
    with atomic_path(out) as tmp:
        torch.save(average_checkpoints(epochs[-n:]), tmp)


def _fold_arrays(edir: Path, test: pd.DataFrame) -> dict[str, Any]:
    z = np.load(edir / "scores.npz")
    owners = test["owner"].astype(str).to_numpy()
    return {
        "i": z["i"],
        "j": z["j"],
        "y": z["y"].astype(bool),
        "scores": z["scores"],
        "queries": z["queries"],
        "per": {k: z[f"q_{k}"] for k in RETRIEVAL if f"q_{k}" in z},
        "owners": owners,
        "metrics": json.loads((edir / "metrics.json").read_text()),
    }


def summarise(
    out: Path, folds: Sequence[int], fold_info: list[dict[str, Any]], *, bootstrap: int, seed: int
) -> dict[str, Any]:
    """Mean over folds and owner-bootstrap intervals across folds, per model."""
    from adowner.evaluation import metrics as M

    names = sorted(
        {p.name for k in folds for p in (out / f"fold{k}" / "eval").glob("*") if p.is_dir()}
    )
    models: dict[str, Any] = {}
    for name in names:
        arrays = []
        for k in folds:
            edir = out / f"fold{k}" / "eval" / name
            if (edir / "metrics.json").is_file():
                test = pd.read_parquet(out / f"fold{k}" / "data" / "test.parquet")
                arrays.append(_fold_arrays(edir, test))
        if len(arrays) != len(folds):
            continue
        # One owner index over all folds (owners never repeat across folds).
        all_owners = np.unique(np.concatenate([a["owners"] for a in arrays]))
        for a in arrays:
            a["codes"] = np.searchsorted(all_owners, a["owners"])

        def stat(w: np.ndarray | None, arrays: list[dict[str, Any]] = arrays) -> dict[str, float]:
            res: dict[str, float] = {}
            ver: dict[str, list[float]] = {}
            ret_num: dict[str, float] = {}
            ret_den = 0.0
            for a in arrays:
                oi, oj, y = a["codes"][a["i"]], a["codes"][a["j"]], a["y"]
                pw = np.ones(len(y)) if w is None else np.where(y, w[oi], w[oi] * w[oj])
                keep = pw > 0
                v = M.verification_metrics(a["scores"][keep], y[keep], pw[keep])
                for key in VERIFICATION:
                    ver.setdefault(key, []).append(v[key])
                qc = a["codes"][a["queries"]]
                qw = np.ones(len(qc)) if w is None else w[qc]
                ret_den += qw.sum()
                for key, vals in a["per"].items():
                    ret_num[key] = ret_num.get(key, 0.0) + float((vals * qw).sum())
            if ret_den == 0:
                raise ValueError("no query drawn")
            res.update({k: float(np.mean(v)) for k, v in ver.items()})
            res.update({k: v / ret_den for k, v in ret_num.items()})
            return res

        point = stat(None)
        bf1 = [a["metrics"].get("bcubed_f1") for a in arrays]
        if all(v is not None for v in bf1):
            point["bcubed_f1"] = float(np.mean(bf1))
        ci = (
            M.bootstrap_ci(stat, len(all_owners), n_resamples=bootstrap, seed=seed)
            if bootstrap
            else {}
        )
        models[name] = {
            "mean": point,
            "ci": ci,
            "per_fold": [{k: a["metrics"].get(k) for k in SHOWN} for a in arrays],
        }
    return {"folds": fold_info, "models": models}


def cv_markdown(summary: dict[str, Any]) -> str:
    """``cv.md``: one table, mean over folds [95% owner-bootstrap interval], then the folds."""
    st = summary.get("settings", {})
    lines = [
        f"# Cross-validation: {st.get('folds')} owner folds of {st.get('data')}",
        "",
        "| model | " + " | ".join(SHOWN) + " |",
        "|---|" + "---|" * len(SHOWN),
    ]
    for name, m in summary["models"].items():
        cells = []
        for k in SHOWN:
            if k not in m["mean"]:
                cells.append("")
                continue
            ci = m["ci"].get(k)
            cells.append(f"{m['mean'][k]:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else ""))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "| fold | train ads/owners | val ads/owners | test ads/owners | best epoch | "
        "train s | ads/s |",
        "|---|---|---|---|---|---|---|",
    ]
    for f in summary["folds"]:
        lines.append(
            f"| {f['fold']} | {f['train_ads']}/{f['train_owners']} | {f['val_ads']}/"
            f"{f['val_owners']} | {f['test_ads']}/{f['test_owners']} | {f.get('best_epoch')} | "
            f"{f.get('train_seconds')} | {f.get('ads_per_s') or 0:.1f} |"
        )
    if summary.get("curve"):
        lines += ["", "Learning curve (model cosine on the held-out folds, mean of folds):", ""]
        lines += ["| checkpoint | tpr@fpr=0.01 | r_precision | roc_auc |", "|---|---|---|---|"]
        for n, m in sorted(summary["curve"].items(), key=lambda kv: int(kv[0].split("epoch")[1])):
            lines.append(
                f"| {n[len('curve-') :]} | {m['tpr@fpr=0.01']:.3f} | {m['r_precision']:.3f} | "
                f"{m['roc_auc']:.3f} |"
            )
    lines += [
        "",
        "Retrieval: mean over every held-out query of all folds; verification and B-cubed F1: "
        "mean of the folds; intervals: owners of all folds resampled together.",
        "",
    ]
    return "\n".join(lines)
