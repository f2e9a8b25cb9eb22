"""Timed walk-through of the analyst workbench: from the start page to the reason of the top group.

Starts ``adowner review LINK_DIR`` (on a fresh decisions database), opens it in headless Chromium
through Playwright, and measures, over ``--repeat`` runs: the clicks and the seconds from the start
page (loaded) to the top group's reason on screen, and the start page's own load time. With
``--screenshot PNG`` it saves the group view (use a simulated marketplace only, never real ads).

    python scripts/review_walkthrough.py runs/qs/link --screenshot docs/review-group.png

Prints one line per figure; the machine (CPU model, cores, load average) beside them.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

CHROMIUM = os.environ.get("ADOWNER_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("link_dir")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--screenshot", help="PNG of the top group's view")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    token = "walkthrough"
    db = Path(tempfile.mkdtemp()) / "walkthrough.sqlite"
    cmd = [sys.executable, "-m", "adowner", "review", args.link_dir, "--port", str(port),
           "--token", token, "--db", str(db)]  # fmt: skip
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    t0 = time.perf_counter()
    while True:
        try:
            with urllib.request.urlopen(url + "/health", timeout=2):
                break
        except OSError:
            if server.poll() is not None or time.perf_counter() - t0 > 120:
                raise SystemExit("the server did not start") from None
            time.sleep(0.2)
    started = time.perf_counter() - t0
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1300, "height": 1500})
            page.goto(f"{url}/?token={token}")  # the first visit: token -> cookie
            loads, reasons = [], []
            for _ in range(args.repeat):
                t = time.perf_counter()
                page.goto(url + "/")
                loads.append(time.perf_counter() - t)
                t = time.perf_counter()
                page.click("tr.grouprow >> nth=0 >> a.open-group")  # click 1: the top group
                page.wait_for_selector("#reason")
                reasons.append(time.perf_counter() - t)
            reason = page.inner_text("#reason")
            if args.screenshot:
                page.screenshot(path=args.screenshot)
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    load = os.getloadavg()
    cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines()
    model = next((x.split(":", 1)[1].strip() for x in cpuinfo if "model name" in x), "?")
    print(f"machine: {model}, {os.cpu_count()} cores, load average {load[0]:.2f}")
    print(f"server start to /health: {started:.1f} s")
    print(f"start page load: median {statistics.median(loads):.2f} s over {len(loads)}")
    print(
        f"start page -> top group's reason: 1 click, median {statistics.median(reasons):.2f} s "
        f"(min {min(reasons):.2f}, max {max(reasons):.2f}) over {len(reasons)}"
    )
    print(f"reason: {reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
