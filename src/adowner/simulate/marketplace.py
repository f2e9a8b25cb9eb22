"""The synthetic marketplace: owners, personas, identifiers, schedules, prices and ads.

It stands in for an escort-ad site of the Backpage era (Portnoff et al., KDD 2017), with full
ground truth, so that every part of adowner can be trained and measured without real ads.

Owners are of two kinds:

- **independent** advertisers: one persona, one city, a few ads (heavy-tailed), one phone;
- **operators**: several personas touring several cities, tens of ads posted in bursts, burner
  phones rotated per persona (sometimes shared between personas, sometimes a recycled number
  that another owner dropped), ads copied between personas with the name swapped;
- some **copycats** of either kind start ads from another owner's ad text.

Each owner writes in one style (``style.py``), drawn around a few shared archetypes; operators
vary the self-description per persona but keep their habits. Ads are often reposted with small
edits. Labels derived from shared identifiers are therefore incomplete (burners split owners) and
occasionally wrong (recycled numbers merge owners); :func:`identifier_label_quality` measures how.

Output tables (:func:`simulate_marketplace`):

| table | one row | columns |
|---|---|---|
| ``ads`` | an ad | ``ad_id, title, body, posted_at`` (UTC), ``site, location, price_usd, sponsored, persona, true_owner`` |
| ``owners`` | a true owner | ``true_owner, kind, n_personas, personas, cities, n_cities, regions, n_ads, phone_count, phone_hashes, email_count, handle_count, first_post, last_post, ads_per_day, sponsored_share, archetype, casing, layout, phone_format`` |
| ``ad_truth`` | an ad | ``ad_id, true_owner, persona_id, kind, phone_hash, email_hash, handle_hash, phone_format, repost_of, copied_from_persona, copied_from_owner, text_masked`` |

Phone numbers are fictional (``NXX-555-01xx``); e-mail addresses use RFC 2606 domains. Ground
truth holds identifiers only as salted SHA-256 prefixes, never in clear.

Example::

    >>> m = simulate_marketplace(SimConfig(n_owners=50, seed=1))
    >>> m.ads.columns.tolist()[:4]
    ['ad_id', 'title', 'body', 'posted_at']
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from adowner.defaults import SIMULATE
from adowner.progress import track
from adowner.simulate import vocab
from adowner.simulate.phones import PhonePool, e164, render_phone
from adowner.simulate.style import (
    Style,
    draw_style,
    persona_voice,
    random_style,
    write_body,
    write_title,
)

ADS_COLUMNS = (
    "ad_id", "title", "body", "posted_at", "site", "location", "price_usd", "sponsored",
    "persona", "true_owner",
)  # fmt: skip
HASH_SALT = "adowner-sim:"
CONTACT = "\x00"  # placeholder for the rendered identifiers while an ad is written

# Posting hour (UTC) weights: US evenings and nights, Eastern to Pacific.
_HOUR_WEIGHTS = (6, 5, 5, 4, 4, 3, 2, 1, 1, 1, 1, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 6)
_EMAIL_DOMAINS = ("example.com", "example.org", "example.net", "mail.example.com")
# What the contact slot says when an ad gives no phone, e-mail or handle.
_NO_CONTACT = ("through the site", "via site messages", "through my profile", "on here")
_HANDLE_APPS = ("snap", "IG", "kik", "twitter", "insta", "snapchat")


@dataclasses.dataclass(frozen=True)
class SimConfig:
    """Settings of one run; all of them are written to ``truth.json``."""

    n_owners: int = SIMULATE.owners
    seed: int = SIMULATE.seed
    operator_share: float = SIMULATE.operator_share
    start: str = SIMULATE.start
    days: int = SIMULATE.days
    n_archetypes: int = 8
    individuality: tuple[float, float] = (0.1, 0.45)
    operator_ads_median: float = 30.0
    progress: bool = True


@dataclasses.dataclass
class Marketplace:
    """The simulated tables (see the module table) and a summary of counts and settings."""

    ads: pd.DataFrame
    owners: pd.DataFrame
    ad_truth: pd.DataFrame
    summary: dict[str, Any]


@dataclasses.dataclass
class _Persona:
    index: int
    name: str
    age: int
    hair: str
    eyes: str
    look: str
    style: Style
    phone: str | None
    email: str | None
    handle: str | None
    drafts: list[tuple[int, str, str, str]] = dataclasses.field(default_factory=list)


def id_hash(value: str) -> str:
    """The salted SHA-256 prefix under which ground truth keeps an identifier."""
    return hashlib.sha256((HASH_SALT + value).encode()).hexdigest()[:16]


def _city_weights() -> list[float]:
    return [{1: 3.0, 2: 2.0, 3: 1.0}[c[3]] for c in vocab.CITIES]


def _owner_cities(rng: random.Random, operator: bool) -> list[int]:
    weights = _city_weights()
    home = rng.choices(range(len(vocab.CITIES)), weights)[0]
    if not operator:
        return [home]
    region = vocab.CITIES[home][2]
    n = rng.choice((2, 2, 3, 3, 4, 5, 6))
    same = [i for i, c in enumerate(vocab.CITIES) if c[2] == region and i != home]
    others = [i for i, c in enumerate(vocab.CITIES) if c[2] != region]
    cities = [home]
    while len(cities) < n:
        pool = same if rng.random() < 0.75 else others
        pick = rng.choice(pool)
        if pick not in cities:
            cities.append(pick)
    return cities


def _handle_base(name: str, rng: random.Random, taken: set[str]) -> str:
    """A user name for e-mail and social handles, never one that another persona has."""
    n = name.lower()
    forms = (
        f"{n}{rng.randint(2, 99)}",
        f"{n}_xo",
        f"sweet{n}{rng.randint(1, 9)}",
        f"{n}.{rng.choice(('baby', 'doll', 'love', 'vip'))}",
        f"the{n}{rng.choice(('x', 'xo', 'xx', ''))}{rng.randint(10, 99)}",
    )
    base = rng.choice(forms)
    while base in taken:
        base += str(rng.randint(0, 9))
    taken.add(base)
    return base


def _render_email(address: str, rng: random.Random) -> str:
    user, domain = address.split("@")
    if rng.random() < 0.3:  # the usual dodge: "name at example dot com"
        return f"{user} at {domain.replace('.', ' dot ')}"
    return address


def _render_handle(handle: str, rng: random.Random) -> str:
    app = rng.choice(_HANDLE_APPS)
    return f"{app}: @{handle}" if rng.random() < 0.5 else f"{app} - {handle}"


def _period(config: SimConfig) -> tuple[datetime, float]:
    start = datetime.fromisoformat(config.start).replace(tzinfo=UTC)
    return start, float(config.days)


def _time_of_day(rng: random.Random) -> float:
    hour = rng.choices(range(24), _HOUR_WEIGHTS)[0]
    return (hour + rng.random()) / 24.0


def _schedule(
    rng: random.Random, n_ads: int, n_personas: int, operator: bool, days: float
) -> list[tuple[float, int]]:
    """(day offset, persona index) of each ad, in time order.

    Independents post single ads spread over an active window; operators post in sessions, a
    burst of ads for one to three personas within minutes, which is how the KDD 2017 paper saw
    operators post.
    """
    # Active window from a posting rate: operators post about 0.5-4 ads a day, independents
    # one ad every few days to every few weeks.
    rate = rng.uniform(0.5, 4.0) if operator else rng.uniform(0.03, 0.4)
    length = min(days, max(7.0 if operator else 1.0, n_ads / rate))
    begin = rng.uniform(0, max(days - length, 0.0))
    out: list[tuple[float, int]] = []
    if not operator:
        for _ in range(n_ads):
            day = begin + math.floor(rng.uniform(0, length))
            out.append((day + _time_of_day(rng), 0))
        return sorted(out)
    burst = rng.uniform(1.5, 3.5)
    sessions = sorted(
        begin + math.floor(rng.uniform(0, length)) + _time_of_day(rng)
        for _ in range(max(1, round(n_ads / burst)))
    )
    i = 0
    while len(out) < n_ads:
        t = sessions[i % len(sessions)] + (i // len(sessions)) * 0.37  # wrap: later the same week
        k = rng.randint(1, min(3, n_personas))
        for p in rng.sample(range(n_personas), k):
            if len(out) == n_ads:
                break
            t += rng.uniform(0.5, 12) / 1440  # minutes apart
            out.append((min(t, days - 1e-6), p))
        i += 1
    return sorted(out)


def _n_ads(rng: random.Random, operator: bool, config: SimConfig) -> int:
    if operator:
        return max(8, min(500, int(rng.lognormvariate(math.log(config.operator_ads_median), 0.7))))
    return max(1, min(80, 1 + int(rng.lognormvariate(0.3, 1.0))))


def _edit(
    text: str, old_city: str, new_city: str, name_from: str, name_to: str, rng: random.Random
) -> str:
    """A repost's small edits: new city and name, another availability phrase, an emoji."""
    import re

    if old_city != new_city:
        text = re.sub(re.escape(old_city), new_city, text, flags=re.IGNORECASE)
    if name_from != name_to:
        text = re.sub(rf"\b{re.escape(name_from)}\b", name_to, text, flags=re.IGNORECASE)
    if rng.random() < 0.5:
        for phrase in vocab.WHEN:
            if phrase in text:
                text = text.replace(phrase, rng.choice(vocab.WHEN), 1)
                break
    if rng.random() < 0.3:
        lines = text.split("\n")
        if len(lines) > 3:
            drop = rng.randrange(1, len(lines) - 1)
            if CONTACT not in lines[drop]:
                del lines[drop]
            text = "\n".join(lines)
    return text


@dataclasses.dataclass
class _Shared:
    """What owners share: the phone numbers, the user names in use, and the ads seen so far
    (that copycats copy from)."""

    pool: PhonePool
    taken: set[str] = dataclasses.field(default_factory=set)
    library: list[tuple[str, str, str, str]] = dataclasses.field(default_factory=list)


def _owner_ads(
    o: int, config: SimConfig, archetypes: list[Style], shared: _Shared
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Draw owner ``o`` and write all its ads (rows of ads + ad_truth, before ids)."""
    rng = random.Random(f"{config.seed}:owner:{o}")
    pool = shared.pool
    operator = rng.random() < config.operator_share
    kind = "operator" if operator else "independent"
    archetype = rng.randrange(len(archetypes))
    style = draw_style(archetypes[archetype], rng, rng.uniform(*config.individuality))
    n_ads = _n_ads(rng, operator, config)
    n_personas = max(2, min(12, round(n_ads / rng.uniform(6, 15)))) if operator else 1
    cities = _owner_cities(rng, operator)
    local_codes = tuple(a for c in cities for a in vocab.CITIES[c][4])
    site_names = list(vocab.SITES)
    main_site = rng.choices(site_names, vocab.SITE_WEIGHTS)[0]
    p_sponsor = rng.uniform(0.1, 0.5) if operator else rng.uniform(0.0, 0.15)
    p_repost = rng.uniform(0.1, 0.5) if operator else rng.uniform(0.0, 0.35)
    p_copy = rng.uniform(0.05, 0.3) if operator else 0.0
    p_no_phone = rng.choice((0.0, 0.0, 0.02, 0.1, 0.3))
    p_rotate = rng.uniform(0.01, 0.12) if operator else rng.choice((0.0, 0.0, 0.02))
    p_share = 0.3 if operator else 0.0
    p_phone_title = rng.choice((0.0, 0.0, 0.1, 0.5))
    uses_email = rng.random() < 0.15
    uses_handle = rng.random() < 0.2
    # Copycats start some of their ads from another owner's ad, name and city swapped: ad
    # texts are copied between unrelated advertisers, which misleads text-only linking.
    p_copycat = rng.uniform(0.3, 0.8) if rng.random() < 0.1 else 0.0
    true_owner = f"o{o:06d}"

    names = rng.sample(vocab.PERSONA_NAMES, n_personas)
    personas: list[_Persona] = []
    for p, name in enumerate(names):
        share_phone = personas and rng.random() < p_share
        phone = rng.choice(personas).phone if share_phone else pool.new(local_codes)
        voice = persona_voice(style, rng) if p else style
        base = _handle_base(name, rng, shared.taken)
        personas.append(
            _Persona(
                index=p,
                name=name,
                age=rng.randint(19, 34),
                hair=rng.choice(vocab.HAIR),
                eyes=rng.choice(vocab.EYES),
                look=rng.choice(vocab.LOOKS),
                style=voice,
                phone=phone,
                email=f"{base}@{rng.choice(_EMAIL_DOMAINS)}" if uses_email else None,
                handle=base.replace(".", "_") if uses_handle else None,
            )
        )

    # Each persona's itinerary: segments of a few days, each in one of the owner's cities.
    segment_days = rng.uniform(3, 14)
    itinerary: dict[tuple[int, int], int] = {}

    def city_of(p: int, day: float) -> int:
        seg = int(day // segment_days)
        if (p, seg) not in itinerary:
            prev = itinerary.get((p, seg - 1), cities[p % len(cities)])
            itinerary[(p, seg)] = prev if rng.random() < 0.5 else rng.choice(cities)
        return itinerary[(p, seg)]

    start, days = _period(config)
    rows: list[dict[str, Any]] = []
    phones_used: set[str] = set()
    emails_used: set[str] = set()
    handles_used: set[str] = set()
    for seq, (day, p) in enumerate(_schedule(rng, n_ads, n_personas, operator, days)):
        persona = personas[p]
        vs = persona.style
        city_i = city_of(p, day)
        city, state, _region, tier, _codes = vocab.CITIES[city_i]
        fields = {
            "name": persona.name,
            "age": str(persona.age),
            "city": city,
            "hair": persona.hair,
            "eyes": persona.eyes,
            "look": persona.look,
            "contact": CONTACT,
        }
        # Burner phones: rotate now and then; a dropped number may be recycled to someone else.
        if operator and persona.phone and rng.random() < p_rotate:
            pool.retire(persona.phone, o, day)
            recycled = pool.recycle(o, day) if rng.random() < 0.05 else None
            persona.phone = recycled or pool.new(local_codes)
        repost_of: int | None = None
        copied = False
        copied_from_owner = None
        donors = [q for q in personas if q.drafts and (q is persona or rng.random() < p_copy)]
        if donors and rng.random() < p_repost:
            donor = persona if persona.drafts and rng.random() < 0.8 else rng.choice(donors)
            repost_of, title, body, old_city = rng.choice(donor.drafts[-5:])
            copied = donor is not persona
            body = _edit(body, old_city, city, donor.name, persona.name, rng)
            if rng.random() < 0.4:
                title = write_title(vs, fields, rng)
            else:
                title = _edit(title, old_city, city, donor.name, persona.name, rng)
        elif shared.library and rng.random() < p_copycat:
            src_owner, src_body, src_name, src_city = rng.choice(shared.library)
            copied_from_owner = src_owner
            title = write_title(vs, fields, rng)
            body = _edit(src_body, src_city, city, src_name, persona.name, rng)
        else:
            title = write_title(vs, fields, rng)
            body = write_body(vs, fields, rng)
            shared.library.append((true_owner, body, persona.name, city))
            if persona.phone and rng.random() < p_phone_title:
                title = f"{title} {CONTACT}"
        persona.drafts.append((seq, title, body, city))

        phone = persona.phone if rng.random() >= p_no_phone else None
        fmt = vs.phone_formats[1] if rng.random() < vs.p_phone_alt else vs.phone_formats[0]
        parts, masked = [], []
        if phone:
            emoji = rng.choice(vs.emoji) if vs.emoji else "💋"
            parts.append(render_phone(phone, fmt, rng, emoji))
            masked.append("[PHONE]")
            phones_used.add(phone)
        if persona.email and (not phone or rng.random() < 0.5):
            parts.append(_render_email(persona.email, rng))
            masked.append("[EMAIL]")
            emails_used.add(persona.email)
        if persona.handle and (not phone or rng.random() < 0.5):
            parts.append(_render_handle(persona.handle, rng))
            masked.append("[HANDLE]")
            handles_used.add(persona.handle)
        sep = rng.choice((" or ", " / ", ", ", " | "))
        contact = sep.join(parts) if parts else rng.choice(_NO_CONTACT)
        contact_masked = sep.join(masked) if masked else contact

        sponsored = rng.random() < p_sponsor
        site = main_site if rng.random() < 0.9 else rng.choice(site_names)
        rows.append(
            {
                "_owner": o,
                "_seq": seq,
                "_t": day,
                "title": title.replace(CONTACT, contact),
                "body": body.replace(CONTACT, contact),
                "posted_at": start + timedelta(seconds=round(day * 86400)),
                "site": site,
                "location": f"{city}, {state}",
                "price_usd": vocab.SITES[site][tier][1 if sponsored else 0],
                "sponsored": sponsored,
                "persona": persona.name,
                "true_owner": true_owner,
                "persona_id": f"{true_owner}.p{p}",
                "kind": kind,
                "phone_hash": id_hash(e164(phone)) if phone else None,
                "email_hash": id_hash(persona.email)
                if persona.email and "[EMAIL]" in masked
                else None,
                "handle_hash": id_hash(persona.handle)
                if persona.handle and "[HANDLE]" in masked
                else None,
                "phone_format": fmt if phone else None,
                "_repost_of": repost_of,
                "copied_from_persona": copied,
                "copied_from_owner": copied_from_owner,
                "text_masked": title.replace(CONTACT, contact_masked)
                + "\n"
                + body.replace(CONTACT, contact_masked),
            }
        )
    times = [r["_t"] for r in rows]
    for persona in personas:  # a burner still in hand after the last ad is dropped too
        if persona.phone:
            pool.retire(persona.phone, o, max(times))
    span = max(max(times) - min(times), 7.0)  # a single ad counts as one a week
    owner = {
        "true_owner": true_owner,
        "kind": kind,
        "n_personas": n_personas,
        "personas": names,
        "cities": sorted({f"{vocab.CITIES[c][0]}, {vocab.CITIES[c][1]}" for c in cities}),
        "n_cities": len({r["location"] for r in rows}),
        "regions": sorted({vocab.CITIES[c][2] for c in cities}),
        "n_ads": len(rows),
        "phone_count": len(phones_used),
        "phone_hashes": sorted(id_hash(e164(p)) for p in phones_used),
        "email_count": len(emails_used),
        "handle_count": len(handles_used),
        "first_post": start + timedelta(days=min(times)),
        "last_post": start + timedelta(days=max(times)),
        "ads_per_day": len(rows) / span,
        "sponsored_share": sum(r["sponsored"] for r in rows) / len(rows),
        "archetype": archetype,
        "casing": style.casing,
        "layout": style.layout,
        "phone_format": style.phone_formats[0],
    }
    return owner, rows


def simulate_marketplace(config: SimConfig) -> Marketplace:
    """Simulate ``config.n_owners`` owners and their ads (deterministic for ``config.seed``)."""
    if config.n_owners < 1:
        raise ValueError("n_owners must be at least 1")
    arng = random.Random(f"{config.seed}:archetypes")
    archetypes = [random_style(arng) for _ in range(config.n_archetypes)]
    pool = PhonePool(random.Random(f"{config.seed}:phones"))
    owners, rows = [], []
    shared = _Shared(pool)
    for o in track(range(config.n_owners), "simulating owners", disable=not config.progress):
        owner, owner_rows = _owner_ads(o, config, archetypes, shared)
        owners.append(owner)
        rows.extend(owner_rows)

    df = pd.DataFrame(rows)
    df = df.sort_values(["_t", "_owner", "_seq"], kind="stable").reset_index(drop=True)
    width = max(7, len(str(len(df))))
    df["ad_id"] = [f"ad{i:0{width}d}" for i in range(len(df))]
    key_to_id = dict(zip(zip(df["_owner"], df["_seq"], strict=True), df["ad_id"], strict=True))
    df["repost_of"] = [
        key_to_id[(o, s)] if s is not None and not pd.isna(s) else None
        for o, s in zip(df["_owner"], df["_repost_of"], strict=True)
    ]
    df["posted_at"] = pd.to_datetime(df["posted_at"], utc=True).astype("datetime64[ns, UTC]")
    ads = df[list(ADS_COLUMNS)].copy()
    truth_cols = [
        "ad_id", "true_owner", "persona_id", "kind", "phone_hash", "email_hash", "handle_hash",
        "phone_format", "repost_of", "copied_from_persona", "copied_from_owner", "text_masked",
    ]  # fmt: skip
    ad_truth = df[truth_cols].copy()
    owners_df = pd.DataFrame(owners)
    for col in ("first_post", "last_post"):
        owners_df[col] = pd.to_datetime(owners_df[col], utc=True).astype("datetime64[ns, UTC]")
    summary = _summary(config, ads, owners_df, ad_truth, pool)
    return Marketplace(ads=ads, owners=owners_df, ad_truth=ad_truth, summary=summary)


def identifier_label_quality(ad_truth: pd.DataFrame) -> dict[str, Any]:
    """How well owner labels derived from shared identifiers match the true owners.

    Derives labels as ``adowner prepare`` does (connected components of ads that share a phone,
    e-mail or handle; an ad without any is its own component) and compares them with
    ``true_owner`` using pair counts (``sklearn.metrics.cluster.pair_confusion_matrix``):
    precision = true-owner pairs among pairs that share a label, recall = share of true-owner
    pairs that the labels keep together.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from sklearn.metrics.cluster import pair_confusion_matrix

    n = len(ad_truth)
    ad_idx, id_idx = [], []
    ids: dict[str, int] = {}
    for col in ("phone_hash", "email_hash", "handle_hash"):
        for i, v in enumerate(ad_truth[col].tolist()):
            if v is not None and not (isinstance(v, float) and math.isnan(v)):
                ad_idx.append(i)
                id_idx.append(n + ids.setdefault(f"{col}:{v}", len(ids)))
    size = n + len(ids)
    graph = coo_matrix((np.ones(len(ad_idx)), (ad_idx, id_idx)), shape=(size, size))
    _, labels = connected_components(graph, directed=False)
    derived = labels[:n]
    truth = pd.factorize(ad_truth["true_owner"])[0]
    (_tn, fp), (fn, tp) = pair_confusion_matrix(truth, derived)
    per_owner = pd.DataFrame({"t": truth, "d": derived}).groupby("t")["d"].nunique()
    per_label = pd.DataFrame({"t": truth, "d": derived}).groupby("d")["t"].nunique()
    return {
        "derived_owners": len(set(derived.tolist())),
        "true_owners": len(per_owner),
        "pair_precision": float(tp / (tp + fp)) if tp + fp else 1.0,
        "pair_recall": float(tp / (tp + fn)) if tp + fn else 1.0,
        "true_owners_split": int((per_owner > 1).sum()),
        "derived_owners_merging_true_owners": int((per_label > 1).sum()),
    }


def _summary(
    config: SimConfig,
    ads: pd.DataFrame,
    owners: pd.DataFrame,
    ad_truth: pd.DataFrame,
    pool: PhonePool,
) -> dict[str, Any]:
    per_owner = owners["n_ads"]
    words = (ads["title"] + " " + ads["body"]).str.count(r"\S+")
    phone_owner = (
        ad_truth.dropna(subset=["phone_hash"]).groupby("phone_hash")["true_owner"].nunique()
    )
    settings = dataclasses.asdict(config)
    settings.pop("progress")
    return {
        "generator": "adowner.simulate.marketplace",
        "settings": settings,
        "ads": len(ads),
        "owners": {k: int(v) for k, v in owners["kind"].value_counts().sort_index().items()},
        "ads_by_kind": {k: int(v) for k, v in ad_truth["kind"].value_counts().sort_index().items()},
        "personas": int(owners["n_personas"].sum()),
        "ads_per_owner": {
            "median": float(per_owner.median()),
            "mean": float(per_owner.mean()),
            "p90": float(per_owner.quantile(0.9)),
            "max": int(per_owner.max()),
            "owners_with_2_or_more": int((per_owner >= 2).sum()),
        },
        "words_per_ad_median": float(words.median()),
        "ads_with_phone": float(ad_truth["phone_hash"].notna().mean()),
        "ads_with_email": float(ad_truth["email_hash"].notna().mean()),
        "ads_with_handle": float(ad_truth["handle_hash"].notna().mean()),
        "distinct_phones": len(phone_owner),
        "phones_shared_by_owners": int((phone_owner > 1).sum()),
        "phone_numbers_reused_for_lack_of_range": pool.reused,
        "reposts": float(ad_truth["repost_of"].notna().mean()),
        "copied_between_personas": float(ad_truth["copied_from_persona"].mean()),
        "copied_from_other_owners": float(ad_truth["copied_from_owner"].notna().mean()),
        "sponsored": float(ads["sponsored"].mean()),
        "period": [ads["posted_at"].min().isoformat(), ads["posted_at"].max().isoformat()],
        "identifier_labels": identifier_label_quality(ad_truth),
    }


def write_marketplace(market: Marketplace, out: Path) -> dict[str, Path]:
    """Write ``ads.parquet``, ``ads.csv``, ``owners.parquet``, ``ad_truth.parquet`` and
    ``truth.json`` under ``out``, each atomically; return the paths written."""
    from adowner._io import atomic_open, write_json, write_parquet

    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "ads": out / "ads.parquet",
        "ads_csv": out / "ads.csv",
        "owners": out / "owners.parquet",
        "ad_truth": out / "ad_truth.parquet",
        "truth": out / "truth.json",
    }
    write_parquet(market.ads, paths["ads"])
    with atomic_open(paths["ads_csv"], newline="") as fh:
        market.ads.to_csv(fh, index=False, date_format="%Y-%m-%dT%H:%M:%SZ")
    write_parquet(market.owners, paths["owners"])
    write_parquet(market.ad_truth, paths["ad_truth"])
    write_json(market.summary, paths["truth"])
    return paths
