"""``link``: from ads (and optionally chain data) to owner groups, evidence, indicators, report.

Steps, in order:

1. read the ads with :func:`adowner.io.ads.read_ads` (through ``data.prepare.load_ads``: masked
   text, hashed identifiers; a prepared split or folder as it is);
2. embed every ad with the exported model (``adowner.load``); the embeddings are cached in the
   output folder, so a rerun with another threshold does not embed again;
3. build the three kinds of edges (:mod:`text_edges`, :mod:`identifier_edges`,
   :mod:`payment_edges`);
4. form groups (:func:`groups.guarded_groups` by default, or plain connected components);
5. compute indicators and write ``groups.parquet``, ``edges.parquet``, ``owners.parquet``,
   ``ambiguous.parquet``, ``ads.parquet`` (the masked ads with their payer wallet cluster, for
   ``adowner review``), ``summary.json`` and ``report.html``, each atomically. Where the ads
   carry ``true_owner`` (the synthetic marketplace), ``summary.json`` also has B-cubed and ARI.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from adowner._io import atomic_open, write_json, write_parquet
from adowner.chain.tables import EDGES, MATCHES, write_table
from adowner.defaults import CHAIN, LINK
from adowner.errors import InputError
from adowner.export.folder import ModelFolder, ThresholdError
from adowner.export.same_owner import choose_kind
from adowner.io.ads import read_ads
from adowner.io.quarantine import write_quarantine
from adowner.link.groups import connected_groups, guarded_groups
from adowner.link.identifier_edges import identifier_edges
from adowner.link.indicators import owner_indicators
from adowner.link.payment_edges import payment_edges, resolve_columns
from adowner.link.text_edges import text_edges
from adowner.log import get_logger

log = get_logger(__name__)

HARD_KINDS = ("phone", "email", "handle", "payment")
METHODS = ("guarded", "components", "mutual-components")


@dataclass
class LinkResult:
    """What :func:`run_link` produced; paths are set when it wrote to a folder."""

    labels: np.ndarray
    edges: pd.DataFrame
    owners: pd.DataFrame
    summary: dict[str, Any]
    paths: dict[str, Path] = field(default_factory=dict)
    payments: pd.DataFrame | None = None  # uniquely matched payments (ad_id, wallet_cluster, ...)


# ---------------------------------------------------------------------------- inputs


def model_threshold(model: ModelFolder, kind: str, fpr: float) -> float:
    """The threshold of the folder's ``kind`` score (``"cosine"``/``"hybrid"``) at ``fpr``."""
    try:
        return model.thresholds_for(kind).at(fpr)
    except ThresholdError as exc:
        raise InputError(
            f"{exc.reason} (pass --threshold, or re-export)",
            path=str(exc.where or model.config_path),
            field="thresholds",
        ) from None


def calibrated_threshold(model_dir: str | Path, fpr: float) -> float:
    """The cosine threshold at ``fpr`` from the model folder's ``adowner.json``."""
    return model_threshold(ModelFolder.read(model_dir), "cosine", fpr)


def hybrid_threshold(model_dir: str | Path, fpr: float) -> float:
    """The hybrid probability threshold at ``fpr`` from the folder's ``hybrid.json``."""
    return model_threshold(ModelFolder.read(model_dir), "hybrid", fpr)


def embedding_cache_key(model_dir: str | Path, texts: list[str]) -> str:
    """The key under which :func:`embed_ads` caches ``texts`` embedded by ``model_dir``."""
    key = hashlib.sha256()
    key.update(str(Path(model_dir).resolve()).encode())
    for name in ("adowner.json", "model.safetensors", "model.onnx"):  # a re-export changes these
        f = Path(model_dir) / name
        if f.exists():
            st = f.stat()
            key.update(f"{name}:{st.st_size}:{st.st_mtime_ns}".encode())
    for t in texts:
        key.update(t.encode("utf-8", "replace") + b"\0")
    return key.hexdigest()


def write_embedding_cache(cache: Path, emb: np.ndarray, key: str, model_dir: str | Path) -> None:
    """Store ``emb`` at ``cache`` (``.npy``) under ``key`` (``.json`` beside it), atomically."""
    from adowner._io import atomic_path

    # the key goes first: a kill between the two writes must not pair it with other vectors
    cache.with_suffix(".json").unlink(missing_ok=True)
    with atomic_path(cache) as tmp, open(tmp, "wb") as fh:
        np.save(fh, emb)
    write_json({"key": key, "n": len(emb), "model": str(model_dir)}, cache.with_suffix(".json"))


def embed_ads(
    model_dir: str | Path,
    texts: list[str],
    cache: Path | None = None,
    *,
    encoder: Callable[[], Any] | None = None,
) -> np.ndarray:
    """Embed with the exported model's fast path; reuse ``cache`` when model and texts match.

    ``encoder()``, when given, returns the loaded folder (so that a caller that needs it anyway
    loads it once); by default :func:`adowner.load` loads it, only when the cache misses.
    """
    digest = embedding_cache_key(model_dir, texts)
    if cache is not None and cache.with_suffix(".json").exists() and cache.exists():
        meta = json.loads(cache.with_suffix(".json").read_text(encoding="utf-8"))
        if meta.get("key") == digest:
            log.info("reusing embeddings from %s", cache)
            return np.load(cache)
    if encoder is None:
        import adowner

        model = adowner.load(str(model_dir))
    else:
        model = encoder()
    emb = np.asarray(model.embed(texts), dtype=np.float32)
    if cache is not None:
        write_embedding_cache(cache, emb, digest, model_dir)
    return emb


# ---------------------------------------------------------------------------- core


def build_edges(
    ads: pd.DataFrame,
    emb: np.ndarray | None,
    threshold: float | None,
    *,
    matches: pd.DataFrame | None = None,
    k: int = LINK.k,
    mutual: bool = True,
    index: str = LINK.index,
    kinds: tuple[str, ...] = ("text", "identifier", "payment"),
    rescore: Any = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """All evidence edges (i < j, kind, score, mutual, detail) and the ambiguous payment matches.

    ``rescore(i, j)``, when given, scores the text candidates instead of their cosine (the
    model folder's hybrid score; ``threshold`` is then its calibrated probability threshold).
    """
    frames = []
    ambiguous = pd.DataFrame()
    if "text" in kinds and emb is not None and threshold is not None:
        frames.append(text_edges(emb, threshold, k, mutual=mutual, index=index, rescore=rescore))
    if "identifier" in kinds:
        frames.append(identifier_edges(ads))
    if "payment" in kinds and matches is not None:
        pe, ambiguous = payment_edges(ads["ad_id"].astype(str).to_numpy(), matches)
        frames.append(pe)
    frames = [f for f in frames if len(f)]
    if not frames:
        from adowner.link.text_edges import _empty

        return _empty(), ambiguous
    return pd.concat(frames, ignore_index=True), ambiguous


def form_groups(
    n: int,
    edges: pd.DataFrame,
    *,
    method: str = LINK.method,
    min_density: float = LINK.min_density,
) -> np.ndarray:
    """Group labels from the fused edges (see :mod:`adowner.link.groups`)."""
    hard = edges[edges["kind"].isin(HARD_KINDS)]
    text = edges[edges["kind"] == "text"]
    if method == "components":
        return connected_groups(n, (edges["i"], edges["j"]))
    if method == "mutual-components":
        text = text[text["mutual"]]
        return connected_groups(n, (hard["i"], hard["j"]), (text["i"], text["j"]))
    if method == "guarded":
        return guarded_groups(
            n, (hard["i"], hard["j"]), (text["i"], text["j"]), min_density=min_density
        )
    raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}")


def payments_table(matches: pd.DataFrame | None, ads: pd.DataFrame) -> pd.DataFrame | None:
    """Per uniquely matched ad: ``ad_id``, ``wallet_cluster``, ``paid_usd`` (for indicators)."""
    if matches is None or not len(matches):
        return None
    col = resolve_columns(matches)
    status = matches[col["status"]].astype(str).str.lower()
    m = matches[(status == "unique") & matches[col["cluster"]].notna()]
    out = pd.DataFrame({"ad_id": m["ad_id"].astype(str), "wallet_cluster": m[col["cluster"]]})
    if col["usd"]:
        out["paid_usd"] = pd.to_numeric(m[col["usd"]], errors="coerce").to_numpy()
    elif "price_usd" in ads:
        price = ads.set_index(ads["ad_id"].astype(str))["price_usd"]
        out["paid_usd"] = pd.to_numeric(price.reindex(out["ad_id"]), errors="coerce").to_numpy()
    return out.reset_index(drop=True)


def score_groups(
    labels: np.ndarray, ads: pd.DataFrame, owners: set[str] | None = None
) -> dict[str, float] | None:
    """B-cubed and ARI against ``true_owner`` where the ads carry it (only ``owners``' ads if given)."""
    if "true_owner" not in ads or ads["true_owner"].isna().all():
        return None
    from adowner.evaluation.metrics import grouping_metrics

    known = ads["true_owner"].notna().to_numpy()
    if owners is not None:
        known = known & ads["true_owner"].astype(str).isin(owners).to_numpy()
        if not known.any():
            return None
    return grouping_metrics(labels[known], ads["true_owner"].astype(str).to_numpy()[known])


def run_link(
    ads: pd.DataFrame,
    emb: np.ndarray | None,
    threshold: float | None,
    *,
    matches: pd.DataFrame | None = None,
    out: str | Path | None = None,
    k: int = LINK.k,
    method: str = LINK.method,
    min_density: float = LINK.min_density,
    index: str = LINK.index,
    report: bool = True,
    report_top: int = LINK.top,
    extra_summary: dict[str, Any] | None = None,
    eval_owners: set[str] | None = None,
    rescore: Any = None,
) -> LinkResult:
    """Edges, groups, indicators and (with ``out``) the written outputs and report."""
    t0 = time.perf_counter()
    edges, ambiguous = build_edges(
        ads,
        emb,
        threshold,
        matches=matches,
        k=k,
        mutual=method != "components",
        index=index,
        rescore=rescore,
    )
    t_edges = time.perf_counter() - t0
    labels = form_groups(len(ads), edges, method=method, min_density=min_density)
    payments = payments_table(matches, ads)
    owners = owner_indicators(ads, labels, edges, payments)
    counts = edges["kind"].value_counts().to_dict() if len(edges) else {}
    summary: dict[str, Any] = {
        "n_ads": len(ads),
        "n_groups": int(labels.max(initial=-1) + 1),
        "n_groups_2plus": int((owners["n_ads"] >= 2).sum()),
        "largest_group": int(owners["n_ads"].max()) if len(owners) else 0,
        "edges": {str(k_): int(v) for k_, v in counts.items()},
        "ambiguous_matches": len(ambiguous),
        "method": method,
        "min_density": min_density,
        "k": k,
        "text_threshold": threshold,
        "seconds_edges": round(t_edges, 2),
        "seconds_total": round(time.perf_counter() - t0, 2),
        **(extra_summary or {}),
    }
    metrics = score_groups(labels, ads)
    if metrics:
        summary["metrics_vs_true_owner"] = {k_: round(v, 4) for k_, v in metrics.items()}
    held_out = score_groups(labels, ads, eval_owners) if eval_owners is not None else None
    if held_out:
        summary["metrics_held_out_owners"] = {k_: round(v, 4) for k_, v in held_out.items()}
    result = LinkResult(labels, edges, owners, summary, payments=payments)
    if out is not None:
        result.paths = write_outputs(result, ads, ambiguous, Path(out), report, report_top)
    return result


def write_outputs(
    result: LinkResult,
    ads: pd.DataFrame,
    ambiguous: pd.DataFrame,
    out: Path,
    report: bool = True,
    report_top: int = LINK.top,
) -> dict[str, Path]:
    """Write the tables, report and summary into ``out``, each file atomically.

    ``summary.json`` is removed first and written last, so a folder that has it is complete
    (a kill in between leaves no summary beside a mix of new and old tables).
    """
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").unlink(missing_ok=True)
    ad_ids = ads["ad_id"].astype(str).to_numpy()
    labels = result.labels
    paths = {name: out / f"{name}.parquet" for name in ("groups", "edges", "owners", "ambiguous")}
    write_parquet(pd.DataFrame({"ad_id": ad_ids, "group_id": labels}), paths["groups"])
    e = result.edges
    write_table(
        pd.DataFrame(
            {
                "src": ad_ids[e["i"].to_numpy()],
                "dst": ad_ids[e["j"].to_numpy()],
                "kind": e["kind"].astype(str),
                "score": e["score"].astype(np.float32),
                "mutual": e["mutual"].astype(bool),
                "detail": e["detail"].astype(str),
                "same_group": labels[e["i"].to_numpy()] == labels[e["j"].to_numpy()],
            }
        ),
        EDGES,
        paths["edges"],
    )
    write_parquet(result.owners, paths["owners"])
    paths["ads"] = out / "ads.parquet"
    write_parquet(review_ads(ads, result.payments), paths["ads"])
    amb = ambiguous.copy()
    for c in amb.columns:  # candidate lists and the like: keep them readable in any tool
        if amb[c].dtype == object:
            amb[c] = amb[c].map(
                lambda v: v if isinstance(v, str | type(None)) else json.dumps(v, default=str)
            )
    write_parquet(amb, paths["ambiguous"])
    if report:
        from adowner.link.report import render_report

        page = render_report(
            ads,
            labels,
            result.edges,
            result.owners,
            ambiguous=ambiguous,
            summary=_flat(result.summary),
            top=report_top,
            wallet=_wallets(result.payments),
        )
        paths["report"] = out / "report.html"
        with atomic_open(paths["report"]) as fh:
            fh.write(page)
    paths["summary"] = out / "summary.json"
    write_json(result.summary, paths["summary"])
    return paths


#: the columns of ``ads.parquet`` in a link folder: what ``adowner review`` shows of each ad
REVIEW_COLUMNS = (
    *("ad_id", "title", "body", "text", "posted_at", "site", "location", "persona"),
    *("price_usd", "sponsored", "phones", "emails", "urls", "handles"),
)


def review_ads(ads: pd.DataFrame, payments: pd.DataFrame | None) -> pd.DataFrame:
    """The ads as linked (masked text, identifier hashes) with each one's payer wallet cluster.

    ``ads.parquet`` makes a link folder self-contained for ``adowner review``; the text is the
    masked text of ``prepare`` (no raw phone number or e-mail address), ``true_owner`` is left out.
    """
    out = ads[[c for c in REVIEW_COLUMNS if c in ads]].copy()
    out["ad_id"] = out["ad_id"].astype(str)
    out["wallet_cluster"] = out["ad_id"].map(_wallets(payments) or {}).astype(object)
    return out.reset_index(drop=True)


def _wallets(payments: pd.DataFrame | None) -> dict[str, str] | None:
    """Each paid ad's payer wallet cluster (its first unique match), or None without payments."""
    if payments is None or not len(payments):
        return None
    p = payments.dropna(subset=["wallet_cluster"]).drop_duplicates("ad_id")
    return dict(zip(p["ad_id"].astype(str), p["wallet_cluster"].astype(str), strict=True))


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


# ---------------------------------------------------------------------------- command


def read_matches(path: str | Path) -> pd.DataFrame:
    """A ``chain match`` table; the columns are checked by :func:`resolve_columns`."""
    try:
        m = pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read matches ({exc})", path=str(path)) from exc
    resolve_columns(m, str(path))
    return m


def match_payments(
    ads: str | Path,
    chain: str | Path,
    rates: str | Path | None,
    site_addresses: str | Path | None,
    out: Path,
    clusters: str | Path | None = None,
    *,
    heuristics: str = CHAIN.heuristics,
    coinjoin_guard: bool = True,
    payee_change: bool = True,
) -> Path:
    """Match ads to payments with ``chain.match.match_chain``, the function ``chain match`` calls.

    Unless ``clusters`` is given it clusters the chain under ``heuristics`` (the one default of
    :data:`adowner.defaults.CHAIN`, known-payee change included: the site's addresses are
    known, so in a two-output payment to the site the other output is the payer's change; on
    the simulated marketplace it lifts fused B-cubed F1 from 0.661 to 0.813, docs/RESULTS.md).
    ``payee_change=False`` and ``coinjoin_guard=False`` take those rules out. Writes
    ``out/matches.parquet`` (and ``out/clusters.parquet``, with its policy, when it clustered);
    returns the matches path.
    """
    from adowner.chain import match as M
    from adowner.chain.cluster import write_clusters
    from adowner.chain.policy import Policy
    from adowner.chain.rates import read_rates

    if rates is None or site_addresses is None:
        raise InputError("--chain needs --rates and --site-addresses", field="--chain")
    policy = Policy.parse(heuristics)
    if not payee_change:
        policy = Policy.parse([n for n in policy.heuristics if n != "known_payee_change"])
    if not coinjoin_guard:
        policy = Policy.parse([n for n in policy.heuristics if n not in policy.guard_rules])
    run = M.match_chain(
        M.ads_to_match(ads),
        chain,
        read_rates(rates),
        site=M.read_address_list(site_addresses),
        clusters=clusters,
        policy=policy,
    )
    if run.clustered and run.policy is not None:
        write_clusters(run.clusters, out / "clusters.parquet", Policy.from_json(run.policy))
    matches = run.matches
    path = out / "matches.parquet"
    write_table(matches, MATCHES, path)
    counts = matches["match_status"].value_counts().to_dict()
    log.info("payment matches: %s", ", ".join(f"{k} {v}" for k, v in counts.items()))
    return path


def link_command(
    *,
    ads: str | Path,
    model: str | Path,
    out: str | Path,
    chain: str | Path | None = None,
    rates: str | Path | None = None,
    site_addresses: str | Path | None = None,
    clusters: str | Path | None = None,
    matches: str | Path | None = None,
    fpr: float = LINK.fpr,
    threshold: float | None = None,
    k: int = LINK.k,
    method: str = LINK.method,
    min_density: float = LINK.min_density,
    index: str = LINK.index,
    top: int = LINK.top,
    eval_owners: set[str] | None = None,
    text_score: str = LINK.text_score,
    payee_change: bool = True,
    heuristics: str = CHAIN.heuristics,
) -> dict[str, Any]:
    """``adowner link``: read, embed, link and write everything into ``out``; return the summary.

    ``text_score``: ``"hybrid"`` scores text candidates with the folder's ``hybrid.json``
    (cosine + character n-grams + pairwise features), ``"cosine"`` with the embeddings alone,
    ``"auto"`` (default) the hybrid where the folder has one.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    folder = ModelFolder.read(model)  # adowner.json only: the network loads once, below
    kind = choose_kind(folder, text_score)
    use_hybrid = kind == "hybrid"
    if threshold is None:
        threshold = model_threshold(folder, kind, fpr)
    frame, quarantine = read_ads(ads, field="--ads")
    if quarantine:
        log.warning("%d rows of %s were quarantined by prepare's checks", len(quarantine), ads)
    if frame.empty:
        raise InputError("no usable ads (all rows quarantined)", path=str(ads))
    write_quarantine(quarantine, out / "quarantine.jsonl")
    match_table = None
    if matches is not None:
        match_table = read_matches(matches)
    elif chain is not None:
        match_table = read_matches(
            match_payments(
                ads,
                chain,
                rates,
                site_addresses,
                out,
                clusters,
                heuristics=heuristics,
                payee_change=payee_change,
            )
        )
    log.info("embedding %d ads with %s", len(frame), model)
    t0 = time.perf_counter()
    loaded: list[Any] = []  # the folder, loaded at most once (one ONNX session)

    def encoder() -> Any:
        if not loaded:
            from adowner.export.inference import load

            loaded.append(load(folder))
        return loaded[0]

    texts = frame["text"].fillna("").astype(str).tolist()
    emb = embed_ads(model, texts, out / "embeddings.npy", encoder=encoder)
    t_embed = time.perf_counter() - t0
    rescore = None
    if use_hybrid:
        from adowner.scoring.hybrid import locations_of

        locations = locations_of(frame)
        scorer = encoder().same_owner_scorer(kind)
        scorer.prime(texts, emb, locations)
        rescore = lambda i, j: scorer.score_pairs(texts, i, j, locations=locations)  # noqa: E731
    result = run_link(
        frame,
        emb,
        threshold,
        matches=match_table,
        out=out,
        k=k,
        method=method,
        min_density=min_density,
        index=index,
        report_top=top,
        eval_owners=eval_owners,
        extra_summary={
            "fpr": fpr,
            "quarantined": len(quarantine),
            "seconds_embed": round(t_embed, 2),
            "model": str(model),
            "text_score": "hybrid" if use_hybrid else "cosine",
        },
        rescore=rescore,
    )
    return result.summary
