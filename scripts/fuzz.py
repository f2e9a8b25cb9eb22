#!/usr/bin/env python
"""Longer fuzz runs for the record: every entry point that reads outside data, one at a time.

    python scripts/fuzz.py --minutes 10                      # every target, 10 minutes each
    python scripts/fuzz.py --minutes 1 --target ads-csv --target chain-hex
    python scripts/fuzz.py --list

The targets and their contract are those of ``tests/test_fuzz.py`` (``tests/fuzz_harness.py``):
each input must work or give one ``InputError`` line naming the file; the service must never
answer a 5xx or refuse a good request; nothing may take over 20 s. The engine is ``atheris``
(coverage-guided libFuzzer over the instrumented ``adowner`` code, seeded with well-formed
inputs) where it is installed (``pip install atheris``; ``.[fuzz]``), else ``hypothesis`` with
a large budget. Each target runs in its own process (a crash or a hang ends only that
process, which is restarted for the time left), and a failing input is saved, not fatal: the
run goes on and counts distinct failures (by exception type and place).

Outputs in ``--out`` (default ``runs/fuzz``): ``summary.json`` and ``summary.md`` (per target:
engine, seconds, inputs tried, failures, distinct failures), and per target
``failures.jsonl`` with each failing input in ``failures/`` (replay one with
``--replay TARGET FILE``). Exit status 1 when any target failed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the harness lives beside the tests that use it

MODEL_TARGETS = {
    "model-adowner-json": "adowner.json",
    "model-hybrid-json": "hybrid.json",
    "model-onnx-fused": "model_ort.onnx",
    "model-onnx": "model.onnx",
    "model-tokenizer": "tokenizer.json",
}
OTHER_TARGETS = {"serve": "POST /embed and /same-owner bodies (uvicorn over loopback)"}
INSTRUMENTED = [  # imported under atheris' instrumentation: the code whose coverage guides it
    "adowner.data.readers",
    "adowner.data.validate",
    "adowner.data.prepare",
    "adowner.data.adapters",
    "adowner.data.adapters.beer",
    "adowner.data.adapters.agora",
    "adowner.chain.ingest",
    "adowner.chain.address",
    "adowner.chain.rates",
    "adowner.serve.app",
    "adowner.export.inference",
    "adowner.scoring.hybrid",
    "adowner.text.normalize",
]


def all_targets() -> dict[str, str]:
    import fuzz_harness as fh

    out = {name: t.what for name, t in fh.FILE_TARGETS.items()}
    out.update(OTHER_TARGETS)
    out.update({k: f"adowner.load with a changed {v}" for k, v in MODEL_TARGETS.items()})
    return out


# ------------------------------------------------------------------ one target, in a worker


class Runner:
    """Calls one target on raw bytes and records what breaks its contract."""

    def __init__(self, name: str, out: Path, seconds: float = 0.0) -> None:
        import fuzz_harness as fh

        self.name, self.out, self.fh = name, out, fh
        # libFuzzer ends the process at -max_total_time without running Python's exit hooks:
        # near that end the figures are written after every input
        self.write_all_after = time.monotonic() + seconds - 3.0
        self.inputs = 0
        self.failures = 0
        self.distinct: dict[str, int] = {}
        self.last_write = 0.0
        (out / "failures").mkdir(parents=True, exist_ok=True)
        self.tmp = Path(tempfile.mkdtemp(prefix=f"fuzz-{name}-"))
        self._closers: list[Any] = []
        self.call = self._setup()
        self.started = time.monotonic()  # fuzzing time: after the setup (a model, a server)

    def _setup(self) -> Any:
        fh = self.fh
        if self.name in fh.FILE_TARGETS:
            target = fh.FILE_TARGETS[self.name]
            return lambda data: fh.run_in_tmp(target, data)
        folder = model_folder(self.out.parent / "_model")
        if self.name in MODEL_TARGETS:
            file = MODEL_TARGETS[self.name]

            def load(data: bytes) -> None:
                with tempfile.TemporaryDirectory(dir=self.tmp) as tmp:
                    fh.load_model_with(folder, file, data, Path(tmp))

            return load
        if self.name == "serve":
            import contextlib

            import httpx

            import adowner
            from adowner.serve.app import create_app
            from test_serve import running

            encoder = adowner.load(folder, threads=1)
            stack = contextlib.ExitStack()
            base = stack.enter_context(running(create_app(encoder, **fh.SERVE_LIMITS)))
            client = stack.enter_context(httpx.Client())
            self._closers.append(stack)
            fprs = set(encoder.hybrid_thresholds or encoder.thresholds)

            def post(data: bytes) -> None:
                endpoint, body, ctype = decode_serve_case(data)
                fh.serve_request(client, base, endpoint, body, ctype, fprs)

            return post
        raise SystemExit(f"unknown target {self.name!r} (see --list)")

    def seeds(self) -> list[bytes]:
        fh = self.fh
        if self.name in fh.FILE_TARGETS:
            return fh.FILE_TARGETS[self.name].seeds()
        folder = model_folder(self.out.parent / "_model")
        if self.name in MODEL_TARGETS:
            return [(folder / MODEL_TARGETS[self.name]).read_bytes()]
        return [encode_serve_case(*c) for c in examples(fh.serve_cases(), 16)]

    def strategy(self) -> Any:
        """The hypothesis strategy of raw inputs (the hypothesis engine)."""
        fh = self.fh
        if self.name in fh.FILE_TARGETS:
            return fh.FILE_TARGETS[self.name].strategy()
        if self.name in MODEL_TARGETS:
            folder = model_folder(self.out.parent / "_model")
            return fh.model_file_bytes(folder, MODEL_TARGETS[self.name])
        return fh.serve_cases().map(lambda c: encode_serve_case(*c))

    def __call__(self, data: bytes) -> None:
        self.inputs += 1
        try:
            self.call(data)
        except Exception as exc:  # a finding: record it and go on
            self.record(data, exc)
        now = time.monotonic()
        if now - self.last_write > 2.0 or now > self.write_all_after:
            self.write_stats()

    def record(self, data: bytes, exc: BaseException) -> None:
        self.failures += 1
        key = signature(exc)
        first = key not in self.distinct
        self.distinct[key] = self.distinct.get(key, 0) + 1
        digest = hashlib.sha1(data).hexdigest()[:16]
        if first or self.distinct[key] <= 3:
            (self.out / "failures" / f"{digest}.bin").write_bytes(data)
        with open(self.out / "failures.jsonl", "a", encoding="utf-8") as fh:
            rec = {
                "signature": key,
                "input": f"failures/{digest}.bin",
                "bytes": len(data),
                "error": f"{type(exc).__name__}: {str(exc)[:500]}",
            }
            if first:
                rec["traceback"] = traceback.format_exception(exc)[-12:]
            fh.write(json.dumps(rec) + "\n")
        self.write_stats()

    def write_stats(self) -> None:
        self.last_write = time.monotonic()
        stats_path = self.out / "stats.json"
        old = json.loads(stats_path.read_text()) if stats_path.is_file() else {}
        done = old.get("previous", {"inputs": 0, "failures": 0, "seconds": 0.0})
        stats = {
            "previous": done,
            "inputs": done["inputs"] + self.inputs,
            "failures": done["failures"] + self.failures,
            "seconds": round(done["seconds"] + time.monotonic() - self.started, 1),
            "distinct": sorted(set(old.get("distinct", [])) | set(self.distinct)),
        }
        tmp = stats_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(stats, indent=1))
        os.replace(tmp, stats_path)

    def close(self) -> None:
        self.write_stats()
        for c in self._closers:
            c.close()


def signature(exc: BaseException) -> str:
    """Exception type and the innermost frame inside adowner (or the harness): a failure's id."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "/adowner/" in f.filename] or frames[-1:]
    where = f"{Path(ours[-1].filename).name}:{ours[-1].lineno}" if ours else "?"
    if type(exc).__name__ == "Finding":
        return f"Finding: {str(exc)[:80]}"
    return f"{type(exc).__name__} at {where}"


def encode_serve_case(endpoint: str, body: bytes, content_type: str) -> bytes:
    import fuzz_harness as fh

    return bytes([endpoint == "/same-owner", fh.CONTENT_TYPES.index(content_type)]) + body


def decode_serve_case(data: bytes) -> tuple[str, bytes, str]:
    import fuzz_harness as fh

    if len(data) < 2:
        return "/embed", data, "application/json"
    endpoint = "/same-owner" if data[0] % 2 else "/embed"
    return endpoint, data[2:], fh.CONTENT_TYPES[data[1] % len(fh.CONTENT_TYPES)]


def examples(strategy: Any, n: int) -> list[Any]:
    import warnings

    from hypothesis.errors import NonInteractiveExampleWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NonInteractiveExampleWarning)
        return [strategy.example() for _ in range(n)]


def model_folder(root: Path) -> Path:
    """The tiny exported model the model and service targets change (built once per run)."""
    import fcntl

    import fuzz_harness as fh

    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = root / "tiny-model" / "adowner.json"
        if not done.is_file():
            import shutil

            for p in root.iterdir():
                if p.name != ".lock":
                    shutil.rmtree(p) if p.is_dir() else p.unlink()
            fh.build_model_folder(root)
    return root / "tiny-model"


def work_atheris(name: str, seconds: float, out: Path) -> int:
    import atheris

    with atheris.instrument_imports(include=["adowner"]):
        import importlib

        for mod in INSTRUMENTED:
            importlib.import_module(mod)
    runner = Runner(name, out, seconds)
    corpus = out / "corpus"
    if not corpus.is_dir() or not any(corpus.iterdir()):
        corpus.mkdir(parents=True, exist_ok=True)
        for seed in runner.seeds():
            (corpus / hashlib.sha1(seed).hexdigest()).write_bytes(seed)
    artifacts = out / "artifacts"
    artifacts.mkdir(exist_ok=True)
    max_len = 1 << 23 if name.startswith("model-onnx") else 1 << 16
    args = [
        sys.argv[0],
        f"-max_total_time={max(1, int(seconds))}",
        f"-timeout={30}",  # one input over 30 s is a hang: libFuzzer stops, we restart
        "-rss_limit_mb=8192",
        f"-max_len={max_len}",
        f"-artifact_prefix={artifacts}/",
        "-print_final_stats=1",
        str(corpus),
    ]
    atheris.Setup(args, runner)
    try:
        atheris.Fuzz()
    finally:
        runner.close()
    return 0


def work_hypothesis(name: str, seconds: float, out: Path) -> int:
    import random

    from hypothesis import HealthCheck, given, settings
    from hypothesis import seed as hseed

    runner = Runner(name, out)
    strategy = runner.strategy()
    deadline = time.monotonic() + seconds

    class _Enough(Exception):
        pass

    try:
        while time.monotonic() < deadline:

            @hseed(random.getrandbits(64))
            @settings(
                max_examples=500,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            @given(strategy)
            def run(data: bytes) -> None:
                if time.monotonic() > deadline:
                    raise _Enough
                runner(data)  # records failures itself: hypothesis never sees them

            try:
                run()
            except _Enough:
                break
    finally:
        runner.close()
    return 0


# ------------------------------------------------------------------ the driver


def have_atheris() -> bool:
    try:
        import atheris  # noqa: F401
    except ImportError:
        return False
    return True


def run_target(name: str, seconds: float, engine: str, out: Path) -> dict[str, Any]:
    """Run the worker for ``name`` until ``seconds`` of fuzzing are done (restarting it after a
    crash or a hang) and return its figures."""
    tdir = out / name
    tdir.mkdir(parents=True, exist_ok=True)
    for stale in ("stats.json", "failures.jsonl"):
        (tdir / stale).unlink(missing_ok=True)
    log = open(tdir / "worker.log", "w", encoding="utf-8")  # noqa: SIM115
    started = time.monotonic()
    hangs, restarts = 0, 0
    while True:
        left = seconds - (time.monotonic() - started)
        if left < 2:
            break
        stats_path = tdir / "stats.json"
        if stats_path.is_file():  # a restart: keep what the previous process counted
            old = json.loads(stats_path.read_text())
            old["previous"] = {k: old[k] for k in ("inputs", "failures", "seconds")}
            stats_path.write_text(json.dumps(old))
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", name]
        cmd += ["--seconds", f"{left:.0f}", "--engine", engine, "--out", str(out)]
        env = {**os.environ, "WANDB_MODE": "disabled", "HF_HUB_OFFLINE": "1"}
        env.setdefault("TOKENIZERS_PARALLELISM", "false")
        proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, check=False)
        if proc.returncode == 0:
            break
        restarts += 1
        timeouts = list((tdir / "artifacts").glob("timeout-*")) if engine == "atheris" else []
        if len(timeouts) > hangs:
            hangs = len(timeouts)
        if restarts > 20:
            break
    log.close()
    stats = json.loads((tdir / "stats.json").read_text()) if (tdir / "stats.json").is_file() else {}
    crashes = sorted((tdir / "artifacts").glob("crash-*")) if (tdir / "artifacts").is_dir() else []
    distinct = list(stats.get("distinct", []))
    distinct += (
        [
            f"hang (input over 30 s): {p.name}"
            for p in sorted((tdir / "artifacts").glob("timeout-*"))
        ]
        if engine == "atheris" and (tdir / "artifacts").is_dir()
        else []
    )
    distinct += [f"process crash: {p.name}" for p in crashes]
    return {
        "target": name,
        "engine": engine,
        "seconds": round(time.monotonic() - started, 1),
        "fuzz_seconds": stats.get("seconds", 0.0),
        "inputs": stats.get("inputs", 0),
        "failures": stats.get("failures", 0) + hangs + len(crashes),
        "distinct_failures": distinct,
        "worker_restarts": restarts,
    }


def write_summary(results: list[dict[str, Any]], out: Path, minutes: float) -> None:
    (out / "summary.json").write_text(
        json.dumps({"minutes_per_target": minutes, "targets": results}, indent=1)
    )
    lines = [
        f"Fuzz run, {minutes:g} min per target ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})",
        "",
        "| target | engine | seconds | inputs | inputs/s | failures | distinct |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        rate = r["inputs"] / r["fuzz_seconds"] if r["fuzz_seconds"] else 0.0
        lines.append(
            f"| {r['target']} | {r['engine']} | {r['seconds']:.0f} | {r['inputs']} | {rate:.1f} "
            f"| {r['failures']} | {len(r['distinct_failures'])} |"
        )
    for r in results:
        for d in r["distinct_failures"]:
            lines.append(f"- {r['target']}: {d}")
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--minutes", type=float, default=10.0, help="fuzzing time per target")
    ap.add_argument("--target", action="append", help="a target (repeatable; default: all)")
    ap.add_argument("--engine", choices=("auto", "atheris", "hypothesis"), default="auto")
    ap.add_argument("--out", default=str(REPO / "runs" / "fuzz"), help="output folder")
    ap.add_argument("--list", action="store_true", help="list the targets")
    ap.add_argument("--replay", nargs=2, metavar=("TARGET", "FILE"), help="run one saved input")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--seconds", type=float, help=argparse.SUPPRESS)
    args, rest = ap.parse_known_args(argv)
    out = Path(args.out)
    if args.worker:
        sys.argv = [sys.argv[0], *rest]
        wdir = out / args.worker
        if args.engine == "atheris":
            return work_atheris(args.worker, args.seconds, wdir)
        return work_hypothesis(args.worker, args.seconds, wdir)
    targets = all_targets()
    if args.list:
        for name, what in targets.items():
            print(f"{name:20s} {what}")
        return 0
    if args.replay:
        name, file = args.replay
        runner = Runner(name, Path(tempfile.mkdtemp(prefix="fuzz-replay-")))
        runner.call(Path(file).read_bytes())  # raises, with its traceback, if it still fails
        print(f"{name}: {file} passes")
        return 0
    chosen = args.target or list(targets)
    unknown = sorted(set(chosen) - set(targets))
    if unknown:
        ap.error(f"unknown target(s) {unknown}; see --list")
    engine = args.engine
    if engine == "auto":
        engine = "atheris" if have_atheris() else "hypothesis"
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for name in chosen:
        print(f"fuzzing {name} ({engine}, {args.minutes:g} min) ...", flush=True)
        results.append(run_target(name, args.minutes * 60, engine, out))
        write_summary(results, out, args.minutes)
    return 1 if any(r["failures"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
