"""Soak test of ``adowner serve``: a bounded run of good, malformed, oversized, slow and abandoned
requests at a stated concurrency, over loopback only.

What it does
    Starts ``python -m adowner serve --model DIR --host 127.0.0.1 --port P`` as a child process
    (small limits: ``--max-texts 16 --max-chars 2000``, so oversized bodies stay cheap), waits
    for ``/health``, then runs ``--concurrency`` asyncio workers for ``--seconds`` seconds. Each
    worker draws request kinds from a fixed mix (seeded):

    ========== ======================================================= ===================
    group      kinds                                                    expected answer
    ========== ======================================================= ===================
    good       ``embed`` (1-4 ads), ``same_owner``, ``health``,         200
               ``slow_body`` (a valid body trickled over ~1 s)
    malformed  bad JSON, garbage bytes, wrong type, unknown field,      400 / 422 / 404 /
               lone surrogate, unknown fpr, unknown path, wrong method  405
    oversized  too many texts, a text over the limit, a body over the   413
               byte limit
    abandoned  headers cut off, or half a body, then the socket closed  (none)
    ========== ======================================================= ===================

    Meanwhile the server's resident memory (``VmRSS`` of ``/proc/PID/status``) is sampled every
    0.25 s. At the end the server gets SIGINT and must exit.

Checks (exit 1 if one fails)
    - no request lost: every request but the abandoned ones gets an HTTP answer (no timeout,
      no reset, no refused connection);
    - no 5xx at all, and every answer is the expected status of its kind;
    - memory flat: the median RSS of the last third of the run exceeds that of the first third
      (after a warm-up of 10% of the run) by at most ``--max-rss-growth-mb``;
    - the server still answers ``/health`` after the run, and exits on SIGINT.

    It reports requests per kind, statuses, p50/p99 latency (good requests, and per kind), the
    RSS at start/end/peak and its growth, and writes them as JSON with ``--out``.

Usage
    python scripts/soak_serve.py --model tiny --seconds 60 --concurrency 64 --out soak.json
    python scripts/soak_serve.py --model runs/export/adowner-minilm-agora --seconds 600

``--model tiny`` builds a folder of the randomly initialised tiny BERT (tests' model) with its
ONNX files, calibrated on a small simulated marketplace, in a temporary folder; the service runs it as it
does any ``export --onnx`` folder: ``--backend auto`` is ONNX Runtime, or PyTorch under bf16
autocast on a CPU with native bf16 (``--backend onnx`` / ``torch`` to choose).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

MAX_TEXTS, MAX_CHARS = 16, 2000
BODY_LIMIT = MAX_TEXTS * MAX_CHARS * 6 + 65_536  # the service's default for these limits
WORDS = [
    "new", "in", "town", "sweet", "discreet", "call", "me", "now", "available", "tonight",
    "incall", "outcall", "fresh", "pics", "real", "no", "games", "upscale", "party",
    "friendly", "generous", "gentlemen", "only", "quality", "service",
]  # fmt: skip

# kind -> (group, expected statuses, weight in the mix)
KINDS: dict[str, tuple[str, frozenset[int], int]] = {
    "embed": ("good", frozenset({200}), 30),
    "same_owner": ("good", frozenset({200}), 10),
    "health": ("good", frozenset({200}), 5),
    "slow_body": ("good", frozenset({200}), 5),
    "bad_json": ("malformed", frozenset({400}), 4),
    "garbage": ("malformed", frozenset({400}), 3),
    "wrong_type": ("malformed", frozenset({422}), 4),
    "unknown_field": ("malformed", frozenset({422}), 3),
    "surrogate": ("malformed", frozenset({422}), 3),
    "unknown_fpr": ("malformed", frozenset({422}), 3),
    "not_found": ("malformed", frozenset({404}), 2),
    "wrong_method": ("malformed", frozenset({405}), 2),
    "too_many_texts": ("oversized", frozenset({413}), 5),
    "long_text": ("oversized", frozenset({413}), 5),
    "huge_body": ("oversized", frozenset({413}), 3),
    "abandoned": ("abandoned", frozenset(), 4),
}


def ad(rng: random.Random) -> str:
    words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 60)))
    return f"{words.capitalize()}!! call 202-555-01{rng.randint(0, 99):02d}"


def tiny_model(root: Path) -> Path:
    """An exported folder of the tiny BERT (PyTorch and ONNX files, as ``export --onnx``
    writes), calibrated on a simulated marketplace."""
    import pandas as pd

    from adowner.backbones import build_tiny_bert
    from adowner.export.calibrate import calibrate
    from adowner.export.folder import update_config, write_folder
    from adowner.export.inference import ONNX_FUSED_NAME, ONNX_NAME, load
    from adowner.export.onnx_export import export_onnx, fuse_for_ort
    from adowner.model.encoder import AuthorshipEncoder
    from adowner.simulate.run import run_simulation

    run_simulation(root / "market", n_owners=12, seed=3, chain=False, progress=False)
    folder = root / "tiny-model"
    folder.mkdir()
    encoder = AuthorshipEncoder(str(build_tiny_bert(root / "bert")), max_length=64)
    write_folder(encoder, folder)
    fuse_for_ort(encoder, export_onnx(encoder, folder / ONNX_NAME), folder / ONNX_FUSED_NAME)
    ads = pd.read_parquet(root / "market" / "ads.parquet")
    emb = load(folder, backend="torch").embed((ads["title"] + "\n" + ads["body"]).tolist())
    result = calibrate(emb, ads["true_owner"].astype(str).to_numpy())
    update_config(folder, thresholds=result["thresholds"])
    return folder


def rss_kb(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, round(q / 100 * (len(values) - 1)))]


class Soak:
    def __init__(self, port: int, seconds: float, concurrency: int, seed: int) -> None:
        self.port, self.seconds, self.concurrency, self.seed = port, seconds, concurrency, seed
        self.url = f"http://127.0.0.1:{port}"
        self.counts: Counter[tuple[str, str]] = Counter()  # (kind, status or error)
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.lost: list[str] = []
        self.unexpected: Counter[tuple[str, str]] = Counter()

    def request(self, kind: str, rng: random.Random) -> tuple[str, str, Any]:
        """(method, path, body bytes or JSON-able) of one request of ``kind``."""
        if kind == "embed":
            return "POST", "/embed", {"texts": [ad(rng) for _ in range(rng.randint(1, 4))]}
        if kind == "same_owner":
            return "POST", "/same-owner", {"a": ad(rng), "b": ad(rng)}
        if kind == "health":
            return "GET", "/health", None
        if kind == "bad_json":
            return "POST", "/embed", b'{"texts": ["unterminated'
        if kind == "garbage":
            return "POST", "/embed", bytes(rng.randrange(256) for _ in range(rng.randint(1, 300)))
        if kind == "wrong_type":
            return "POST", "/embed", rng.choice([{"texts": "one"}, {"texts": [1, 2]}, [1]])
        if kind == "unknown_field":
            return "POST", "/same-owner", {"a": "x", "b": "y", "c": "z"}
        if kind == "surrogate":
            return "POST", "/embed", b'{"texts": ["lone \\ud800 surrogate"]}'
        if kind == "unknown_fpr":
            return "POST", "/same-owner", {"a": ad(rng), "b": ad(rng), "fpr": 0.37}
        if kind == "not_found":
            return "GET", "/nope", None
        if kind == "wrong_method":
            return "GET", "/embed", None
        if kind == "too_many_texts":
            return "POST", "/embed", {"texts": ["ad"] * (MAX_TEXTS + 1)}
        if kind == "long_text":
            return "POST", "/embed", {"texts": ["x" * (MAX_CHARS + 1)]}
        if kind == "huge_body":
            return "POST", "/embed", {"texts": ["y" * (BODY_LIMIT + 1)]}
        raise ValueError(kind)

    def record(self, kind: str, outcome: str, seconds: float) -> None:
        expected = KINDS[kind][1]
        self.counts[(kind, outcome)] += 1
        if not outcome.isdigit():
            self.lost.append(f"{kind}: {outcome}")
            return
        self.latency[kind].append(seconds)
        if int(outcome) not in expected:
            self.unexpected[(kind, outcome)] += 1

    async def http(self, client: Any, kind: str, rng: random.Random) -> None:
        import httpx

        method, path, body = self.request(kind, rng)
        if isinstance(body, bytes):
            kw: dict[str, Any] = {"content": body, "headers": {"content-type": "application/json"}}
        else:
            kw = {} if body is None else {"json": body}
        t0 = time.perf_counter()
        try:
            r = await client.request(method, self.url + path, **kw)
            outcome = str(r.status_code)
        except httpx.HTTPError as exc:
            outcome = type(exc).__name__
        self.record(kind, outcome, time.perf_counter() - t0)

    async def raw(self, kind: str, rng: random.Random) -> None:
        """A slow body (trickled in five pieces), or a request abandoned half way."""
        body = json.dumps({"texts": [ad(rng)]}).encode()
        head = (
            f"POST /embed HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode()
        t0 = time.perf_counter()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        except OSError as exc:
            self.record(kind, type(exc).__name__, time.perf_counter() - t0)
            return
        try:
            if kind == "abandoned":
                cut = head[: rng.randint(5, len(head) - 1)] if rng.random() < 0.5 else head
                writer.write(cut if cut is not head else head + body[: len(body) // 2])
                await writer.drain()
                self.counts[(kind, "closed")] += 1
                return
            writer.write(head)
            step = max(1, len(body) // 5)
            for k in range(0, len(body), step):
                writer.write(body[k : k + step])
                await writer.drain()
                await asyncio.sleep(0.2)
            status_line = await asyncio.wait_for(reader.readline(), timeout=60)
            await asyncio.wait_for(reader.read(), timeout=60)
            parts = status_line.split()
            outcome = parts[1].decode() if len(parts) > 1 else "NoStatusLine"
        except (OSError, TimeoutError) as exc:
            outcome = type(exc).__name__
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        self.record(kind, outcome, time.perf_counter() - t0)

    async def run(self, server_pid: int) -> dict[str, Any]:
        import httpx

        names = list(KINDS)
        weights = [KINDS[k][2] for k in names]
        deadline = time.monotonic() + self.seconds
        samples: list[tuple[float, int]] = []
        t_start = time.monotonic()

        async def sampler() -> None:
            while time.monotonic() < deadline:
                kb = rss_kb(server_pid)
                if kb is not None:
                    samples.append((time.monotonic() - t_start, kb))
                await asyncio.sleep(0.25)

        limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=32)
        timeout = httpx.Timeout(60.0)
        async with httpx.AsyncClient(limits=limits, timeout=timeout) as client:

            async def worker(w: int) -> None:
                rng = random.Random(self.seed * 1000 + w)
                while time.monotonic() < deadline:
                    kind = rng.choices(names, weights)[0]
                    if kind in ("slow_body", "abandoned"):
                        await self.raw(kind, rng)
                    else:
                        await self.http(client, kind, rng)

            await asyncio.gather(sampler(), *(worker(w) for w in range(self.concurrency)))
            after = await client.get(self.url + "/health")
        return {"samples": samples, "health_after": after.status_code}


def summarise(soak: Soak, result: dict[str, Any], seconds: float, max_growth_mb: float) -> dict:
    samples = result["samples"]
    warm = [kb for t, kb in samples if t >= 0.1 * seconds] or [kb for _, kb in samples]
    third = max(1, len(warm) // 3)
    first, last = statistics.median(warm[:third]), statistics.median(warm[-third:])
    by_kind: dict[str, dict[str, int]] = defaultdict(dict)
    for (kind, outcome), n in sorted(soak.counts.items()):
        by_kind[kind][outcome] = n
    good = [s for k, v in soak.latency.items() if KINDS[k][0] == "good" for s in v]
    fast_good = [s for k in ("embed", "same_owner", "health") for s in soak.latency[k]]
    five = sum(n for (_, o), n in soak.counts.items() if o.isdigit() and o.startswith("5"))
    total = sum(soak.counts.values())
    figures = {
        "seconds": seconds,
        "concurrency": soak.concurrency,
        "requests": total,
        "requests_per_s": round(total / seconds, 1),
        "by_group": {
            g: sum(n for (k, _), n in soak.counts.items() if KINDS[k][0] == g)
            for g in ("good", "malformed", "oversized", "abandoned")
        },
        "by_kind": dict(by_kind),
        "lost": len(soak.lost),
        "lost_examples": soak.lost[:10],
        "status_5xx": five,
        "unexpected_status": {f"{k} -> {o}": n for (k, o), n in soak.unexpected.items()},
        "latency_ms": {
            "good_p50": _ms(percentile(good, 50)),
            "good_p99": _ms(percentile(good, 99)),
            "fast_good_p50": _ms(percentile(fast_good, 50)),  # without the trickled bodies
            "fast_good_p99": _ms(percentile(fast_good, 99)),
            **{
                f"{k}_{q}": _ms(percentile(v, int(q[1:])))
                for k, v in sorted(soak.latency.items())
                for q in ("p50", "p99")
            },
        },
        "rss_mb": {
            "samples": len(samples),
            "start": round(samples[0][1] / 1024, 1) if samples else None,
            "end": round(samples[-1][1] / 1024, 1) if samples else None,
            "peak": round(max(kb for _, kb in samples) / 1024, 1) if samples else None,
            "first_third_median": round(first / 1024, 1),
            "last_third_median": round(last / 1024, 1),
            "growth": round((last - first) / 1024, 1),
            "limit": max_growth_mb,
            # (seconds, MB) about every second
            "series": [(round(t, 1), round(kb / 1024, 1)) for t, kb in samples[::4]],
        },
        "health_after": result["health_after"],
    }
    checks = {
        "no_request_lost": figures["lost"] == 0,
        "no_5xx": five == 0,
        "expected_statuses": not soak.unexpected,
        "memory_flat": figures["rss_mb"]["growth"] <= max_growth_mb,
        "healthy_after": result["health_after"] == 200,
    }
    figures["checks"] = checks
    return figures


def _ms(s: float | None) -> float | None:
    return None if s is None else round(1000 * s, 1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--model", default="tiny", help="exported model folder, or 'tiny'")
    ap.add_argument("--seconds", type=float, default=60, help="how long to drive it (default 60)")
    ap.add_argument("--concurrency", type=int, default=64, help="workers at once (default 64)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--backend",
        default="auto",
        choices=["auto", "onnx", "torch", "openvino"],
        help="serve --backend",
    )
    ap.add_argument(
        "--max-rss-growth-mb", type=float, default=50, help="memory check (default 50 MB)"
    )
    ap.add_argument("--startup-timeout", type=float, default=300)
    ap.add_argument("--out", help="write the figures as JSON here")
    args = ap.parse_args(argv)

    import httpx

    tmp = tempfile.TemporaryDirectory(prefix="adowner-soak-")
    folder = tiny_model(Path(tmp.name)) if args.model == "tiny" else Path(args.model)
    port = free_port()
    log = Path(tmp.name) / "server.log"
    cmd = [
        sys.executable, "-m", "adowner", "serve", "--model", str(folder),
        "--host", "127.0.0.1", "--port", str(port),
        "--max-texts", str(MAX_TEXTS), "--max-chars", str(MAX_CHARS), "--backend", args.backend,
    ]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    env.pop("ADOWNER_API_TOKEN", None)
    with open(log, "wb") as fh:
        server = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + args.startup_timeout
        while True:
            if server.poll() is not None:
                print(log.read_text(errors="replace")[-3000:], file=sys.stderr)
                raise SystemExit(f"the server exited ({server.returncode}) before it answered")
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
                if health.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the server did not answer /health in time")
            time.sleep(0.2)
        soak = Soak(port, args.seconds, args.concurrency, args.seed)
        t0 = time.monotonic()
        result = asyncio.run(soak.run(server.pid))
        figures = summarise(soak, result, time.monotonic() - t0, args.max_rss_growth_mb)
    finally:
        server.send_signal(signal.SIGINT)
        try:
            rc = server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            rc = server.wait()
    server_log = log.read_text(errors="replace")
    figures["server_exit"] = rc
    figures["server_errors_logged"] = server_log.count(" failed: ")
    figures["checks"]["exits_on_sigint"] = rc == 0
    figures["model"] = args.model
    figures["backend"] = health.json()["backend"]
    text = json.dumps(figures, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    tmp.cleanup()
    failed = [name for name, ok in figures["checks"].items() if not ok]
    if failed:
        print(f"soak: FAILED {', '.join(failed)}", file=sys.stderr)
        return 1
    r = figures["rss_mb"]
    lat = figures["latency_ms"]
    print(
        f"soak: {figures['requests']} requests in {figures['seconds']:.0f} s at concurrency "
        f"{figures['concurrency']}; 0 lost, 0 5xx; good p50 {lat['good_p50']} ms, p99 "
        f"{lat['good_p99']} ms; RSS {r['first_third_median']} -> {r['last_third_median']} MB "
        f"(growth {r['growth']} MB)",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
