"""A ``link`` output folder, read once for the workbench: groups, ads, evidence, indicators.

Reads ``groups.parquet`` (ad → group), ``owners.parquet`` (indicators, ranked),
``edges.parquet`` (evidence), ``summary.json`` and ``ads.parquet`` (the masked ads as linked,
with each ad's payer wallet cluster; ``link`` writes it). A folder from an older ``link`` without
``ads.parquet`` is read with ``ads=`` the ads file it was linked from (through
``adowner.io.read_ads``, so the text is masked the same way).

Filters and search (:meth:`LinkRun.select`)
    ``flag``, ``evidence`` (a kind), ``city``, ``site``: the group has it; ``min_size`` /
    ``max_size``: ads; ``since`` / ``until``: the group posted within (``YYYY-MM-DD``);
    ``state``: the review state; ``q``: an ad id, an identifier hash or a wallet cluster (its
    first 6+ characters), or words of the masked text (every word, case-insensitive).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd

from adowner.data.identifiers import mask_text
from adowner.errors import InputError
from adowner.review.explain import Explanation, explain_group, short

ID_COLUMNS = ("phones", "emails", "urls", "handles")


def _read(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise InputError("missing: not a link output folder (run `adowner link`)", path=str(path))
    try:
        return pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read ({type(exc).__name__})", path=str(path)) from None


def _as_list(v: Any) -> list[str]:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return []
    if isinstance(v, str):
        return [v]
    return [str(x) for x in v]


@dataclass
class Filters:
    flag: str = ""
    evidence: str = ""
    city: str = ""
    site: str = ""
    min_size: int | None = None
    max_size: int | None = None
    since: str = ""
    until: str = ""
    state: str = ""
    q: str = ""


class LinkRun:
    """The groups of one link folder, with what the workbench shows of each."""

    def __init__(self, link_dir: str | Path, ads: str | Path | None = None) -> None:
        self.dir = Path(link_dir)
        if not self.dir.is_dir():
            raise InputError("not a folder (a link output folder is needed)", path=str(link_dir))
        groups = _read(self.dir / "groups.parquet")
        self.owners = _read(self.dir / "owners.parquet").sort_values("rank").reset_index(drop=True)
        self.edges = _read(self.dir / "edges.parquet")
        summary = self.dir / "summary.json"
        self.summary: dict[str, Any] = (
            json.loads(summary.read_text(encoding="utf-8")) if summary.is_file() else {}
        )
        if ads is not None:
            from adowner.io.ads import read_ads

            frame, _ = read_ads(ads, field="--ads")
            frame = frame.copy()
            frame["wallet_cluster"] = None
        else:
            frame = _read(self.dir / "ads.parquet")
        frame["ad_id"] = frame["ad_id"].astype(str)
        if "text" not in frame:
            blank = pd.Series("", index=frame.index)
            title, body = frame.get("title", blank), frame.get("body", blank)
            frame["text"] = title.fillna("").astype(str) + "\n" + body.fillna("").astype(str)
        # masked by prepare already; masked once more, as report.html does, in case
        frame["text"] = frame["text"].fillna("").astype(str).map(mask_text)
        posted = frame["posted_at"] if "posted_at" in frame else pd.Series(None, index=frame.index)
        frame["posted_at"] = pd.to_datetime(posted, utc=True, errors="coerce")
        groups["ad_id"] = groups["ad_id"].astype(str)
        missing = set(groups["ad_id"]) - set(frame["ad_id"])
        if missing:
            raise InputError(
                f"{len(missing)} ads of groups.parquet are not in the ads (e.g. {sorted(missing)[0]})",
                path=str(ads or self.dir / "ads.parquet"),
                field="ad_id",
            )
        self.ads = frame.drop_duplicates("ad_id").set_index("ad_id", drop=False)
        self.group_of = dict(zip(groups["ad_id"], groups["group_id"].astype(int), strict=True))
        members: dict[int, list[str]] = {}
        for a, g in self.group_of.items():
            members.setdefault(g, []).append(a)
        t = self.ads["posted_at"]
        self.members = {
            g: sorted(ids, key=lambda a: (t.get(a, pd.NaT) is pd.NaT, t.get(a), a))
            for g, ids in members.items()
        }
        self.edges["src"] = self.edges["src"].astype(str)
        self.edges["dst"] = self.edges["dst"].astype(str)
        self.edges["group_id"] = self.edges["src"].map(self.group_of)
        inside = self.edges["group_id"] == self.edges["dst"].map(self.group_of)
        self.group_edges = {
            int(cast(int, g)): e for g, e in self.edges[inside].groupby("group_id", sort=False)
        }
        self.text_score = str(self.summary.get("text_score", "cosine"))
        wc = self.ads["wallet_cluster"] if "wallet_cluster" in self.ads else pd.Series(dtype=object)
        self.wallet: dict[str, str] = {str(a): w for a, w in wc.items() if isinstance(w, str) and w}
        counts = pd.Series(list(self.wallet.values()), dtype=object).value_counts()
        self.wallet_counts: dict[str, int] = {str(k): int(v) for k, v in counts.items()}
        self.by_id = self.owners.set_index("group_id", drop=False)
        self._blobs = self._search_blobs()
        self.sites = {
            g: sorted({str(s) for s in self.ads.loc[ids, "site"].dropna()})
            if "site" in self.ads
            else []
            for g, ids in self.members.items()
        }

    # ------------------------------------------------------------------ lookups

    def __contains__(self, gid: int) -> bool:
        return gid in self.members

    def indicators(self, gid: int) -> dict[str, Any]:
        return {str(k): v for k, v in self.by_id.loc[gid].to_dict().items()}

    def group_ads(self, gid: int) -> pd.DataFrame:
        return self.ads.loc[self.members[gid]]

    def edges_of(self, gid: int) -> pd.DataFrame:
        e = self.group_edges.get(gid)
        return e if e is not None else self.edges.iloc[0:0]

    @lru_cache(maxsize=512)  # noqa: B019 - one LinkRun lives as long as the app
    def explain(self, gid: int) -> Explanation:
        ads = self.group_ads(gid)
        personas = (
            {str(k): v for k, v in ads["persona"].to_dict().items()} if "persona" in ads else None
        )
        return explain_group(
            self.members[gid],
            self.edges_of(gid),
            wallet=self.wallet,
            personas=personas,
            text_score=self.text_score,
            matched_in_run=self.wallet_counts,
        )

    def options(self) -> dict[str, list[str]]:
        """The values the list's filters offer."""
        flags = sorted({f for fl in self.owners["flags"] for f in _as_list(fl)})
        kinds = sorted({k for ev in self.owners["evidence"] for k in _as_list(ev)})
        cities = sorted({c for cs in self.owners["cities"] for c in _as_list(cs)})
        sites = sorted({s for ss in self.sites.values() for s in ss})
        return {"flags": flags, "kinds": kinds, "cities": cities, "sites": sites}

    def _search_blobs(self) -> dict[int, tuple[set[str], str]]:
        """Per group: exact tokens (ad ids, hashes, wallet clusters) and its lower-cased text."""
        out: dict[int, tuple[set[str], str]] = {}
        for g, ids in self.members.items():
            ads = self.ads.loc[ids]
            keys = set(ids)
            for c in ID_COLUMNS:
                if c in ads:
                    for v in ads[c]:
                        keys.update(_as_list(v))
            keys.update(self.wallet[a] for a in ids if a in self.wallet)
            e = self.group_edges.get(g)
            if e is not None:
                for d in e["detail"].astype(str):
                    if "#" in d:
                        keys.add(d.rsplit("#", 1)[-1])
            out[g] = ({k.lower() for k in keys}, "\n".join(ads["text"]).lower())
        return out

    def matches_query(self, gid: int, q: str) -> bool:
        q = q.strip().lower()
        if not q:
            return True
        keys, text = self._blobs[gid]
        if q in keys or (len(q) >= 6 and any(k.startswith(q) for k in keys)):
            return True
        return all(w in text for w in q.split())

    def select(self, f: Filters, states: Mapping[int, str] | None = None) -> list[dict[str, Any]]:
        """The ranked groups that pass the filters, as rows for the list."""
        o = self.owners
        keep = np.ones(len(o), dtype=bool)
        if f.flag:
            keep &= o["flags"].map(lambda v: f.flag in _as_list(v)).to_numpy()
        if f.evidence:
            keep &= o["evidence"].map(lambda v: f.evidence in _as_list(v)).to_numpy()
        if f.city:
            keep &= o["cities"].map(lambda v: f.city.lower() in _as_list(v)).to_numpy()
        if f.site:
            keep &= o["group_id"].map(lambda g: f.site in self.sites.get(int(g), [])).to_numpy()
        if f.min_size is not None:
            keep &= (o["n_ads"] >= f.min_size).to_numpy()
        if f.max_size is not None:
            keep &= (o["n_ads"] <= f.max_size).to_numpy()
        if f.since:
            since = pd.Timestamp(f.since, tz="UTC")
            keep &= (pd.to_datetime(o["last_seen"], utc=True) >= since).fillna(False).to_numpy()
        if f.until:
            until = pd.Timestamp(f.until, tz="UTC") + pd.Timedelta(days=1)
            keep &= (pd.to_datetime(o["first_seen"], utc=True) < until).fillna(False).to_numpy()
        states = states or {}
        if f.state:
            keep &= o["group_id"].map(lambda g: states.get(int(g), "open") == f.state).to_numpy()
        rows: list[dict[str, Any]] = []
        for rec in o[keep].to_dict("records"):
            r = {str(k): v for k, v in rec.items()}
            g = int(r["group_id"])
            if f.q and not self.matches_query(g, f.q):
                continue
            r["state"] = states.get(g, "open")
            r["wallets"] = [short(w) for w in _as_list(r.get("wallet_clusters"))][:3]
            rows.append(r)
        return rows
