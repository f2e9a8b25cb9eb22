"""Load the ads to evaluate on: a folder written by ``prepare``, or one labelled file.

* **Prepared folder** (``DIR/test.parquet``, ``DIR/train.parquet``, ``DIR/val.parquet``, the
  contract of docs/ARCHITECTURE.md): test is scored, train fits the baselines, val chooses the
  grouping threshold.
* **One file** (CSV/JSONL/Parquet/XLSX, read by :func:`adowner.data.readers.read_table`) with a
  ``text`` column (or ``title`` and ``body``) and the label column; ``--train FILE`` likewise.
  ``dup_group`` is used where present; otherwise every ad is its own group.

Rows without text or label cannot be scored: they are written to ``OUT/quarantine.jsonl``
(masked) and counted, never dropped silently.

================  ===============================================================
column            meaning
================  ===============================================================
``text``          the ad (title + "\\n" + body); built from title/body if absent
``owner``         label (``--label-column`` picks another, e.g. ``true_owner``)
``dup_group``     near-duplicate group (optional)
``location``      where the ad runs (optional; the hybrid score compares it)
================  ===============================================================
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from adowner.defaults import EVALUATE
from adowner.errors import InputError
from adowner.io.splits import read_split, require_split, split_path


@dataclass
class EvalData:
    test: pd.DataFrame
    train: pd.DataFrame | None
    val: pd.DataFrame | None
    source: str
    quarantine: list[dict[str, Any]] = field(default_factory=list)


def _read(path: Path) -> pd.DataFrame:
    from adowner.data.readers import read_table

    table = read_table(path)
    frame = table.frame
    if "_row" not in frame:
        frame = frame.assign(_row=range(1, len(frame) + 1))
    return frame


def _normalise(
    df: pd.DataFrame, path: Path, label: str, quarantine: list[dict[str, Any]]
) -> pd.DataFrame:
    if "text" not in df:
        if "title" in df and "body" in df:
            df = df.assign(
                text=df["title"].fillna("").astype(str) + "\n" + df["body"].fillna("").astype(str)
            )
        else:
            raise InputError(
                f"no 'text' column (nor 'title' and 'body'); columns are {sorted(str(c) for c in df.columns if c != '_row')}",
                path=str(path),
                field="text",
            )
    if label not in df:
        raise InputError(
            f"no label column {label!r} (see --label-column); columns are {sorted(str(c) for c in df.columns if c != '_row')}",
            path=str(path),
            field=label,
        )
    if "_row" not in df:
        df = df.assign(_row=range(1, len(df) + 1))
    text = df["text"]
    owner = df[label]
    bad = (
        text.isna()
        | (text.astype(str).str.strip() == "")
        | owner.isna()
        | (owner.astype(str).str.strip() == "")
    )
    for _, row in df[bad].iterrows():
        fld = "text" if pd.isna(row["text"]) or not str(row["text"]).strip() else label
        quarantine.append(
            {"file": str(path), "row": int(row["_row"]), "field": fld, "reason": f"empty {fld}"}
        )
    df = df[~bad].copy()
    out = pd.DataFrame(
        {
            "text": df["text"].astype(str).to_numpy(),
            "owner": df[label].astype(str).to_numpy(),
            "dup_group": (
                df["dup_group"].astype(str).to_numpy()
                if "dup_group" in df
                else [f"row{r}" for r in df["_row"]]
            ),
        }
    )
    if "ad_id" in df:
        out["ad_id"] = df["ad_id"].astype(str).to_numpy()
    if "location" in df:  # kept as given; missing values stay missing
        out["location"] = [v if isinstance(v, str) else None for v in df["location"]]
    return out


def load_eval_data(
    data: str,
    train: str | None = None,
    label_column: str = EVALUATE.label_column,
    *,
    test: str | None = None,
) -> EvalData:
    """Read ``--data`` (and ``--train``, ``--test``); ``InputError`` naming the path when unusable.

    ``test`` (a file, or a prepared folder whose ``test.parquet`` is taken) replaces the test
    split: a user who keeps their own test set apart prepares ``--data`` with an empty test
    split (``--split 0.85 0.15 0``).
    """
    p = Path(data)
    quarantine: list[dict[str, Any]] = []
    test_override: pd.DataFrame | None = None
    test_arg = test
    if test_arg:
        tp = split_path(test_arg)
        if not tp.is_file():
            raise InputError("no such file", path=str(tp), field="--test")
        test_override = _normalise(_read(tp), tp, label_column, quarantine)
    if p.is_dir():
        if test_override is None:
            require_split(p / "test.parquet", field="--data")
        splits = {}
        for name in ("test", "train", "val"):
            sp = p / f"{name}.parquet"
            splits[name] = (
                _normalise(read_split(sp, required=()), sp, label_column, quarantine)
                if sp.is_file()
                else None
            )
        if train:
            splits["train"] = _normalise(_read(Path(train)), Path(train), label_column, quarantine)
        frame = test_override if test_override is not None else splits["test"]
        assert frame is not None
        source = f"{p} (test: {test_arg})" if test_override is not None else str(p)
        ev = EvalData(frame, splits["train"], splits["val"], source, quarantine)
    elif p.is_file():
        frame = (
            test_override
            if test_override is not None
            else _normalise(_read(p), p, label_column, quarantine)
        )
        tr = (
            _normalise(_read(Path(train)), Path(train), label_column, quarantine) if train else None
        )
        ev = EvalData(frame, tr, None, str(p), quarantine)
    else:
        raise InputError("no such file or folder", path=str(p), field="--data")
    if len(ev.test) == 0:
        raise InputError("no usable rows to evaluate", path=str(p), field="--data")
    if ev.train is not None:
        shared = set(ev.train["owner"]) & set(ev.test["owner"])
        if shared:
            from adowner.log import get_logger

            get_logger(__name__).warning(
                "%d owners appear in both train and test: figures are not over unseen owners",
                len(shared),
            )
    return ev
