from __future__ import annotations

import json

import pandas as pd
import pytest

from adowner._io import atomic_dir, atomic_open, write_json


def test_atomic_open_leaves_nothing_on_error(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(RuntimeError), atomic_open(target) as fh:
        fh.write("half")
        raise RuntimeError("interrupted")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_atomic_dir_replaces_only_when_complete(tmp_path):
    target = tmp_path / "model"
    with atomic_dir(target) as tmp:
        (tmp / "a.txt").write_text("v1")
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "a.txt").write_text("v2-partial")
        raise RuntimeError("interrupted")
    assert (target / "a.txt").read_text() == "v1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_write_json_numpy(tmp_path):
    import numpy as np

    write_json({"a": np.int64(3), "b": np.float32(0.5)}, tmp_path / "x.json")
    assert json.loads((tmp_path / "x.json").read_text()) == {"a": 3, "b": 0.5}


def test_atomic_outputs_get_ordinary_permissions(tmp_path):
    import os

    mask = os.umask(0o022)
    try:
        write_json({}, tmp_path / "a.json")
        with atomic_dir(tmp_path / "d") as tmp:
            (tmp / "x").write_text("1")
    finally:
        os.umask(mask)
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "d").stat().st_mode & 0o777 == 0o755


def _dead_pid() -> int:
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_killed_writers_temporary_files_are_swept_by_the_next_write(tmp_path):
    """SIGKILL leaves `.NAME.HOST-PID.XXXX.tmp` siblings; the next atomic write of NAME removes
    those this machine wrote whose writer is gone, and keeps every other."""
    import os

    from adowner._io import _host_tag

    here, dead, live = _host_tag(), _dead_pid(), os.getppid()  # pytest's parent is alive
    stale_file = tmp_path / f".out.json.{here}-{dead}.abc123.tmp"
    stale_file.write_text("half")
    stale_dir = tmp_path / f".model.{here}-{dead}.def456.tmp"
    stale_dir.mkdir()
    (stale_dir / "weights").write_text("half")
    keep = [
        tmp_path / f".out.json.{here}-{live}.ghi789.tmp",  # a live writer's
        tmp_path / f".out.json.0badc0de-{dead}.jkl012.tmp",  # another machine's (shared folder)
        tmp_path / f".out.json.{dead}.mno345.tmp",  # no machine tag: not ours to judge
        tmp_path / f".other.json.{here}-{dead}.x.tmp",  # another output's
    ]
    for p in keep:
        p.write_text("x")
    write_json({"a": 1}, tmp_path / "out.json")
    with atomic_dir(tmp_path / "model") as tmp:
        (tmp / "weights").write_text("whole")
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted(["out.json", "model"] + [p.name for p in keep])
    assert (tmp_path / "model" / "weights").read_text() == "whole"


# ---------------------------------------------------------------- adowner.io


def _split(n: int = 3, **extra) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ad_id": [f"a{k}" for k in range(n)],
            "text": [f"ad number {k}" for k in range(n)],
            "owner": ["o1"] * n,
            "dup_group": [f"d{k}" for k in range(n)],
            **extra,
        }
    )


def test_write_quarantine_counts_and_keeps_non_ascii(tmp_path):
    from adowner.io.quarantine import write_quarantine

    rows = [{"file": "ads.csv", "row": 2, "field": "text", "reason": "empty text", "t": "é"}]
    assert write_quarantine(rows, tmp_path / "q.jsonl") == 1
    line = (tmp_path / "q.jsonl").read_text(encoding="utf-8")
    assert "é" in line
    assert json.loads(line) == rows[0]
    assert write_quarantine([], tmp_path / "empty.jsonl") == 0
    assert (tmp_path / "empty.jsonl").read_text() == ""


def test_read_ads_takes_a_prepared_split_and_folder_as_they_are(tmp_path):
    from adowner.io.ads import is_prepared_split, read_ads

    folder = tmp_path / "prep"
    folder.mkdir()
    _split(3).to_parquet(folder / "train.parquet")
    test = _split(2)
    test.loc[1, "text"] = None  # quarantined, with its file and 1-based row
    test.to_parquet(folder / "test.parquet")
    assert is_prepared_split(folder / "train.parquet")
    frame, quarantine = read_ads(folder)
    assert len(frame) == 4  # train then test, the bad row left out
    assert frame["phones"].map(list).tolist() == [[]] * 4  # identifier columns always present
    assert [(q["row"], q["field"]) for q in quarantine] == [(2, "text")]
    assert quarantine[0]["file"] == str(folder / "test.parquet")
    frame, _ = read_ads(folder / "train.parquet")
    assert frame["ad_id"].tolist() == ["a0", "a1", "a2"]
    # a Parquet file without prepare's columns is not a prepared split: prepare's checks run
    _split(2).drop(columns=["dup_group"]).to_parquet(tmp_path / "raw.parquet")
    assert not is_prepared_split(tmp_path / "raw.parquet")


def test_read_ads_names_a_missing_file_and_its_option(tmp_path):
    from adowner.errors import InputError
    from adowner.io.ads import read_ads

    with pytest.raises(InputError, match="ads file not found") as err:
        read_ads(tmp_path / "nope.csv", field="--ads")
    assert err.value.field == "--ads"


def test_read_split_checks_name_file_and_field(tmp_path):
    from adowner.errors import InputError
    from adowner.io.splits import read_prepared, read_split

    with pytest.raises(InputError, match=r"val\.parquet is missing"):
        read_split(tmp_path / "val.parquet")
    _split(2).drop(columns=["owner"]).to_parquet(tmp_path / "test.parquet")
    with pytest.raises(InputError, match="column missing") as err:
        read_split(tmp_path)  # a folder means its test split
    assert err.value.field == "owner"
    assert list(read_prepared(tmp_path, required=("text",))) == ["test"]
    with pytest.raises(InputError, match="not a prepared folder"):
        read_prepared(tmp_path / "empty")


def test_chain_tables_write_their_schema(tmp_path):
    import pyarrow.parquet as pq

    from adowner.chain.tables import EDGES, write_table

    edges = pd.DataFrame(
        {
            "src": ["a"],
            "dst": ["b"],
            "kind": ["phone"],
            "score": [1.0],
            "mutual": [True],
            "detail": ["phone #0123"],
            "same_group": [True],
            "extra": [0],  # not in the schema: left out
        }
    )
    write_table(edges, EDGES, tmp_path / "edges.parquet")
    assert pq.read_schema(tmp_path / "edges.parquet").remove_metadata().equals(EDGES)
    with pytest.raises(KeyError, match="same_group"):
        write_table(edges.drop(columns=["same_group"]), EDGES, tmp_path / "e2.parquet")


def test_chain_tables_keep_numeric_ids_as_text():
    import pyarrow as pa

    from adowner.chain.tables import to_table

    schema = pa.schema([pa.field("payer_cluster_id", pa.string())])
    ids = pd.DataFrame({"payer_cluster_id": pd.Series([7, None, "1Abc"], dtype=object)})
    assert to_table(ids, schema).column(0).to_pylist() == ["7", None, "1Abc"]
