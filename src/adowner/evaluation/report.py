"""``compare`` outputs: ``table.md``, ``table.csv``, ``roc.png`` and a self-contained ``report.html``.

Reads each model's ``metrics.json``, ``details.json`` and ``scores.npz`` written by
:func:`adowner.evaluation.runner.evaluate_model`; nothing is rescored. The HTML page embeds its
figures as base64 PNGs and has no script or external link, so it opens offline. Matplotlib runs
on the Agg backend (no display needed).

=============  =====================================  =========================================
input          type                                   meaning
=============  =====================================  =========================================
``runs``       list of (name, folder)                 one evaluated model each
``out``        folder                                 where the four files go
``data``       str                                    the dataset, for titles
=============  =====================================  =========================================
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from adowner._io import atomic_open, atomic_path
from adowner.evaluation.runner import BY_SIZE_COLUMNS, METRIC_KEYS

TABLE_KEYS = [k for k in METRIC_KEYS if not k.startswith("n_")] + ["n_ads", "n_owners"]


def _load(folder: Path) -> tuple[dict[str, Any], dict[str, Any], dict[str, np.ndarray]]:
    metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    details = json.loads((folder / "details.json").read_text(encoding="utf-8"))
    with np.load(folder / "scores.npz") as z:
        arrays = {k: z[k] for k in z.files}
    return metrics, details, arrays


def _cell(metrics: dict[str, Any], key: str) -> str:
    v = metrics.get(key)
    if v is None:
        return "–"
    if key.startswith("n_"):
        return str(v)
    ci = metrics.get("ci", {}).get(key)
    return f"{v:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else f"{v:.3f}"


def _figure_png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return buf.getvalue()


def roc_figure(runs: list[tuple[str, dict[str, np.ndarray]]]) -> Any:
    """Every model's ROC on one plot, log-scaled FPR, the 1% FPR line marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_curve

    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    for name, arr in runs:
        if arr["y"].size == 0 or arr["y"].min() == arr["y"].max():
            continue
        fpr, tpr, _ = roc_curve(arr["y"], arr["scores"])
        floor = 1.0 / max(int((arr["y"] == 0).sum()), 1)
        ax.plot(np.maximum(fpr, floor), tpr, label=name, linewidth=1.6)
    ax.axvline(0.01, color="grey", linestyle="--", linewidth=1, label="FPR = 1%")
    ax.set_xscale("log")
    ax.set_xlim(left=1e-4, right=1.0)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("false positive rate (log scale)")
    ax.set_ylabel("true positive rate")
    ax.set_title("Same-owner verification ROC")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right")
    return fig


def histogram_figure(name: str, arr: dict[str, np.ndarray]) -> Any:
    """Score histograms of same-owner and different-owner pairs (densities)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.2, 3.2))
    s, y = arr["scores"], arr["y"]
    bins = np.linspace(float(s.min(initial=0)), float(s.max(initial=1)), 50).tolist()
    ax.hist(s[y == 0], bins=bins, density=True, alpha=0.55, label="different owner")
    ax.hist(s[y == 1], bins=bins, density=True, alpha=0.55, label="same owner")
    ax.set_title(name)
    ax.set_xlabel("score")
    ax.set_ylabel("density")
    ax.legend()
    return fig


def write_tables(rows: list[tuple[str, dict[str, Any]]], out: Path) -> str:
    header = ["model", *TABLE_KEYS]
    md = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, m in rows:
        md.append("| " + " | ".join([name, *(_cell(m, k) for k in TABLE_KEYS)]) + " |")
    table_md = "\n".join(md) + "\n"
    with atomic_open(out / "table.md") as fh:
        fh.write(table_md)
    with atomic_open(out / "table.csv", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(
            ["model"]
            + [
                c
                for k in TABLE_KEYS
                for c in (k, f"{k}_lo", f"{k}_hi")
                if not k.startswith("n_") or c == k
            ]
        )
        for name, m in rows:
            line: list[Any] = [name]
            for k in TABLE_KEYS:
                line.append(m.get(k, ""))
                if not k.startswith("n_"):
                    ci = m.get("ci", {}).get(k, ["", ""])
                    line += ci
            w.writerow(line)
    return table_md


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def write_report(runs: list[tuple[str, Path]], out: Path, data: str) -> None:
    """Write the four ``compare`` files for already-evaluated ``runs``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    loaded = [(name, *_load(folder)) for name, folder in runs]
    write_tables([(n, m) for n, m, _, _ in loaded], out)
    fig = roc_figure([(n, a) for n, _, _, a in loaded])
    roc_png = _figure_png(fig)
    plt.close(fig)
    with atomic_path(out / "roc.png") as tmp:
        tmp.write_bytes(roc_png)

    esc = html.escape
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>adowner compare: {esc(data)}</title>",
        "<style>body{font-family:sans-serif;margin:2em;max-width:1200px}"
        "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #bbb;padding:4px 6px;"
        "text-align:right}th{background:#eee}td:first-child{text-align:left}"
        "img{max-width:100%}.hist{display:flex;flex-wrap:wrap;gap:1em}</style></head><body>",
        f"<h1>Authorship evaluation: {esc(data)}</h1>",
        "<p>Verification over every same-owner pair (never two ads of one dup_group) and sampled "
        "different-owner pairs; retrieval with each ad of an owner with ≥2 ads as a query; "
        "95% intervals from resampling owners.</p>",
        "<h2>Results</h2>",
        "<table id='results'><thead><tr><th>model</th>"
        + "".join(f"<th>{esc(k)}</th>" for k in TABLE_KEYS)
        + "</tr></thead><tbody>",
    ]
    for name, m, _, _ in loaded:
        parts.append(
            f"<tr><td>{esc(name)}</td>"
            + "".join(f"<td>{esc(_cell(m, k))}</td>" for k in TABLE_KEYS)
            + "</tr>"
        )
    parts += ["</tbody></table>", "<h2>ROC</h2>", _img(roc_png, "ROC curves")]
    parts.append("<h2>Score distributions</h2><div class='hist'>")
    for name, _, _, arr in loaded:
        if arr["scores"].size:
            fig = histogram_figure(name, arr)
            parts.append(_img(_figure_png(fig), f"score histogram {name}"))
            plt.close(fig)
    parts.append("</div><h2>Results by owner size</h2>")
    cols = tuple(BY_SIZE_COLUMNS)
    parts.append(
        "<table id='by-size'><thead><tr><th>model</th>"
        + "".join(f"<th>{esc(c)}</th>" for c in cols)
        + "</tr></thead><tbody>"
    )
    for name, _, d, _ in loaded:
        for r in d.get("by_owner_size", []):
            cells = [
                f"{r[c]:.3f}" if isinstance(r.get(c), float) else str(r.get(c, "–")) for c in cols
            ]
            parts.append(
                f"<tr><td>{esc(name)}</td>" + "".join(f"<td>{esc(c)}</td>" for c in cells) + "</tr>"
            )
    parts.append("</tbody></table><h2>Notes</h2><ul>")
    for name, _, d, _ in loaded:
        g = d.get("grouping") or {}
        if g:
            parts.append(
                f"<li>{esc(name)}: grouping threshold {g['threshold']:.3f} chosen on val "
                f"(val B-cubed F1 {g['val_bcubed_f1']:.3f}), {g['n_clusters']} clusters</li>"
            )
        parts += [f"<li>{esc(name)}: {esc(n)}</li>" for n in d.get("notes", [])]
    parts.append("</ul></body></html>\n")
    with atomic_open(out / "report.html") as fh:
        fh.write("\n".join(parts))
