"""Fictional phone numbers and the ways ads write them.

Every number is ``NXX-555-01xx``: a real US area code with the ``555-0100``..``555-0199`` line
range that the North American Numbering Plan reserves for fiction, so no generated ad ever shows a
real person's number. ``phonenumbers`` accepts these as valid US numbers, so the extraction code
in ``adowner.data`` sees them exactly as it would real ones.

``render_phone(digits, fmt, rng)`` writes a 10-digit number in one of the formats that escort ads
use to dodge scrapers (the obfuscations listed in issue 2):

| fmt | example |
|---|---|
| ``dash`` | ``202-555-0143`` |
| ``paren`` | ``(202) 555-0143`` |
| ``dot`` | ``415.555.0162`` |
| ``space`` | ``202 555 0143`` |
| ``plain`` | ``2025550143`` |
| ``plus1`` | ``+1 202 555 0143`` |
| ``star`` | ``202*555*0143`` |
| ``bullet`` | ``312 • 555 • 0187`` |
| ``paren_gap`` | ``(213-555- 0119)`` |
| ``slash`` | ``202/555/0143`` |
| ``spaced`` | ``2 0 2 5 5 5 0 1 4 3`` |
| ``words`` | ``two zero two five five five zero one four three`` |
| ``mixed_words`` | ``202 five five five 0143`` |
| ``keycaps`` | ``2️⃣0️⃣2️⃣5️⃣5️⃣5️⃣0️⃣1️⃣4️⃣3️⃣`` |
| ``fullwidth`` | ``２０２-５５５-０１４３`` |
| ``o_for_0`` | ``2O2-555-O143`` |
| ``l_for_1`` | ``202-555-0l43`` |
| ``emoji_sep`` | ``202💋555💋0143`` (the owner's emoji as separator) |

Example::

    >>> import random
    >>> render_phone("2025550143", "star", random.Random(0))
    '202*555*0143'
"""

from __future__ import annotations

import random

from adowner.simulate.vocab import CITIES

FORMATS = (
    "dash", "paren", "dot", "space", "plain", "plus1", "star", "bullet", "paren_gap", "slash",
    "spaced", "words", "mixed_words", "keycaps", "fullwidth", "o_for_0", "l_for_1", "emoji_sep",
)  # fmt: skip
# How common each format is as an owner's habit: plain formats dominate, as in real ads.
FORMAT_WEIGHTS = (
    10, 6, 6, 5, 4, 2, 3, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2,
)  # fmt: skip

# Real US area codes beyond the cities' own, for burner phones bought anywhere.
EXTRA_AREA_CODES = (
    201, 203, 205, 207, 208, 209, 219, 224, 225, 228, 229, 231, 234, 239, 240, 248, 251, 252,
    254, 256, 260, 262, 269, 270, 276, 301, 302, 304, 307, 308, 309, 315, 316, 318, 319, 320,
    330, 331, 334, 336, 337, 339, 347, 352, 360, 361, 386, 402, 405, 406, 408, 409, 413, 417,
    419, 423, 424, 432, 434, 435, 440, 442, 478, 479, 501, 502, 505, 507, 508, 509, 510, 513,
    515, 516, 517, 518, 520, 530, 540, 541, 551, 559, 561, 562, 563, 567, 570, 571, 573, 574,
    580, 585, 586, 601, 603, 605, 606, 607, 608, 609, 610, 616, 618, 620, 626, 630, 631, 636,
    641, 650, 651, 657, 660, 661, 662, 701, 703, 706, 707, 708, 712, 714, 715, 716, 717, 719,
    724, 727, 731, 732, 734, 740, 754, 757, 760, 763, 765, 770, 772, 774, 775, 781, 785, 802,
    803, 805, 806, 810, 812, 814, 815, 817, 828, 830, 831, 843, 845, 847, 848, 850, 856, 859,
    863, 864, 865, 870, 903, 906, 907, 908, 909, 910, 912, 913, 914, 915, 918, 919, 920, 925,
    928, 931, 936, 937, 940, 941, 949, 951, 952, 954, 956, 970, 978, 979, 985, 989,
)  # fmt: skip
ALL_AREA_CODES = tuple(sorted({a for c in CITIES for a in c[4]} | set(EXTRA_AREA_CODES)))

_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_KEYCAP = "\ufe0f\u20e3"
_FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def fictional_number(area_code: int, line: int) -> str:
    """The 10 digits of ``area_code``-555-01``line`` (``line`` in 0..99)."""
    if not 0 <= line <= 99:
        raise ValueError(f"line must be in 0..99, got {line}")
    return f"{area_code:03d}5550{100 + line:03d}"


def e164(digits: str) -> str:
    """``+1`` and the 10 digits."""
    return "+1" + digits


# The formats that write the three groups (area code, exchange, line) into a template.
_TEMPLATES = {
    "dash": "{a}-{b}-{c}", "paren": "({a}) {b}-{c}", "dot": "{a}.{b}.{c}", "space": "{a} {b} {c}",
    "plain": "{a}{b}{c}", "plus1": "+1 {a} {b} {c}", "star": "{a}*{b}*{c}",
    "bullet": "{a} • {b} • {c}", "paren_gap": "({a}-{b}- {c})", "slash": "{a}/{b}/{c}",
    "emoji_sep": "{a}{emoji}{b}{emoji}{c}",
}  # fmt: skip
# Letters written for a digit (with a separator drawn from ``rng``): the digit and its look-alike.
_LOOKALIKES = {"o_for_0": ("0", "O"), "l_for_1": ("1", "l")}


def render_phone(digits: str, fmt: str, rng: random.Random, emoji: str = "💋") -> str:
    """Write a 10-digit number in format ``fmt`` (see the module table)."""
    a, b, c = digits[:3], digits[3:6], digits[6:]
    if fmt in _TEMPLATES:
        return _TEMPLATES[fmt].format(a=a, b=b, c=c, emoji=emoji)
    if fmt in _LOOKALIKES:
        digit, letter = _LOOKALIKES[fmt]
        sep = rng.choice(("-", ".", " "))
        return f"{a}{sep}{b}{sep}{c}".replace(digit, letter)
    if fmt == "spaced":
        return " ".join(digits)
    if fmt == "words":
        return " ".join(_WORDS[int(d)] for d in digits)
    if fmt == "mixed_words":
        return f"{a} {' '.join(_WORDS[int(d)] for d in b)} {c}"
    if fmt == "keycaps":
        return "".join(d + _KEYCAP for d in digits)
    if fmt == "fullwidth":
        return f"{a}-{b}-{c}".translate(_FULLWIDTH)
    raise ValueError(f"unknown phone format {fmt!r}")


class PhonePool:
    """Hands out fictional numbers, each to one owner, preferring the city's own area codes.

    The fictional range holds 100 numbers per area code (about 25,000 in all), so a very large
    run must reuse numbers; ``reused`` counts numbers handed out twice. Operators' recycled burner
    phones are handed out on purpose through ``recycle``.
    """

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()
        self.retired: list[tuple[str, int, float]] = []  # (digits, owner index, day dropped)
        self._retired_set: set[str] = set()
        self.reused = 0

    def new(self, local_codes: tuple[int, ...], p_local: float = 0.7) -> str:
        """A number not handed out before (local area code with probability ``p_local``)."""
        for attempt in range(12):
            codes = local_codes if attempt < 4 and self.rng.random() < p_local else ALL_AREA_CODES
            digits = fictional_number(self.rng.choice(codes), self.rng.randrange(100))
            if digits not in self.used:
                self.used.add(digits)
                return digits
        self.reused += 1
        return fictional_number(self.rng.choice(ALL_AREA_CODES), self.rng.randrange(100))

    def retire(self, digits: str, owner: int, day: float) -> None:
        """Mark a burner as dropped by ``owner`` on ``day``; it may be recycled to someone else."""
        if digits not in self._retired_set:
            self._retired_set.add(digits)
            self.retired.append((digits, owner, day))

    def recycle(self, owner: int, day: float, quarantine: float = 30.0) -> str | None:
        """A number another owner dropped at least ``quarantine`` days before ``day`` (carriers
        reassign numbers after a while), or None if there is none."""
        candidates = [
            i for i, (_, o, d) in enumerate(self.retired) if o != owner and d + quarantine <= day
        ]
        if not candidates:
            return None
        digits, _, _ = self.retired.pop(self.rng.choice(candidates))
        return digits
