"""``adowner quickstart``: the whole path on the built-in synthetic marketplace.

Steps (each calls the owning part's Python function; the folder of each is under ``OUT``):

====  ============  ==========================================================  ==============
step  name          what                                                        writes
====  ============  ==========================================================  ==============
1     simulate      owners, ads, their chain, ground truth                      ``market/``
2     prepare       validate, mask, label (true owner), dedup, split by owner   ``prepared/``
3     train         the ads recipe, sized (experiment ``minilm-quickstart``)      ``train/``
4     compare       the model, its AS-norm and hybrid scores vs the baselines   ``compare/``
5     export        model folder (+ ONNX), thresholds and hybrid fitted on val  ``model/``
6     ingest        chain tables from the simulated node's JSON + mempool log   ``chain/``
7     cluster       wallet clusters (common input, CoinJoin guard, known-payee  ``chain/clusters.parquet``
                    change rule)
8     match         ads ↔ payments                                              ``matches.parquet``
9     link          owner groups, evidence, indicators, report                  ``link/``
====  ============  ==========================================================  ==============

A step that finished writes ``OUT/.done/<step>.json`` (atomically, after its outputs); a rerun
skips it unless ``--force``. The run ends with where the reports are and five lines of figures.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from adowner._io import crash_point, write_json
from adowner.defaults import QUICKSTART
from adowner.log import get_logger
from adowner.resources import resolve_config

log = get_logger(__name__)

#: the packaged experiment trained by default (``--config`` takes a name or a path)
DEFAULT_CONFIG = "minilm-quickstart"


class Paths:
    """Where each step reads and writes, under one output folder."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.market = out / "market"
        self.prepared = out / "prepared"
        self.train = out / "train"
        self.compare = out / "compare"
        self.model = out / "model"
        self.chain = out / "chain"
        self.clusters = out / "chain" / "clusters.parquet"
        self.matches = out / "matches.parquet"
        self.link = out / "link"
        self.done = out / ".done"


def step_simulate(p: Paths, owners: int, seed: int) -> dict[str, Any]:
    from adowner.simulate.run import run_simulation

    return run_simulation(p.market, n_owners=owners, seed=seed)


def step_prepare(p: Paths) -> dict[str, Any]:
    from adowner.data.prepare import prepare
    from adowner.data.schema import DataConfig

    # 15% of owners each for val and test (not 10%): val fits the hybrid score's combiner and
    # picks the checkpoint, test gives the figures; with 500 owners that is 75 owners each
    return prepare(
        [p.market / "ads.parquet"],
        p.prepared,
        # training keeps near-duplicate reposts (the ads recipe); val and test are deduplicated
        config=DataConfig(owner_column="true_owner", split=(0.7, 0.15, 0.15), dedup="eval"),
    )


def step_train(p: Paths, config: Path, seed: int) -> dict[str, Any]:
    from adowner.model.config import load_config
    from adowner.model.train import train

    cfg = load_config(config)
    cfg.update(data_dir=str(p.prepared), run_dir=str(p.train), resume=True, seed=seed)
    metrics, _ = train(cfg)
    return metrics


def _best_checkpoint(p: Paths) -> Path:
    import json

    metrics = json.loads((p.train / "metrics.json").read_text(encoding="utf-8"))
    return Path(metrics["best_checkpoint"])


def step_compare(p: Paths) -> dict[str, Any]:
    ckpt = _best_checkpoint(p)
    # the model alone (cosine, and AS-normalised against train ads), and its hybrid score
    # (cosines + char n-grams + pairwise features, the combiner fitted on val owners), against
    # the two baselines that learn from train
    from adowner.evaluation.compare import compare_models
    from adowner.evaluation.data import load_eval_data

    specs = ["tfidf-char", "paper-pairwise", str(ckpt), f"asnorm:{ckpt}", f"hybrid:{ckpt}"]
    compare_models(specs, load_eval_data(str(p.prepared)), p.compare)
    return {"table": str(p.compare / "table.csv")}


def step_export(p: Paths) -> dict[str, Any]:
    from adowner.export.export import export_checkpoint

    return export_checkpoint(
        _best_checkpoint(p),
        p.model,
        data=p.prepared,
        hybrid=True,
        # the ONNX network: calibration, the hybrid fit and `link` embed ~1.8x faster with it
        # than with PyTorch on the CPU (docs/BENCHMARKS.md)
        onnx=True,
        metrics=[p.compare / "table.csv"] if (p.compare / "table.csv").is_file() else None,
        dataset="synthetic marketplace",
    )


def step_ingest(p: Paths) -> dict[str, Any]:
    from adowner.chain.ingest import ingest

    src = p.market / "chain"
    files = sorted((src / "chain").glob("*"))
    return ingest(files, p.chain, mempool_log=src / "mempool.jsonl")


def step_cluster(p: Paths) -> dict[str, Any]:
    from adowner.chain.cluster import cluster_dir
    from adowner.chain.match import read_address_list

    # the site's addresses are known: the known-payee change rule joins payers' change
    payees = set(read_address_list(p.market / "chain" / "site_addresses.txt"))
    return cluster_dir(p.chain, p.clusters, payees=payees)


def step_match(p: Paths) -> dict[str, Any]:
    from adowner.link.pipeline import match_payments

    src = p.market / "chain"
    match_payments(
        p.market / "ads.parquet",
        p.chain,
        src / "rates.csv",
        src / "site_addresses.txt",
        p.out,
        p.clusters,
    )
    return {"matches": str(p.matches)}


def step_link(p: Paths) -> dict[str, Any]:
    import pandas as pd

    from adowner.link.pipeline import link_command

    # every ad is linked (the analyst's view); figures are also given on the test owners alone,
    # whom the model never saw in training
    test = pd.read_parquet(p.prepared / "test.parquet", columns=["true_owner"])
    return link_command(
        ads=p.market / "ads.parquet",
        model=p.model,
        out=p.link,
        matches=p.matches,
        eval_owners=set(test["true_owner"].astype(str)),
    )


def quickstart(
    out: str | Path,
    *,
    owners: int = QUICKSTART.owners,
    seed: int = QUICKSTART.seed,
    config: str | None = None,
    force: bool = False,
) -> int:
    """Run (or resume) every step into ``out``; print where the reports are and a summary."""
    p = Paths(Path(out))
    p.out.mkdir(parents=True, exist_ok=True)
    cfg_path = resolve_config(config or DEFAULT_CONFIG)
    steps: list[tuple[str, Callable[[], dict[str, Any]]]] = [
        ("simulate", lambda: step_simulate(p, owners, seed)),
        ("prepare", lambda: step_prepare(p)),
        ("train", lambda: step_train(p, cfg_path, seed)),
        ("compare", lambda: step_compare(p)),
        ("export", lambda: step_export(p)),
        ("ingest", lambda: step_ingest(p)),
        ("cluster", lambda: step_cluster(p)),
        ("match", lambda: step_match(p)),
        ("link", lambda: step_link(p)),
    ]
    timings: dict[str, float] = {}
    results: dict[str, Any] = {}
    for k, (name, run) in enumerate(steps, 1):
        marker = p.done / f"{name}.json"
        if marker.exists() and not force:
            import json

            results[name] = json.loads(marker.read_text(encoding="utf-8")).get("result", {})
            print(f"[{k}/{len(steps)}] {name}: done before, reused ({marker})", flush=True)
            continue
        print(f"[{k}/{len(steps)}] {name} …", flush=True)
        t0 = time.perf_counter()
        results[name] = run() or {}
        timings[name] = round(time.perf_counter() - t0, 1)
        crash_point(f"quickstart:{name}")  # test hook: outputs written, marker not yet
        write_json(
            {"step": name, "seconds": timings[name], "result": _jsonable(results[name])}, marker
        )
        print(f"[{k}/{len(steps)}] {name}: {timings[name]:.0f} s", flush=True)
    for line in summary_lines(p, results):
        print(line)
    return 0


def _jsonable(obj: Any) -> Any:
    """Keep only what JSON can hold (the steps return plain dicts of figures)."""
    import json

    try:
        json.dumps(obj, default=str)
        return json.loads(json.dumps(obj, default=str))
    except (TypeError, ValueError):
        return str(obj)


def _short(name: object) -> str:
    """A model spec for one line: the quickstart's checkpoint is "model" (its AS-norm
    "asnorm:model", its hybrid "hybrid:model"); any other checkpoint its run folder's name."""
    text = str(name)
    from adowner.evaluation.resolve import WRAPPERS

    prefix = next((w for w in WRAPPERS if text.startswith(w)), "")
    text = text.removeprefix(prefix)
    if text.endswith(".ckpt") and "/" in text:
        run = Path(text).parents[1].name
        text = "model" if run == "train" else run
    return prefix + text


def summary_lines(p: Paths, results: dict[str, Any]) -> list[str]:
    """Where the reports are, and five lines of figures."""
    import json

    lines = ["", "reports:"]
    lines.append(f"  owner groups (analysts): {p.link / 'report.html'}")
    lines.append(f"  model vs baselines:      {p.compare / 'report.html'}")
    lines.append(f"  model card:              {p.model / 'README.md'}")
    lines.append("summary:")
    market = results.get("simulate", {})
    owners = market.get("owners", "?")
    if isinstance(owners, dict):  # simulate reports owners by kind
        owners = sum(v for v in owners.values() if isinstance(v, int))
    lines.append(f"  1. marketplace: {market.get('ads', '?')} ads by {owners} owners")
    table = p.compare / "table.csv"
    if table.is_file():
        import pandas as pd

        t = pd.read_csv(table)
        key = next((c for c in t.columns if "tpr" in c.lower() and "0.01" in c), None)
        name = next((c for c in ("model", "name") if c in t.columns), t.columns[0])
        if key:
            cells = ", ".join(f"{_short(r[name])} {r[key]:.3f}" for _, r in t.iterrows())
            lines.append(f"  2. TPR@FPR=1% on held-out owners: {cells}")
    model = results.get("export", {})
    th = ", ".join(
        f"FPR {t['fpr']:g} → cos {t['threshold']:.3f}" for t in model.get("thresholds", [])
    )
    hy = ", ".join(
        f"FPR {t['fpr']:g} → p {t['threshold']:.3f}"
        for t in (model.get("hybrid") or {}).get("thresholds", [])
    )
    lines.append(
        f"  3. calibrated text thresholds: {th or 'n/a'}" + (f"; hybrid {hy}" if hy else "")
    )
    m_path = p.matches
    if m_path.is_file():
        import pandas as pd

        m = pd.read_parquet(m_path)
        col = "match_status" if "match_status" in m else m.columns[1]
        counts = m[col].value_counts().to_dict()
        lines.append("  4. payment matches: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    s = results.get("link", {})
    if not s and (p.link / "summary.json").is_file():
        s = json.loads((p.link / "summary.json").read_text(encoding="utf-8"))
    met = s.get("metrics_vs_true_owner") or {}
    held = s.get("metrics_held_out_owners") or {}
    nan = float("nan")
    lines.append(
        f"  5. link: {s.get('n_ads', '?')} ads → {s.get('n_groups', '?')} groups; vs true owners "
        f"B-cubed F1 {met.get('bcubed_f1', nan):.3f}, ARI {met.get('ari', nan):.3f} "
        f"(held-out owners only: F1 {held.get('bcubed_f1', nan):.3f}, ARI {held.get('ari', nan):.3f})"
    )
    return lines
