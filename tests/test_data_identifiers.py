"""Identifier extraction and masking: the obfuscations ads use, false positives, properties."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adowner.data.identifiers import (
    _deobfuscate,
    extract_identifiers,
    hash_identifier,
    mask_identifiers,
    mask_text,
)


def _phones(text: str, region: str = "US") -> list[str]:
    return [i.value for i in extract_identifiers(text, region) if i.kind == "phone"]


@pytest.mark.parametrize(
    ("text", "e164"),
    [
        ("call 202*555*0143 now", "+12025550143"),
        ("312 • 555 • 0187 ask for Mia", "+13125550187"),
        ("(213-555- 0119) xoxo", "+12135550119"),
        ("text 415.555.0162 babe", "+14155550162"),
        ("two zero two five five five zero one four three", "+12025550143"),
        ("202 five five five 0143", "+12025550143"),
        ("2️⃣0️⃣2️⃣5️⃣5️⃣5️⃣0️⃣1️⃣4️⃣3️⃣ babe", "+12025550143"),
        ("２０２－５５５－０１４３", "+12025550143"),  # full-width
        ("٢٠٢-٥٥٥-٠١٤٣", "+12025550143"),  # Arabic-Indic digits
        ("2O2-555-Ol43 call", "+12025550143"),  # O for 0, l for 1
        ("1-202-555-0143", "+12025550143"),
        ("+1 (202) 555-0143", "+12025550143"),
        ("whatsapp: 2025550143", "+12025550143"),
        ("$150 2025550143 $200", "+12025550143"),
        ("450 202 555 0143", "+12025550143"),  # a price in front of the number
        ("available 24/7 202 555 0143", "+12025550143"),
        ("inquiries 6️⃣1️⃣5️⃣5️⃣5️⃣5️⃣0️⃣1️⃣7️⃣0️⃣!", "+16155550170"),  # ends in 0, one piece
    ],
)
def test_obfuscated_us_numbers_are_found_in_e164(text, e164):
    assert _phones(text) == [e164]
    masked, _ = mask_identifiers(text)
    assert "[PHONE]" in masked
    assert not re.search(r"5\D{0,4}5\D{0,4}5", _deobfuscate(masked)[0])


def test_international_number_and_region_setting():
    assert _phones("ring +44 20 7946 0958 today") == ["+442079460958"]
    assert _phones("ring 020 7946 0958 today", region="GB") == ["+442079460958"]
    assert _phones("ring 020 7946 0958 today", region="US") == []


@pytest.mark.parametrize(
    "text",
    [
        "0.0123 BTC",
        "$150 hh / $250 hr",
        "2014-01-05",
        "posted 01/05/2014 10:30",
        "100 150 200 250 300",
        "rates 80 120 200 350 600 1000",
        "36-24-36 5'4 120lbs 34DD",
        "incall 10am-2am, $100/hh $180/h 24/7",
        "id 1234567890123",
        "bitcoin 1BoatSLRHtKNngkdXEeobR76b53LETtpyT",
        "1.25 BTC or 0.5 BTC for 2 hours",
        "| 18 | 0,09 | 20 | 41 | 91 | 19 | 0,06 |",
        "Labtested @ 200mg MDMA",
        "Hello lol cool OOOOOOOO 1000 x pills",
        "order #12345678 shipped",
    ],
)
def test_prices_dates_and_amounts_are_not_phones(text):
    assert _phones(text) == []
    assert mask_identifiers(text, kinds=("phone",))[0] == text


def test_emails_urls_and_handles():
    text = (
        "Email Mia.S@Yahoo.com or mia at gmail dot com or jo[at]proton[dot]me. "
        "See www.Example.com/ads and http://foo.net/x?y=1. snap: janedoe IG: jane_d kik - mia99 "
        "@bunny_x"
    )
    got = [(i.kind, i.value) for i in extract_identifiers(text)]
    assert got == [
        ("email", "mia.s@yahoo.com"),
        ("email", "mia@gmail.com"),
        ("email", "jo@proton.me"),
        ("url", "example.com/ads"),
        ("url", "foo.net/x?y=1"),
        ("handle", "janedoe"),
        ("handle", "jane_d"),
        ("handle", "mia99"),
        ("handle", "bunny_x"),
    ]
    masked, _ = mask_identifiers(text)
    assert "@" not in masked
    assert "gmail" not in masked
    assert "janedoe" not in masked


@pytest.mark.parametrize(
    "text",
    ["see you at home dot", "meet me at the hotel. Come", "I am at work.com later?", "ask at 5"],
)
def test_prose_with_at_is_not_an_email(text):
    assert [i for i in extract_identifiers(text) if i.kind == "email"] == []


def test_mask_text_masks_phones_and_emails_and_is_fast_on_plain_text():
    assert mask_text("phone 202-555-0143 mail a.b@example.com") == "phone [PHONE] mail [EMAIL]"
    plain = "epoch 3 loss 0.1234 step 1000"
    assert mask_text(plain) == plain
    assert mask_text("") == ""


def test_hash_is_short_stable_and_salted():
    a = hash_identifier("phone", "+12025550143", "s1")
    assert a == hash_identifier("phone", "+12025550143", "s1")
    assert a != hash_identifier("phone", "+12025550143", "s2")
    assert a != hash_identifier("email", "+12025550143", "s1")
    assert re.fullmatch(r"[0-9a-f]{16}", a)


# ----------------------------------------------------------------------- property tests

AREAS = ["202", "212", "213", "312", "415", "512", "617", "718", "305", "404"]
KEYCAP = "\ufe0f\u20e3"
WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def _render_digit(d: str, style: str) -> str:
    if style == "fullwidth":
        return chr(0xFF10 + int(d))
    if style == "arabic":
        return chr(0x0660 + int(d))
    if style == "keycap":
        return d + KEYCAP
    return d


@st.composite
def obfuscated_number(draw):
    area = draw(st.sampled_from(AREAS))
    line = "01" + draw(st.text("0123456789", min_size=2, max_size=2))
    groups = [area, "555", line]
    sep = draw(st.sampled_from(["-", ".", " ", "*", " • ", "", "- ", " / ", "_", " ~ ", "·"]))
    rendered = []
    styles = []
    for g in groups:
        style = draw(st.sampled_from(["ascii", "fullwidth", "arabic", "keycap", "words"]))
        styles.append(style)
        if style == "words":
            rendered.append(" ".join(WORDS[int(d)] for d in g))
        else:
            rendered.append("".join(_render_digit(d, style) for d in g))
    if styles[2] == "ascii" and draw(
        st.booleans()
    ):  # homoglyphs in the line number: O for 0, l for 1
        rendered[2] = rendered[2].replace("0", draw(st.sampled_from("Oo")), 1).replace("1", "l", 1)
    words = any(" " in r or r.isalpha() for r in rendered)
    if words and sep in ("", "_"):
        sep = " "
    number = sep.join(rendered)
    prefix = draw(st.sampled_from(["", "(", "+1 ", "1-"]))
    number = f"({number})" if prefix == "(" else prefix + number
    return number, f"+1{area}555{line}"


CONTEXT = st.lists(
    st.sampled_from(["call", "me", "babe", "xoxo", "new", "in", "town", "$150", "💋", "!!", "hh"]),
    max_size=5,
).map(" ".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(obfuscated_number(), CONTEXT, CONTEXT)
def test_generated_obfuscated_numbers_are_all_detected_and_masked(num, before, after):
    number, e164 = num
    text = f"{before} {number} {after}"
    masked, found = mask_identifiers(text)
    assert [i.value for i in found if i.kind == "phone"] == [e164], text
    # after masking no run of 7+ digits of the number remains, even de-obfuscated
    digits_left = re.sub(r"\D", "", _deobfuscate(masked)[0])
    assert e164[-7:] not in digits_left
    assert not re.search(r"\d{7,}", masked)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_no_detected_number_survives_masking(text):
    masked, found = mask_identifiers(text)
    assert all(text[i.start : i.end] for i in found)
    # nothing detectable is left in the masked text
    assert [i for i in extract_identifiers(masked) if i.kind in ("phone", "email")] == []
    assert mask_text(text) is not None


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=300))
def test_mask_text_never_raises(text):
    out = mask_text(text)
    assert isinstance(out, str)
