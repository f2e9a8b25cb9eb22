"""Why a group exists, in words, and where it may be a false merge: the one place that says so.

Both the workbench (``adowner review``) and the static ``report.html`` of ``link`` call
:func:`explain_group`, so the sentence an analyst reads is the same in both.

What it computes, for one group (its ad ids and the evidence edges between them)
    * **summary**: one paragraph of why the group exists, hard evidence first: how many ads share
      how many phone numbers, e-mail addresses, URLs or handles (the distinct identifier hashes
      in the edges' ``detail``); how many were paid from the largest payer wallet cluster; how
      many more joined by writing style alone, at what lowest score. For example "52 ads share 3
      phone numbers; 31 were paid from wallet cluster 1136…; 12 more joined by writing style
      (cosine ≥ 0.95)".
    * **parts**: the sub-groups that hard evidence alone (identifiers and payments) holds
      together; ads joined by text only are parts of one. This is the first step of
      ``link.groups.guarded_groups``, so the parts are what text then merged.
    * **collapsed graph**: one edge per pair of parts, with the number of evidence edges of each
      kind between them (the individual edges are listed on demand).
    * **warnings** of likely false merges: a collapsed edge of at most ``WEAK_EDGES`` text edges
      that is a bridge of the parts graph and joins two sides of at least ``MIN_SIDE`` ads each
      (one weak text edge bridging two dense parts); a payer wallet cluster whose payments are
      all that joins ``EXCHANGE_PARTS`` or more otherwise separate sets of ``EXCHANGE_MIN_SET``+
      of its ads (no shared identifier, no text edge, no other payer between them; on the
      simulated marketplace one owner's burner phones make 2-4 such sets, the exchange 26:
      docs/RESULTS.md), or that pays for
      ``EXCHANGE_SHARE`` or more of all matched ads of the run: an exchange or a payment service
      pays for many owners (Meiklejohn et al., "A Fistful of Bitcoins", IMC 2013, on service
      clusters). Many personas alone is no warning: one operator posting under several names is
      what the indicators flag.
    * **template view**: the spans the group's ads share, as InfoShield (Lee et al., KDD 2021)
      highlights templates. InfoShield finds templates by minimum description length; here the
      spans are simpler and cheaper: the word ``NGRAM``-grams (lower-cased, punctuation dropped) that occur in at
      least two of the group's ads, merged into maximal runs per ad (:func:`shared_spans`), and
      the longest such runs, by the number of ads that hold them, as the group's phrases.

Inputs
    ==========  ========================================  ========================================
    name        type                                      meaning
    ==========  ========================================  ========================================
    ad_ids      sequence of str                           the group's ads
    edges       DataFrame: src, dst, kind, score, detail  evidence edges with both ends in the group
    wallet      mapping ad_id -> wallet cluster (or None)  each ad's payer cluster, where matched
    personas    mapping ad_id -> persona (or None)        for the exchange-like warning
    ==========  ========================================  ========================================

Example
    >>> e = pd.DataFrame({"src": ["a", "b"], "dst": ["b", "c"], "kind": ["phone", "text"],
    ...                   "score": [1.0, 0.97], "detail": ["phone #3fa2c1d09b7e", "rank 1"]})
    >>> explain_group(["a", "b", "c"], e).summary
    '2 ads share 1 phone number; 1 more joined by writing style (cosine ≥ 0.97).'
"""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

HARD_KINDS = ("phone", "email", "url", "handle", "payment")
KIND_ORDER = (*HARD_KINDS, "text")
KIND_COLOURS = {
    "text": "#4c72b0",
    "phone": "#c44e52",
    "email": "#dd8452",
    "url": "#937860",
    "handle": "#8172b3",
    "payment": "#55a868",
}
IDENTIFIER_NOUNS = {
    "phone": ("phone number", "phone numbers"),
    "email": ("e-mail address", "e-mail addresses"),
    "url": ("URL", "URLs"),
    "handle": ("social handle", "social handles"),
}
WEAK_EDGES = 2  # a collapsed edge of at most this many text edges is weak
MIN_SIDE = 3  # ... and a warning needs at least this many ads on each side of it
EXCHANGE_PARTS = 5  # a payer cluster that alone joins this many separate sets of ads ...
EXCHANGE_MIN_SET = 2  # ... each of at least this many of its ads
EXCHANGE_SHARE = 0.10  # ... or for this share of all matched ads of the run (and >= 20 ads)
EXCHANGE_MIN_ADS = 20
NGRAM = 4  # word n-grams of the template view
MAX_PHRASES = 8
PHRASE_WORDS = 12  # a longer shared run is shown by its first words

_WORD = re.compile(r"\S+")
_PUNCT = re.compile(r"[^\w]+")


@dataclass
class Part:
    """A sub-group held together by hard evidence (or one ad joined by text alone)."""

    index: int
    ad_ids: list[str]
    kinds: dict[str, int]  # evidence edges inside it, by kind


@dataclass
class Explanation:
    """What :func:`explain_group` says about a group."""

    summary: str
    parts: list[Part]
    collapsed: list[dict[str, Any]]  # a, b (part indices), n_a, n_b, counts {kind: n}, total
    warnings: list[str]
    counts: dict[str, int] = field(default_factory=dict)  # evidence edges by kind


def _plural(n: int, one: str, many: str) -> str:
    return f"{n:,} {one if n == 1 else many}"


def _hash_of(detail: str) -> str:
    return detail.rsplit("#", 1)[-1].strip() if "#" in detail else detail


def _cluster_of(detail: str) -> str:
    # payment edges: "wallet cluster C: tx T… and tx U…"
    m = re.match(r"wallet cluster (\S+?):", detail)
    return m.group(1) if m else detail


def short(value: str, n: int = 8) -> str:
    """The first ``n`` characters of an identifier and an ellipsis (wallet clusters, hashes)."""
    return value if len(value) <= n else value[:n] + "…"


def _parts(ad_ids: Sequence[str], edges: pd.DataFrame) -> np.ndarray:
    pos = {a: k for k, a in enumerate(ad_ids)}
    hard = edges[edges["kind"].isin(HARD_KINDS)]
    src = np.array([pos[a] for a in hard["src"]], dtype=np.int64)
    dst = np.array([pos[a] for a in hard["dst"]], dtype=np.int64)
    n = len(ad_ids)
    graph = coo_matrix((np.ones(len(src), dtype=np.int8), (src, dst)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    # number parts by size (largest first), then by first ad
    sizes = np.bincount(labels)
    order = sorted(range(len(sizes)), key=lambda p: (-sizes[p], int(np.argmax(labels == p))))
    rank = np.empty(len(sizes), dtype=np.int64)
    rank[order] = np.arange(len(sizes))
    return rank[labels]


def explain_group(
    ad_ids: Sequence[str],
    edges: pd.DataFrame,
    *,
    wallet: Mapping[str, Any] | None = None,
    personas: Mapping[str, Any] | None = None,
    text_score: str = "cosine",
    matched_in_run: Mapping[str, int] | None = None,
) -> Explanation:
    """Summary, parts, collapsed evidence graph and warnings of one group (see the module)."""
    ad_ids = [str(a) for a in ad_ids]
    members = set(ad_ids)
    if len(edges):
        edges = edges[edges["src"].isin(members) & edges["dst"].isin(members)]
    n = len(ad_ids)
    counts = {str(k): int(v) for k, v in edges["kind"].value_counts().items()} if len(edges) else {}
    if n == 1:
        return Explanation(
            "One ad; no evidence joins it to another.", [Part(0, ad_ids, {})], [], [], counts
        )

    clauses: list[str] = []
    hard_ads: set[str] = set()
    for kind, (one, many) in IDENTIFIER_NOUNS.items():
        e = edges[edges["kind"] == kind]
        if not len(e):
            continue
        touched = set(e["src"]) | set(e["dst"])
        hard_ads |= touched
        k = e["detail"].astype(str).map(_hash_of).nunique()
        clauses.append(f"{len(touched):,} ads share {_plural(k, one, many)}")
    pay = edges[edges["kind"] == "payment"]
    if len(pay):
        by_cluster: Counter[str] = Counter()
        for cluster, grp in pay.groupby(pay["detail"].astype(str).map(_cluster_of)):
            by_cluster[str(cluster)] = len(set(grp["src"]) | set(grp["dst"]))
        hard_ads |= set(pay["src"]) | set(pay["dst"])
        (top, top_n), rest = by_cluster.most_common(1)[0], by_cluster.most_common()[1:]
        verb = "were" if top_n != 1 else "was"
        clause = f"{top_n:,} {verb} paid from wallet cluster {short(top)}"
        if rest:
            others = sum(c for _, c in rest)
            clause += (
                f" (and {others:,} from {_plural(len(rest), 'other cluster', 'other clusters')})"
            )
        clauses.append(clause)
    text = edges[edges["kind"] == "text"]
    text_only = members - hard_ads
    if text_only and len(text):
        t = text[text["src"].isin(text_only) | text["dst"].isin(text_only)]
        low = float(t["score"].min()) if len(t) else float(text["score"].min())
        more = "more " if clauses else ""
        what = f"{len(text_only):,} {more}joined by writing style ({text_score} ≥ {low:.2f})"
        if not clauses:
            what = (
                f"{len(text_only):,} ads joined by writing style alone ({text_score} ≥ {low:.2f})"
            )
        clauses.append(what)
    elif len(text) and clauses:
        parts_text = f"{len(text):,} text edges"
        clauses.append(f"{parts_text} (writing style) also join them")
    summary = ("; ".join(clauses) + ".") if clauses else f"{n} ads with no evidence edges."
    summary = summary[0].upper() + summary[1:]

    labels = _parts(ad_ids, edges)
    part_ids: list[list[str]] = [[] for _ in range(int(labels.max()) + 1)]
    for a, p in zip(ad_ids, labels.tolist(), strict=True):
        part_ids[p].append(a)
    part_of = dict(zip(ad_ids, labels.tolist(), strict=True))
    inner: list[Counter[str]] = [Counter() for _ in part_ids]
    cross: dict[tuple[int, int], Counter[str]] = {}
    for s, d, kind in zip(edges["src"], edges["dst"], edges["kind"].astype(str), strict=True):
        a, b = part_of[s], part_of[d]
        if a == b:
            inner[a][kind] += 1
        else:
            cross.setdefault((min(a, b), max(a, b)), Counter())[kind] += 1
    parts = [Part(k, ids, dict(inner[k])) for k, ids in enumerate(part_ids)]
    collapsed = [
        {
            "a": a,
            "b": b,
            "n_a": len(part_ids[a]),
            "n_b": len(part_ids[b]),
            "counts": dict(c),
            "total": sum(c.values()),
        }
        for (a, b), c in sorted(cross.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))
    ]
    warnings = _bridge_warnings(part_ids, cross, text_score, text, part_of)
    warnings += _exchange_warnings(ad_ids, edges, wallet, personas, matched_in_run)
    return Explanation(summary, parts, collapsed, warnings, counts)


def _bridge_warnings(
    part_ids: list[list[str]],
    cross: dict[tuple[int, int], Counter[str]],
    text_score: str,
    text: pd.DataFrame,
    part_of: dict[str, int],
) -> list[str]:
    """Weak text edges that are bridges of the parts graph with enough ads on either side."""
    if not cross:
        return []
    import networkx as nx

    g = nx.Graph()
    g.add_nodes_from(range(len(part_ids)))
    g.add_edges_from(cross)
    out = []
    for a, b in nx.bridges(g):
        c = cross[(min(a, b), max(a, b))]
        if sum(c.values()) > WEAK_EDGES or set(c) != {"text"}:
            continue
        h = g.copy()
        h.remove_edge(a, b)
        side_a = sum(len(part_ids[p]) for p in nx.node_connected_component(h, a))
        side_b = sum(len(part_ids[p]) for p in nx.node_connected_component(h, b))
        if min(side_a, side_b) < MIN_SIDE:
            continue
        lo, hi = min(a, b), max(a, b)
        e = text[
            text["src"].map(part_of).isin([lo, hi])
            & text["dst"].map(part_of).isin([lo, hi])
            & (text["src"].map(part_of) != text["dst"].map(part_of))
        ]
        score = f" ({text_score} {float(e['score'].max()):.2f})" if len(e) else ""
        n_edges = sum(c.values())
        what = "one text edge" if n_edges == 1 else f"{n_edges} text edges"
        out.append(
            f"Possible false merge: {what}{score} between sub-groups P{lo} and P{hi} "
            f"is all that joins {side_a:,} ads to {side_b:,} ads."
        )
    return out


def _exchange_warnings(
    ad_ids: list[str],
    edges: pd.DataFrame,
    wallet: Mapping[str, Any] | None,
    personas: Mapping[str, Any] | None,
    matched_in_run: Mapping[str, int] | None,
) -> list[str]:
    """Payer clusters that alone join otherwise separate ads, or pay for much of the run."""
    if not wallet:
        return []
    paid: dict[str, list[str]] = {}
    for a in ad_ids:
        w = wallet.get(a)
        if w is not None and w == w and str(w):
            paid.setdefault(str(w), []).append(a)
    total = sum(matched_in_run.values()) if matched_in_run else 0
    pos = {a: k for k, a in enumerate(ad_ids)}
    kinds = edges["kind"].astype(str)
    clusters = edges["detail"].astype(str).map(_cluster_of)
    out = []
    for w, ads in sorted(paid.items(), key=lambda kv: -len(kv[1])):
        if len(ads) < 2:
            continue
        # the ads' components once this cluster's payment edges are taken away
        rest = edges[~((kinds == "payment") & (clusters == w))]
        src = np.array([pos[a] for a in rest["src"]], dtype=np.int64)
        dst = np.array([pos[a] for a in rest["dst"]], dtype=np.int64)
        n = len(ad_ids)
        graph = coo_matrix((np.ones(len(src), dtype=np.int8), (src, dst)), shape=(n, n))
        _, comp = connected_components(graph, directed=False)
        # sets of 2+ of its ads that other evidence holds together (lone ads do not count: one
        # owner's ads joined by its payments alone are what payment linking is for)
        sizes = Counter(int(comp[pos[a]]) for a in ads)
        sets = sum(1 for c in sizes.values() if c >= EXCHANGE_MIN_SET)
        names = {str(personas.get(a)).lower() for a in ads if personas and personas.get(a)}
        share = matched_in_run.get(w, len(ads)) / total if matched_in_run and total else 0.0
        alone = sets >= EXCHANGE_PARTS
        big = (
            matched_in_run is not None
            and share >= EXCHANGE_SHARE
            and matched_in_run.get(w, 0) >= EXCHANGE_MIN_ADS
        )
        if alone or big:
            why = []
            if alone:
                who = f", {len(names)} personas" if names else ""
                why.append(
                    f"is all that joins {sets} otherwise separate sets of its {len(ads)} ads{who}"
                )
            if big:
                why.append(f"pays for {share:.0%} of all matched ads of the run")
            out.append(
                f"Exchange-like payer: wallet cluster {short(w)} {' and '.join(why)}; "
                "a service that pays for many owners would merge them."
            )
    return out


# ---------------------------------------------------------------------------- template view


def _tokens(text: str) -> list[tuple[int, int, str]]:
    """Words with their spans, compared lower-cased without punctuation ("now!" = "now")."""
    out = []
    for m in _WORD.finditer(text):
        w = m.group().lower()
        out.append((m.start(), m.end(), _PUNCT.sub("", w) or w))
    return out


def shared_spans(
    texts: Sequence[str], n: int = NGRAM, min_ads: int = 2
) -> list[list[tuple[int, int]]]:
    """Per text, the character spans covered by word ``n``-grams found in ``min_ads``+ texts."""
    toks = [_tokens(t) for t in texts]
    df: Counter[tuple[str, ...]] = Counter()
    for tk in toks:
        words = [w for _, _, w in tk]
        df.update({tuple(words[k : k + n]) for k in range(len(words) - n + 1)})
    need = min(min_ads, max(len(texts), 1))
    out = []
    for tk in toks:
        words = [w for _, _, w in tk]
        covered = np.zeros(len(tk), dtype=bool)
        for k in range(len(words) - n + 1):
            if df[tuple(words[k : k + n])] >= need and len(texts) > 1:
                covered[k : k + n] = True
        spans: list[tuple[int, int]] = []
        k = 0
        while k < len(tk):
            if covered[k]:
                start = k
                while k + 1 < len(tk) and covered[k + 1]:
                    k += 1
                spans.append((tk[start][0], tk[k][1]))
            k += 1
        out.append(spans)
    return out


def shared_phrases(
    texts: Sequence[str], n: int = NGRAM, limit: int = MAX_PHRASES
) -> list[tuple[str, int]]:
    """The longest shared runs (from :func:`shared_spans`) and how many texts hold each."""
    spans = shared_spans(texts, n)
    seen: Counter[str] = Counter()
    shown: dict[str, str] = {}  # the first way the phrase was written
    for t, sp in zip(texts, spans, strict=True):
        keys = set()
        for a, b in sp:
            key = " ".join(w for _, _, w in _tokens(t[a:b]))
            words = t[a:b].split()
            cut = " ".join(words[:PHRASE_WORDS]) + (" …" if len(words) > PHRASE_WORDS else "")
            shown.setdefault(key, cut)
            keys.add(key)
        seen.update(keys)
    ranked = sorted(seen.items(), key=lambda kv: (-kv[1], -len(kv[0]), kv[0]))
    return [(shown[k], c) for k, c in ranked if c >= 2][:limit]


def highlight(text: str, spans: Sequence[tuple[int, int]]) -> str:
    """``text`` HTML-escaped, with ``spans`` wrapped in ``<mark>``."""
    out, at = [], 0
    for a, b in spans:
        out.append(html.escape(text[at:a]))
        out.append(f"<mark>{html.escape(text[a:b])}</mark>")
        at = b
    out.append(html.escape(text[at:]))
    return "".join(out)


# ---------------------------------------------------------------------------- when and where


def timeline_svg(posted: pd.Series, width: int = 560, height: int = 110) -> str:
    """Ads per day between the first and the last post, as an inline SVG bar chart."""
    t = pd.to_datetime(posted, utc=True, errors="coerce").dropna()
    if not len(t):
        return "<p class='muted'>no posting dates</p>"
    pad = 18
    day = (t.dt.floor("D") - t.min().floor("D")).dt.days.to_numpy()
    counts = np.bincount(day)
    bw = (width - 2 * pad) / len(counts)
    top = int(counts.max())
    parts = [f"<svg width='{width}' height='{height}' role='img' aria-label='posts per day'>"]
    for x, c in enumerate(counts.tolist()):
        if c:
            bh = (height - 2 * pad) * c / top
            parts.append(
                f"<rect x='{pad + x * bw:.1f}' y='{height - pad - bh:.1f}' "
                f"width='{max(bw - 0.5, 0.8):.1f}' height='{bh:.1f}' fill='#4c72b0'>"
                f"<title>{c} ads</title></rect>"
            )
    first, last = t.min().strftime("%Y-%m-%d"), t.max().strftime("%Y-%m-%d")
    parts.append(f"<text x='{pad}' y='{height - 4}' font-size='10'>{first}</text>")
    parts.append(
        f"<text x='{width - pad}' y='{height - 4}' font-size='10' text-anchor='end'>{last}</text>"
    )
    parts.append(f"<text x='{pad}' y='11' font-size='10'>ads per day (max {top})</text></svg>")
    return "".join(parts)


def cities_table(ads: pd.DataFrame) -> list[dict[str, Any]]:
    """Per city of the group's ads: ads, personas, first and last post (most ads first)."""
    if "location" not in ads or not len(ads):
        return []
    d = pd.DataFrame(
        {
            "city": ads["location"].fillna("(unknown)").astype(str),
            "persona": ads["persona"].fillna("").astype(str)
            if "persona" in ads
            else pd.Series("", index=ads.index),
            "t": pd.to_datetime(ads["posted_at"], utc=True, errors="coerce")
            if "posted_at" in ads
            else pd.Series(pd.NaT, index=ads.index),
        }
    )
    rows = []
    for city, g in d.groupby("city"):
        rows.append(
            {
                "city": str(city),
                "n_ads": len(g),
                "personas": sorted({p for p in g["persona"] if p}),
                "first": g["t"].min(),
                "last": g["t"].max(),
            }
        )
    return sorted(rows, key=lambda r: (-r["n_ads"], r["city"]))
