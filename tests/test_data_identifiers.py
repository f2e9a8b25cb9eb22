"""Identifier extraction and masking: the obfuscations ads use, false positives, properties."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adowner.data.identifiers import (
    _deobfuscate,
    digit_chains,
    extract_identifiers,
    hash_identifier,
    mask_and_count,
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
    masked = mask_identifiers(text, kinds=("phone",))[0]
    assert "[PHONE]" not in masked
    # the safety net may mask a chain of 7+ digit items as [NUM], and nothing else
    assert masked == text or (digit_chains(text) and "[NUM]" in masked)
    assert mask_identifiers(text, kinds=("phone",), safety_net=False)[0] == text


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


def test_mask_text_uses_the_full_extractor_and_the_safety_net():
    # the forms of issue 14, in a log line, a report or an error message
    assert mask_text("bad row: Text4155550162Malia") == "bad row: Text[PHONE]Malia"
    assert mask_text("got 4one5-5five5-01six2 ok") == "got [PHONE] ok"
    # a number that no segmentation validates still goes, as [NUM]
    assert mask_text("ad says 415-555-01629 call") == "ad says [NUM] call"
    assert mask_text("id 1234567890123") == "id [NUM]"
    assert mask_text(12025550143) == "[PHONE]"  # not a str: str() first, never raises
    assert mask_text("see runs/prepared/ads/summary.json") == "see runs/prepared/ads/summary.json"


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


# ------------------------------------------------------- issue 14: forms seen on real ads

ISSUE_14_FORMS = [
    # glued to a word on either side
    ("Call Only : 213-555-0143Text Only : 424-555-0187", ["+12135550143", "+14245550187"]),
    ("Text4155550162", ["+14155550162"]),
    ("4155550162Malia", ["+14155550162"]),
    ("Desiree415-555-0162 let's", ["+14155550162"]),
    ("📞415-555-0162Join", ["+14155550162"]),
    ("someone4155550162phone", ["+14155550162"]),
    # separators inside the groups
    ("415-55.5-0.162", ["+14155550162"]),
    ("41.5..55.5..01.62", ["+14155550162"]),
    ("415-555-016.2", ["+14155550162"]),
    ("415-555-01..62", ["+14155550162"]),
    ("415/5.5.5/01.62", ["+14155550162"]),
    ("415//5/5/5///01.62", ["+14155550162"]),
    ("415/5550/162", ["+14155550162"]),
    ("415--555---01-62", ["+14155550162"]),
    ("41 5  55 5  01 62", ["+14155550162"]),
    ("4 1 5 5.5 5.0.1 62", ["+14155550162"]),
    ("4x1x55.5.5x0x1x6x2", ["+14155550162"]),
    ("(4:1:5) ___5:5:5___ 01:62", ["+14155550162"]),
    # digits and words mixed, in any case
    ("415-555-016two", ["+14155550162"]),
    ("(four1five) 555-01sixtwo", ["+14155550162"]),
    ("4one5-5five5-01six2", ["+14155550162"]),
    ("41 - 555 - 50 - 1SixTwo", ["+14155550162"]),
    ("Four1Five5Five5_01SixTwo", ["+14155550162"]),
    ("FOUR ONE FIVE five five five OH one six two", ["+14155550162"]),
    ("4155550l6ate", ["+14155550168"]),  # "ate" for 8
    ("call ten 213-555-0143", ["+12135550143"]),  # "ten" (1, 0) is not part of the number
    # two numbers glued
    ("213-555-0143213-555-0187", ["+12135550143", "+12135550187"]),
    ("213-555-01434245550187", ["+12135550143", "+14245550187"]),
    ("21355501434245550187", ["+12135550143", "+14245550187"]),
    # split across an emoji or a line break
    ("415-555-💋0162", ["+14155550162"]),
    ("415💋555🔥0162", ["+14155550162"]),
    ("415 ❤️ 555 ❤️ 0162", ["+14155550162"]),
    ("text me 415-555-\n0162", ["+14155550162"]),
    ("415\r\n555\r\n0162", ["+14155550162"]),
    # look-alikes from other scripts and full-width letters
    ("2Ο2-555-Ο143", ["+12025550143"]),  # Greek omicron
    ("2О2-555-О143", ["+12025550143"]),  # Cyrillic O
    ("2O2-555-0Ӏ43", ["+12025550143"]),  # Cyrillic palochka for 1
    ("ｆｉｖｅ 4155550162", ["+14155550162"]),  # full-width letters: a spelled 5 before it
    ("fivе fivе fivе 0162 415", []),  # Cyrillic е in "five": digits, but no valid number
    # the country code and a "+"
    ("call +1 415 555 0162", ["+14155550162"]),
    ("1 (415) 555-0162", ["+14155550162"]),
    ("+1-415-555-0162", ["+14155550162"]),
]


@pytest.mark.parametrize(("text", "e164s"), ISSUE_14_FORMS)
def test_issue_14_forms(text, e164s):
    masked, found, _ = mask_and_count(text)
    assert [i.value for i in found if i.kind == "phone"] == e164s
    assert digit_chains(masked) == []  # nothing of 7+ digit items is left


def test_masked_spans_cover_the_number_and_its_brackets():
    masked, _ = mask_identifiers("xx (four1five) 555-01sixtwo yy")
    assert masked == "xx [PHONE] yy"
    assert mask_identifiers("call +1 415 555 0162 now")[0] == "call [PHONE] now"
    assert mask_identifiers("2️⃣0️⃣2️⃣5️⃣5️⃣5️⃣0️⃣1️⃣4️⃣3️⃣!")[0] == "[PHONE]!"
    assert mask_identifiers("Text4155550162Malia")[0] == "Text[PHONE]Malia"


@pytest.mark.parametrize(
    "text",
    [
        "someone often ate at a date, phone me, ten tents",  # digit words inside other words
        "lol cool OOOO llll IOIO",  # homoglyphs away from digits are letters
        "one two three four",  # four spelled digits: no chain
        "4x4 truck, 2x2",
    ],
)
def test_letters_are_not_digit_items_out_of_place(text):
    assert digit_chains(text, min_items=1) == [] or max(n for *_, n in digit_chains(text, 1)) < 7
    assert mask_identifiers(text)[0] == text


def test_digit_items_and_chains():
    assert digit_chains("call 415-555-0162 now") == [(5, 17, 10)]
    assert digit_chains("Four1Five5Five5_01SixTwo") == [(0, 24, 10)]
    assert digit_chains("$150 $200") == []
    assert digit_chains("$150 $200", min_items=3) == [(1, 9, 6)]
    assert digit_chains("4 1 5 five five five", min_items=1) == [(0, 20, 6)]
    # the safety net's chains bridge gaps of up to NET_GAP non-letters (emoji count as one)
    assert digit_chains("415 555 ....... 0162") == [(0, 20, 10)]
    assert digit_chains("415 555 👩🏽‍❤️‍👨👩🏽‍❤️‍👨👩🏽‍❤️‍👨 0162")[0][2] == 10
    # a longer gap, or any letter, ends a chain
    assert digit_chains("415 555 ............. 0162") == []
    assert digit_chains("415 555 a 0162") == []


def test_a_number_split_by_a_long_gap_is_no_phone_but_is_masked():
    text = "call 415 555 ---------- 0162 now"  # 10 dashes: no number, but no survivor either
    masked, found, net = mask_and_count(text)
    assert found == []
    assert (masked, net) == ("call [NUM] now", 1)
    assert _phones("call 415 555 ---- 0162 now") == ["+14155550162"]  # a gap of 6


def test_canonical_grouping_wins_over_a_price_in_front():
    assert _phones("450 202 555 0143") == ["+12025550143"]
    assert _phones("$150 2025550143 $200") == ["+12025550143"]
    assert _phones("24/7 202 555 0143") == ["+12025550143"]
    # the leading 1 is read as the country code and masked with the number
    assert mask_identifiers("1 415 555 0162")[0] == "[PHONE]"


@pytest.mark.parametrize(
    "text",
    [
        "posted 2014-01-05 10:30",  # a date and a time make valid-looking digits
        "| 18 | 0,09 | 20 | 41 | 91 | 19 | 0,06 |",  # a table of figures
        "rates 350 600 1000",  # figures that end in 0, spaces only
        "$415 $555 $0162",  # money in the separators
        "id 1234567890123",  # one group longer than a number: no cut without a glued partner
        "415-555-01629",  # a digit too many
    ],
)
def test_figures_are_not_phones_but_the_safety_net_masks_them(text):
    masked, found, net = mask_and_count(text)
    assert found == []
    assert net == 1
    assert "[NUM]" in masked
    assert digit_chains(masked) == []


@pytest.mark.parametrize(
    "text",
    ["$150", "$150 hh / $250 hr", "01/05/14 ok", "0.0123 BTC", "5'4 120lbs 34DD", "555-014"],
)
def test_short_figures_are_left_alone(text):
    # under 7 digit items: not even the safety net touches them
    assert mask_and_count(text) == (text, [], 0)


@pytest.mark.parametrize("text", ["2014-01-05", "call 555-0143", "36-24-36 110lbs"])
def test_seven_digit_items_are_masked_even_without_an_area_code(text):
    masked, found, net = mask_and_count(text)
    assert found == []
    assert net == 1
    assert "[NUM]" in masked


def test_safety_net_counts_what_is_left_around_a_phone():
    masked, found, net = mask_and_count("$100 $150 call 415 555 0162 and 2014-01-05 or 2015")
    assert [i.value for i in found] == ["+14155550162"]
    assert masked == "$100 $150 call [PHONE] and [NUM] or 2015"
    assert net == 1
    masked, _, net = mask_and_count("100 150 200 415 555 0162 100 150 200")
    assert masked == "[NUM] [PHONE] [NUM]"
    assert net == 2
    # off when phones are not sought
    assert mask_and_count("100 150 200 250", kinds=("email",)) == ("100 150 200 250", [], 0)


def test_other_regions_still_use_their_own_groupings():
    assert _phones("ring 020 7946 0958 today", region="GB") == ["+442079460958"]
    assert _phones("020-7946-0958020-7946-0959", region="GB") == ["+442079460958", "+442079460959"]
    # a US reading of the same digits finds no number, and the safety net masks them
    assert mask_identifiers("ring 020 7946 0958 today")[0] == "ring [NUM] today"


def test_homoglyphs_are_capped_and_must_touch_a_digit():
    assert _phones("2O2-555-OlO3") == ["+12025550103"]  # 4 homoglyphs
    assert _phones("2O2-5O5-OlO3") == []  # 5: letters, not a number
    assert _phones("lOl 4155550162") == ["+14155550162"]  # "lOl" does not touch a digit


def test_deobfuscate_keeps_lengths():
    for text in ("Four1Five5Five5_01SixTwo", "2️⃣0️⃣2️⃣ ２０２", "plain text", "İstanbul 2O2"):
        assert len(_deobfuscate(text)[0]) == len(text)
    assert _deobfuscate("4one5-5five5-01six2")[0].replace("\x01", "") == "415-555-0162"


@pytest.mark.parametrize(
    ("text", "e164s"),
    [
        ("call 41 5555 01 62 24/7", ["+14155550162"]),  # 24/7 does not join the number
        ("24/7 ４-0—４٥5️⃣５o１8..2 $200/hr", ["+14045550182"]),
        ("24/7 24/7 24/7 24/7 babe", []),
        ("call 5.5.01 4155550162", ["+14155550162"]),
        ("41 5-55-5-01 62", ["+14155550162"]),  # 5-5-01: a two-digit "year" is no date
        ("Malia+14 • 1️⃣/5💋٥.٥-٥-٠1️⃣💋2___٩xoxo", ["+14155550129"]),
    ],
)
def test_round_the_clock_and_short_dates(text, e164s):
    masked, found, _ = mask_and_count(text)
    assert [i.value for i in found] == e164s
    assert digit_chains(masked) == []
