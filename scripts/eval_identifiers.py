"""Measure the identifier extractor (issue 14): recall, what the safety net masks, leftovers.

What it measures
    * ``--sim DIR``: recall on the simulator's ground truth (``adowner simulate``): for each ad of
      ``ads.parquet``, the phones, e-mails and handles found in title + body, hashed as the
      simulator hashes them, against ``ad_truth.parquet``; per phone format; extra phones; ads
      whose masked text differs from the simulator's ``text_masked``; ads with ``[NUM]``.
    * ``--generated N``: recall on N numbers built from random digit items (ASCII, full-width,
      Arabic-Indic, keycaps, spelled digits in random case, homoglyphs), random groupings and
      separators, glued to words or set among prices (the forms of issue 14; fictional
      NXX-555-01xx). Found = the E.164 built is found as a phone; caught = found, or else
      masked by the safety net.
    * ``--ads FILE``: over-masking on ads that hold no phone number in clear (already masked):
      ads and spans that get ``[NUM]`` or a new ``[PHONE]``, with a few short *masked* excerpts.

    * ``--speed N``: masking speed (title and body of each ad, ads per CPU second) on N ads of
      ``scripts/bench_prepare.py``'s generator and on ``--ads``; with ``--baseline FILE`` (an
      older ``identifiers.py``, e.g. from ``git show REV:src/adowner/data/identifiers.py``)
      the two are timed in turn, twice, in one process.

    Every figure also counts the texts in which a chain of 7+ digit items is left after
    masking (``digit_chains``); it must be 0.

Usage
    python scripts/eval_identifiers.py --sim /tmp/sim14 --generated 20000 \\
        --ads ../shared/data/escort_ads/backpage_ca_dev.parquet
    git show 974032f:src/adowner/data/identifiers.py > /tmp/old_identifiers.py
    python scripts/eval_identifiers.py --speed 20000 --baseline /tmp/old_identifiers.py \\
        --ads ../shared/data/escort_ads/backpage_ca_dev.parquet
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import re

import pandas as pd

from adowner.data import identifiers
from adowner.data.identifiers import digit_chains, mask_and_count

AREAS = ["213", "312", "415", "424", "512", "617", "718", "305", "404", "646", "818", "702"]
WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
SEPS = [
    "", "-", ".", " ", "  ", "*", " • ", "/", "//", "..", "_", "___", " - ", "~", "\n", " \n ",
    "💋", "📞", "🔥 ", ":", ") ", " (", "·", "\t", "—", "=", "#", "❤️", " ✨ ", "...",
]  # fmt: skip
GLUE = ["Text", "Call", "Malia", "Join", "Desiree", "babe", "xoxo", "someone", "phone", "Me"]
CONTEXT = ["call", "me", "babe", "new", "in", "town", "$150", "💋", "!!", "hh", "24/7", "$200/hr"]
PLAIN = ("ascii", "fullwidth", "arabic")


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
        return "".join(c.upper() if rng.random() < 0.5 else c for c in word)
    if style == "homoglyph":
        return rng.choice({"0": "OoΟо", "1": "lI"}[d])
    return d


def generated_number(rng: random.Random) -> tuple[str, str]:
    """(text holding one obfuscated number, its E.164); as tests/test_identifiers_properties.py."""
    digits = rng.choice(AREAS) + "555" + "01" + rng.choice("0123456789") + rng.choice("123456789")
    cuts = {3, 6} if rng.random() < 0.5 else set(rng.sample(range(1, 10), rng.randint(0, 9)))
    styles = [
        rng.choice(["ascii", "ascii", "fullwidth", "arabic", "keycap", "word"]) for _ in digits
    ]
    homoglyphs = 0
    for k, d in enumerate(digits):
        if d not in "01" or homoglyphs >= 3 or rng.random() < 0.5:
            continue
        glued = [q for q in (k - 1, k + 1) if 0 <= q < 10 and max(k, q) not in cuts]
        if glued and all(styles[q] in PLAIN for q in glued):
            styles[k] = "homoglyph"
            homoglyphs += 1
    pool = SEPS + ([" | ", ", ", "; "] if cuts <= {3, 6} else [])
    out = []
    for k, d in enumerate(digits):
        if k in cuts:
            sep = rng.choice(pool)
            if sep == "" and "homoglyph" in (styles[k - 1], styles[k]):
                sep = "-"
            out.append(sep)
        out.append(_item(d, styles[k], rng))
    number = "".join(out)
    prefix = rng.choice(["", "", "1 ", "1-", "+1 ", "+1", "(", "1 ("])
    number = f"{prefix}{number})" if "(" in prefix else prefix + number

    def glue(style: str) -> str:
        return rng.choice([" ", ": ", "-", "💋"]) if style in ("word", "homoglyph") else ""

    how = rng.randrange(4)
    before, after = rng.choice(GLUE), rng.choice(GLUE)
    if how == 0:
        text = before + glue(styles[0]) + number + glue(styles[-1]) + after
    elif how == 1:
        text = before + glue(styles[0]) + number
    elif how == 2:
        text = number + glue(styles[-1]) + after
    else:
        ctx = [rng.choice(CONTEXT) for _ in range(rng.randint(0, 4))]
        text = " ".join([*ctx[:2], number, *ctx[2:]])
    return text, "+1" + digits


def eval_generated(n: int, seed: int = 0) -> dict:
    rng = random.Random(seed)
    found = caught = left = 0
    misses: list[str] = []
    for _ in range(n):
        text, e164 = generated_number(rng)
        masked, ids, net = mask_and_count(text)
        ok = [i.value for i in ids if i.kind == "phone"] == [e164]
        found += ok
        caught += ok or net > 0
        left += bool(digit_chains(masked))
        if not ok and len(misses) < 5:
            misses.append(text)
    return {
        "numbers": n,
        "found_as_phone": found,
        "caught_phone_or_num": caught,
        "texts_with_a_chain_left": left,
        "first_misses": misses,
    }


def eval_sim(folder: str) -> dict:
    from adowner.simulate.marketplace import id_hash

    ads = pd.read_parquet(f"{folder}/ads.parquet")
    truth = pd.read_parquet(f"{folder}/ad_truth.parquet").set_index("ad_id")
    by_fmt: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
    kinds = {"email": [0, 0], "handle": [0, 0]}
    extra = net_ads = left = same = 0
    for ad_id, title, body in zip(
        ads["ad_id"], ads["title"].fillna(""), ads["body"].fillna(""), strict=True
    ):
        tr = truth.loc[ad_id]
        masked, found, net = mask_and_count(f"{title}\n{body}")
        net_ads += net > 0
        left += bool(digit_chains(masked))
        same += masked == tr["text_masked"]
        got = {k: {id_hash(i.value) for i in found if i.kind == k} for k in ("phone", *kinds)}
        want = tr["phone_hash"] if isinstance(tr["phone_hash"], str) else None
        if want:
            by_fmt[tr["phone_format"]][1] += 1
            by_fmt[tr["phone_format"]][0] += want in got["phone"]
        extra += len(got["phone"] - {want})
        for k, acc in kinds.items():
            if isinstance(tr[f"{k}_hash"], str):
                acc[1] += 1
                acc[0] += tr[f"{k}_hash"] in got[k]
    return {
        "ads": len(ads),
        "phones_found": sum(v[0] for v in by_fmt.values()),
        "phones": sum(v[1] for v in by_fmt.values()),
        "extra_phones": extra,
        "emails_found": kinds["email"],
        "handles_found": kinds["handle"],
        "ads_masked_as_simulator_did": same,
        "ads_with_num": net_ads,
        "ads_with_a_chain_left": left,
        "phones_by_format": {f: f"{a}/{b}" for f, (a, b) in sorted(by_fmt.items())},
    }


def eval_ads(path: str, excerpts: int = 3) -> dict:
    df = pd.read_parquet(path)
    ads_num = spans_num = ads_phone = phones = left = 0
    shown: list[str] = []
    for title, body in zip(df["title"].astype(str), df["body"].astype(str), strict=True):
        n_num = n_phone = 0
        for text in (title, body):
            masked, found, net = mask_and_count(text)
            n_num += net
            n_phone += sum(1 for i in found if i.kind == "phone")
            left += bool(digit_chains(masked))
            for m in re.finditer(r"\[NUM\]", masked):
                if net and len(shown) < excerpts:
                    # a short excerpt of the *masked* text only
                    shown.append(masked[max(0, m.start() - 20) : m.end() + 12].replace("\n", " "))
        ads_num += n_num > 0
        spans_num += n_num
        ads_phone += n_phone > 0
        phones += n_phone
    return {
        "ads": len(df),
        "ads_with_num": ads_num,
        "num_spans": spans_num,
        "ads_with_new_phone": ads_phone,
        "new_phones": phones,
        "texts_with_a_chain_left": left,
        "masked_excerpts": shown,
    }


def eval_speed(n: int, ads: str | None, baseline: str | None) -> dict:
    import importlib.util
    import sys
    import time
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from bench_prepare import generate

    bench = generate(n, seed=0)
    sets = {"bench_prepare ads": list(zip(bench["title"], bench["body"], strict=True))}
    if ads:
        df = pd.read_parquet(ads)
        sets["--ads"] = list(zip(df["title"].astype(str), df["body"].astype(str), strict=True))
    modules = {"this": identifiers}
    if baseline:
        spec = importlib.util.spec_from_file_location("baseline_identifiers", baseline)
        if spec is None or spec.loader is None:
            raise SystemExit(f"cannot load {baseline}")
        mod = importlib.util.module_from_spec(spec)
        sys.modules["baseline_identifiers"] = mod
        spec.loader.exec_module(mod)
        modules["baseline"] = mod
    out: dict[str, dict[str, list[int]]] = {}
    for name, rows in sets.items():
        out[name] = {m: [] for m in modules}
        for _ in range(2):
            for label, mod in modules.items():
                mod.mask_identifiers("warm up 202-555-0143 ２")
                c = time.process_time()
                for title, body in rows:
                    mod.mask_identifiers(title)
                    mod.mask_identifiers(body)
                out[name][label].append(round(len(rows) / (time.process_time() - c)))
    return {"ads_per_cpu_s_two_runs": out}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sim", help="a folder written by `adowner simulate`")
    ap.add_argument("--generated", type=int, default=0, help="random obfuscated numbers")
    ap.add_argument("--ads", help="ads with phones already masked (parquet: title, body)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--speed", type=int, default=0, help="time masking on this many ads")
    ap.add_argument("--baseline", help="an older identifiers.py to time beside this one")
    args = ap.parse_args()
    result: dict[str, dict] = {}
    if args.sim:
        result["simulator"] = eval_sim(args.sim)
    if args.generated:
        result["generated"] = eval_generated(args.generated, args.seed)
    if args.ads and not args.speed:
        result["over_masking"] = eval_ads(args.ads)
    if args.speed:
        result["speed"] = eval_speed(args.speed, args.ads, args.baseline)
    print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
