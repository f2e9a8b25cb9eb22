"""Row validation: every raw row is either cleaned and kept, or quarantined with its reason.

What it computes
    :func:`validate` checks each row of the raw table (all input files together) and returns the
    clean rows in canonical columns plus one quarantine record per rejected row. It never drops a
    row silently: ``len(clean) + len(quarantine) == len(raw)``.

    ===========================  ==========================================  ===============
    check                        what happens                                field
    ===========================  ==========================================  ===============
    a list or mapping as a value quarantined ("not a single value")          the column
    (JSONL, Parquet)
    invalid UTF-8                quarantined ("invalid UTF-8")               the column
    missing or empty text        quarantined ("empty text")                  ``text``
    control characters           removed (``\\r\\n`` → ``\\n``), counted      ``text``
    text over ``max_chars``      body (then title) cut, counted              ``text``
    unparseable ``posted_at``    quarantined ("unparseable timestamp")       ``posted_at``
    non-numeric / negative       quarantined ("non-numeric price" /          ``price_*``
    price                        "negative price")
    ``sponsored`` not a flag     quarantined ("non-boolean sponsored         ``sponsored``
                                 flag"); missing means False
    missing ``ad_id``            quarantined ("missing ad_id")               ``ad_id``
    duplicate ``ad_id``          later copies quarantined                    ``ad_id``
                                 ("duplicate ad_id")
    missing owner label          quarantined ("missing owner") when the      the owner column
                                 owner comes from a column
    ===========================  ==========================================  ===============

    A row with several problems is quarantined once, for the first in this order.
    ``posted_at`` accepts ISO-8601 (naive times are taken as UTC) and epoch seconds.

What it requires of the data
    A DataFrame with a ``_file`` and a ``_row`` column and at least ``text`` or ``title``/``body``
    (a missing text column is an ``InputError`` raised by the caller, who knows the file).

Example
    >>> result = validate(raw, DataConfig(), owner_column="owner")  # doctest: +SKIP
    >>> result.counts["truncated"]  # doctest: +SKIP
    0
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from adowner.data.schema import PRICE_COLUMNS, STRING_COLUMNS, DataConfig

# Undecodable bytes (kept by the readers as U+DC80..U+DCFF) and any other lone surrogate (a
# JSON "\\ud800" escape): neither can be written as UTF-8.
_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTROL = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]"


@dataclass
class Validated:
    """Clean rows, quarantine records and counts of the fixes made to kept rows."""

    frame: pd.DataFrame
    quarantine: list[dict[str, Any]]
    counts: dict[str, int] = field(default_factory=dict)


def _clean_value(v: Any) -> str | None:
    if v is None or (not isinstance(v, str) and pd.isna(v)):
        return None
    v = v if isinstance(v, str) else str(v)
    return v if v.strip() else None


def _clean_str(s: pd.Series) -> pd.Series:
    """Values as str, with None for missing and for blank strings (object dtype, kept so)."""
    # A list, not Series.map: pandas 3 would infer its own string dtype and turn None into NaN.
    return pd.Series([_clean_value(v) for v in s], index=s.index, dtype=object)


_FLAGS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def _flag(v: Any) -> bool | None:
    """True/False from a bool, 0/1 or true/false/yes/no; False where missing; None if no flag."""
    if v is None or (not isinstance(v, str) and pd.isna(v)):
        return False
    if isinstance(v, bool):
        return v
    key = str(v).strip().lower()
    key = key[:-2] if key.endswith(".0") else key
    return _FLAGS.get(key) if key else False


def parse_timestamps(s: pd.Series) -> pd.Series:
    """ISO-8601 strings, epoch seconds or datetimes → UTC timestamps (NaT where unparseable)."""
    if pd.api.types.is_datetime64_any_dtype(s):
        return s.dt.tz_localize("UTC") if s.dt.tz is None else s.dt.tz_convert("UTC")
    out = pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns, UTC]")
    # a flag is no time (pandas would refuse it); it stays NaT, i.e. unparseable
    present = s.notna() & pd.Series(
        [not isinstance(v, bool | np.bool_) for v in s], index=s.index, dtype=bool
    )
    if not present.any():
        return out
    vals = s[present]
    num = pd.to_numeric(vals, errors="coerce")
    is_num = num.notna() & vals.map(lambda v: not isinstance(v, pd.Timestamp))
    if is_num.any():
        # epoch seconds; values beyond year 2262 overflow ns and stay NaT (unparseable)
        secs = num[is_num]
        ok = secs.abs() < 9.2e9
        out.loc[secs[ok].index] = pd.to_datetime(secs[ok], unit="s", utc=True)
    rest = vals[~is_num]
    if len(rest):
        strs = rest.map(lambda v: v.isoformat() if hasattr(v, "isoformat") else str(v).strip())
        parsed = pd.to_datetime(strs, format="ISO8601", utc=True, errors="coerce")
        # The odd non-ISO date ("Jan 5 2014") gets one slower, per-value attempt.
        for idx in parsed.index[parsed.isna()]:
            parsed.loc[idx] = pd.to_datetime(strs.loc[idx], utc=True, errors="coerce")
        # pandas 3 parses "3507-01-01" at microsecond resolution; such a time does not fit the
        # nanosecond column (an AssertionError inside pandas, found by scripts/fuzz.py), so a
        # time past 2262, like an epoch value past it above, stays NaT (unparseable).
        lo, hi = pd.Timestamp.min.tz_localize("UTC"), pd.Timestamp.max.tz_localize("UTC")
        parsed = parsed.where((parsed >= lo) & (parsed <= hi)).astype("datetime64[ns, UTC]")
        out.loc[parsed.index] = parsed
    return out


def validate(raw: pd.DataFrame, config: DataConfig, owner_column: str | None) -> Validated:
    """Check and clean every row of ``raw``; see the module docstring for the rules."""
    from adowner.data.identifiers import mask_identifiers

    df = raw.copy()
    n = len(df)
    reason = pd.Series([None] * n, index=df.index, dtype=object)
    fld = pd.Series([None] * n, index=df.index, dtype=object)

    def reject(mask: pd.Series, why: str, column: str) -> None:
        new = mask & reason.isna()
        reason[new] = why
        fld[new] = column

    # A list or mapping (JSONL, Parquet) is no single value: quarantined, then blanked so the
    # checks below see only scalars. Bytes (a Parquet binary column) are decoded as UTF-8.
    for c in [c for c in df.columns if c not in ("_file", "_row") and df[c].dtype == object]:
        values = df[c].tolist()
        nested = [isinstance(v, list | tuple | dict | set | np.ndarray) for v in values]
        has_bytes = any(isinstance(v, bytes | bytearray) for v in values)
        if any(nested) or has_bytes:
            reject(pd.Series(nested, index=df.index, dtype=bool), "not a single value", c)
            df[c] = pd.Series(
                [
                    None
                    if bad
                    else bytes(v).decode("utf-8", "surrogateescape")
                    if isinstance(v, bytes | bytearray)
                    else v
                    for v, bad in zip(values, nested, strict=True)
                ],
                index=df.index,
                dtype=object,
            )

    text_cols = [c for c in ("title", "body", "text") if c in df.columns]
    others = ("ad_id", *STRING_COLUMNS, *([owner_column] if owner_column else []))
    str_cols = text_cols + [c for c in dict.fromkeys(others) if c in df.columns]
    for c in str_cols:
        df[c] = _clean_str(df[c])
    other_cols = [c for c in ("posted_at", *PRICE_COLUMNS, "sponsored") if c in df.columns]
    for c in str_cols + other_cols:
        # lists, not Series.map: pandas would infer Arrow strings, which reject surrogates
        bad = pd.Series(
            [isinstance(v, str) and _SURROGATE.search(v) is not None for v in df[c]],
            index=df.index,
            dtype=bool,
        )
        reject(bad, "invalid UTF-8", c)
        if bad.any():
            fixed = [v.encode("utf-8", "replace").decode("utf-8") for v in df.loc[bad, c]]
            df[c] = df[c].astype(object)
            df.loc[bad, c] = pd.Series(fixed, index=df.index[bad], dtype=object)

    # Title and body, or the one text column; text = non-empty parts joined by a newline.
    if "title" not in df.columns and "body" not in df.columns:
        df["title"], df["body"] = None, df["text"]
    for c in ("title", "body"):
        if c not in df.columns:
            df[c] = None
        if "text" in df.columns and c == "body":
            df[c] = df[c].where(df[c].notna() | df["title"].notna(), df["text"])
        s = df[c].fillna("").str.replace("\r\n", "\n").str.replace("\r", "\n")
        ctrl = s.str.contains(_CONTROL, regex=True)
        df[c] = s.str.replace(_CONTROL, "", regex=True).str.strip()
        df[f"_ctrl_{c}"] = ctrl
    controls = df["_ctrl_title"] | df["_ctrl_body"]
    empty = (df["title"].str.len() + df["body"].str.len()) == 0
    reject(empty, "empty text", "text")

    # Cut over-long texts: the body first, then the title, so len(title + "\n" + body) fits.
    limit = config.max_chars
    over = (df["title"].str.len() + df["body"].str.len() + 1) > limit
    if over.any():
        t = df.loc[over, "title"].str.slice(0, limit)
        room = (limit - t.str.len() - 1).clip(lower=0)
        b = [body[:r] for body, r in zip(df.loc[over, "body"], room, strict=True)]
        df.loc[over, "title"], df.loc[over, "body"] = t, b
    df["text"] = [
        f"{t}\n{b}" if t and b else (t or b) for t, b in zip(df["title"], df["body"], strict=True)
    ]

    if "posted_at" in df.columns:
        raw_ts = df["posted_at"].astype(object).where(df["posted_at"].notna(), None)
        raw_ts = raw_ts.map(lambda v: None if isinstance(v, str) and not v.strip() else v)
        ts = parse_timestamps(raw_ts)
        reject(raw_ts.notna() & ts.isna(), "unparseable timestamp", "posted_at")
        df["posted_at"] = ts
    else:
        df["posted_at"] = pd.Series(pd.NaT, index=df.index, dtype="datetime64[ns, UTC]")

    for c in PRICE_COLUMNS:
        if c not in df.columns:
            df[c] = np.nan
            continue
        rawp = _clean_str(df[c])
        num = pd.to_numeric(rawp, errors="coerce")
        reject(rawp.notna() & (num.isna() | ~np.isfinite(num.fillna(0))), "non-numeric price", c)
        reject(num < 0, "negative price", c)
        df[c] = num.astype("float64")

    if "sponsored" in df.columns:
        flag = df["sponsored"].map(_flag)
        reject(flag.isna() & df["sponsored"].notna(), "non-boolean sponsored flag", "sponsored")
        df["sponsored"] = flag.fillna(False).astype(bool)

    if "ad_id" not in df.columns:
        stems = df["_file"].map(lambda f: re.sub(r"\W+", "-", str(f).rsplit("/", 1)[-1]))
        df["ad_id"] = stems + ":" + df["_row"].astype(str)
    reject(df["ad_id"].isna(), "missing ad_id", "ad_id")
    if owner_column is not None:
        reject(df[owner_column].isna(), "missing owner", owner_column)
    # Last, so that a copy of a row rejected for another reason is not called a duplicate.
    ok = reason.isna()
    reject(ok & df["ad_id"].where(ok).duplicated(keep="first"), "duplicate ad_id", "ad_id")

    bad = reason.notna()
    quarantine = []
    for idx in df.index[bad]:
        row = df.loc[idx]
        text = row["text"] or ""
        # mask the whole text, then cut: a cut first could split a number past recognition
        masked = mask_identifiers(text, config.region)[0][:300] if text else None
        quarantine.append(
            {
                "file": row["_file"],
                "row": int(row["_row"]),
                "field": fld[idx],
                "reason": reason[idx],
                "ad_id": row["ad_id"] if isinstance(row["ad_id"], str) else None,
                "text_masked": masked,
            }
        )
    keep = df.loc[~bad].copy()
    counts = {
        "truncated": int((over & ~bad).sum()),
        "control_chars_removed": int((controls & ~bad).sum()),
    }
    keep = keep.drop(columns=[c for c in keep.columns if c.startswith("_ctrl_")])
    return Validated(keep.reset_index(drop=True), quarantine, counts)
