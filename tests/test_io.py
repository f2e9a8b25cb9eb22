from __future__ import annotations

import json

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
