"""Owners' writing styles: drawing a style profile and writing an ad in it.

A :class:`Style` is one writer's habits. Every style draws its phrases from the shared
vocabulary (``vocab.py``); what differs is which ones it prefers and how it writes them:

| habit | field(s) |
|---|---|
| favourite titles, phrases, adjectives, services, ... | ``favs`` (indices per bank), ``loyalty`` |
| which body slots it uses and in what order | ``slots`` |
| emoji set, rate, runs, title emoji | ``emoji``, ``emoji_rate``, ``emoji_run``, ``emoji_title`` |
| capitalisation | ``casing`` (``normal``/``lower``/``title``/``caps_words``/``shout``), ``caps_rate``, ``shout_words``, ``cap_i``, ``title_casing`` |
| punctuation runs and sentence joiners | ``endings``, ``joiner`` |
| misspellings and slang | ``subs`` (word -> variant), ``sub_rate``, ``stretch_rate``, ``typo_rate`` |
| line breaks | ``layout`` (``paragraph``/``lines``/``blocks``/``bullets``), ``bullet`` |
| phone number format | ``phone_formats`` (primary, secondary), ``p_phone_alt`` |
| length | ``verbosity`` (chance of a further phrase in a slot) |
| consistency | ``consistency`` (chance that a sentence follows the habits rather than a random ending or emoji) |

Real markets have many look-alike writers (shared templates, copied ads), so styles are drawn
around a few *archetypes*: :func:`draw_style` mutates an archetype, keeping each habit with
probability ``1 - individuality``. That makes some different owners hard to tell apart, which is
what keeps the authorship task non-trivial (see the difficulty check in ``difficulty.py``).

Example::

    >>> import random
    >>> rng = random.Random(0)
    >>> style = draw_style(random_style(rng), rng, individuality=0.5)
    >>> fields = {"name": "Amber", "age": "24", "city": "Denver", "hair": "blonde",
    ...           "eyes": "blue eyes", "look": "petite", "contact": "202-555-0143"}
    >>> title = write_title(style, fields, rng)
    >>> body = write_body(style, fields, rng)
    >>> "202-555-0143" in body
    True
"""

from __future__ import annotations

import dataclasses
import random
import re
from typing import Any

from adowner.simulate import vocab
from adowner.simulate.phones import FORMAT_WEIGHTS, FORMATS

# The banks an owner has favourites in; each maps to a tuple in vocab.
BANKS: dict[str, tuple[str, ...]] = {
    "title": vocab.TITLES,
    "adj": vocab.ADJECTIVES,
    "svc": vocab.SERVICES,
    "when": vocab.WHEN,
    "place": vocab.PLACES,
    "area": vocab.AREAS,
    "pet": vocab.PET_NAMES,
    **{f"slot:{name}": phrases for name, phrases in vocab.SLOTS.items()},
}
CASINGS = ("normal", "lower", "title", "caps_words", "shout")
CASING_WEIGHTS = (5, 4, 1.5, 2.5, 0.7)
LAYOUTS = ("paragraph", "lines", "blocks", "bullets")
LAYOUT_WEIGHTS = (4, 3, 2, 1.5)
SHOUT_CANDIDATES = ("NEW", "NOW", "REAL", "HOT", "TONIGHT", "ONLY", "AVAILABLE", "SPECIAL",
                    "INCALL", "OUTCALL", "VIP", "100%", "LAST", "DAY", "TODAY")  # fmt: skip

_FIELD = re.compile(r"\{(\w+)\}")
# Slots that a wordy writer fills with more than one phrase.
_REPEATABLE = ("looks", "about", "offer", "mood", "rules", "closing")


@dataclasses.dataclass
class Style:
    """One writer's habits (see the module docstring for the table of fields)."""

    favs: dict[str, tuple[int, ...]]
    loyalty: float
    slots: tuple[str, ...]
    slot_keep: float
    emoji: tuple[str, ...]
    emoji_rate: float
    emoji_run: int
    emoji_title: bool
    casing: str
    caps_rate: float
    shout_words: tuple[str, ...]
    cap_i: bool
    sentence_case: bool
    title_casing: str
    endings: tuple[str, ...]
    joiner: str
    subs: dict[str, str]
    sub_rate: float
    stretch_rate: float
    typo_rate: float
    layout: str
    bullet: str
    phone_formats: tuple[str, str]
    p_phone_alt: float
    verbosity: float
    consistency: float


def _favourites(rng: random.Random, n: int) -> tuple[int, ...]:
    return tuple(rng.sample(range(n), min(n, rng.randint(2, 4))))


def random_style(rng: random.Random) -> Style:
    """A style drawn from scratch (used for archetypes)."""
    slots = list(vocab.MOVABLE_SLOTS)
    rng.shuffle(slots)
    keep = [s for s in slots if s == "contact" or rng.random() < 0.8]
    subs = {w: rng.choice(v) for w, v in vocab.SUBSTITUTIONS.items() if rng.random() < 0.25}
    return Style(
        favs={bank: _favourites(rng, len(items)) for bank, items in BANKS.items()},
        loyalty=rng.uniform(0.4, 0.85),
        slots=("greeting", "intro", *keep, "closing"),
        slot_keep=rng.uniform(0.75, 0.97),
        emoji=tuple(rng.sample(vocab.EMOJI, rng.randint(1, 5))),
        emoji_rate=rng.choice((0.0, 0.05, 0.15, 0.3, 0.5, 0.8)),
        emoji_run=rng.choice((1, 1, 1, 2, 3)),
        emoji_title=rng.random() < 0.5,
        casing=rng.choices(CASINGS, CASING_WEIGHTS)[0],
        caps_rate=rng.uniform(0.05, 0.3),
        shout_words=tuple(rng.sample(SHOUT_CANDIDATES, rng.randint(0, 3))),
        cap_i=rng.random() < 0.6,
        sentence_case=rng.random() < 0.6,
        title_casing=rng.choice(("asis", "upper", "title", "lower")),
        endings=tuple(rng.sample(vocab.ENDINGS, rng.randint(1, 3))),
        joiner=rng.choice(vocab.JOINERS),
        subs=subs,
        sub_rate=rng.uniform(0.5, 1.0),
        stretch_rate=rng.choice((0.0, 0.0, 0.03, 0.08)),
        typo_rate=rng.choice((0.0, 0.005, 0.015, 0.03)),
        layout=rng.choices(LAYOUTS, LAYOUT_WEIGHTS)[0],
        bullet=rng.choice(vocab.BULLETS),
        phone_formats=(
            rng.choices(FORMATS, FORMAT_WEIGHTS)[0],
            rng.choices(FORMATS, FORMAT_WEIGHTS)[0],
        ),
        p_phone_alt=rng.choice((0.0, 0.05, 0.2)),
        verbosity=rng.uniform(0.05, 0.45),
        consistency=rng.uniform(0.6, 0.95),
    )


def draw_style(archetype: Style, rng: random.Random, individuality: float) -> Style:
    """A style near ``archetype``: each habit is redrawn with probability ``individuality``."""
    fresh = random_style(rng)
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(Style):
        if f.name == "favs":
            fields["favs"] = {
                bank: (fresh.favs[bank] if rng.random() < individuality else idx)
                for bank, idx in archetype.favs.items()
            }
        else:
            pick = fresh if rng.random() < individuality else archetype
            fields[f.name] = getattr(pick, f.name)
    return Style(**fields)


def persona_voice(style: Style, rng: random.Random, drift: float = 0.3) -> Style:
    """The same writer's style for another persona: some phrase favourites change, habits stay.

    An operator writes every persona's ads, so casing, emoji, misspellings and phone format stay
    the owner's; the self-description, titles and a few phrases vary per persona.
    """
    favs = dict(style.favs)
    for bank in ("title", "slot:intro", "slot:looks", "slot:greeting", "slot:closing", "adj"):
        if rng.random() < drift * 2:
            favs[bank] = _favourites(rng, len(BANKS[bank]))
    for bank in favs:
        if rng.random() < drift / 2:
            favs[bank] = _favourites(rng, len(BANKS[bank]))
    return dataclasses.replace(style, favs=favs)


def _pick(style: Style, bank: str, rng: random.Random) -> str:
    items = BANKS[bank]
    if rng.random() < style.loyalty:
        return items[rng.choice(style.favs[bank])]
    return rng.choice(items)


def fill(template: str, style: Style, fields: dict[str, str], rng: random.Random) -> str:
    """Fill ``{field}``s: owner-preferred picks for banks, the ad's values for the rest."""

    used: set[str] = set()

    def one(match: re.Match[str]) -> str:
        key = match.group(1)
        if key == "adj2":
            key = "adj"
        if key not in BANKS:
            return fields[key]
        for _ in range(4):  # "dinner dates and dinner dates" reads as a machine; try again
            value = _pick(style, key, rng)
            if value not in used:
                break
        used.add(value)
        return value

    return _FIELD.sub(one, template)


def _word(style: Style, w: str, rng: random.Random) -> str:
    lw = w.lower()
    sub = style.subs.get(lw)
    if sub is not None and rng.random() < style.sub_rate:
        w = sub
    if (
        style.stretch_rate
        and len(w) > 2
        and w[-1] in "yoeias"
        and rng.random() < style.stretch_rate
    ):
        w += w[-1] * rng.randint(1, 3)
    if style.typo_rate and len(w) > 4 and w.isalpha() and rng.random() < style.typo_rate:
        i = rng.randrange(1, len(w) - 2)
        w = w[:i] + w[i + 1] + w[i] + w[i + 2 :]
    casing = style.casing
    if casing == "title":
        w = w[:1].upper() + w[1:]
    elif casing == "caps_words" and rng.random() < style.caps_rate:
        w = w.upper()
    if style.shout_words and w.upper() in style.shout_words:
        w = w.upper()
    if style.cap_i and w[:1] == "i" and (w == "i" or w[1:2] == "'"):
        w = "I" + w[1:]
    return w


def _emoji(style: Style, rng: random.Random) -> str:
    e = rng.choice(style.emoji)
    return (
        e * rng.randint(1, style.emoji_run) if rng.random() < 0.7 else e + rng.choice(style.emoji)
    )


def write_sentence(style: Style, text: str, rng: random.Random) -> str:
    """Apply the word habits, casing, ending and emoji to one phrase."""
    out = " ".join(_word(style, w, rng) for w in text.split(" "))
    if style.casing == "lower":
        out = out.lower()
    elif style.casing == "shout" and rng.random() < 0.8:
        out = out.upper()
    elif style.sentence_case and out[:1].islower():
        out = out[:1].upper() + out[1:]
    habitual = rng.random() < style.consistency
    out += rng.choice(style.endings if habitual else vocab.ENDINGS)
    if style.emoji and rng.random() < style.emoji_rate:
        out += " " + (_emoji(style, rng) if habitual else rng.choice(vocab.EMOJI))
    return out


def write_title(style: Style, fields: dict[str, str], rng: random.Random) -> str:
    """The ad title: a favourite title template, the title casing, emoji decoration."""
    t = fill(_pick(style, "title", rng), style, fields, rng)
    t = " ".join(_word(style, w, rng) for w in t.split(" "))
    if style.title_casing == "upper":
        t = t.upper()
    elif style.title_casing == "title":
        t = " ".join(w[:1].upper() + w[1:] for w in t.split(" "))
    elif style.title_casing == "lower":
        t = t.lower()
    t += rng.choice(style.endings)
    if style.emoji and style.emoji_title:
        e = _emoji(style, rng)
        t = f"{e} {t} {e}" if rng.random() < 0.5 else f"{t} {e}"
    return t


def write_body(style: Style, fields: dict[str, str], rng: random.Random) -> str:
    """The ad body: the style's slots in order, each a filled phrase, laid out in its habit.

    The ``contact`` slot's ``{contact}`` stays a placeholder (``fields['contact']``) that the
    caller replaces with the rendered identifiers.
    """
    groups: list[list[str]] = []
    for slot in style.slots:
        if slot not in ("contact", "greeting", "intro") and rng.random() > style.slot_keep:
            continue
        n = 1
        while n < 3 and slot in _REPEATABLE and rng.random() < style.verbosity:
            n += 1
        templates: list[str] = []
        for _ in range(n * 3):  # distinct phrases within one ad
            t = _pick(style, f"slot:{slot}", rng)
            if t not in templates:
                templates.append(t)
            if len(templates) == n:
                break
        phrases = [fill(t, style, fields, rng) for t in templates]
        if slot == "offer" and style.layout == "bullets":
            items = list(dict.fromkeys(_pick(style, "svc", rng) for _ in range(rng.randint(3, 6))))
            groups.append(
                [write_sentence(style, phrases[0], rng)]
                + [
                    f"{style.bullet} {' '.join(_word(style, w, rng) for w in i.split(' '))}"
                    for i in items
                ]
            )
            continue
        groups.append([write_sentence(style, p, rng) for p in phrases])
    if style.layout == "paragraph":
        return style.joiner.join(s for g in groups for s in g)
    if style.layout == "lines":
        return "\n".join(s for g in groups for s in g)
    if style.layout == "blocks":
        return "\n\n".join(style.joiner.join(g) if len(g) > 1 else g[0] for g in groups)
    # bullets: the bullet list on its own lines, the rest as short lines
    return "\n".join("\n".join(g) for g in groups)
