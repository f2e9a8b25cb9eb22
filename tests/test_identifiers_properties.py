"""Property tests for the phone extractor (issue 14): numbers built from random digit items.

Every number is fictional (NXX-555-01xx). A number is drawn as its 10 digits, cut into random
groups (or the canonical 3-3-4), each digit written as an item of a random kind (ASCII,
full-width, Arabic-Indic, keycap, spelled in random case, homoglyph), the groups joined by
random separators, and the whole glued to words or set in a sentence. The checks: the E.164
found is the one built, and once masked no chain of 7+ digit items is left.

What the generator keeps out, because the extractor refuses it on purpose (documented in
``adowner.data.identifiers``): money, table and list separators (``$ % | , ;``) in a
non-canonical grouping, a last digit of 0 (spaced figures that all end in 0 are a price list),
area codes that start like a year (19xx, 20xx: dates), homoglyphs next to a letter or a keycap
(``5️⃣O``, ``Ofive``) and more than 4 of them, spelled digits glued to letters of another word.
"""

from __future__ import annotations

import random
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adowner.data.identifiers import (
    _deobfuscate,
    digit_chains,
    extract_identifiers,
    mask_identifiers,
    mask_text,
)

AREAS = ["213", "312", "415", "424", "512", "617", "718", "305", "404", "646", "818", "702"]
WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
SEPS = [
    "", "-", ".", " ", "  ", "*", " • ", "/", "//", "..", "_", "___", " - ", "~", "\n", " \n ",
    "\r\n", "💋", "📞", "🔥 ", ":", ") ", " (", "·", "\t", "—", "=", "#", "❤️", " ✨ ", "..."
]  # fmt: skip
GLUE = ["Text", "Call", "Malia", "Join", "Desiree", "babe", "xoxo", "someone", "phone", "Me"]
CONTEXT = ["call", "me", "babe", "new", "in", "town", "$150", "💋", "!!", "hh", "24/7", "$200/hr"]
PLAIN = ("ascii", "fullwidth", "arabic")  # styles that are digits for a homoglyph to touch
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _item(d: str, style: str, rng: random.Random) -> str:
    if style == "fullwidth":
        return chr(0xFF10 + int(d))
    if style == "arabic":
        return chr(0x0660 + int(d))
    if style == "keycap":
        return d + "\ufe0f\u20e3"
    if style == "word":
        word = "oh" if d == "0" and rng.random() < 0.3 else WORDS[int(d)]
        word = "ate" if d == "8" and rng.random() < 0.3 else word
        return "".join(c.upper() if rng.random() < 0.5 else c for c in word)  # random case
    if style == "homoglyph":
        return rng.choice({"0": "OoΟо", "1": "lI"}[d])
    return d


@st.composite
def numbers(draw):
    """(written number, E.164): random items, groups and separators."""
    area = draw(st.sampled_from(AREAS))
    line = "01" + draw(st.sampled_from("0123456789")) + draw(st.sampled_from("123456789"))
    digits = area + "555" + line
    rng = random.Random(draw(st.integers(0, 2**32)))
    cuts = {3, 6} if draw(st.booleans()) else set(draw(st.lists(st.integers(1, 9), max_size=9)))
    styles = [
        draw(st.sampled_from(["ascii", "ascii", "fullwidth", "arabic", "keycap", "word"]))
        for _ in digits
    ]
    # homoglyphs only for 0 and 1, glued to a plain digit and to nothing else
    homoglyphs = 0
    for k, d in enumerate(digits):
        if d not in "01" or homoglyphs >= 3 or not draw(st.booleans()):
            continue
        glued = [q for q in (k - 1, k + 1) if 0 <= q < 10 and max(k, q) not in cuts]
        if glued and all(styles[q] in PLAIN for q in glued):
            styles[k] = "homoglyph"
            homoglyphs += 1
    seps = {c: draw(st.sampled_from(SEPS)) for c in sorted(cuts)}
    canonical = cuts <= {3, 6}
    if canonical:  # money and list separators are fine in a 3-3-4 grouping
        seps = {c: draw(st.sampled_from([*SEPS, " | ", ", ", "; "])) for c in sorted(cuts)}
    out = []
    for k, d in enumerate(digits):
        if k in cuts:
            sep = seps[k]
            if sep == "" and (styles[k - 1] == "homoglyph" or styles[k] == "homoglyph"):
                sep = "-"  # a cut with no separator would glue the homoglyph to a letter
            out.append(sep)
        out.append(_item(d, styles[k], rng))
    number = "".join(out)
    prefix = draw(st.sampled_from(["", "", "1 ", "1-", "+1 ", "+1", "(", "1 ("]))
    number = f"{prefix}{number})" if "(" in prefix else prefix + number
    return number, f"+1{digits}", styles[0], styles[-1]


def _glue(word: str, style: str, rng: random.Random) -> str:
    """A separator to put between a glue word and an item of ``style`` (letters touching a
    spelled digit would make it part of another word)."""
    return rng.choice([" ", ": ", "-", "💋"]) if style in ("word", "homoglyph") else ""


@SETTINGS
@given(numbers(), st.sampled_from(GLUE), st.sampled_from(GLUE), st.integers(0, 3), st.data())
def test_a_number_glued_to_words_is_found_and_masked(num, before, after, how, data):
    number, e164, first, last = num
    rng = random.Random(data.draw(st.integers(0, 2**32)))
    if how == 0:  # glued on both sides: Text4155550162Malia
        text = before + _glue(before, first, rng) + number + _glue(after, last, rng) + after
    elif how == 1:
        text = before + _glue(before, first, rng) + number
    elif how == 2:
        text = number + _glue(after, last, rng) + after
    else:
        ctx = data.draw(st.lists(st.sampled_from(CONTEXT), max_size=4))
        text = " ".join([*ctx[:2], number, *ctx[2:]])
    masked, found = mask_identifiers(text)
    assert [i.value for i in found if i.kind == "phone"] == [e164], (text, masked)
    assert digit_chains(masked) == [], (text, masked)
    digits_left = re.sub(r"\D", "", _deobfuscate(masked)[0])
    assert e164[-7:] not in digits_left, (text, masked)


@SETTINGS
@given(numbers(), numbers())
def test_two_glued_numbers_are_both_found(a, b):
    first, second = a[0].rstrip(")"), b[0]
    if not (first[-1].isdigit() and second[0].isdigit() and second[0] != "1"):
        # the two must touch digit to digit: plain digits where they do not
        first, second = a[1][2:], b[1][2:]
    text = f"Call {first}{second} now"
    masked, found = mask_identifiers(text)
    assert [i.value for i in found if i.kind == "phone"] == [a[1], b[1]], (text, masked)
    assert digit_chains(masked) == [], (text, masked)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from("0123456789 -.()+/oOlIx•💋\n"), max_size=60))
def test_no_chain_of_digit_items_survives_masking(text):
    """Whatever the digits and separators, masking leaves no chain of 7+ digit items."""
    masked, _ = mask_identifiers(text)
    assert digit_chains(masked) == [], (text, masked)
    assert digit_chains(mask_text(text)) == []


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=200))
def test_masking_random_text_is_stable(text):
    masked, _found = mask_identifiers(text)
    assert digit_chains(masked) == []
    assert [i for i in extract_identifiers(masked) if i.kind in ("phone", "email")] == []
    assert mask_identifiers(masked)[0] == masked  # masking twice changes nothing
