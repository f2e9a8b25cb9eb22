"""``evaluate``: score one model on the test split and write its metrics, in four steps.

1. resolve the model (:func:`adowner.evaluation.resolve.resolve_model`) and fit it on train if
   it learns (baselines);
2. score the verification pairs (:func:`adowner.scoring.pairs.sample_pairs`) and rank all
   ads for each query (FAISS for dense embeddings, sparse products for TF-IDF, re-ranked
   candidates for the pairwise classifier);
3. group the test ads by average-linkage clustering at the threshold that maximises B-cubed F1
   on val (:mod:`adowner.evaluation.grouping`);
4. write ``metrics.json`` (the flat keys of the issue, intervals under ``ci``), ``metrics.md``,
   ``details.json`` (threshold, notes, results by owner size, timings) and ``scores.npz`` (pair
   scores and per-query results, so ``compare`` plots without rescoring).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from adowner._io import atomic_open, atomic_path, write_json
from adowner.defaults import EVALUATE, PAIRS
from adowner.errors import InputError
from adowner.evaluation import grouping
from adowner.evaluation import metrics as M
from adowner.evaluation.data import EvalData
from adowner.evaluation.evaluator import pair_scores, verification_from_scores
from adowner.evaluation.resolve import resolve_model
from adowner.evaluation.scorer import PairScorer, Scorer
from adowner.io.quarantine import write_quarantine
from adowner.log import get_logger
from adowner.progress import make_progress
from adowner.scoring.hybrid import locations_of
from adowner.scoring.pairs import sample_pairs
from adowner.scoring.search import faiss_search, sparse_neighbors
from adowner.scoring.vectors import l2_normalise, l2_normalise_sparse

log = get_logger(__name__)

METRIC_KEYS = (
    *M.VERIFICATION_KEYS,
    *M.RETRIEVAL_KEYS,
    "bcubed_f1",
    "ari",
    "nmi",
    "n_ads",
    "n_owners",
    "n_pos_pairs",
    "n_neg_pairs",
)
SIZE_BUCKETS = ((2, 2), (3, 5), (6, 10), (11, 50), (51, None))
#: the columns of the results by owner size (``details.json``), with their heading in
#: ``metrics.md``; ``compare``'s report shows the same columns
BY_SIZE_COLUMNS = {
    "owner_size": "owner size",
    "n_owners": "owners",
    "n_queries": "queries",
    "p@1": "p@1",
    "r_precision": "r_precision",
    "mrr": "mrr",
    "roc_auc": "roc_auc",
    "tpr@fpr=0.01": "tpr@fpr=0.01",
}


@dataclass(frozen=True)
class PairProtocol:
    """How a run samples its pairs and intervals (recorded in ``details.json``).

    The keyword arguments of :func:`evaluate_model` and ``compare.compare_models`` (one
    definition of their names and defaults, :mod:`adowner.defaults`); ``compare`` reuses a
    finished run only when they match.
    """

    seed: int = EVALUATE.seed
    neg_ratio: int = PAIRS.neg_ratio
    bootstrap: int = EVALUATE.bootstrap
    max_pos_per_owner: int = PAIRS.max_pos_per_owner


def _bucket_name(lo: int, hi: int | None) -> str:
    return f"{lo}+" if hi is None else (str(lo) if lo == hi else f"{lo}-{hi}")


class _Scored:
    """What a model gives on one split: pair scores, per-query retrieval results, similarities."""

    def __init__(
        self,
        model: Scorer,
        texts: list[str],
        owners: np.ndarray,
        dups: np.ndarray,
        locations: list[str] | None = None,
    ):
        import scipy.sparse as sp

        n = len(texts)
        self.queries = M.query_ids(owners, dups)
        depth = M.search_depth(owners, dups) if n else 1
        self.embeddings: Any = None
        self.similarity: np.ndarray | None = None
        self.pair_model: PairScorer | None = None
        self.texts = texts
        # the ads' location fields, for a pair scorer that uses them (a hybrid)
        self.locations: list[str] | None = None
        if model.pairwise:
            self.kind = "pairwise"
            self.pair_model = model
            if model.uses_locations:
                self.locations = locations
            everyone = np.arange(n, dtype=np.int64)
            nb, nb_scores = model.neighbors(
                texts, everyone, max(depth, 100), locations=self.locations
            )
            self.per = M.per_query_retrieval(self.queries, nb[self.queries], owners, dups)
            if n <= grouping.MAX_ADS:
                sim = np.zeros((n, n), dtype=np.float32)  # unranked pairs: similarity 0
                rows = np.repeat(everyone, nb.shape[1])
                ok = nb.ravel() >= 0
                sim[rows[ok], nb.ravel()[ok]] = np.minimum(nb_scores.ravel()[ok], 1.0)
                self.similarity = np.maximum(sim, sim.T)
                np.fill_diagonal(self.similarity, 1.0)
            return
        self.kind = "embedding"
        emb = model.embed(texts, progress=True)
        if sp.issparse(emb):
            emb = l2_normalise_sparse(emb)
            x = emb
            search: Any = lambda q: sparse_neighbors(x, q, depth)  # noqa: E731
            if n <= grouping.MAX_ADS:
                self.similarity = np.asarray((emb @ emb.T).todense(), dtype=np.float32)
        else:
            emb = np.asarray(emb, dtype=np.float32)
            if emb.ndim != 2 or len(emb) != n:
                raise InputError(f"model returned embeddings of shape {emb.shape} for {n} ads")
            emb = l2_normalise(emb)
            search = faiss_search(emb, depth)
            if n <= grouping.MAX_ADS:
                self.similarity = emb @ emb.T
        self.embeddings = emb
        with make_progress(disable=len(self.queries) < 5000) as progress:
            task = progress.add_task("retrieval", total=len(self.queries))
            self.per = M.batched_retrieval(
                search,
                self.queries,
                owners,
                dups,
                on_batch=lambda k: progress.advance(task, k),
            )

    def pair_scores(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        if self.pair_model is not None:
            scores = self.pair_model.score_pairs(self.texts, i, j, locations=self.locations)
            return np.asarray(scores, dtype=np.float64)
        return pair_scores(self.embeddings, i, j)


def _columns(df: Any) -> tuple[list[str], np.ndarray, np.ndarray]:
    return (
        df["text"].astype(str).tolist(),
        df["owner"].astype(str).to_numpy(),
        df["dup_group"].astype(str).to_numpy(),
    )


def _by_owner_size(
    owners: np.ndarray,
    queries: np.ndarray,
    per: dict[str, np.ndarray],
    i: np.ndarray,
    y: np.ndarray,
    scores: np.ndarray,
) -> list[dict[str, Any]]:
    """Retrieval per query, and verification with each bucket's positives vs all negatives."""
    _, inv, counts = np.unique(owners, return_inverse=True, return_counts=True)
    size = counts[inv.ravel()]
    neg = y == 0
    rows = []
    for lo, hi in SIZE_BUCKETS:
        in_q = (size[queries] >= lo) & (True if hi is None else size[queries] <= hi)
        pos = (y == 1) & (size[i] >= lo) & (True if hi is None else size[i] <= hi)
        row: dict[str, Any] = {
            "owner_size": _bucket_name(lo, hi),
            "n_owners": len(np.unique(owners[queries][in_q])),
            "n_queries": int(in_q.sum()),
            "n_pos_pairs": int(pos.sum()),
        }
        if in_q.any():
            row.update({k: float(per[k][in_q].mean()) for k in ("p@1", "r_precision", "mrr")})
        if pos.any() and neg.any():
            sel = pos | neg
            v = M.verification_metrics(scores[sel], y[sel])
            row.update(roc_auc=v["roc_auc"], **{"tpr@fpr=0.01": v["tpr@fpr=0.01"]})
        rows.append(row)
    return rows


def evaluate_model(
    spec: str,
    data: EvalData,
    out: str | Path,
    *,
    shared: dict[str, Any] | None = None,
    **protocol: Any,
) -> dict[str, Any]:
    """Evaluate ``spec`` on ``data.test``, write the files of the module docstring to ``out``.

    ``protocol``: the fields of :class:`PairProtocol` (``seed``, ``neg_ratio``, ``bootstrap``,
    ``max_pos_per_owner``). ``shared``: models loaded by earlier calls, reused (see
    :func:`resolve_model`).
    """
    settings = PairProtocol(**protocol)
    seed, bootstrap = settings.seed, settings.bootstrap
    out = Path(out)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    model = resolve_model(spec, shared)
    notes: list[str] = []
    if model.learns:
        if data.train is None:
            raise InputError(
                f"model {spec!r} fits on a train split: give a prepared folder or --train FILE",
                field="--train",
            )
        log.info("%s: fitting on %d train ads", spec, len(data.train))
        model.fit(data.train, val_df=data.val)  # the hybrid fits its combiner on val owners
    notes.extend(model.notes)
    timings["fit_s"] = time.perf_counter() - t0

    texts, owners, dups = _columns(data.test)
    i, j, y = sample_pairs(
        owners,
        dups,
        neg_ratio=settings.neg_ratio,
        seed=seed,
        max_pos_per_owner=settings.max_pos_per_owner,
    )
    t0 = time.perf_counter()
    log.info("%s: scoring %d test ads", spec, len(texts))
    scored = _Scored(model, texts, owners, dups, locations_of(data.test))
    scores = scored.pair_scores(i, j) if len(i) else np.empty(0)
    timings["score_s"] = time.perf_counter() - t0

    metrics: dict[str, Any] = {}
    ci: dict[str, list[float]] = {}
    if y.any() and (y == 0).any():
        ver, ci = verification_from_scores(scores, y, i, j, owners, bootstrap=bootstrap, seed=seed)
        metrics.update(ver)
    else:
        notes.append("no same-owner pair in test: verification metrics do not apply")
    per: dict[str, np.ndarray] = {}
    if len(scored.queries):
        per = scored.per
        metrics.update({k: float(v.mean()) for k, v in per.items()})
        if bootstrap:
            qcodes = M._codes(owners)[scored.queries]
            ci.update(M.mean_bootstrap(per, qcodes, n_resamples=bootstrap, seed=seed))
    else:
        notes.append("no owner with two ads in test: retrieval metrics do not apply")

    t0 = time.perf_counter()
    group_info = _grouping(model, scored, owners, data, notes)
    metrics.update({k: group_info[k] for k in ("bcubed_f1", "ari", "nmi") if k in group_info})
    timings["group_s"] = time.perf_counter() - t0

    metrics.update(
        n_ads=len(texts),
        n_owners=len(np.unique(owners)),
        n_pos_pairs=int(y.sum()),
        n_neg_pairs=int((y == 0).sum()),
    )
    ordered: dict[str, Any] = {k: metrics[k] for k in METRIC_KEYS if k in metrics}
    if ci:
        ordered["ci"] = {k: ci[k] for k in METRIC_KEYS if k in ci}
    by_size = _by_owner_size(owners, scored.queries, per, i, y, scores) if per else []
    details = {
        "model": spec,
        "data": data.source,
        **asdict(settings),
        "kind": scored.kind,
        "grouping": group_info,
        "by_owner_size": by_size,
        "notes": notes,
        "n_quarantined": len(data.quarantine),
        "timings": timings,
    }
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "scores.npz") as tmp, open(tmp, "wb") as fh:
        arrays: dict[str, Any] = {"i": i, "j": j, "y": y, "scores": scores}
        arrays["queries"] = scored.queries
        arrays.update({f"q_{k}": v for k, v in per.items()})
        np.savez_compressed(fh, **arrays)
    if data.quarantine:
        write_quarantine(data.quarantine, out / "quarantine.jsonl")
    write_json(details, out / "details.json")
    with atomic_open(out / "metrics.md") as fh:
        fh.write(metrics_markdown(ordered, details))
    write_json(ordered, out / "metrics.json")  # last: its presence marks a finished run
    return ordered


def _grouping(
    model: Scorer, scored: _Scored, owners: np.ndarray, data: EvalData, notes: list[str]
) -> dict[str, Any]:
    if scored.similarity is None:
        notes.append(f"grouping skipped: more than {grouping.MAX_ADS} ads or no similarity matrix")
        return {}
    if data.val is None or data.val["owner"].nunique() < 2:
        notes.append("grouping skipped: no val split to choose the clustering threshold on")
        return {}
    vtexts, vowners, vdups = _columns(data.val)
    vscored = _Scored(model, vtexts, vowners, vdups, locations_of(data.val))
    if vscored.similarity is None:
        notes.append("grouping skipped: val too large for a dense similarity matrix")
        return {}
    threshold, val_f1 = grouping.choose_threshold(vscored.similarity, vowners)
    labels = grouping.cluster(scored.similarity, threshold)
    g: dict[str, Any] = dict(M.grouping_metrics(labels, owners))
    g.update(
        threshold=threshold,
        val_bcubed_f1=val_f1,
        n_clusters=len(np.unique(labels)),
        method="average-linkage agglomerative, cosine distance, threshold chosen on val",
    )
    return g


def _fmt(v: Any) -> str:
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def metrics_markdown(metrics: dict[str, Any], details: dict[str, Any]) -> str:
    """The human-readable ``metrics.md``: one table of metrics with intervals, then notes."""
    ci = metrics.get("ci", {})
    lines = [
        f"# {details['model']} on {details['data']}",
        "",
        "| metric | value | 95% CI (owner bootstrap) |",
        "|---|---|---|",
    ]
    for k, v in metrics.items():
        if k == "ci":
            continue
        interval = f"[{ci[k][0]:.4f}, {ci[k][1]:.4f}]" if k in ci else ""
        lines.append(f"| {k} | {_fmt(v)} | {interval} |")
    g = details.get("grouping") or {}
    if g:
        lines += [
            "",
            f"Grouping: {g['method']}; threshold {g['threshold']:.3f} "
            f"(val B-cubed F1 {g['val_bcubed_f1']:.4f}), {g['n_clusters']} clusters; "
            f"B-cubed precision {g['bcubed_precision']:.4f}, recall {g['bcubed_recall']:.4f}.",
        ]
    if details.get("by_owner_size"):
        lines += [
            "",
            "## By owner size",
            "",
            "| " + " | ".join(BY_SIZE_COLUMNS.values()) + " |",
            "|" + "---|" * len(BY_SIZE_COLUMNS),
        ]
        for r in details["by_owner_size"]:
            lines.append("| " + " | ".join(_fmt(r.get(k, "")) for k in BY_SIZE_COLUMNS) + " |")
    notes = details.get("notes") or []
    if notes:
        lines += ["", "## Notes", "", *[f"- {n}" for n in notes]]
    lines += [
        "",
        f"Pairs: every same-owner pair (never two ads of one dup_group) and {details['neg_ratio']} "
        f"different-owner pairs per same-owner pair (at most {details['max_pos_per_owner']} same-owner "
        f"pairs an owner), seed {details['seed']}; intervals from "
        f"{details['bootstrap']} owner resamples.",
        "",
    ]
    return "\n".join(lines)
