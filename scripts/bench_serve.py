"""Load test of ``adowner serve``: requests/s and p50/p99 latency at a stated concurrency.

What it measures
    Starts the service (``create_app`` under uvicorn) on a free 127.0.0.1 port in this process's
    background thread, then sends ``--requests`` ``POST /embed`` requests (one ad each, or
    ``--batch`` ads) from ``--concurrency`` asyncio workers (httpx.AsyncClient), all bounded by
    a wall-clock ``--timeout``. Reports requests/s, ads/s, p50/p90/p99 latency, and the number
    of non-200 answers (must be 0). Beside it, the same ads embedded directly with
    ``adowner.load(DIR).embed`` one request's worth at a time (no HTTP), as the peer that shows
    what HTTP and JSON cost. Loopback only; nothing leaves the machine.

Usage
    python scripts/bench_serve.py --model runs/export/adowner-minilm-agora --requests 400 --concurrency 16
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_embed import agora_texts, export_minilm


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--model", default="minilm", help="exported folder, or 'minilm'")
    ap.add_argument("--requests", type=int, default=400)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--batch", type=int, default=1, help="ads per request")
    ap.add_argument("--backend", default="auto")
    ap.add_argument(
        "--timeout", type=float, default=600, help="stop the whole test after this many s"
    )
    ap.add_argument("--out", help="write the figures as JSON here")
    args = ap.parse_args()

    import tempfile

    import httpx
    import uvicorn

    import adowner
    from adowner.serve.app import create_app

    tmp = None
    if args.model == "minilm":
        tmp = tempfile.TemporaryDirectory()
        folder = export_minilm(Path(tmp.name) / "all-MiniLM-L6-v2")
    else:
        folder = Path(args.model)
    encoder = adowner.load(folder, backend=args.backend)
    texts = agora_texts(args.requests * args.batch, seed=1)
    bodies = [texts[k * args.batch : (k + 1) * args.batch] for k in range(args.requests)]

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    app = create_app(encoder, max_texts=max(64, args.batch))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)

    latencies: list[float] = []
    statuses: list[int] = []

    async def worker(client: httpx.AsyncClient, queue: asyncio.Queue) -> None:
        while True:
            try:
                body = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            t0 = time.perf_counter()
            try:
                r = await client.post("/embed", json={"texts": body})
                statuses.append(r.status_code)
            except httpx.HTTPError:
                statuses.append(-1)
            latencies.append(time.perf_counter() - t0)

    async def run() -> float:
        queue: asyncio.Queue = asyncio.Queue()
        for body in bodies:
            queue.put_nowait(body)
        limits = httpx.Limits(max_connections=args.concurrency)
        async with httpx.AsyncClient(base_url=url, limits=limits, timeout=args.timeout) as client:
            await client.post("/embed", json={"texts": bodies[0]})  # warm-up
            t0 = time.perf_counter()
            await asyncio.wait_for(
                asyncio.gather(*(worker(client, queue) for _ in range(args.concurrency))),
                args.timeout,
            )
            return time.perf_counter() - t0

    wall = asyncio.run(run())
    server.should_exit = True
    thread.join(timeout=30)

    t0 = time.perf_counter()
    for body in bodies:
        encoder.embed(body)
    direct = time.perf_counter() - t0

    lat = np.array(latencies) * 1000
    ok = sum(s == 200 for s in statuses)
    summary = {
        "model": str(args.model),
        "backend": encoder.backend,
        "requests": args.requests,
        "ads_per_request": args.batch,
        "concurrency": args.concurrency,
        "ok": ok,
        "failed": len(bodies) - ok,
        "requests_per_s": round(len(bodies) / wall, 2),
        "ads_per_s": round(len(bodies) * args.batch / wall, 2),
        "latency_ms": {
            p: round(float(np.percentile(lat, q)), 1)
            for p, q in (("p50", 50), ("p90", 90), ("p99", 99))
        },
        "direct_embed_requests_per_s": round(len(bodies) / direct, 2),
    }
    print(json.dumps(summary, indent=2))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
