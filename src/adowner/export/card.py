"""The model card: ``README.md`` of an exported folder, filled from a template.

The template ships in the package (``adowner/export/templates/model_card.md``, found through
``importlib.resources``; ``model_cards/TEMPLATE.md`` in a checkout links to it).

The template is plain Markdown with ``$name`` placeholders (``string.Template``). The YAML
front matter follows the Hugging Face model-card metadata, with ``model-index`` results read
from an ``adowner compare`` (``table.csv``) or ``adowner evaluate`` (``metrics.json``) output.

=====================  ================================================================
input                  meaning
=====================  ================================================================
``config``             the folder's ``adowner.json`` (thresholds, dimension, versions)
``metrics``            paths to ``table.csv`` (compare) or ``metrics.json`` (evaluate, or
                       train's, whose ``test/`` keys are used); their rows are concatenated
``metrics_model``      the row of ``table.csv`` that is this model (default: the first row
                       that is not a baseline)
``dataset``            a short name of the evaluation data (e.g. ``agora-2014-01``)
``training_data``      Markdown paragraph on the training data and its labels
=====================  ================================================================

Example::

    text = render_card(config, metrics=Path("runs/compare-agora/table.csv"), dataset="agora")
"""

from __future__ import annotations

import csv
import json
import math
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

from adowner.errors import InputError

TEMPLATE = Path(str(resources.files("adowner.export") / "templates" / "model_card.md"))
BASELINE_PREFIXES = ("paper-pairwise", "tfidf-char", "zero-shot")
# metric key in adowner's tables -> (model-index type, readable name)
HF_METRICS = {
    "tpr@fpr=0.01": ("tpr_at_fpr_1pct", "TPR at 1% FPR"),
    "roc_auc": ("roc_auc", "ROC AUC"),
    "r_precision": ("r_precision", "R-Precision"),
    "p@1": ("precision_at_1", "P@1"),
    "mrr": ("mrr", "MRR"),
    "bcubed_f1": ("bcubed_f1", "B-cubed F1"),
    "ari": ("ari", "Adjusted Rand Index"),
}
DEFAULT_TRAINING_DATA = (
    "Not recorded at export. Pass `--training-data` (a Markdown paragraph) to describe the "
    "training split, its owners and how owner labels were derived."
)


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """Rows ``{"model": name, metric: value, metric_lo/_hi: bounds}`` from table.csv or metrics.json."""
    if not path.is_file():
        raise InputError("metrics file not found", path=str(path), field="--metrics")
    if path.suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        row: dict[str, Any] = {"model": data.get("model", path.parent.name)}
        for key, value in data.items():
            # evaluate's keys are bare; train's metrics.json prefixes them with val/ and test/
            if isinstance(value, int | float) and not key.startswith("val/"):
                row[key.removeprefix("test/")] = float(value)
        for key, (lo, hi) in (data.get("ci") or {}).items():
            row[f"{key}_lo"], row[f"{key}_hi"] = lo, hi
        return [row]
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or "model" not in rows[0]:
        raise InputError("expected a compare table with a 'model' column", path=str(path))
    return [{k: _num(v) for k, v in r.items()} for r in rows]


def _num(value: str) -> Any:
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


def pick_row(rows: list[dict[str, Any]], name: str | None) -> dict[str, Any] | None:
    """This model's row: the one named ``name``, else the first row that is not a baseline."""
    if name:
        for r in rows:
            if r["model"] == name:
                return r
        names = ", ".join(str(r["model"]) for r in rows)
        raise InputError(f"no row {name!r} in the metrics (have: {names})", field="--metrics-model")
    for r in rows:
        if not str(r["model"]).startswith(BASELINE_PREFIXES):
            return r
    return None


def results_table(rows: list[dict[str, Any]], own: dict[str, Any] | None) -> str:
    """Markdown table: one row a model, this model in bold, 95% bootstrap intervals if present."""
    keys = [k for k in HF_METRICS if any(isinstance(r.get(k), float) for r in rows)]
    head = "| model | " + " | ".join(HF_METRICS[k][1] for k in keys) + " | ads | owners |"
    lines = [head, "|" + "---|" * (len(keys) + 3)]
    for r in rows:
        name = f"**{r['model']}** (this model)" if r is own else str(r["model"])
        cells = [_cell(r, k) for k in keys]
        lines.append(
            f"| {name} | "
            + " | ".join(cells)
            + f" | {_int(r.get('n_ads'))} | {_int(r.get('n_owners'))} |"
        )
    return "\n".join(lines)


def _cell(r: dict[str, Any], key: str) -> str:
    v = r.get(key)
    if not isinstance(v, float) or math.isnan(v):
        return "–"
    lo, hi = r.get(f"{key}_lo"), r.get(f"{key}_hi")
    if isinstance(lo, float) and isinstance(hi, float):
        return f"{v:.3f} [{lo:.3f}, {hi:.3f}]"
    return f"{v:.3f}"


def _int(v: Any) -> str:
    return str(int(v)) if isinstance(v, float) and not math.isnan(v) else "–"


def front_matter(config: dict[str, Any], own: dict[str, Any] | None, dataset: str) -> str:
    """Hugging Face model-card metadata as YAML."""
    import yaml

    meta: dict[str, Any] = {
        "library_name": "sentence-transformers",
        "pipeline_tag": "sentence-similarity",
        "license": "apache-2.0",
        "language": ["en"],
        "base_model": config.get("backbone_hub_id") or "sentence-transformers/all-MiniLM-L6-v2",
        "tags": [
            "sentence-transformers",
            "authorship-attribution",
            "adowner",
            "feature-extraction",
        ],
    }
    if own is not None:
        metrics = [
            {"type": HF_METRICS[k][0], "name": HF_METRICS[k][1], "value": round(float(own[k]), 4)}
            for k in HF_METRICS
            if isinstance(own.get(k), float) and not math.isnan(own[k])
        ]
        meta["model-index"] = [
            {
                "name": config["model_id"],
                "results": [
                    {
                        "task": {
                            "type": "authorship-verification",
                            "name": "Same-owner verification",
                        },
                        "dataset": {"type": dataset, "name": dataset, "split": "test"},
                        "metrics": metrics,
                    }
                ],
            }
        ]
    return yaml.safe_dump(meta, sort_keys=False, allow_unicode=True).strip()


def hybrid_section(hybrid: dict[str, Any] | None) -> str:
    """The card's paragraph on ``hybrid.json`` (empty when the export has none)."""
    if not hybrid:
        return ""
    weights = ", ".join(
        f"{f} {w:+.2f}"
        for f, w in zip(hybrid.get("features", []), hybrid.get("weights", []), strict=False)
    )
    rows = "\n".join(
        f"| {t['fpr']:.2%} | {t['threshold']:.4f} | {t['tpr']:.3f} | {t['achieved_fpr']:.4%} |"
        for t in hybrid.get("thresholds", [])
    )
    cal = hybrid.get("calibration", {})
    pairs = cal.get("pairs", {})
    return (
        "### Hybrid same-owner score (`hybrid.json`)\n\n"
        "`adowner.load(DIR).same_owner` and the HTTP service's `/same-owner` use a hybrid score: "
        "the cosine above, the cosine of character 2-5-gram TF-IDF rows and the log-odds of the "
        "pairwise classifier of Portnoff et al. (KDD 2017), both fitted on the train split"
        + (
            ", and the cosine AS-normalised against a cohort of train ads (stored in "
            "`hybrid.json`; Matějka et al., Interspeech 2017)"
            if "cosine_asnorm" in hybrid.get("features", [])
            else ""
        )
        + (
            ", and two comparisons of the ads' `location` fields (same place after folding "
            "case and punctuation; Jaccard of their words). Pass each ad's location "
            "(`same_owner(a, b, location_a=..., location_b=...)`, `/same-owner` fields "
            '`location_a`/`location_b`); a pair without them scores as "location unknown"'
            if "location_jac" in hybrid.get("features", [])
            else ""
        )
        + ", combined by a logistic regression fitted on the validation owners (standardised "
        f"weights: {weights}). Its thresholds are on the probability, from out-of-fold scores "
        f"({pairs.get('positive', 0):,} same-owner and {pairs.get('negative', 0):,} different-owner "
        f"held-out pairs, ROC AUC {cal.get('roc_auc', float('nan')):.3f}):\n\n"
        "| target FPR | probability threshold | TPR at it (held-out val folds) | achieved FPR |\n"
        f"|---|---|---|---|\n{rows}\n"
    )


def distillation_section(info: dict[str, Any] | None) -> str:
    """The model card's paragraph on a distilled student (empty for any other model)."""
    if not info:
        return ""
    after = info.get("val_after") or {}
    before = info.get("val_before") or {}
    tpr = info.get("val_tpr_at_fpr_1pct") or {}
    rule = info.get("offer_rule", "")
    verdict = (
        f"**Offered** as a faster option ({rule})."
        if info.get("offered")
        else f"**Not offered**: its TPR at FPR 1% fell too far ({rule}); use the teacher."
    )
    return (
        "### Distilled student\n\n"
        f"A {info.get('layers')}-layer student of `{info.get('teacher_model', info.get('teacher'))}` "
        f"({info.get('teacher_layers')} layers; layers {info.get('kept_layers')} kept, each "
        "initialised from the teacher's), trained for "
        f"{info.get('steps')} steps of {info.get('batch_size')} ads ({info.get('train_texts')} "
        f"distinct training ads, {info.get('max_length')} word pieces, {info.get('precision')}) "
        f"to match the teacher's embeddings ({info.get('loss')}).\n\n"
        "| measured on | before training | after |\n|---|---|---|\n"
        f"| training loss (MSE, mean of 10 steps) | {_fmt(info.get('train_loss_first'))} | "
        f"{_fmt(info.get('train_loss_last'))} |\n"
        f"| validation MSE to the teacher ({info.get('val_texts')} ads) | {_fmt(before.get('mse'))} "
        f"| {_fmt(after.get('mse'))} |\n"
        f"| validation mean cosine to the teacher | {_fmt(before.get('cosine_mean'), '.4f')} | "
        f"{_fmt(after.get('cosine_mean'), '.4f')} |\n\n"
        f"Validation TPR at FPR 1%: teacher {_fmt(tpr.get('teacher'), '.3f')}, student "
        f"{_fmt(tpr.get('student'), '.3f')}. {verdict}\n"
    )


def _fmt(x: Any, fmt: str = ".3e") -> str:
    return "–" if x is None else format(float(x), fmt)


def int8_note(onnx: dict[str, Any]) -> str:
    """The card's line on ``model_qint8.onnx``: opt-in, and whether this model's validation
    figures let it be offered (``onnx.int8_gate``, written by ``export --onnx --int8 --data``;
    the rule of issue 18: TPR@1% and R-Precision within 0.005 of fp32)."""
    if not onnx.get("int8_file"):
        return ""
    head = (
        f", `{onnx['int8_file']}` (ONNX dynamic int8, min cosine vs PyTorch "
        f"{onnx['int8_min_cosine']:.4f}; opt-in, `precision='int8'`"
    )
    gate = onnx.get("int8_gate")
    if not gate:
        return head + ", **not offered**: not measured on labelled ads (export with --data))"
    f8, f32 = gate["int8"], gate["fp32"]
    verdict = "offered" if gate["offered"] else "**not offered**"
    return (
        f"{head}, {verdict}: on the {gate['ads']} validation ads TPR@1% "
        f"{_fmt(f8['tpr@fpr=0.01'], '.3f')} vs fp32 {_fmt(f32['tpr@fpr=0.01'], '.3f')}, "
        f"R-Precision {_fmt(f8['r_precision'], '.3f')} vs {_fmt(f32['r_precision'], '.3f')}; "
        "offered only within 0.005 of fp32)"
    )


def render_card(
    config: dict[str, Any],
    *,
    metrics: list[Path] | None = None,
    metrics_model: str | None = None,
    dataset: str = "adowner-validation",
    domain: str | None = None,
    training_data: str | None = None,
    template: Path = TEMPLATE,
) -> str:
    """The filled model card (Markdown with YAML front matter)."""
    if not template.is_file():
        raise InputError("model card template not found (pass --card-template)", path=str(template))
    rows = [row for path in metrics or [] for row in read_metrics(path)]
    own = pick_row(rows, metrics_model) if rows else None
    if rows:
        results = (
            f"Measured on the held-out test split of `{dataset}` (owners disjoint from training), "
            f"from {', '.join(f'`{m}`' for m in metrics or [])}; same-owner/different-owner pairs at 1:20, 95% bootstrap intervals "
            "over owners in brackets. Baselines beside the model: the paper's pairwise classifier "
            "(`paper-pairwise`), character n-gram TF-IDF (`tfidf-char`) and the untuned backbone "
            "(`zero-shot`). A row without intervals comes from a metrics file without a "
            "bootstrap (for example the training run's own test evaluation).\n\n"
            + results_table(rows, own)
        )
    else:
        results = "No evaluation was attached at export (`adowner export --metrics`)."
    cal = config.get("calibration") or {}
    pairs = cal.get("pairs") or {}
    thresholds = config.get("thresholds") or []
    rows_md = (
        "\n".join(
            f"| {t['fpr']:.2%} | {t['threshold']:.4f} | {t['tpr']:.3f} | {t['achieved_fpr']:.4%}"
            + ("" if t.get("resolved", True) else " (too few negatives to resolve)")
            + " |"
            for t in thresholds
        )
        or "| – | not calibrated (export with `--data`) | – | – |"
    )
    onnx = config.get("onnx") or {}
    values = {
        "front_matter": front_matter(config, own, dataset),
        "model_id": config["model_id"],
        "backbone": config.get("backbone", "?"),
        "projection": f", linear projection to {config['embedding_dim']}"
        if config.get("projection")
        else "",
        "embedding_dim": config["embedding_dim"],
        "max_length": config["max_length"],
        "source_checkpoint": config.get("source_checkpoint", "?"),
        "adowner_version": config.get("adowner_version", "?"),
        "created_at": config.get("created_at", "?"),
        "onnx_file": (
            f", `{onnx['file']}` (ONNX, min cosine vs PyTorch {onnx['min_cosine']:.6f})"
            + int8_note(onnx)
        )
        if onnx
        else "",
        "calibration_source": f"`{cal.get('data', '?')}`" if cal else "none",
        "calibration_pairs": (
            f"{pairs.get('positive', 0):,} same-owner and {pairs.get('negative', 0):,} different-owner "
            f"pairs, ROC AUC {cal.get('roc_auc', float('nan')):.3f}"
            if cal
            else "no validation data was given"
        ),
        "threshold_rows": rows_md,
        "hybrid_section": hybrid_section(config.get("hybrid"))
        + distillation_section(config.get("distillation")),
        "training_data": training_data or DEFAULT_TRAINING_DATA,
        "results": results,
        "domain": domain or dataset,
    }
    return Template(template.read_text(encoding="utf-8")).substitute(values)
