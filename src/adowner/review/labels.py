"""Analysts' decisions as owner labels: must-link / cannot-link pairs of ads, for ``prepare``.

One CSV row a pair: ``ad_a``, ``ad_b``, ``label`` (``must-link`` or ``cannot-link``), and where
it came from (``group_key``, ``decision``, ``decided_at``). ``adowner prepare --owner-pairs FILE``
reads it (``adowner.data.labels.apply_owner_pairs``): the ads a chain of must-links joins get
one owner, over the owner column or the identifier-derived owners; a cannot-link pair that still
ends in one owner is quarantined. So a model trained on the prepared splits learns from the
analysts' groups: the loop from analyst to model is closed.

What each decision exports
    ==============  ==========================================================================
    decision        pairs
    ==============  ==========================================================================
    ``confirmed``   must-link: each ad with the group's first ad (a star: n - 1 pairs, enough
                    for connected components)
    ``split``       must-link stars inside the chosen ads and inside the rest; cannot-link: the
                    two stars' centres, and every evidence edge of the link run that crosses the
                    cut (the edges the analyst cut)
    ``dismissed``   cannot-link: every evidence edge of the link run inside the group (the
                    analyst says the evidence is wrong; nothing says who the owners are)
    ``open``        nothing
    ==============  ==========================================================================
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

from adowner._io import atomic_open
from adowner.review.store import Decision, Store

COLUMNS = ("ad_a", "ad_b", "label", "group_key", "decision", "decided_at")
MUST, CANNOT = "must-link", "cannot-link"


def _star(ids: Sequence[str]) -> list[tuple[str, str]]:
    ids = sorted(ids)
    return [(ids[0], a) for a in ids[1:]]


def decision_pairs(d: Decision, edges: pd.DataFrame | None = None) -> list[tuple[str, str, str]]:
    """``(ad_a, ad_b, label)`` of one decision (see the module); ``edges``: src, dst columns."""
    ids = list(d.ad_ids)
    out: list[tuple[str, str, str]] = []
    inside = None
    if edges is not None and len(edges):
        members = set(ids)
        inside = edges[edges["src"].isin(members) & edges["dst"].isin(members)]
    if d.state == "confirmed":
        out += [(a, b, MUST) for a, b in _star(ids)]
    elif d.state == "split":
        chosen = set(d.chosen)
        rest = [a for a in ids if a not in chosen]
        out += [(a, b, MUST) for a, b in _star(sorted(chosen))]
        out += [(a, b, MUST) for a, b in _star(rest)]
        out.append((min(chosen), min(rest), CANNOT))
        if inside is not None:
            cut = inside[inside["src"].isin(chosen) != inside["dst"].isin(chosen)]
            out += [(s, t, CANNOT) for s, t in zip(cut["src"], cut["dst"], strict=True)]
    elif d.state == "dismissed" and inside is not None:
        out += [(s, t, CANNOT) for s, t in zip(inside["src"], inside["dst"], strict=True)]
    seen: set[tuple[str, str, str]] = set()
    unique = []
    for a, b, label in out:
        key = (min(a, b), max(a, b), label)
        if key not in seen:
            seen.add(key)
            unique.append(key)
    return unique


def export_pairs(
    decisions: Iterable[Decision], path: str | Path, edges: pd.DataFrame | None = None
) -> dict[str, int]:
    """Write the pairs of ``decisions`` to ``path`` (CSV, atomically); counts by label."""
    counts = {MUST: 0, CANNOT: 0, "decisions": 0}
    with atomic_open(path, newline="") as fh:
        w = csv.writer(fh)
        w.writerow(COLUMNS)
        for d in sorted(decisions, key=lambda d: (d.decided_at, d.group_key)):
            pairs = decision_pairs(d, edges)
            if pairs:
                counts["decisions"] += 1
            for a, b, label in pairs:
                counts[label] += 1
                w.writerow([a, b, label, d.group_key, d.state, d.decided_at.isoformat()])
    return counts


def export_store(
    store: Store, path: str | Path, edges: pd.DataFrame | None = None
) -> dict[str, int]:
    """Every current decision of ``store`` as pairs in ``path``."""
    return export_pairs(store.all(), path, edges)
