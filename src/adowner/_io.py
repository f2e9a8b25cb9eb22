"""Atomic writes: every output appears whole or not at all.

A writer writes to a temporary sibling and renames it into place (``os.replace`` is atomic on one
file system), so an interrupted job never leaves a half-written file that looks finished.

:func:`crash_point` is the test hook of the crash-consistency tests (``ADOWNER_CRASH_AT``): every
rename below passes the point ``commit`` just before it, so a test can SIGKILL a command at
its N-th output (tests/test_crash_consistency.py, docs/RELIABILITY.md).
"""

from __future__ import annotations

import contextlib
import functools
import glob
import hashlib
import json
import os
import shutil
import signal
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

CRASH_ENV = "ADOWNER_CRASH_AT"
_crash_hits: dict[str, int] = {}


def crash_point(name: str, target: str | os.PathLike[str] | None = None) -> None:
    """SIGKILL this process here when ``ADOWNER_CRASH_AT`` names this point (a test hook).

    ``ADOWNER_CRASH_AT=NAME`` kills at the first pass through ``crash_point(NAME)``,
    ``NAME:FILE`` at the first one whose ``target`` is named ``FILE``, and a suffix ``@N`` at
    the N-th of those. Unset, it does nothing. Points: ``commit`` (just before each atomic
    rename in this module; the target is the output), ``swap`` (:func:`atomic_dir` has moved
    the old folder aside and not yet put the new one in place) and ``quickstart:STEP`` (a
    step's outputs are written, its done-marker is not).
    """
    spec = os.environ.get(CRASH_ENV)
    if not spec:
        return
    point, _, nth = spec.partition("@")
    if point != name and (target is None or point != f"{name}:{Path(target).name}"):
        return
    _crash_hits[point] = _crash_hits.get(point, 0) + 1
    if _crash_hits[point] >= int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)


@functools.lru_cache(maxsize=1)
def _host_tag() -> str:
    """8 hex digits of this machine's name: a PID means something only on its own machine."""
    return hashlib.sha1(socket.gethostname().encode()).hexdigest()[:8]


def _tmp_prefix(path: Path) -> str:
    """``.NAME.HOST-PID.``: the temporary sibling says which machine and process write it."""
    return f".{path.name}.{_host_tag()}-{os.getpid()}."


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def sweep_stale(path: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporary siblings of ``path`` left by killed writers; return them.

    A SIGKILL leaves ``.NAME.HOST-PID.XXXX.tmp`` (a file or a folder) beside the output: nothing
    loads it, but it holds disk. A sibling is stale when it was written on this machine and its
    writer ``PID`` no longer runs. A live writer's (a concurrent job on the same output), another
    machine's (a shared folder) and any other name are left alone. Called by every atomic write.
    """
    path = Path(path)
    removed: list[Path] = []
    try:
        siblings = list(path.parent.glob(f".{glob.escape(path.name)}.*.tmp"))
    except OSError:
        return removed
    for sib in siblings:
        writer = sib.name[len(path.name) + 2 : -len(".tmp")].split(".", 1)[0]
        host, _, pid_text = writer.partition("-")
        if host != _host_tag() or not pid_text.isdigit():
            continue
        if int(pid_text) == os.getpid() or _alive(int(pid_text)):
            continue
        if sib.is_dir():
            shutil.rmtree(sib, ignore_errors=True)
        else:
            sib.unlink(missing_ok=True)
        removed.append(sib)
    return removed


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale(path)
    fd, tmp = tempfile.mkstemp(prefix=_tmp_prefix(path), suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():
            # mkstemp makes 0600 files; give the result the permissions a plain open() would.
            os.chmod(tmp_path, 0o666 & ~_umask())
        crash_point("commit", path)
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "w", **kwargs: Any) -> Iterator[IO[Any]]:
    """Open a temporary file for writing and move it onto ``path`` when closed without error."""
    if "b" not in mode:
        kwargs.setdefault("encoding", "utf-8")
    with atomic_path(path) as tmp, open(tmp, mode, **kwargs) as fh:
        yield fh
        fh.flush()
        os.fsync(fh.fileno())


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str], *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary folder beside ``path`` and rename it onto ``path`` on success.

    An existing folder at ``path`` is replaced only once the new one is complete. The old one
    is moved aside to ``.NAME.old`` for the moment of the swap; if a kill falls in that moment,
    the next ``atomic_dir`` on ``path`` first puts the old folder back.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    old = path.with_name(f".{path.name}.old")
    if not path.exists() and old.is_dir():  # a swap was interrupted: restore the old folder
        os.replace(old, path)
    sweep_stale(path)
    tmp = Path(tempfile.mkdtemp(prefix=_tmp_prefix(path), suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700 folders
        if path.exists():
            if not overwrite:
                raise FileExistsError(path)
            shutil.rmtree(old, ignore_errors=True)
            crash_point("commit", path)
            os.replace(path, old)
            crash_point("swap", path)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            crash_point("commit", path)
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json(obj: Any, path: str | os.PathLike[str], **kwargs: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    kwargs.setdefault("indent", 2)
    kwargs.setdefault("sort_keys", False)
    with atomic_open(path) as fh:
        json.dump(obj, fh, default=_json_default, **kwargs)
        fh.write("\n")


def write_parquet(df: Any, path: str | os.PathLike[str], **kwargs: Any) -> None:
    """Write a pandas DataFrame to Parquet, atomically."""
    kwargs.setdefault("index", False)
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, **kwargs)


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
