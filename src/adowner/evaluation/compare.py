"""``compare``: evaluate several models on one dataset and write one table, ROC and report.

Each model is evaluated into ``OUT/models/<name>/`` by
:func:`adowner.evaluation.runner.evaluate_model`. A model whose folder already holds a finished
run with the same settings (model, data, seed, ratio, bootstrap) is not rescored, so an
interrupted ``compare`` resumes where it stopped. Then :func:`adowner.evaluation.report.write_report`
writes ``table.md``, ``table.csv``, ``roc.png`` and ``report.html``.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from pathlib import Path
from typing import Any

from adowner.errors import InputError
from adowner.evaluation.data import EvalData
from adowner.evaluation.report import write_report
from adowner.evaluation.runner import PairProtocol, evaluate_model
from adowner.log import get_logger

log = get_logger(__name__)


def model_slug(spec: str) -> str:
    """A folder name for a model spec (paths become their last parts: the run folder and file
    of a checkpoint, ``RUN-checkpoints-best.ckpt``; ``hybrid:SPEC`` becomes ``hybrid-<slug>``,
    ``asnorm:SPEC`` ``asnorm-<slug>``)."""
    for wrapper in ("hybrid", "asnorm"):
        if spec.startswith(wrapper + ":"):
            return f"{wrapper}-" + model_slug(spec.split(":", 1)[1])
    base = spec.rstrip("/").replace("\\", "/")
    if "/" in base:
        base = "-".join(base.split("/")[-3 if base.endswith(".ckpt") else -2 :])
    return re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("_") or "model"


def _finished(folder: Path, settings: dict[str, object]) -> bool:
    try:
        details = json.loads((folder / "details.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        (folder / "metrics.json").is_file()
        and (folder / "scores.npz").is_file()
        and all(details.get(k) == v for k, v in settings.items())
    )


def compare_models(
    specs: list[str],
    data: EvalData,
    out: str | Path,
    **protocol: Any,
) -> list[tuple[str, Path]]:
    """Evaluate each spec (resuming finished ones) and write the comparison files to ``out``.

    ``protocol``: the fields of :class:`~adowner.evaluation.runner.PairProtocol`, for every spec.
    """
    settings = asdict(PairProtocol(**protocol))
    if not specs:
        raise InputError("give at least one model", field="--models")
    out = Path(out)
    runs: list[tuple[str, Path]] = []
    seen: set[str] = set()
    # one loaded copy of each model for all its specs (SPEC, asnorm:SPEC, hybrid:SPEC): each
    # test, val and cohort ad is embedded once, not once a spec
    shared: dict[str, Any] = {}
    for spec in specs:
        slug = model_slug(spec)
        if slug in seen:
            raise InputError(f"model {spec!r} given twice", field="--models")
        seen.add(slug)
        folder = out / "models" / slug
        if _finished(folder, {"model": spec, "data": data.source, **settings}):
            log.info("%s: already evaluated in %s, reusing", spec, folder)
        else:
            evaluate_model(spec, data, folder, shared=shared, **settings)
        runs.append((spec, folder))
    write_report(runs, out, data.source)
    return runs
