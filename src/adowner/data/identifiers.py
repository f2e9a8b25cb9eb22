"""Hard identifiers in ad text: phone numbers, e-mail addresses, URLs and social handles.

What it computes
    :func:`extract_identifiers` finds every identifier in a text and returns it with its span and
    a normalised value (phones in E.164, e-mails and URLs lower-cased, handles without ``@``).
    :func:`mask_identifiers` replaces each span with a typed token (``[PHONE]``, ``[EMAIL]``,
    ``[URL]``, ``[HANDLE]``), so that a model trained on the text cannot learn the identifiers that
    made its labels, and then masks every other chain of 7+ digit items as ``[NUM]`` (the
    safety net; :func:`mask_and_count` also returns how many). :func:`mask_text` is the
    never-failing version for logs, reports, exports and error messages.
    :func:`hash_identifier` turns a value into a short salted hash, the form kept in the data.

Source
    Phone numbers are parsed, validated and formatted by Google's ``libphonenumber`` (the
    ``phonenumbers`` package). Its own ``PhoneNumberMatcher`` does not see the obfuscations that
    ads use on purpose (Portnoff et al., KDD 2017; IDTraffickers, EMNLP 2023; issues 2 and 14),
    so the *finding* is hand-written here and only the *validating* is libphonenumber's:

    1. **Digit items.** Every Unicode digit (full-width, Arabic-Indic, circled, ...), emoji
       keycap (``5️⃣``), spelled digit as a whole letter run (``five``, ``oh``, ``ate``,
       ``ten`` = 1 0; in any case, glued to digits or to each other: ``016two``,
       ``Four1Five``, ``sixtwo``, never inside a word such as ``someone``) and homoglyph glued
       to a digit (``O``/``o`` for 0, ``l``/``I`` for 1, and their Greek, Cyrillic and
       full-width look-alikes: ``2O2``, ``Ol43``, never ``lol``) is one item. An ``x`` between
       two digits separates them (``4x1x5``).
    2. **Chains.** Items with at most :data:`MAX_GAP` (6) characters between them that are not
       letters or digits (spaces, line breaks, punctuation, emoji counted as one, ``_``) form a
       chain; letters around a chain do not matter (``Text4155550162Malia``). Texts with fewer
       than 3 digit items, and chains of fewer than 7, are skipped at once.
    3. **Segmentation.** Each chain is cut into valid numbers (``phonenumbers.is_valid_number``
       for the configured region, or any country after a ``+``): the most numbers, then the
       groupings libphonenumber itself writes (3-3-4 in the US), then the most digits. Glued
       numbers (``213-555-01434245550187``) split; a price or a date next to a number
       (``450 202 555 0143``) stays out. Non-canonical groupings with money, table or list
       separators, dates, and spaced price lists whose figures all end in 0 are refused.
    4. **Safety net.** After every identifier is masked, each chain of 7 or more digit items
       (here with gaps of up to :data:`NET_GAP`, 12) that is left becomes ``[NUM]`` (:func:`mask_and_count` counts them): a number the
       finder could not validate never survives, at the price of masking long price lists,
       dates with times and body measurements (``36-24-36 110lbs``).

    Only valid numbers become ``[PHONE]`` and owner labels, which keeps prices, dates and BTC
    amounts (``$150``, ``2014-01-05``, ``0.0123 BTC``) out of the labels.

What it requires of the data
    Any ``str``. Regions are ISO 3166 codes understood by ``phonenumbers`` (default ``"US"``).

Inputs

    ==========  =====================================================  =========
    name        meaning                                                default
    ==========  =====================================================  =========
    text        the ad text (title and body)                           required
    region      region for numbers written without a country code     ``"US"``
    kinds       which kinds to look for (phone, email, url, handle)    all four
    safety_net  mask leftover chains of 7+ digit items as ``[NUM]``    ``True``
    ==========  =====================================================  =========

Example
    >>> masked, found = mask_identifiers("Call 202*555*0143 or jane at gmail dot com")
    >>> masked
    'Call [PHONE] or [EMAIL]'
    >>> [(i.kind, i.value) for i in found]
    [('phone', '+12025550143'), ('email', 'jane@gmail.com')]
    >>> masked, found, net = mask_and_count("Text4155550162Malia, 4one5-5five5-01six2; 100 150 200")
    >>> masked, [i.value for i in found], net
    ('Text[PHONE]Malia, [PHONE]; [NUM]', ['+14155550162', '+14155550162'], 1)
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers

KINDS = ("phone", "email", "url", "handle")
TOKENS = {"phone": "[PHONE]", "email": "[EMAIL]", "url": "[URL]", "handle": "[HANDLE]"}
NUM_TOKEN = "[NUM]"  # what the safety net writes over a leftover chain of digit items
# Part of the key of prepare's masking checkpoints: a block masked by an older masker is redone.
MASKER_VERSION = "2"
# The data columns that hold each kind's hashes.
COLUMNS = {"phone": "phones", "email": "emails", "url": "urls", "handle": "handles"}
DEFAULT_SALT = "adowner-public-default-salt"  # not a secret: it only keeps raw values out of files


@dataclass(frozen=True)
class Identifier:
    """One identifier found in a text: ``text[start:end]`` is what was written."""

    kind: str  # "phone" | "email" | "url" | "handle"
    value: str  # normalised: E.164 for phones, lower case for e-mails, URLs and handles
    start: int
    end: int


# ------------------------------------------------------------------ digit items

# The phone finder works on the *item text*: a copy of the text, of the same length, in which
# every digit item is one digit. Spelled digits keep their word's length with a filler
# (``five`` → ``5\x01\x01\x01``, ``ten`` → ``10\x01``), homoglyph digits are written as
# U+E000 + digit so that a candidate can count them, and an ``x`` between digits is a space.
# Since the lengths match, a span in the item text is the same span in the text.
_FILL = "\x01"
_PUA = 0xE000  # homoglyph digit d is chr(_PUA + d)
_WORD_VALUES = {
    "zero": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "oh": "0",
    "ate": "8",
    "ten": "10",
}
_WORD_ALT = "|".join(_WORD_VALUES)  # no word is a prefix of another: one way to split a run
_ONE_WORD = re.compile(rf"(?:{_WORD_ALT})")  # on lower-cased text: much faster than (?i)
# Greek, Cyrillic and full-width letters that look like Latin ones, folded to them (one code
# point each), so that ``2Ο2`` (omicron) or ``fivе`` (Cyrillic е) read as digit items.
_LOOKALIKES = {
    **dict.fromkeys("ΟОＯ〇", "O"),
    **dict.fromkeys("οоｏ", "o"),
    **dict.fromkeys("ΙІⅠＩ", "I"),
    **dict.fromkeys("ӏӀǀｌ", "l"),
    **dict(zip("аеосрхуіΑΒΕΗΚΜΝΡΤΧΥΖ", "aeocpxyiABEHKMNPTXYZ", strict=True)),
}
_HOMOGLYPH_DIGIT = str.maketrans(
    {"O": chr(_PUA), "o": chr(_PUA), "I": chr(_PUA + 1), "l": chr(_PUA + 1)}
)
_ITEM_TO_ASCII = str.maketrans({chr(_PUA + d): str(d) for d in range(10)})
# A digit word counts only as a whole letter run made of digit words ("sixtwo", "Five" in
# "5Five5"), never inside another word ("someone", "often", "date"); it is sought in the
# lower-cased text, and the pattern starts with a character class so that the scan is fast.
_WORD_RUN = re.compile(
    "["
    + "".join(sorted({w[0] for w in _WORD_VALUES}))
    + r"](?<![^\W\d_].)(?:"
    + "|".join(f"(?<={w[0]}){w[1:]}" for w in _WORD_VALUES)
    + rf")(?:{_WORD_ALT})*(?![^\W\d_])"
)
# A run of 1-3 homoglyph letters counts only glued to a digit ("2O2", "Ol43"), never alone
# ("lol", "OOOO"); an x between two digits is a separator ("4x1x5").
_HOMOGLYPH_NEAR = re.compile(r"[0-9](?:(?=[OoIlxX])|(?<=[OoIl][0-9]))")
_HOMOGLYPH_RUN = re.compile(
    r"(?<=[0-9])(?P<h>[OoIl]{1,3})(?![^\W\d_])"
    r"|(?<![^\W\d_])(?P<g>[OoIl]{1,3})(?=[0-9])"
    r"|(?<=[0-9])[xX](?=[0-9])"
)
_D = "0-9\ue000-\ue009"
# One item: a digit, the fillers of its word, the tail of an emoji keycap (5️⃣).
_ITEM = re.compile(rf"[{_D}]\x01*(?:\ufe0f?\u20e3)?")
# Between items: up to MAX_GAP characters that are neither letters nor digits (spaces, line
# breaks, punctuation, emoji, ``_``); the joiners, variation selectors and skin tones of an
# emoji do not count (``👩🏽‍❤️‍👨`` is 3). Items with no gap between them form a group.
# The safety net chains items across gaps of up to NET_GAP: a number split by a long run of
# emoji or dots still goes.
MAX_GAP = 6
NET_GAP = 12
_GAP_UNIT = r"(?:(?:[^\w\x01\ue000-\ue009]|_)[\u200d\ufe0f\U0001f3fb-\U0001f3ff]*)"
_ONE = rf"[{_D}]\x01*(?:\ufe0f?\u20e3)?"
_CHAIN = re.compile(rf"{_ONE}(?:{_GAP_UNIT}{{0,{MAX_GAP}}}{_ONE})+")
_NET_CHAIN = re.compile(rf"{_ONE}(?:{_GAP_UNIT}{{0,{NET_GAP}}}{_ONE})+")
_NET_CHAIN_ANY = re.compile(rf"{_ONE}(?:{_GAP_UNIT}{{0,{NET_GAP}}}{_ONE})*")  # one item or more
MIN_CHAIN = 7  # items in a chain that the safety net masks (and below which no phone is sought)
_MIN_REAL = 3  # a chain needs this many items that are not homoglyph letters
_MAX_HOMOGLYPHS = 4  # a phone number may hold at most this many homoglyph digits
_NANP_LEAD = frozenset("23456789")
# Non-canonical groupings with these in a separator are tables or price lists, not numbers.
_MONEY = frozenset("$€£¥%")
_LIST_SEPS = frozenset("|,;")
# Dates with a 4-digit year (2014-01-05, 05/01/2014): with a time after them they make valid-
# looking digits. (Two-digit years are not dates here: 5.5.01 is as likely a number.)
_DATE = re.compile(
    r"(?<![0-9])(?:(?:19|20)\d\d(?P<s>[-/.])(?:0?[1-9]|1[0-2])(?P=s)(?:0?[1-9]|[12]\d|3[01])"
    r"|(?:0?[1-9]|[12]\d|3[01])(?P<t>[-/.])(?:0?[1-9]|[12]\d|3[01])(?P=t)(?:19|20)\d\d)"
    r"(?![0-9])"
)
# "24/7" (round the clock) is the commonest figure in ads, and often right next to a number:
# it is no digit items, so that it neither joins a number nor makes a chain.
_ROUND_THE_CLOCK = re.compile(r"(?<![0-9])24 ?[/x-] ?7(?![0-9])")


@lru_cache(maxsize=1)
def _char_table() -> dict[int, str]:
    """One code point → one: Unicode digits (full-width, Arabic-Indic, circled, ...) → ASCII,
    look-alike letters → Latin, and the characters the item text uses for itself → space.

    Planes 0 and 1 hold every digit character (up to the segmented digits at U+1FBF9).
    """
    table: dict[int, str] = {}
    for cp in range(0x80, 0x20000):
        d = unicodedata.digit(chr(cp), None)
        if d is not None and d < 10:
            table[cp] = str(d)
    for cp in range(0xFF21, 0xFF3B):  # full-width Latin letters
        table[cp], table[cp + 0x20] = chr(cp - 0xFEE0), chr(cp + 0x20 - 0xFEE0)
    table.update({ord(k): v for k, v in _LOOKALIKES.items()})
    table.update({_PUA + d: " " for d in range(10)})
    table[ord(_FILL)] = " "
    return table


_NON_ASCII = re.compile(r"[^\x00-\x7f]+")


def _fold(text: str) -> str:
    """``text`` with :func:`_char_table` applied (to its non-ASCII stretches only: fast)."""
    if text.isascii():
        return text if _FILL not in text else text.replace(_FILL, " ")
    table = _char_table()
    t = _NON_ASCII.sub(lambda m: m.group().translate(table), text)
    return t if _FILL not in t else t.replace(_FILL, " ")


def _lower_same_length(t: str) -> str:
    low = t.lower()
    if len(low) == len(t):
        return low
    return "".join(c if len(c.lower()) != 1 else c.lower() for c in t)  # "İ" lowers to 2


def _item_text(text: str) -> str | None:
    """The item text of ``text`` (same length), or None if it has under 3 digit items."""
    t = _fold(text)
    low = _lower_same_length(t)
    real = sum(map(t.count, "0123456789"))
    if real < _MIN_REAL and real + len(_ONE_WORD.findall(low)) < _MIN_REAL:
        return None  # cheap: no chain of MIN_CHAIN items with 3 real ones can be here
    edits: list[tuple[int, int, str]] = []
    if "24" in t:
        edits += [(m.start(), m.end(), "h" * len(m.group())) for m in _ROUND_THE_CLOCK.finditer(t)]
    for m in _WORD_RUN.finditer(low):
        digits = "".join(_WORD_VALUES[w] for w in _ONE_WORD.findall(m.group()))
        edits.append((m.start(), m.end(), digits + _FILL * (m.end() - m.start() - len(digits))))
    if _HOMOGLYPH_NEAR.search(t):
        for m in _HOMOGLYPH_RUN.finditer(t):
            h = m.group("h") or m.group("g")
            edits.append((m.start(), m.end(), h.translate(_HOMOGLYPH_DIGIT) if h else " "))
    if not edits:
        return t
    return _splice(t, sorted(edits))  # whole letter runs each, or 24/7: they never overlap


def _splice(text: str, spans: list[tuple[int, int, str]]) -> str:
    """``text`` with each ``(start, end, new)`` of ``spans`` (sorted, disjoint) put in."""
    parts: list[str] = []
    last = 0
    for start, end, new in spans:
        parts.append(text[last:start])
        parts.append(new)
        last = end
    parts.append(text[last:])
    return "".join(parts)


def _deobfuscate(text: str) -> tuple[str, None]:
    """The item text with every digit item as an ASCII digit (same length as ``text``).

    The second value is the old position map, now always None: the lengths always match.
    """
    items = _item_text(text)
    if items is None:
        return _fold(text), None
    return items.translate(_ITEM_TO_ASCII), None


_HOMOGLYPH_ITEMS = re.compile("[\ue000-\ue009]")


def _chains(
    items_text: str,
    min_items: int = MIN_CHAIN,
    pattern: re.Pattern[str] = _CHAIN,
    span: tuple[int, int] | None = None,
) -> list[tuple[int, int]]:
    """Spans of the chains of at least ``min_items`` digit items, 3 of them not homoglyphs
    (within ``span`` of the text if given)."""
    out: list[tuple[int, int]] = []
    min_real = min(_MIN_REAL, min_items)
    lo, hi = span or (0, len(items_text))
    for m in pattern.finditer(items_text, lo, hi):
        seg = m.group()
        if len(seg) < min_items:
            continue
        real = sum(map(seg.count, "0123456789"))
        if real < min_real:
            continue
        homo = len(_HOMOGLYPH_ITEMS.findall(seg)) if not seg.isascii() else 0
        if real + homo >= min_items:
            out.append(m.span())
    return out


@dataclass(frozen=True)
class _Chain:
    """The digit items of one chain, positions relative to the segment it was read from."""

    starts: tuple[int, ...]  # where each item starts
    ends: tuple[int, ...]  # where it ends (past a word's fillers and a keycap's tail)
    digits: str  # one ASCII digit an item
    homoglyph: tuple[bool, ...]  # the item is a homoglyph letter


@lru_cache(maxsize=32768)
def _chain_items(seg: str, lead: int) -> _Chain:
    """The items of the chain that starts at ``lead`` in ``seg`` (an item-text segment)."""
    return _items_uncached(seg, lead)


def _items_uncached(seg: str, lead: int) -> _Chain:
    spans = [m.span() for m in _ITEM.finditer(seg, lead)]
    raw = "".join(seg[s] for s, _ in spans)
    homo = tuple(not c.isascii() for c in raw)
    return _Chain(
        tuple(s for s, _ in spans), tuple(e for _, e in spans), raw.translate(_ITEM_TO_ASCII), homo
    )


def digit_chains(text: str, min_items: int = MIN_CHAIN) -> list[tuple[int, int, int]]:
    """Chains of at least ``min_items`` digit items in ``text``: (start, end, items).

    A digit item is a Unicode digit, an emoji keycap, a spelled digit (``five``, ``oh``,
    ``ate``; ``ten`` is two) or a homoglyph glued to a digit (``O``, ``l``, ``I``); items
    with at most :data:`NET_GAP` non-letters between them chain, and a chain needs 3 items
    that are not homoglyphs (so a text with fewer than 3 has no chain at all). This is what
    the safety net masks (``min_items`` 7), and what a test checks is gone after masking.
    """
    items_text = _item_text(text)
    if items_text is None:
        return []
    out = []
    pattern = _NET_CHAIN if min_items > 1 else _NET_CHAIN_ANY
    for s, e in _chains(items_text, min_items, pattern):
        n = len(_items_uncached(items_text[s:e], 0).digits)
        if n >= min_items:
            out.append((s, e, n))
    return out


@lru_cache(maxsize=65536)
def _valid_phone(digits: str, region: str) -> tuple[str, frozenset[int]] | None:
    """E.164 form of ``digits`` if ``phonenumbers`` calls it a valid number in ``region``, and
    the canonical group boundaries of those digits (``2025550143`` → {3, 6}, as in
    ``(202) 555-0143``; ``12025550143`` → {1, 4, 7}, as in ``+1 202-555-0143``)."""
    try:
        num = phonenumbers.parse(digits, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(num):
        return None
    e164 = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)
    bare = digits.lstrip("+")
    bounds: frozenset[int] = frozenset()
    for fmt in (
        phonenumbers.PhoneNumberFormat.NATIONAL,
        phonenumbers.PhoneNumberFormat.INTERNATIONAL,
    ):
        written = phonenumbers.format_number(num, fmt)
        if re.sub(r"\D", "", written) == bare:
            bounds = _boundaries(written)
            break
    return e164, bounds


def _boundaries(written: str) -> frozenset[int]:
    """Digit counts after which a formatted number has a separator ('(202) 555-0143' → {3, 6})."""
    out, n, prev_digit = set(), 0, False
    for ch in written:
        if ch.isdigit():
            n += 1
            prev_digit = True
        else:
            if prev_digit:
                out.add(n)
            prev_digit = False
    out.discard(n)
    return frozenset(out)


def _possible_lengths(meta: phonenumbers.PhoneMetadata) -> tuple[int, ...]:
    desc = meta.general_desc
    return tuple(desc.possible_length or ()) if desc is not None else ()


@lru_cache(maxsize=256)
def _shapes(region: str) -> tuple[tuple[int, str], ...]:
    """(length, required leading digits) of the numbers of ``region`` written without ``+``.

    US: 10 digits, or 11 starting with 1. The national lengths come from libphonenumber's
    metadata, with the national prefix (``0`` in GB) or the country code in front.
    """
    meta = phonenumbers.PhoneMetadata.metadata_for_region(region)
    if meta is None:
        return ((10, ""), (11, "1"))
    lengths = [n for n in _possible_lengths(meta) if n > 0] or [10]
    shapes = {(n, "") for n in lengths}
    for lead in {meta.national_prefix or "", str(meta.country_code)} - {""}:
        shapes |= {(n + len(lead), lead) for n in lengths}
    return tuple(sorted(shapes))


@lru_cache(maxsize=256)
def _is_nanp(region: str) -> bool:
    """Whether ``region`` is in the North American Numbering Plan (country code 1)."""
    return region in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(1, ())


@lru_cache(maxsize=1024)
def _plus_lengths(cc: str) -> tuple[int, ...]:
    """Digit counts (country code included) of the numbers of country code ``cc``."""
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(int(cc), ())
    lengths: set[int] = set()
    for region in regions:
        meta = phonenumbers.PhoneMetadata.metadata_for_region_or_calling_code(int(cc), region)
        if meta is not None:
            lengths |= {n + len(cc) for n in _possible_lengths(meta) if n > 0}
    return tuple(sorted(lengths))


@dataclass(frozen=True)
class _Candidate:
    start: int  # item indices [start, end)
    end: int
    e164: str
    score: int
    plus: bool


@lru_cache(maxsize=32768)
def _phones_in_segment(t: str, lead: int, region: str) -> tuple[tuple[int, int, str], ...]:
    """Valid numbers in the chain that starts at ``lead`` in the item-text segment ``t``:
    (start, end, e164), positions in ``t`` (a "+" before a number included).

    Cached: an owner's number comes back in every repost, written the same way.
    """
    return _phones_uncached(t, lead, region)


def _phones_uncached(t: str, lead: int, region: str) -> tuple[tuple[int, int, str], ...]:
    chain = _chain_items(t, lead) if len(t) <= _CACHED_SEGMENT else _items_uncached(t, lead)
    out = []
    for c in _segment(t, chain, region):
        s = t.rindex("+", 0, chain.starts[c.start]) if c.plus else chain.starts[c.start]
        out.append((s, chain.ends[c.end - 1], c.e164))
    return tuple(out)


def _segment(t: str, chain: _Chain, region: str) -> list[_Candidate]:
    """Valid numbers in one chain, segmented: the most numbers, then canonical groupings.

    Candidates are runs of items that ``phonenumbers`` validates for ``region`` (or, after a
    ``+``, for any country). A candidate starts and ends at group boundaries (where there is a
    gap between items), except where two numbers are glued (``213-555-01434245550187``): one
    may end inside a group only if the next starts there. Among the segmentations, the one
    with the most numbers wins; then the one with the most canonical groupings (3-3-4,
    1-3-3-4, or whatever libphonenumber writes for the region); then the one covering most
    digits. A candidate that starts with a price (``$150 4245550101``) or holds money in a
    separator is refused; so are non-canonical groupings that look like figures (a separator
    with ``| , ;``, or a date) and all-0-ending groups with spaces only, a price list
    (``rates 80 120 350 600``).
    """
    n = len(chain.digits)
    digits, homo, first, last = chain.digits, chain.homoglyph, chain.starts, chain.ends
    # starts[k]: item k begins a group (a gap before it); starts[n] closes the last group
    starts = [True] * (n + 1)
    for k in range(1, n):
        starts[k] = last[k - 1] != first[k]
    group_len = [1] * n
    k = 0
    while k < n:
        j = k + 1
        while not starts[j]:
            j += 1
        group_len[k:j] = [j - k] * (j - k)
        k = j
    seps = {k: t[last[k - 1] : first[k]] for k in range(1, n) if starts[k]}
    seps[0] = t[: first[0]]  # the few characters before the chain: a "+"?
    nanp = _is_nanp(region)
    shapes = _shapes(region)

    def check(i: int, j: int, found: tuple[str, frozenset[int]]) -> int | None:
        """Score of items [i, j) as the number ``found``, or None if it is refused."""
        if sum(homo[i:j]) > _MAX_HOMOGLYPHS:
            return None
        if starts[i] and seps[i].rstrip()[-1:] in _MONEY:
            return None  # it starts with a price: "$150 4245550101"
        inner = [k for k in range(i + 1, j) if starts[k]]
        # a stretch of single items (spaced out or spelled digits) counts as one group
        bounds = {k - i for k in inner if not (group_len[k - 1] == 1 and group_len[k] == 1)}
        canonical = bounds <= found[1]
        inner_seps = [seps[k] for k in inner]
        if any(_MONEY.intersection(sep) for sep in inner_seps):
            return None
        if not canonical:
            if any(_LIST_SEPS.intersection(sep) for sep in inner_seps):
                return None
            if _DATE.search(t, first[i], last[j - 1]):
                return None
        if inner_seps and all(not sep.strip() for sep in inner_seps):
            ends = [digits[k - 1] for k in (*inner, j)]
            if all(d == "0" for d in ends):
                return None  # a price list: "rates 80 120 350 600"
        return 1000 + 10 * canonical + (j - i)

    cands: dict[int, list[_Candidate]] = {}

    def at(i: int) -> list[_Candidate]:
        if i in cands:
            return cands[i]
        out: list[_Candidate] = []
        for length, lead in shapes:
            j = i + length
            if j > n or not digits.startswith(lead, i):
                continue
            if nanp and (
                digits[i + len(lead)] not in _NANP_LEAD
                or digits[i + len(lead) + 3] not in _NANP_LEAD
            ):
                continue
            found = _valid_phone(digits[i:j], region)
            score = check(i, j, found) if found else None
            if found and score is not None:
                out.append(_Candidate(i, j, found[0], score, False))
        if starts[i] and seps[i].rstrip(" ").endswith("+"):
            for c in range(1, 4):
                if (
                    i + c > n
                    or int(digits[i : i + c]) not in phonenumbers.COUNTRY_CODE_TO_REGION_CODE
                ):
                    continue
                for length in _plus_lengths(digits[i : i + c]):
                    j = i + length
                    if j > n:
                        continue
                    found = _valid_phone("+" + digits[i:j], region)
                    score = check(i, j, found) if found else None
                    if found and score is not None:
                        out.append(_Candidate(i, j, found[0], score + 1, True))
                break
        cands[i] = out
        return out

    # Candidates at group starts, then wherever a glued number could follow one.
    todo = [k for k in range(n) if starts[k]]
    while todo:
        for c in at(todo.pop()):
            if not starts[c.end] and c.end not in cands:
                todo.append(c.end)

    # best[k][need]: best (score, choice) from item k on; need: a number must start at k
    none = (-1, None)
    best: list[list[tuple[int, _Candidate | None]]] = [[none, none] for _ in range(n + 1)]
    best[n][0] = (0, None)
    for k in range(n - 1, -1, -1):
        for need in (0, 1):
            top = best[k + 1][0] if not need else none
            if need or starts[k]:
                for c in cands.get(k, ()):
                    rest = best[c.end][0 if starts[c.end] else 1][0]
                    if rest >= 0 and c.score + rest > top[0]:
                        top = (c.score + rest, c)
            best[k][need] = top
    out: list[_Candidate] = []
    k, need = 0, 0
    while k < n:
        choice = best[k][need][1]
        if choice is None:
            k, need = k + 1, 0
            continue
        out.append(choice)
        k, need = choice.end, 0 if starts[choice.end] else 1
    return out


@dataclass(frozen=True)
class _Scan:
    """A text's item text and the spans of its chains of at least MIN_CHAIN digit items
    (computed once for the phone finder and the safety net)."""

    items: str
    chains: list[tuple[int, int]]  # gaps up to MAX_GAP: where numbers are sought
    net_chains: list[tuple[int, int]]  # gaps up to NET_GAP: what the safety net masks

    @classmethod
    def of(cls, text: str) -> _Scan:
        items = _item_text(text)
        if items is None:
            return cls("", [], [])
        net = _chains(items, pattern=_NET_CHAIN)
        return cls(items, [c for span in net for c in _chains(items, span=span)], net)


_CACHED_SEGMENT = 256  # longer chains (tables, pasted digits) are not kept in the caches


def _find_phones(text: str, region: str, scan: _Scan | None = None) -> list[Identifier]:
    scan = scan or _Scan.of(text)
    out: list[Identifier] = []
    for cs, ce in scan.chains:
        base = max(0, cs - 3)
        seg = scan.items[base:ce]
        find = _phones_in_segment if len(seg) <= _CACHED_SEGMENT else _phones_uncached
        for s, e, e164 in find(seg, cs - base, region):
            s, e = s + base, e + base
            if s > 0 and text[s - 1] == "(":
                s -= 1
            if e < len(text) and text[e] == ")":
                e += 1
            out.append(Identifier("phone", e164, s, e))
    return out


def _safety_net(scan: _Scan, taken: list[Identifier]) -> list[tuple[int, int]]:
    """Spans of the chains of MIN_CHAIN+ digit items that are left once ``taken`` are masked.

    An identifier's span breaks a chain (its token holds letters); what is left of a chain on
    either side of it counts on its own.
    """
    out: list[tuple[int, int]] = []
    for cs, ce in scan.net_chains:
        spans = sorted((i.start, i.end) for i in taken if i.start < ce and i.end > cs)
        if not spans:
            out.append((cs, ce))
            continue
        if any(a <= cs and b >= ce for a, b in spans):
            continue
        seg = scan.items[cs:ce]
        chain = _chain_items(seg, 0) if len(seg) <= _CACHED_SEGMENT else _items_uncached(seg, 0)
        run: list[int] = []  # items since the last cut
        p = 0
        for k, (s, e) in enumerate(zip(chain.starts, chain.ends, strict=True)):
            s, e = s + cs, e + cs
            cut = False
            while p < len(spans) and spans[p][1] <= s:  # a span between the run and item k
                cut = cut or bool(run)
                p += 1
            inside = p < len(spans) and spans[p][0] < e
            if (cut or inside) and run:
                out.extend(_net_span(chain, run, cs))
                run = []
            if not inside:
                run.append(k)
        out.extend(_net_span(chain, run, cs))
    return out


def _net_span(chain: _Chain, run: list[int], offset: int) -> list[tuple[int, int]]:
    real = sum(1 for k in run if not chain.homoglyph[k])
    if len(run) >= MIN_CHAIN and real >= _MIN_REAL:
        return [(chain.starts[run[0]] + offset, chain.ends[run[-1]] + offset)]
    return []


# ------------------------------------------------------------------ e-mails, URLs, handles

_TLDS = (
    "com|net|org|edu|gov|info|biz|io|co|us|uk|ca|de|fr|ru|me|xyz|nl|au|in|es|it|ch|se|pl|cc|tv|"
    "ly|gl|to|sx|onion|xxx|app|club|online|site"
)
_MAIL_PROVIDERS = {
    "gmail",
    "googlemail",
    "yahoo",
    "ymail",
    "hotmail",
    "outlook",
    "live",
    "msn",
    "aol",
    "icloud",
    "me",
    "mail",
    "protonmail",
    "proton",
    "gmx",
    "yandex",
    "zoho",
    "tutanota",
}
_EMAIL = re.compile(
    r"(?<![\w.+-])(?P<user>[A-Za-z0-9][\w.+-]{0,63})@(?P<dom>[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
    r"\.(?:[A-Za-z]{2,24}))\b"
)
# "jane at gmail dot com", "jane [at] gmail [dot] com", "jane(at)gmail.com"
_AT = r"(?:\s*[\[\(\{<]\s*at\s*[\]\)\}>]\s*|\s+at\s+)"
_DOT = r"(?:\s*[\[\(\{<]\s*dot\s*[\]\)\}>]\s*|\s+dot\s+|\.)"
_EMAIL_OBF = re.compile(
    rf"(?<![\w.+-])(?P<user>[A-Za-z0-9][\w.+-]{{0,63}}){_AT}(?P<dom>[A-Za-z0-9-]{{2,63}})"
    rf"(?P<dot>{_DOT})(?P<tld>{_TLDS})\b",
    re.IGNORECASE,
)
_URL = re.compile(
    r"(?:\bhttps?://|\bwww\.)[^\s<>\"'\]\)]+"
    rf"|(?<![\w@.-])[A-Za-z][A-Za-z0-9-]*(?:\.[A-Za-z0-9-]+)*\.(?:{_TLDS})\b(?:/[^\s<>\"']*)?",
    re.IGNORECASE,
)
_HANDLE_NAME = (
    r"(?P<name>(?=[A-Za-z0-9_.]*[A-Za-z])[A-Za-z0-9_](?:[A-Za-z0-9_.]{0,28}[A-Za-z0-9_])?)"
)
_PLATFORMS = (
    r"snap(?:chat)?|sc|ig|insta(?:gram)?|kik|twitter|telegram|tg|wickr(?:\s*me)?|skype|"
    r"onlyfans|fb|facebook|whats\s*app|tiktok"
)
_HANDLE = re.compile(
    rf"(?<![\w@./])@{_HANDLE_NAME}(?![\w@])"
    rf"|\b(?:{_PLATFORMS})\s*(?:[:=\-]+|\s@)\s*@?{_HANDLE_NAME.replace('name', 'name2')}\b",
    re.IGNORECASE,
)


def _find_emails(text: str) -> list[Identifier]:
    out = (
        [
            Identifier("email", f"{m['user']}@{m['dom']}".lower(), m.start(), m.end())
            for m in _EMAIL.finditer(text)
        ]
        if "@" in text
        else []
    )
    if " at " in text.lower() or "at]" in text.lower() or "at)" in text.lower():
        for m in _EMAIL_OBF.finditer(text):
            # A plain word "at" followed by a plain "." is ordinary prose ("see you at home.com")
            # unless the domain is a known mail provider.
            spelled_dot = m["dot"] != "."
            if not spelled_dot and m["dom"].lower() not in _MAIL_PROVIDERS:
                continue
            value = f"{m['user']}@{m['dom']}.{m['tld']}".lower()
            out.append(Identifier("email", value, m.start(), m.end()))
    return out


def _find_urls(text: str) -> list[Identifier]:
    out: list[Identifier] = []
    if "." not in text:  # every URL form has a dot; skip the regex on most short texts
        return out
    for m in _URL.finditer(text):
        raw = m.group().rstrip(".,;:!?")
        value = re.sub(r"^(?:https?://)?(?:www\.)?", "", raw, flags=re.IGNORECASE)
        host, _, rest = value.partition("/")
        value = host.lower() + ("/" + rest if rest else "")
        out.append(Identifier("url", value.rstrip("/"), m.start(), m.start() + len(raw)))
    return out


def _find_handles(text: str) -> list[Identifier]:
    out: list[Identifier] = []
    if not any(c in text for c in "@:=-"):  # both forms need one of these
        return out
    for m in _HANDLE.finditer(text):
        name = (m["name"] or m["name2"]).lower()
        out.append(Identifier("handle", name, m.start(), m.end()))
    return out


_FINDERS = {"phone": None, "email": _find_emails, "url": _find_urls, "handle": _find_handles}


def extract_identifiers(
    text: str, region: str = "US", kinds: tuple[str, ...] = KINDS
) -> list[Identifier]:
    """All identifiers in ``text``, in order of position, with no two spans overlapping.

    When spans overlap the earlier kind in ``KINDS`` wins (a phone inside a URL is a phone).
    """
    return _extract(text, region, kinds, None)


def _extract(
    text: str, region: str, kinds: tuple[str, ...], scan: _Scan | None
) -> list[Identifier]:
    if not text:
        return []
    taken: list[Identifier] = []
    for kind in KINDS:
        if kind not in kinds:
            continue
        finder = _FINDERS[kind]
        found = _find_phones(text, region, scan) if finder is None else finder(text)
        for ident in found:
            if all(ident.end <= t.start or ident.start >= t.end for t in taken):
                taken.append(ident)
    taken.sort(key=lambda i: i.start)
    return taken


def mask_and_count(
    text: str, region: str = "US", kinds: tuple[str, ...] = KINDS, *, safety_net: bool = True
) -> tuple[str, list[Identifier], int]:
    """``text`` masked, the identifiers found, and how many spans the safety net masked.

    Each identifier's span becomes its typed token. Then, when phones are sought, the safety
    net masks as ``[NUM]`` every chain of :data:`MIN_CHAIN` or more digit items that is left
    (see :func:`digit_chains`): a number that the finder could not validate or segment, and
    also a long price list or a date with a time. Over-masking figures is the price of never
    leaving a number.
    """
    if not text:
        return text, [], 0
    scan = _Scan.of(text) if "phone" in kinds else None
    found = _extract(text, region, kinds, scan)
    net = _safety_net(scan, found) if scan is not None and safety_net else []
    if not found and not net:
        return text, found, 0
    spans = sorted(
        [(i.start, i.end, TOKENS[i.kind]) for i in found] + [(s, e, NUM_TOKEN) for s, e in net]
    )
    return _splice(text, spans), found, len(net)


def mask_identifiers(
    text: str, region: str = "US", kinds: tuple[str, ...] = KINDS, *, safety_net: bool = True
) -> tuple[str, list[Identifier]]:
    """``text`` with every identifier replaced by its typed token (and, when phones are
    sought, every other chain of 7+ digit items by ``[NUM]``), and the identifiers found."""
    masked, found, _ = mask_and_count(text, region, kinds, safety_net=safety_net)
    return masked, found


_FALLBACK = re.compile(r"\d[\d\W_]{5,}\d|\S+@\S+")


def mask_text(text: str) -> str:
    """Phones and e-mails in ``text`` masked, with the safety net; for logs, reports, exports
    and error messages. Never raises.

    It is :func:`mask_identifiers` for the default region, phones and e-mails only (URLs and
    handles are left, so that file paths and options stay readable), so no chain of 7+ digit
    items survives it either. If anything goes wrong, every run of 7+ digits and every ``x@y``
    is masked crudely instead.
    """
    try:
        if not isinstance(text, str):
            text = str(text)
        return mask_and_count(text, "US", ("phone", "email"))[0]
    except Exception:
        try:
            return _FALLBACK.sub("[MASKED]", str(text))
        except Exception:
            return "[MASKED]"


def hash_identifier(kind: str, value: str, salt: str) -> str:
    """A short (16 hex digits), stable, salted hash of one normalised identifier.

    >>> hash_identifier("phone", "+12025550143", "s") == hash_identifier("phone", "+12025550143", "s")
    True
    """
    data = f"{salt}\x1f{kind}\x1f{value}".encode()
    return hashlib.blake2b(data, digest_size=8).hexdigest()
