"""Crash consistency (issue 15): each long command is SIGKILLed at named points and at a random
moment, then rerun; the rerun ends with the outputs of an uninterrupted run, and what a kill
leaves behind is either the old output or nothing that loads as finished.

Kill points are deterministic: ``ADOWNER_CRASH_AT`` (:func:`adowner._io.crash_point`) names
one. ``commit:FILE`` kills just before FILE is renamed into place (every atomic write passes
``commit``), ``commit@N`` before the N-th rename of the run, ``swap`` in the moment an old
folder is moved aside and the new one is not yet in place, ``quickstart:STEP`` after a step's
outputs and before its done-marker. For prepare, ingest, cluster and link a last kill falls at a
random moment (a fixed seed) inside the time an uninterrupted run takes.

"Equal" means the same bytes, except for values that are timings by nature: JSON keys with
``seconds``/``timings``/``_s``/``created_at`` and the report's ``seconds_*`` rows, and ISO
timestamps in the model card. Temporary siblings (``.NAME.HOST-PID.xxxx.tmp``) that a kill leaves are
counted apart: they are hidden, never loaded, and removed by the next write of the same output.

The commands run in children of a ``multiprocessing`` fork server that has imported pandas,
torch and adowner once: each child is a real process, killed with SIGKILL with no chance to
clean up, but it does not pay the imports again, which keeps the file near two minutes.
"""

from __future__ import annotations

import itertools
import json
import multiprocessing as mp
import os
import random
import re
import shutil
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import adowner

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "configs" / "experiment" / "tiny.yaml"
KILLED = -signal.SIGKILL
PRELOAD = [
    "adowner.cli",
    "adowner.data.prepare",
    "adowner.data.dedup",
    "adowner.chain.ingest",
    "adowner.chain.cluster",
    "adowner.chain.match",
    "adowner.link.pipeline",
    "adowner.link.report",
    "adowner.link.quickstart",
    "adowner.export.export",
    "adowner.export.inference",
    "adowner.scoring.hybrid",
    "adowner.evaluation.compare",
    "adowner.model.train",
    "adowner.simulate.run",
    "torch",
    "transformers",
    "lightning",
    "sklearn.linear_model",
    "faiss",
    "test_crash_consistency",
]
# timings, cache keys (of paths and mtimes) and whether a training run was resumed
VOLATILE_KEY = re.compile(
    r"seconds|timings|_s$|_per_s|_per_step$|_timed$|^created_at$|^key$|^resumed$"
)
SECONDS_ROW = re.compile(r"(<th>seconds_\w+</th>\s*<td>)[^<]*(</td>)")
PNG = re.compile(r"data:image/png;base64,[^\"']*")
ISO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?")
TMP_NAME = re.compile(r"^\..+\.tmp$")

# ------------------------------------------------------------------------------ harness


def _child(argv: list[str], crash: str | None, log: str) -> None:
    """Run ``adowner ARGV`` in this (forked) process; output to ``log``."""
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    if crash:
        os.environ["ADOWNER_CRASH_AT"] = crash
    else:
        os.environ.pop("ADOWNER_CRASH_AT", None)
    import torch

    torch.set_num_threads(1)  # the same in every run; far faster on a shared 2-core machine
    from adowner.cli import main

    sys.exit(main(argv))


@dataclass
class Run:
    exitcode: int | None
    seconds: float
    log: Path

    def tail(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")[-3000:]


class Runner:
    """Starts ``adowner`` commands in fork-server children and kills them."""

    def __init__(self, logs: Path) -> None:
        self.ctx = mp.get_context("forkserver")
        self.ctx.set_forkserver_preload(PRELOAD)
        self.logs = logs
        self.count = itertools.count()

    def start(self, argv: list[str], crash: str | None = None, after: float | None = None) -> Run:
        log = self.logs / f"run{next(self.count):03d}.log"
        log.write_text(f"$ adowner {' '.join(argv)}  (crash={crash}, after={after})\n")
        proc = self.ctx.Process(target=_child, args=(argv, crash, str(log)))
        t0 = time.monotonic()
        proc.start()
        proc.join(after if after is not None else 600)
        if proc.is_alive():
            assert proc.pid is not None
            os.kill(proc.pid, signal.SIGKILL)
            proc.join()
            if after is None:
                pytest.fail(f"adowner {' '.join(argv)} hung for 600 s")
        run = Run(proc.exitcode, time.monotonic() - t0, log)
        with log.open("a") as fh:
            fh.write(f"\n$ exit {run.exitcode} after {run.seconds:.2f} s\n")
        return run

    def ok(self, argv: list[str]) -> Run:
        run = self.start(argv)
        assert run.exitcode == 0, run.tail()
        return run

    def killed(self, argv: list[str], crash: str) -> Run:
        run = self.start(argv, crash=crash)
        assert run.exitcode == KILLED, f"not killed at {crash} (exit {run.exitcode}):\n{run.tail()}"
        return run


@pytest.fixture(scope="module")
def runner(tmp_path_factory) -> Runner:
    return Runner(tmp_path_factory.mktemp("logs"))


def _strip(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _strip(v) for k, v in obj.items() if not VOLATILE_KEY.search(str(k))}
    if isinstance(obj, list):
        return [_strip(v) for v in obj]
    return obj


def _content(path: Path, root: Path) -> Any:
    """What must be equal between two runs: the bytes, less the timings (see the docstring),
    with the output folder's own path written as ``<OUT>``."""
    data = path.read_bytes().replace(str(root).encode(), b"<OUT>")
    if path.suffix == ".json":
        return _strip(json.loads(data))
    if path.suffix == ".html":
        return PNG.sub("~", SECONDS_ROW.sub(r"\1~\2", data.decode()))
    if path.suffix == ".md":
        return ISO_TIME.sub("~", data.decode())
    return data


def _loads(path: Path) -> None:
    """Read a finished-looking output the way its consumer would (raises if it is torn)."""
    if path.suffix == ".parquet":
        pq.read_table(path)
    elif path.suffix == ".json":
        json.loads(path.read_text(encoding="utf-8"))
    elif path.suffix == ".jsonl":
        for line in path.read_text(encoding="utf-8").splitlines():
            json.loads(line)
    elif path.suffix == ".npy":
        np.load(path)


def snapshot(root: Path, skip: Callable[[str], bool] = lambda rel: False) -> dict[str, Any]:
    """``{relative path: content}`` of the files under ``root``; temporary siblings left out
    (each is checked to be one: hidden, named ``.*.tmp``, or inside such a folder)."""
    files: dict[str, Any] = {}
    if not root.exists():
        return files
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        parts = rel.split("/")
        if any(TMP_NAME.match(p) for p in parts) or not path.is_file() or skip(rel):
            continue
        assert not any(p.startswith(".") and p.endswith(".old") for p in parts), rel
        _loads(path)
        files[rel] = _content(path, root)
    return files


def assert_same(got: dict[str, Any], want: dict[str, Any]) -> None:
    assert sorted(got) == sorted(want)
    differ = [k for k in want if got[k] != want[k]]
    assert not differ, f"differ from the uninterrupted run: {differ}"


def random_moment(seed: int, reference: Run) -> float:
    """A moment inside the uninterrupted run's duration (fixed seed; at least 50 ms in)."""
    return random.Random(seed).uniform(0.05, max(0.1, 0.9 * reference.seconds))


# ------------------------------------------------------------------------------ the hook


def test_crash_point_is_inert_unless_named(monkeypatch) -> None:
    from adowner import _io

    monkeypatch.delenv("ADOWNER_CRASH_AT", raising=False)
    _io.crash_point("commit", "x.parquet")  # unset: nothing
    for spec in ("swap", "commit:y.parquet", "quickstart:link"):
        monkeypatch.setenv("ADOWNER_CRASH_AT", spec)
        _io.crash_point("commit", "x.parquet")  # another point: nothing


def test_crash_point_counts_to_the_nth_pass(monkeypatch) -> None:
    from adowner import _io

    kills: list[int] = []
    monkeypatch.setattr(_io.os, "kill", lambda pid, sig: kills.append(sig))
    monkeypatch.setattr(_io, "_crash_hits", {})
    monkeypatch.setenv("ADOWNER_CRASH_AT", "commit:x.parquet@3")
    for _ in range(2):
        _io.crash_point("commit", Path("d") / "x.parquet")
        _io.crash_point("commit", "other.parquet")
    assert kills == []
    _io.crash_point("commit", "x.parquet")
    assert kills == [signal.SIGKILL]


def test_atomic_dir_puts_back_a_folder_a_kill_left_aside(tmp_path) -> None:
    from adowner._io import atomic_dir

    (tmp_path / ".model.old").mkdir()  # a kill fell between the two renames of a swap
    (tmp_path / ".model.old" / "a.txt").write_text("v1")
    with pytest.raises(RuntimeError), atomic_dir(tmp_path / "model") as tmp:
        (tmp / "a.txt").write_text("v2-partial")
        raise RuntimeError("interrupted again")
    assert (tmp_path / "model" / "a.txt").read_text() == "v1"
    with atomic_dir(tmp_path / "model") as tmp:
        (tmp / "a.txt").write_text("v2")
    assert (tmp_path / "model" / "a.txt").read_text() == "v2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


# ------------------------------------------------------------------------------ inputs


@pytest.fixture(scope="module")
def market(tmp_path_factory) -> Path:
    """30 owners (185 ads) with their chain; the chain JSON split into three files."""
    from adowner.simulate.run import run_simulation

    out = tmp_path_factory.mktemp("market") / "sim"
    run_simulation(out, n_owners=30, seed=0, progress=False)
    lines = (out / "chain" / "chain" / "transactions.jsonl").read_text().splitlines(True)
    parts = out / "txs"
    parts.mkdir()
    n = len(lines)
    for k in range(3):
        (parts / f"part{k}.jsonl").write_text("".join(lines[k * n // 3 : (k + 1) * n // 3]))
    return out


def _prepare_argv(market: Path, out: Path, *extra: str) -> list[str]:
    ads = str(market / "ads.parquet")
    return [
        "prepare",
        ads,
        "--owner-column",
        "true_owner",
        "--no-progress",
        "--out",
        str(out),
        *extra,
    ]


@pytest.fixture(scope="module")
def prepared(market, runner, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("prepared") / "prep"
    runner.ok(_prepare_argv(market, out))
    return out


@pytest.fixture(scope="module")
def checkpoint(tiny_backbone, tmp_path_factory) -> Path:
    from test_export_fixtures import make_checkpoint

    return make_checkpoint(tiny_backbone, tmp_path_factory.mktemp("ckpt"))


def _export_argv(checkpoint: Path, prepared: Path, out: Path) -> list[str]:
    return ["export", str(checkpoint), "--out", str(out), "--data", str(prepared), "--hybrid"]


@pytest.fixture(scope="module")
def model(checkpoint, prepared, runner, tmp_path_factory) -> tuple[Path, Run]:
    """The reference export (tiny BERT, thresholds and hybrid score fitted on the market)."""
    out = tmp_path_factory.mktemp("export") / "ref"
    return out, runner.ok(_export_argv(checkpoint, prepared, out))


def _ingest_argv(market: Path, out: Path, files: Path | None = None) -> list[str]:
    mempool = str(market / "chain" / "mempool.jsonl")
    src = str(files or market / "txs")
    return ["chain", "ingest", src, "--mempool-log", mempool, "--out", str(out)]


@pytest.fixture(scope="module")
def chain(market, runner, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("chain") / "chain"
    runner.ok(_ingest_argv(market, out))
    return out


# ------------------------------------------------------------------------------ the commands


@pytest.mark.slow
def test_prepare_killed_anywhere_reruns_to_the_same_folder(market, prepared, runner, tmp_path):
    want = snapshot(prepared)
    reference = runner.ok(_prepare_argv(market, tmp_path / "timed-ref"))
    assert_same(snapshot(tmp_path / "timed-ref"), want)
    old_argv = _prepare_argv(market, tmp_path / "old", "--seed", "1")
    runner.ok(old_argv)
    old = snapshot(tmp_path / "old")
    assert old != want
    points = [
        ("commit@1", False),  # the masked block is computed, its checkpoint not yet written
        ("commit:train.parquet", False),  # the checkpoint is written, the folder half done
        ("commit:summary.json", True),  # the temporary folder is one file short, over an old one
        ("swap", True),  # the old folder moved aside, the new one not yet in place
        (None, True),  # a random moment
    ]
    for k, (crash, over_old) in enumerate(points):
        out = tmp_path / f"k{k}"
        if over_old:
            shutil.copytree(tmp_path / "old", out)
        argv = _prepare_argv(market, out)
        if crash is None:
            runner.start(argv, after=random_moment(k, reference))
        else:
            runner.killed(argv, crash)
        left = snapshot(out)
        assert left in ({}, old, want), f"{crash}: a half-written prepared folder loads"
        if crash == "swap":
            assert left == {}  # moved aside: nothing at the path, the old one beside it
            assert (tmp_path / f".k{k}.old" / "summary.json").is_file()
        runner.ok(argv)
        assert_same(snapshot(out), want)
        assert not (tmp_path / f".k{k}.checkpoints").exists()
        assert not (tmp_path / f".k{k}.old").exists()


@pytest.mark.slow
def test_chain_ingest_killed_anywhere_reruns_to_the_same_tables(market, chain, runner, tmp_path):
    want = snapshot(chain)
    reference = runner.ok(_ingest_argv(market, tmp_path / "timed-ref"))
    # an older ingest of one file in the same folder: a kill must not leave a mix that looks done
    shutil.copytree(market / "txs", tmp_path / "one")
    (tmp_path / "one" / "part1.jsonl").unlink()
    (tmp_path / "one" / "part2.jsonl").unlink()
    points = [
        "commit@2",  # file 1's part tables written, its done-marker not
        "commit@4",  # file 1 checkpointed; file 2's done-marker not (the rerun resumes file 1)
        "commit:inputs.parquet",  # transactions.parquet replaced, inputs/outputs still old
        "commit:summary.json",  # every table replaced, the summary not yet
        None,  # a random moment
    ]
    for k, crash in enumerate(points):
        out = tmp_path / f"k{k}"
        runner.ok(_ingest_argv(market, out, files=tmp_path / "one"))
        old = snapshot(out)
        argv = _ingest_argv(market, out)
        if crash is None:
            runner.start(argv, after=random_moment(k, reference))
        else:
            runner.killed(argv, crash)
        left = snapshot(out, skip=lambda rel: rel.startswith(".parts/"))
        if "summary.json" in left:  # the commit marker: present only beside a whole folder
            assert left in (old, want), f"{crash}: a mixed ingest folder has a summary"
        runner.ok(argv)
        assert_same(snapshot(out), want)
        assert not (out / ".parts").exists()


def _cluster_argv(chain: Path, out: Path, *extra: str) -> list[str]:
    return ["chain", "cluster", str(chain), "--out", str(out), *extra]


@pytest.mark.slow
def test_chain_cluster_killed_anywhere_reruns_to_the_same_clusters(chain, runner, tmp_path):
    reference = runner.ok(_cluster_argv(chain, tmp_path / "ref" / "clusters.parquet"))
    want = snapshot(tmp_path / "ref")
    points = ["commit:clusters.parquet", "commit:clusters_skipped.parquet", "commit:clusters.json"]
    for k, crash in enumerate([*points, None]):
        folder = tmp_path / f"k{k}"
        out = folder / "clusters.parquet"
        runner.ok(_cluster_argv(chain, out, "--no-coinjoin-guard"))  # an older, other result
        old = snapshot(folder)
        assert old != want
        if crash is None:
            runner.start(_cluster_argv(chain, out), after=random_moment(k, reference))
        else:
            runner.killed(_cluster_argv(chain, out), crash)
        left = snapshot(folder)
        if "clusters.json" in left:
            assert left in (old, want), f"{crash}: mixed clusters with a summary"
        runner.ok(_cluster_argv(chain, out))
        assert_same(snapshot(folder), want)


@pytest.mark.slow
def test_export_killed_anywhere_leaves_the_old_folder_or_none(
    checkpoint, prepared, model, runner, tmp_path
):
    ref, _ = model
    want = snapshot(ref)
    points = [
        ("commit:adowner.json", False),  # the backbone written into the temporary folder
        ("commit:hybrid.json", True),  # calibrated, the hybrid score not yet written
        ("swap", True),  # the old model moved aside, the new one not yet in place
    ]
    for crash, over_old in points:
        out = tmp_path / "ref"  # the folder's name is the model id: keep the reference's
        shutil.rmtree(out, ignore_errors=True)
        old: dict[str, Any] = {}
        if over_old:
            shutil.copytree(ref, out)
            cfg = json.loads((out / "adowner.json").read_text())
            (out / "adowner.json").write_text(json.dumps({**cfg, "thresholds": []}))
            old = snapshot(out)
        argv = _export_argv(checkpoint, prepared, out)
        runner.killed(argv, crash)
        left = snapshot(out)
        assert left in ({}, old, want), f"{crash}: a half-written model folder is in place"
        if left:
            adowner.load(out)  # what is there loads
        runner.ok(argv)
        assert_same(snapshot(out), want)
        assert not (tmp_path / ".ref.old").exists()


def _link_argv(market: Path, model: Path, chain: Path, out: Path, ads: Path | None = None):
    c = market / "chain"
    return [
        "link", "--ads", str(ads or market / "ads.parquet"), "--model", str(model),
        "--chain", str(chain),
        "--rates", str(c / "rates.csv"), "--site-addresses", str(c / "site_addresses.txt"),
        "--out", str(out), "-k", "8",
    ]  # fmt: skip


@pytest.mark.slow
def test_link_killed_anywhere_reruns_to_the_same_groups(market, model, chain, runner, tmp_path):
    folder, _ = model
    reference = runner.ok(_link_argv(market, folder, chain, tmp_path / "ref"))
    want = snapshot(tmp_path / "ref")
    assert {"groups.parquet", "edges.parquet", "summary.json", "embeddings.npy"} <= set(want)
    points = [
        "commit:matches.parquet",  # clustered, the matches not yet written
        "commit:embeddings.npy",  # embedded, the cache not yet written
        "commit:owners.parquet",  # groups and edges written, owners and the rest still old
        None,
    ]
    for k, crash in enumerate(points):
        out = tmp_path / f"k{k}"
        shutil.copytree(tmp_path / "ref", out)
        # an older run of other ads: no cache for these, other groups, another summary
        (out / "embeddings.npy").unlink()
        (out / "embeddings.json").unlink()
        pd.DataFrame({"ad_id": ["x"], "group_id": [0]}).to_parquet(out / "groups.parquet")
        (out / "summary.json").write_text(json.dumps({"n_ads": 1, "n_groups": 1}))
        old = snapshot(out)
        argv = _link_argv(market, folder, chain, out)
        if crash is None:
            runner.start(argv, after=random_moment(k, reference))
        else:
            runner.killed(argv, crash)
        left = snapshot(out)
        if "summary.json" in left:
            assert left in (old, want), f"{crash}: mixed link outputs with a summary"
        runner.ok(argv)
        assert_same(snapshot(out), want)


@pytest.mark.slow
def test_link_kill_between_the_embeddings_and_their_key_never_reuses_them(
    market, model, chain, runner, tmp_path
):
    """The cache key is removed before new vectors land, so a rerun on the old ads embeds again
    rather than taking the vectors of other ads for its own (found while writing these tests:
    the key used to stay, so this rerun took the 185 vectors of the killed run)."""
    folder, _ = model
    ads = pd.read_parquet(market / "ads.parquet")
    head = tmp_path / "ads-head.parquet"
    ads.head(120).to_parquet(head, index=False)
    runner.ok(_link_argv(market, folder, chain, tmp_path / "small-ref", ads=head))
    want = snapshot(tmp_path / "small-ref")
    out = tmp_path / "out"
    runner.ok(_link_argv(market, folder, chain, out, ads=head))
    runner.killed(_link_argv(market, folder, chain, out), "commit:embeddings.json")
    assert np.load(out / "embeddings.npy").shape[0] == len(ads)  # the full set's vectors
    assert not (out / "embeddings.json").exists()
    runner.ok(_link_argv(market, folder, chain, out, ads=head))
    assert_same(snapshot(out), want)


QUICKSTART_SKIP = (
    "train/cache/",  # the tokenised splits: a cache, named by fingerprints
    "train/csv/",  # the training log: one file per session (a resumed run keeps the killed one's)
    "train/checkpoints/",  # compared through the exported weights and metrics.json
    "compare/roc.png",  # its legend draws the output folder's path; the figures are in table.csv
)


@pytest.mark.slow
def test_quickstart_killed_at_each_stage_resumes_to_the_same_result(runner, tmp_path):
    argv = ["quickstart", "--owners", "30", "--config", str(TINY), "--out"]
    runner.ok([*argv, str(tmp_path / "ref")])
    skip = lambda rel: rel.startswith(QUICKSTART_SKIP)  # noqa: E731
    want = snapshot(tmp_path / "ref", skip)
    assert {"link/groups.parquet", "model/model.safetensors", ".done/link.json"} <= set(want)
    out = tmp_path / "qs"
    for crash in (
        "quickstart:prepare",  # prepared, the marker not written: the rerun prepares again
        "commit:last.ckpt@2",  # training half done: the rerun resumes from last.ckpt
        "quickstart:export",  # exported, the marker not written: the rerun exports again
        "commit:edges.parquet",  # linking: groups written, the rest not
    ):
        runner.killed([*argv, str(out)], crash)
        done = {p.stem for p in (out / ".done").glob("*.json")}
        for step in done:  # a finished step's outputs are whole
            marker = json.loads((out / ".done" / f"{step}.json").read_text())
            assert marker["step"] == step
    runner.ok([*argv, str(out)])
    assert json.loads((out / "train" / "metrics.json").read_text())["resumed"] is True
    assert_same(snapshot(out, skip), want)  # the resumed training too: the same weights
