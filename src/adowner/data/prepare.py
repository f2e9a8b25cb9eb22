"""Prepare raw ads for training and linking: read · validate · mask · label · dedup · split.

``load_ads`` does the first three steps (the link pipeline calls it on raw ads); ``prepare``
adds owner labels, duplicate groups and owner-disjoint splits, and writes the output folder:

=====================  ========================================================================
file                   contents
=====================  ========================================================================
``train.parquet``      one row an ad: ``ad_id, text, title, body, owner, dup_group, posted_at,
``val.parquet``        site, location, price_usd, price_btc, sponsored (if given), persona,
``test.parquet``       true_owner (if given), phones, emails, urls, handles, owner_joined_by``
                       (docs/ARCHITECTURE.md)
``quarantine.jsonl``   one rejected row a line: file, row, field, reason, ad_id, masked text
``summary.json``       counts (read = kept + quarantined), duplicates, owners and ads per split,
                       ``safety_net_masked``/``safety_net_ads``: chains of 7+ digit items left
                       after identifier masking and masked as ``[NUM]`` (spans, ads)
=====================  ========================================================================

The folder is written atomically: it appears complete or not at all.

Example
    >>> summary = prepare(["ads.csv"], "runs/prepared/ads")  # doctest: +SKIP
    >>> summary["read"] == summary["kept"] + summary["quarantined"]  # doctest: +SKIP
    True
"""

from __future__ import annotations

import os
import shutil
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from adowner.data.identifiers import (
    COLUMNS,
    DEFAULT_SALT,
    MASKER_VERSION,
    hash_identifier,
    mask_and_count,
)
from adowner.data.schema import IDENTIFIER_COLUMNS, RAW_COLUMNS, SPLIT_COLUMNS, DataConfig
from adowner.errors import AdownerError, InputError
from adowner.log import get_logger

log = get_logger(__name__)


@dataclass
class LoadedAds:
    """Clean, masked ads and what happened to the rest."""

    frame: pd.DataFrame  # canonical columns, masked text, identifier hash lists, posted_at UTC
    quarantine: list[dict[str, Any]]
    counts: dict[str, Any]
    owner_source: str  # "column:<name>" or "identifiers"
    inputs: list[dict[str, Any]] = field(default_factory=list)


def _owner_column(frames: list[tuple[str, pd.DataFrame]], wanted: str | None) -> str | None:
    """The column that holds owner labels in every file, or None (derive from identifiers)."""
    if wanted is not None:
        for path, frame in frames:
            if wanted not in frame.columns:
                from adowner.data.readers import describe_columns

                cols = describe_columns(frame.columns)
                raise InputError(
                    f"--owner-column {wanted!r} is not a column (columns: {cols})", path=path
                )
        return wanted
    has = [path for path, frame in frames if "owner" in frame.columns]
    if has and len(has) < len(frames):
        lacking = next(path for path, frame in frames if "owner" not in frame.columns)
        raise InputError(
            "this file has no 'owner' column but other inputs do; map one with --map or "
            "prepare the files separately",
            path=lacking,
        )
    return "owner" if has else None


def _mask_block(
    rows: list[tuple[str, str]], region: str, salt: str
) -> tuple[list[str], list[str], dict[str, list[list[str]]], list[int]]:
    """Masked titles and bodies, identifier hashes, and the safety net's [NUM] spans a row."""
    titles: list[str] = []
    bodies: list[str] = []
    hashes: dict[str, list[list[str]]] = {c: [] for c in IDENTIFIER_COLUMNS}
    net: list[int] = []
    for title, body in rows:
        mt, found, net_t = mask_and_count(title, region) if title else ("", [], 0)
        mb, found_b, net_b = mask_and_count(body, region) if body else ("", [], 0)
        titles.append(mt)
        bodies.append(mb)
        net.append(net_t + net_b)
        per_kind: dict[str, set[str]] = {c: set() for c in IDENTIFIER_COLUMNS}
        for ident in (*found, *found_b):
            per_kind[COLUMNS[ident.kind]].add(hash_identifier(ident.kind, ident.value, salt))
        for c in IDENTIFIER_COLUMNS:
            hashes[c].append(sorted(per_kind[c]))
    return titles, bodies, hashes, net


def _mask_rows(
    df: pd.DataFrame, config: DataConfig, checkpoint_dir: Path | None = None
) -> tuple[list[str], list[str], dict[str, list[list[str]]], list[int]]:
    """Masked title and body of each row, the hash lists of each identifier kind, and the
    number of spans the safety net masked as ``[NUM]`` in each row.

    Masking is the slow step, so with ``checkpoint_dir`` each finished block of rows is saved
    there (masked text and hashes only, never a raw identifier) under a name derived from the
    block's content and the settings; a rerun after an interruption loads the finished blocks.
    """
    import hashlib

    from adowner._io import write_parquet
    from adowner.progress import make_progress

    titles: list[str] = []
    bodies: list[str] = []
    hashes: dict[str, list[list[str]]] = {c: [] for c in IDENTIFIER_COLUMNS}
    net: list[int] = []
    salt, region = config.salt, config.region
    rows = list(zip(df["title"], df["body"], strict=True))
    step = 5000  # rows a block: the bar moves and a checkpoint is written per block
    resumed = 0
    with make_progress(disable=not config.show_progress or len(rows) < 2000) as progress:
        task = progress.add_task("masking identifiers", total=len(rows))
        for lo in range(0, len(rows), step):
            block = rows[lo : lo + step]
            path = None
            if checkpoint_dir is not None:
                # the masker's version is in the key: an older masker's blocks are redone
                key = hashlib.sha256(f"{region}\x1f{salt}\x1f{MASKER_VERSION}".encode())
                for title, body in block:
                    key.update(f"\x1e{title}\x1f{body}".encode("utf-8", "replace"))
                path = checkpoint_dir / f"mask-{key.hexdigest()[:24]}.parquet"
            if path is not None and path.is_file():
                saved = pd.read_parquet(path)
                bt, bb = saved["title"].tolist(), saved["body"].tolist()
                bh = {c: [list(v) for v in saved[c]] for c in IDENTIFIER_COLUMNS}
                bn = [int(v) for v in saved["safety_net"]]
                resumed += len(block)
            else:
                bt, bb, bh, bn = _mask_block(block, region, salt)
                if path is not None:
                    frame = pd.DataFrame({"title": bt, "body": bb, **bh, "safety_net": bn})
                    write_parquet(frame, path)
            titles += bt
            bodies += bb
            net += bn
            for c in IDENTIFIER_COLUMNS:
                hashes[c] += bh[c]
            progress.advance(task, len(block))
    if resumed:
        log.info("resumed %d masked rows from checkpoints in %s", resumed, checkpoint_dir)
    return titles, bodies, hashes, net


def load_ads(
    paths: Sequence[str | os.PathLike[str]],
    *,
    adapter: str = "auto",
    column_map: dict[str, str] | None = None,
    config: DataConfig | None = None,
    checkpoint_dir: str | os.PathLike[str] | None = None,
) -> LoadedAds:
    """Read, validate and mask ``paths``; no owner derivation, dedup or split.

    With ``checkpoint_dir``, masked blocks are saved there and reused by a rerun.

    Owner labels are taken from ``config.owner_column`` (or an ``owner`` column) when the files
    have one; otherwise ``frame`` has no ``owner`` column and ``owner_source`` is
    ``"identifiers"`` (``prepare`` derives them with ``labels.owners_from_identifiers``).
    """
    from adowner.data.adapters import read_with_adapter
    from adowner.data.readers import describe_columns
    from adowner.data.validate import validate

    config = config or DataConfig()
    config.check()
    if not paths:
        raise InputError("no input files given")
    tables = []
    inputs = []
    for path in paths:
        table, used = read_with_adapter(path, adapter, column_map)
        if not {"title", "body", "text"} & set(table.frame.columns):
            cols = describe_columns(table.frame.columns)
            raise InputError(
                f"missing column: need 'text' or 'title'/'body' (columns: {cols}; "
                "rename with --map NAME=text)",
                path=str(path),
            )
        table.frame["_file"] = str(path)
        tables.append(table)
        inputs.append({"path": str(path), "adapter": used, "read": table.n_read})
        log.info("read %d rows from %s (adapter %s)", table.n_read, path, used)
    owner_col = _owner_column([(t.path, t.frame) for t in tables], config.owner_column)
    keep_cols = [*RAW_COLUMNS, "_file", "_row"]
    if owner_col is not None and owner_col not in keep_cols:
        keep_cols.append(owner_col)
    raw = pd.concat(
        [t.frame[[c for c in keep_cols if c in t.frame.columns]] for t in tables],
        ignore_index=True,
    )
    reader_quarantine = [q for t in tables for q in t.quarantine]
    checked = validate(raw, config, owner_col)
    df = checked.frame

    ckpt = Path(checkpoint_dir) if checkpoint_dir is not None else None
    titles, bodies, hashes, net = _mask_rows(df, config, ckpt)
    # explicit object Series: an empty list would otherwise make a float column
    df["title"] = pd.Series(titles, index=df.index, dtype=object)
    df["body"] = pd.Series(bodies, index=df.index, dtype=object)
    joined = [f"{t}\n{b}" if t and b else (t or b) for t, b in zip(titles, bodies, strict=True)]
    df["text"] = pd.Series(joined, index=df.index, dtype=object)
    for c in IDENTIFIER_COLUMNS:
        df[c] = pd.Series(hashes[c], index=df.index, dtype=object)
    for c in ("site", "location", "persona", "true_owner"):
        if c in df.columns:
            df[c] = df[c].astype(object)
    if owner_col is not None:
        df["owner"] = df[owner_col].astype(str)
        if owner_col not in SPLIT_COLUMNS:
            df = df.drop(columns=[owner_col])
    elif "owner" in df.columns:
        df = df.drop(columns=["owner"])
    quarantine = reader_quarantine + checked.quarantine
    read = sum(t.n_read for t in tables)
    if read != len(df) + len(quarantine):  # an internal bug, never the user's input
        raise AdownerError(
            f"row accounting broken: read {read} != kept {len(df)} + q {len(quarantine)}"
        )
    counts = {
        "read": read,
        "kept": len(df),
        "quarantined": len(quarantine),
        "quarantined_by_reason": dict(Counter(q["reason"] for q in quarantine).most_common()),
        **checked.counts,
        # chains of 7+ digit items left after identifier masking, masked as [NUM]
        "safety_net_masked": int(sum(net)),
        "safety_net_ads": int(sum(1 for n in net if n)),
    }
    source = f"column:{owner_col}" if owner_col else "identifiers"
    df = df.drop(columns=["_file", "_row"])
    return LoadedAds(df, quarantine, counts, source, inputs)


def _stats(values: pd.Series) -> dict[str, float]:
    if len(values) == 0:
        return {"min": 0, "median": 0, "mean": 0, "max": 0}
    return {
        "min": int(values.min()),
        "median": float(values.median()),
        "mean": round(float(values.mean()), 3),
        "max": int(values.max()),
    }


def prepare(
    paths: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    adapter: str = "auto",
    column_map: dict[str, str] | None = None,
    config: DataConfig | None = None,
) -> dict[str, Any]:
    """Write ``out_dir`` (splits, quarantine, summary) from ``paths``; return the summary."""
    from adowner._io import atomic_dir, write_json, write_parquet
    from adowner.data.dedup import drop_duplicates, dup_groups
    from adowner.data.labels import owners_from_identifiers
    from adowner.data.splits import SPLITS, split_by_owner
    from adowner.io.quarantine import write_quarantine

    config = config or DataConfig()
    t0 = time.perf_counter()
    out = Path(out_dir)
    # Checkpoints of the slow masking step live beside the output until it is complete.
    checkpoints = out.parent / f".{out.name}.checkpoints"
    loaded = load_ads(
        paths, adapter=adapter, column_map=column_map, config=config, checkpoint_dir=checkpoints
    )
    df = loaded.frame
    if df.empty:
        reasons = ", ".join(f"{k}: {v}" for k, v in loaded.counts["quarantined_by_reason"].items())
        where = ", ".join(str(p) for p in paths)
        raise InputError(
            f"no usable rows: all {loaded.counts['read']} quarantined ({reasons})", path=where
        )
    timings = {"load_validate_mask_s": round(time.perf_counter() - t0, 2)}

    if loaded.owner_source == "identifiers":
        df[["owner", "owner_joined_by"]] = owners_from_identifiers(df)
    else:
        df["owner_joined_by"] = loaded.owner_source
    pair_counts: dict[str, int] | None = None
    pair_quarantine: list[dict[str, Any]] = []
    if config.owner_pairs:
        from adowner.data.labels import apply_owner_pairs, read_owner_pairs

        pairs = read_owner_pairs(config.owner_pairs)
        df["owner"], df["owner_joined_by"], pair_quarantine, pair_counts = apply_owner_pairs(
            df, pairs, config.owner_pairs
        )
        log.info("owner pairs from %s: %s", config.owner_pairs, pair_counts)

    t1 = time.perf_counter()
    threshold = config.near_dup_threshold
    df["dup_group"] = dup_groups(
        df["text"].tolist(),
        df["ad_id"].tolist(),
        threshold,
        config.num_perm,
        show_progress=config.show_progress,
    )
    n_groups = df["dup_group"].nunique()
    cross = int((df.groupby("dup_group")["owner"].nunique() > 1).sum())
    mode = config.dedup_mode()
    if mode == "all":
        df, dropped = drop_duplicates(df)
        df["split"] = split_by_owner(df, config.split, config.seed)
    else:
        df["split"] = split_by_owner(df, config.split, config.seed)
        dropped = {"exact": 0, "near": 0}
        if mode == "eval":  # val/test one ad per (dup_group, owner); train keeps the reposts
            held = df["split"] != "train"
            kept, dropped = drop_duplicates(df.loc[held])
            df = pd.concat([df.loc[~held], kept], ignore_index=True)
    timings["dedup_s"] = round(time.perf_counter() - t1, 2)
    per_owner = df.groupby("owner").size()
    columns = [c for c in SPLIT_COLUMNS if c in df.columns]
    splits: dict[str, dict[str, int]] = {}
    with atomic_dir(out_dir) as tmp:
        for name in SPLITS:
            part = df.loc[df["split"] == name, columns].reset_index(drop=True)
            counts = part.groupby("owner").size()
            splits[name] = {
                "ads": len(part),
                "owners": int(part["owner"].nunique()),
                "owners_with_2plus_ads": int((counts >= 2).sum()),
                "dup_groups": int(part["dup_group"].nunique()),
            }
            write_parquet(part, Path(tmp) / f"{name}.parquet")
        write_quarantine(loaded.quarantine, Path(tmp) / "quarantine.jsonl")
        if pair_counts is not None:
            write_quarantine(pair_quarantine, Path(tmp) / "owner_pairs.quarantine.jsonl")
        summary: dict[str, Any] = {
            "inputs": loaded.inputs,
            **loaded.counts,
            "duplicates_dropped": {**dropped, "total": dropped["exact"] + dropped["near"]},
            "dedup": mode,
            "dup_groups": int(n_groups),
            "cross_owner_dup_groups": cross,
            "written": len(df),
            "owner_source": loaded.owner_source,
            "owners": int(per_owner.size),
            "owners_with_1_ad": int((per_owner == 1).sum()),
            "owners_with_2plus_ads": int((per_owner >= 2).sum()),
            "owners_with_10plus_ads": int((per_owner >= 10).sum()),
            "ads_per_owner": _stats(per_owner),
            "splits": splits,
        }
        if pair_counts is not None:
            summary["owner_pairs"] = pair_counts
        if loaded.owner_source == "identifiers":
            by = df.groupby("owner")["owner_joined_by"].first().value_counts()
            summary["owners_by_joining_identifier"] = {str(k): int(v) for k, v in by.items()}
        if "true_owner" in df.columns:
            truth = df.groupby("owner")["true_owner"].nunique()
            summary["true_owners"] = int(df["true_owner"].nunique())
            summary["owners_pure_in_true_owner"] = round(float((truth == 1).mean()), 4)
        settings = asdict(config)
        settings.pop("show_progress")
        settings["salt"] = "default (public)" if config.salt == DEFAULT_SALT else "custom"
        summary["config"] = settings
        summary["timings"] = {**timings, "total_s": round(time.perf_counter() - t0, 2)}
        write_json(summary, Path(tmp) / "summary.json")
    shutil.rmtree(checkpoints, ignore_errors=True)
    log.info(
        "prepared %d ads of %d owners into %s (%d quarantined, %d duplicates dropped)",
        len(df),
        per_owner.size,
        out_dir,
        len(loaded.quarantine),
        dropped["exact"] + dropped["near"],
    )
    return summary
