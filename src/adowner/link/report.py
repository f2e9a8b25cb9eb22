"""The analyst report: one self-contained HTML page of owner groups, ranked by indicators.

What it shows
    A table of the groups ranked by :mod:`adowner.link.indicators` (flags first, then size),
    each with one sentence of why it exists (:mod:`adowner.review.explain`, shared with the
    ``adowner review`` workbench); then, for the top groups, a card each: the reason, warnings
    of likely false merges, the indicators, a picture (posting timeline and the evidence graph,
    laid out by networkx, as inline SVG), the evidence collapsed to one row per pair of
    sub-groups, the strongest edges (folded), and the ads with their masked text. Ambiguous
    payment matches follow, since they joined nothing; the run's settings and timings come last,
    folded.

    The page loads nothing from the network (no scripts, fonts or images from elsewhere), so it
    opens offline and leaks nothing. Text is passed through ``mask_text`` once more before it is
    written, so a phone number or e-mail address that escaped masking upstream is still hidden.

Inputs
    ==========  ==========================================  ===================================
    name        type                                        meaning
    ==========  ==========================================  ===================================
    ads         DataFrame, row i = ad i                     masked ``text``, ``posted_at``...
    labels      int array                                   group of each ad
    edges       DataFrame (i, j, kind, score, detail)       the fused evidence edges
    owners      DataFrame                                   :func:`owner_indicators` output
    ambiguous   DataFrame or None                           ambiguous payment matches
    ==========  ==========================================  ===================================

Example
    >>> html = render_report(ads, labels, edges, owners, title="run 1")  # doctest: +SKIP
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from adowner.defaults import LINK
from adowner.review.explain import Explanation

KIND_COLOURS = {
    "text": "#4c72b0",
    "phone": "#c44e52",
    "email": "#dd8452",
    "handle": "#8172b3",
    "payment": "#55a868",
}

_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px;color:#222}
table{border-collapse:collapse;font-size:13px;margin:.5em 0}
td,th{border:1px solid #ccc;padding:3px 6px;vertical-align:top;text-align:left}
th{background:#f3f3f3}
.group{border:1px solid #bbb;border-radius:6px;padding:1em;margin:1.5em 0}
.flag{background:#fde2e1;color:#8a1c14;border-radius:3px;padding:1px 5px;margin-right:4px}
.kind{border-radius:3px;padding:1px 5px;color:#fff}
.text{white-space:pre-wrap;max-width:700px}
.muted{color:#777}
.reason{font-size:15px;border-left:4px solid #4c72b0;padding:.3em .8em;background:#f7f9fc}
.warning{background:#fff3cd;border-left:4px solid #e0a800;padding:.3em .8em}
.why{max-width:520px}
details{margin:.5em 0}
"""


def _masker() -> Callable[[str], str]:
    try:
        from adowner.data.identifiers import mask_text
    except ImportError:  # pragma: no cover - data part absent; text is masked by prepare
        return lambda s: s
    return mask_text


def _figure(ads: pd.DataFrame, rows: np.ndarray, edges: pd.DataFrame, max_nodes: int = 150) -> str:
    """Timeline (ads per day) and evidence graph of one group, as inline SVG.

    Hand-written SVG rather than matplotlib: a matplotlib figure with date ticks costs about a
    second on a 2-core machine (a minute for 50 groups), these two drawings a few milliseconds.
    The layout is networkx's spring layout; groups over ``max_nodes`` ads draw their first ones.
    """
    import networkx as nx

    w, h, pad = 420, 170, 22
    parts = [f"<svg width='{2 * w + 20}' height='{h}' role='img'>"]
    # timeline: one bar a day between the first and the last ad
    if "posted_at" in ads:
        t = pd.to_datetime(ads["posted_at"].iloc[rows], utc=True, errors="coerce").dropna()
        if len(t):
            day = (t.dt.floor("D") - t.min().floor("D")).dt.days.to_numpy()
            counts = np.bincount(day)
            bw = (w - 2 * pad) / len(counts)
            top = counts.max()
            for x, c in enumerate(counts):
                if c:
                    bh = (h - 2 * pad) * c / top
                    parts.append(
                        f"<rect x='{pad + x * bw:.1f}' y='{h - pad - bh:.1f}' "
                        f"width='{max(bw - 0.5, 0.8):.1f}' height='{bh:.1f}' fill='#4c72b0'/>"
                    )
            first, last = t.min().strftime("%Y-%m-%d"), t.max().strftime("%Y-%m-%d")
            parts.append(f"<text x='{pad}' y='{h - 6}' font-size='10'>{first}</text>")
            parts.append(
                f"<text x='{w - pad}' y='{h - 6}' font-size='10' text-anchor='end'>{last}</text>"
            )
            parts.append(f"<text x='{pad}' y='12' font-size='11'>ads per day (max {top})</text>")
    # evidence graph
    shown = set(rows[:max_nodes].tolist())
    g = nx.Graph()
    g.add_nodes_from(sorted(shown))
    for i, j, kind in zip(edges["i"], edges["j"], edges["kind"], strict=True):
        if int(i) in shown and int(j) in shown:
            g.add_edge(int(i), int(j), kind=kind)
    pos = nx.spring_layout(g, seed=0, iterations=30) if len(g) > 1 else dict.fromkeys(g, (0.0, 0.0))
    xy = np.array([pos[n] for n in g]) if len(g) else np.zeros((1, 2))
    lo, span = xy.min(axis=0), np.maximum(np.ptp(xy, axis=0), 1e-9)

    unit = (xy - lo) / span
    xs = w + 20 + pad + unit[:, 0] * (w - 2 * pad)
    ys = pad + unit[:, 1] * (h - 2 * pad)
    where = {n: (float(xs[k]), float(ys[k])) for k, n in enumerate(g)}
    at = where.__getitem__

    for u, v, kind in g.edges(data="kind"):
        (x1, y1), (x2, y2) = at(u), at(v)
        parts.append(
            f"<line x1='{x1:.1f}' y1='{y1:.1f}' x2='{x2:.1f}' y2='{y2:.1f}' "
            f"stroke='{KIND_COLOURS.get(kind, '#777')}' stroke-width='1.3'/>"
        )
    for n in g:
        cx, cy = at(n)
        parts.append(f"<circle cx='{cx:.1f}' cy='{cy:.1f}' r='3' fill='#333'/>")
    parts.append(
        f"<text x='{w + 20 + pad}' y='12' font-size='11'>evidence graph (colour = kind)</text>"
    )
    parts.append("</svg>")
    return "".join(parts)


def _kind(kind: str) -> str:
    colour = KIND_COLOURS.get(kind, "#777")
    return f'<span class="kind" style="background:{colour}">{html.escape(kind)}</span>'


def _fmt(v: object) -> str:
    if isinstance(v, list | tuple | np.ndarray):
        return html.escape(", ".join(map(str, v)))
    if v is None or v is pd.NaT or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
        return ""
    if isinstance(v, float):
        return f"{v:,.2f}"
    if isinstance(v, pd.Timestamp):
        return v.strftime("%Y-%m-%d %H:%M")
    return html.escape(str(v))


def _reasons(
    ads: pd.DataFrame,
    labels: np.ndarray,
    edges: pd.DataFrame,
    owners: pd.DataFrame,
    ad_ids: np.ndarray,
    wallet: Mapping[str, str] | None,
    summary: Mapping[str, object] | None,
    max_table: int,
) -> dict[int, Explanation]:
    """The explanation of each group of the table (the first ``max_table`` by rank)."""
    from adowner.review.explain import explain_group

    if len(edges):
        g = labels[edges["i"].to_numpy()]
        same = g == labels[edges["j"].to_numpy()]
        e = pd.DataFrame(
            {
                "src": ad_ids[edges["i"].to_numpy()[same]],
                "dst": ad_ids[edges["j"].to_numpy()[same]],
                "kind": edges["kind"].to_numpy()[same],
                "score": edges["score"].to_numpy()[same],
                "detail": edges["detail"].astype(str).to_numpy()[same],
                "g": g[same],
            }
        )
        by_group = dict(tuple(e.groupby("g", sort=False)))
    else:
        by_group = {}
    empty = pd.DataFrame({"src": [], "dst": [], "kind": [], "score": [], "detail": []})
    members = pd.Series(ad_ids).groupby(labels).agg(list)
    persona = (
        dict(zip(ad_ids, ads["persona"].to_numpy(dtype=object), strict=True))
        if "persona" in ads
        else None
    )
    score = str((summary or {}).get("text_score", "cosine"))
    counts = (
        {str(k): int(v) for k, v in pd.Series(list(wallet.values())).value_counts().items()}
        if wallet
        else None
    )
    return {
        gid: explain_group(
            members[gid],
            by_group.get(gid, empty),
            wallet=wallet,
            personas=persona,
            text_score=score,
            matched_in_run=counts,
        )
        for gid in owners["group_id"].head(max_table).astype(int)
    }


def render_report(
    ads: pd.DataFrame,
    labels: np.ndarray,
    edges: pd.DataFrame,
    owners: pd.DataFrame,
    *,
    ambiguous: pd.DataFrame | None = None,
    title: str = "adowner: owner groups",
    summary: dict[str, object] | None = None,
    top: int = LINK.top,
    max_ads: int = 40,
    max_edges: int = 20,
    max_table: int = 500,
    max_collapsed: int = 20,
    wallet: Mapping[str, str] | None = None,
) -> str:
    """The whole page as one HTML string.

    It leads with the ranked groups, each with the sentence of why it exists
    (:func:`adowner.review.explain.explain_group`, the same words as ``adowner review``); the
    cards of the top groups add warnings, the picture, the evidence collapsed to sub-groups
    and the ``max_edges`` strongest edges (the page stays small: about 1 MB on 5,000 ads,
    docs/RESULTS.md); the run's settings and timings come last, folded.
    """
    mask = _masker()
    ad_ids = ads["ad_id"].astype(str).to_numpy()
    text = ads["text"] if "text" in ads else ads.get("body", pd.Series([""] * len(ads)))
    texts = text.fillna("").astype(str).to_numpy()
    posted = (
        pd.to_datetime(ads["posted_at"], utc=True, errors="coerce")
        if "posted_at" in ads
        else pd.Series(pd.NaT, index=ads.index)
    )
    posted_s = posted.dt.strftime("%Y-%m-%d %H:%M").fillna("").to_numpy()
    posted_ns = posted.to_numpy(dtype="datetime64[ns]")
    persona = ads["persona"].to_numpy(dtype=object) if "persona" in ads else np.full(len(ads), "")
    location = (
        ads["location"].to_numpy(dtype=object) if "location" in ads else np.full(len(ads), "")
    )
    members = pd.Series(np.arange(len(labels))).groupby(labels).apply(np.asarray)
    edge_group = labels[edges["i"].to_numpy()] if len(edges) else np.array([], dtype=np.int64)

    out = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        "<p class='muted'>Phone numbers and e-mail addresses are masked; identifiers are "
        "shown as salted hashes. Groups are ranked by flags (many personas, many cities, high "
        "posting rate), then by size. Edge kinds: "
        + " ".join(_kind(k) for k in KIND_COLOURS)
        + "</p>",
    ]
    why = _reasons(ads, labels, edges, owners, ad_ids, wallet, summary, max_table)

    cols = ["rank", "group_id", "n_ads", "n_personas", "n_cities", "n_regions", "ads_per_day"]
    cols += ["span_days", "total_paid_usd", "n_wallet_clusters", "evidence", "flags"]
    cols = [c for c in cols if c in owners]
    shown = owners.head(max_table)
    out.append(f"<h2>Groups ({len(owners):,}; the first {len(shown):,} by rank)</h2>")
    out.append(
        "<table id='groups'><tr>" + "".join(f"<th>{c}</th>" for c in cols) + "<th>why</th></tr>"
    )
    for r in shown.to_dict("records"):
        ex = why.get(int(r["group_id"]))
        reason = f"<td class='why'>{html.escape(ex.summary)}</td>" if ex else "<td></td>"
        cells = []
        for c in cols:
            v = r[c]
            if c == "group_id" and int(r["rank"]) <= top:
                cells.append(f"<td><a href='#g{int(v)}'>G{int(v)}</a></td>")
            elif c == "group_id":
                cells.append(f"<td>G{int(v)}</td>")
            else:
                cells.append(f"<td>{_fmt(v)}</td>")
        out.append("<tr class='grouprow'>" + "".join(cells) + reason + "</tr>")
    out.append("</table>")

    out.append(f"<h2>The top {min(top, len(owners))} groups</h2>")
    for r in owners.head(top).to_dict("records"):
        gid = int(r["group_id"])
        rows = members[gid]
        ge = edges[edge_group == gid] if len(edges) else edges
        ge = ge[labels[ge["j"].to_numpy()] == gid] if len(ge) else ge
        flags = "".join(f"<span class='flag'>{html.escape(f)}</span>" for f in r["flags"])
        out.append(
            f"<div class='group' id='g{gid}'><h3>#{int(r['rank'])} · group G{gid} {flags}</h3>"
        )
        out.append(
            f"<p>{int(r['n_ads'])} ads · {int(r['n_personas'])} personas ({_fmt(r['personas'])}) · "
            f"{int(r['n_cities'])} cities ({_fmt(r['cities'])}) · {int(r['n_regions'])} regions · "
            f"{_fmt(float(r['ads_per_day']))} ads/day over {_fmt(float(r['span_days']))} days · "
            f"paid USD {_fmt(float(r['total_paid_usd']))} · wallet clusters "
            f"{_fmt(r['wallet_clusters']) or '—'}</p>"
        )
        ex = why[gid]
        out.append(f"<p class='reason'><b>Why:</b> {html.escape(ex.summary)}</p>")
        out += [f"<p class='warning'>⚠ {html.escape(w)}</p>" for w in ex.warnings]
        out.append(f"<div class='figure' id='fig{gid}'>{_figure(ads, rows, ge)}</div>")
        if ex.collapsed:
            kinds = sorted({k for c in ex.collapsed for k in c["counts"]})
            out.append(
                f"<h4>Evidence between sub-groups ({len(ex.parts)} sub-groups held by identifiers "
                "and payments; one row a pair)</h4><table class='collapsed'><tr><th>between</th>"
                "<th>ads</th>" + "".join(f"<th>{_kind(k)}</th>" for k in kinds) + "</tr>"
            )
            for pair in ex.collapsed[:max_collapsed]:
                counts = "".join(f"<td>{pair['counts'].get(k, '')}</td>" for k in kinds)
                out.append(
                    f"<tr><td>P{pair['a']} – P{pair['b']}</td><td>{pair['n_a']} – {pair['n_b']}"
                    f"</td>{counts}</tr>"
                )
            out.append("</table>")
            if len(ex.collapsed) > max_collapsed:
                out.append(f"<p class='muted'>first {max_collapsed} of {len(ex.collapsed)}</p>")
        if len(ge):
            shown_e = min(len(ge), max_edges)
            out.append(
                f"<details><summary>Evidence edges (the {shown_e} strongest of {len(ge):,})"
                "</summary><table class='edges'>"
            )
            out.append("<tr><th>kind</th><th>ad</th><th>ad</th><th>score</th><th>detail</th></tr>")
            for e in ge.sort_values("score", ascending=False).head(max_edges).to_dict("records"):
                out.append(
                    f"<tr><td>{_kind(e['kind'])}</td><td>{_fmt(ad_ids[e['i']])}</td>"
                    f"<td>{_fmt(ad_ids[e['j']])}</td><td>{float(e['score']):.3f}</td>"
                    f"<td>{_fmt(e['detail'])}</td></tr>"
                )
            out.append("</table></details>")
        out.append(f"<h4>Ads ({len(rows)})</h4><table class='ads'>")
        out.append(
            "<tr><th>ad</th><th>posted</th><th>persona</th><th>location</th><th>text</th></tr>"
        )
        order = rows[np.argsort(posted_ns[rows], kind="stable")]
        for i in order[:max_ads]:
            cells = [
                _fmt(ad_ids[i]),
                posted_s[i],
                _fmt(persona[i]),
                _fmt(location[i]),
                f"<div class='text'>{html.escape(mask(texts[i][:600]))}</div>",
            ]
            out.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        out.append("</table></div>")

    if ambiguous is not None and len(ambiguous):
        out.append(f"<h2>Ambiguous payment matches ({len(ambiguous):,}; they join nothing)</h2>")
        amb = ambiguous.head(max_table)
        out.append(
            "<table id='ambiguous'><tr>" + "".join(f"<th>{c}</th>" for c in amb.columns) + "</tr>"
        )
        for row in amb.itertuples(index=False):
            out.append("<tr>" + "".join(f"<td>{_fmt(v)}</td>" for v in row) + "</tr>")
        out.append("</table>")
    if summary:
        out.append("<details id='settings'><summary>Settings and timings of this run</summary>")
        out.append("<table>")
        out += [f"<tr><th>{_fmt(k)}</th><td>{_fmt(v)}</td></tr>" for k, v in summary.items()]
        out.append("</table></details>")
    out.append("</body></html>")
    return "\n".join(out)
