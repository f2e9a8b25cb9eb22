"""Hard identifiers in ad text: phone numbers, e-mail addresses, URLs and social handles.

What it computes
    :func:`extract_identifiers` finds every identifier in a text and returns it with its span and
    a normalised value (phones in E.164, e-mails and URLs lower-cased, handles without ``@``).
    :func:`mask_identifiers` replaces each span with a typed token (``[PHONE]``, ``[EMAIL]``,
    ``[URL]``, ``[HANDLE]``), so that a model trained on the text cannot learn the identifiers that
    made its labels. :func:`mask_text` is the cheap, never-failing version the log filter uses.
    :func:`hash_identifier` turns a value into a short salted hash, the form kept in the data.

Source
    Phone numbers are parsed, validated and formatted by Google's ``libphonenumber`` (the
    ``phonenumbers`` package). Its own ``PhoneNumberMatcher`` does not see the obfuscations that
    ads use on purpose (Portnoff et al., KDD 2017; IDTraffickers, EMNLP 2023): ``202*555*0143``,
    ``312 • 555 • 0187``, ``(213-555- 0119)``, digits as words (``five five five``), emoji keycaps
    (``5️⃣``), full-width and other Unicode digits, ``O``/``o`` for 0 and ``l``/``I`` for 1. So
    the *finding* is hand-written here (a de-obfuscating pass, then runs of digit groups) and each
    candidate is *validated* by ``phonenumbers`` for the configured region; only valid numbers
    count, which keeps prices, dates and BTC amounts (``$150``, ``2014-01-05``, ``0.0123 BTC``)
    out.

What it requires of the data
    Any ``str``. Regions are ISO 3166 codes understood by ``phonenumbers`` (default ``"US"``).

Inputs

    ========  =======================================================  =========
    name      meaning                                                  default
    ========  =======================================================  =========
    text      the ad text (title and body)                             required
    region    region for numbers written without a country code       ``"US"``
    kinds     which kinds to look for (phone, email, url, handle)      all four
    ========  =======================================================  =========

Example
    >>> masked, found = mask_identifiers("Call 202*555*0143 or jane at gmail dot com")
    >>> masked
    'Call [PHONE] or [EMAIL]'
    >>> [(i.kind, i.value) for i in found]
    [('phone', '+12025550143'), ('email', 'jane@gmail.com')]
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


# ------------------------------------------------------------------ de-obfuscation for phones


@lru_cache(maxsize=1)
def _digit_table() -> dict[int, str]:
    """Every Unicode character with a digit value (full-width, Arabic-Indic, circled, ...) → ASCII.

    Planes 0 and 1 hold every such character (up to the segmented digits at U+1FBF9).
    """
    table: dict[int, str] = {}
    for cp in range(0x80, 0x20000):
        ch = chr(cp)
        d = unicodedata.digit(ch, None)
        if d is not None and d < 10:
            table[cp] = str(d)
    return table


_WORD_DIGITS = {
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
}
# Emoji keycaps are a digit, an optional VS16 and U+20E3; digit words are whole words.
_REWRITE = re.compile(
    r"(?P<kc>[0-9])\ufe0f?\u20e3|\b(?P<w>" + "|".join(_WORD_DIGITS) + r")\b", re.IGNORECASE
)
# A digit-like character: a digit, or a look-alike letter that counts only inside a run.
_H = r"[0-9OoIl]"
# Between digit groups: up to 4 characters that are neither letters, digits nor the punctuation
# that separates prices and times ($ : , ; ...). Newlines end a run.
_SEP = r"(?:[^\w\n$€£¥%:;,!?'\"<>&#@=]|_){0,4}"
_RUN = re.compile(rf"(?<![0-9A-Za-z+])\+?{_H}(?:{_SEP}{_H}){{6,24}}(?![0-9A-Za-z])")
_GROUP = re.compile(r"[0-9OoIl]+")
_HOMOGLYPH = str.maketrans({"O": "0", "o": "0", "I": "1", "l": "1"})


def _deobfuscate(text: str) -> tuple[str, list[int] | None]:
    """Text with digit look-alikes rewritten as ASCII digits, and a map back to ``text``.

    The map ``pos`` gives, for each character of the result, its start in ``text`` (plus one
    sentinel at the end); ``None`` means the identity (nothing changed length).
    """
    # one code point → one digit: lengths unchanged (the table is built on first non-ASCII text)
    t = text if text.isascii() else text.translate(_digit_table())
    if "\u20e3" not in t and not _REWRITE.search(t):
        return t, None
    out: list[str] = []
    pos: list[int] = []
    last = 0
    for m in _REWRITE.finditer(t):
        out.append(t[last : m.start()])
        pos.extend(range(last, m.start()))
        out.append(m.group("kc") or _WORD_DIGITS[m.group("w").lower()])
        pos.append(m.start())
        last = m.end()
    out.append(t[last:])
    pos.extend(range(last, len(t)))
    pos.append(len(t))
    return "".join(out), pos


@lru_cache(maxsize=65536)
def _valid_phone(digits: str, region: str) -> str | None:
    """E.164 form of ``digits`` if ``phonenumbers`` calls it a valid number in ``region``."""
    try:
        num = phonenumbers.parse(digits, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(num):
        return None
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)


def _phones_in_run(run: str, plus: bool, region: str) -> list[tuple[int, int, str]]:
    """Valid numbers in one run of digit groups, as (start, end, e164) relative to the run.

    A run may hold a price or a date next to a number ("450 202 555 0143"), so numbers are
    sought over consecutive groups, longest valid candidate first. Only phone-shaped candidates
    count: the last group has 4+ digits (``202-555-0143``, ``2025550143``, ``+1 202 5550143``),
    where a stretch of single digits (spaced out or spelled) counts as one group. Columns of two-digit figures in
    a table ("| 20 | 41 | 91 |") are not numbers, however valid their digits would be.
    """
    groups: list[tuple[int, int, str, bool]] = []
    for m in _GROUP.finditer(run):
        g = (m.start(), m.end(), m.group().translate(_HOMOGLYPH))
        if groups and len(g[2]) == 1 and groups[-1][3]:
            # spaced-out or spelled digits ("0 1 4 3") form one group
            s0, _, d0, _ = groups[-1]
            groups[-1] = (s0, g[1], d0 + g[2], True)
        else:
            groups.append((*g, len(g[2]) == 1))
    if sum(len(g[2]) for g in groups) < 8:
        return []
    real = sum(c.isdigit() for c in run)
    if real < 6 or real < sum(len(g[2]) for g in groups) - 4:
        return []  # mostly letters that only look like digits ("lOOl")
    if plus:
        for j in range(len(groups), 0, -1):
            digits = "".join(g[2] for g in groups[:j])
            e164 = _valid_phone("+" + digits, region) if 8 <= len(digits) <= 15 else None
            if e164:
                return [(0, groups[j - 1][1], e164)]
    found: list[tuple[int, int, str]] = []
    i = 0
    while i < len(groups):
        hit = None
        total = 0
        for j in range(i, len(groups)):
            total += len(groups[j][2])
            if total > 15:
                break
            cand = groups[i : j + 1]
            if total < 8 or len(cand[-1][2]) < 4 or not _plausible(run, groups, i, j):
                continue
            e164 = _valid_phone("".join(g[2] for g in cand), region)
            if e164:
                hit = (j, e164)  # keep the longest valid candidate from i
        if hit is None:
            i += 1
            continue
        j, e164 = hit
        found.append((groups[i][0], groups[j][1], e164))
        i = j + 1
    return found


def _plausible(run: str, groups: list[tuple[int, int, str, bool]], i: int, j: int) -> bool:
    """Whether groups i..j of a run can be a phone number rather than a list of figures.

    Figures that all end in 0 and are separated by spaces only (``rates 200 350 600 1000``)
    are a price list, even where their digits make a valid number. (A real number whose three
    groups all end in 0, written with spaces only, is lost; one with any other separator is kept.)
    """
    seps = [run[groups[k - 1][1] : groups[k][0]] for k in range(i + 1, j + 1)]
    spaces = bool(seps) and all(not sep.strip() for sep in seps)
    return not (spaces and all(g[2].endswith("0") for g in groups[i : j + 1]))


def _find_phones(text: str, region: str) -> list[Identifier]:
    t, pos = _deobfuscate(text)
    out: list[Identifier] = []
    for m in _RUN.finditer(t):
        run = m.group()
        plus = run.startswith("+")
        for s, e, e164 in _phones_in_run(run, plus, region):
            s, e = m.start() + s, m.start() + e
            if plus and s == m.start() + 1:
                s -= 1  # mask the "+" too
            if s > 0 and t[s - 1] == "(":
                s -= 1
            if e < len(t) and t[e] == ")":
                e += 1
            if pos is not None:
                s, e = pos[s], pos[e]  # back to the original text (keycaps, digit words)
            out.append(Identifier("phone", e164, s, e))
    return out


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
    out = [
        Identifier("email", f"{m['user']}@{m['dom']}".lower(), m.start(), m.end())
        for m in _EMAIL.finditer(text)
    ]
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
    if not text:
        return []
    taken: list[Identifier] = []
    for kind in KINDS:
        if kind not in kinds:
            continue
        finder = _FINDERS[kind]
        found = _find_phones(text, region) if finder is None else finder(text)
        for ident in found:
            if all(ident.end <= t.start or ident.start >= t.end for t in taken):
                taken.append(ident)
    taken.sort(key=lambda i: i.start)
    return taken


def mask_identifiers(
    text: str, region: str = "US", kinds: tuple[str, ...] = KINDS
) -> tuple[str, list[Identifier]]:
    """``text`` with every identifier replaced by its typed token, and the identifiers found."""
    found = extract_identifiers(text, region, kinds)
    if not found:
        return text, found
    parts: list[str] = []
    last = 0
    for ident in found:
        parts.append(text[last : ident.start])
        parts.append(TOKENS[ident.kind])
        last = ident.end
    parts.append(text[last:])
    return "".join(parts), found


_DIGIT = re.compile(r"\d")
_MAYBE = re.compile(r"@|\u20e3|\b(?:at|" + "|".join(_WORD_DIGITS) + r")\b", re.IGNORECASE)
_FALLBACK = re.compile(r"\d[\d\W_]{5,}\d|\S+@\S+")


def mask_text(text: str) -> str:
    """Phones and e-mails in ``text`` masked; for log messages. Fast, and never raises.

    Text with fewer than 7 digits and no ``@``, keycap or digit word cannot hold a phone number
    or an e-mail and is returned as it is. If anything goes wrong, every run of 7+ digits and
    every ``x@y`` is masked crudely instead.
    """
    try:
        if len(_DIGIT.findall(text)) < 7 and not _MAYBE.search(text):
            return text
        return mask_identifiers(text, "US", ("phone", "email"))[0]
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
