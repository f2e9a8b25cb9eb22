"""The workbench in a real browser (Playwright driving Debian's Chromium) against a running
`adowner review` server: list, filter, open a group, mark it, reload and see the mark; restart the
server and see it again; split by ticking ads; export the labels.

Skipped, with the reason, where the Playwright package or Chromium is missing (scripts/setup.sh
installs both: the `[dev]` extra and, best effort, Debian's chromium)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from adowner.review.run import LinkRun

CHROMIUM = os.environ.get("ADOWNER_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
TOKEN = "browser-token-0123"

pytestmark = [pytest.mark.chromium, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`adowner review LINK_DIR` in a subprocess, on a fixed port and database."""

    def __init__(self, link: Path, db: Path) -> None:
        self.link, self.db, self.port = link, db, _free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        src = str(Path(__file__).resolve().parents[1] / "src")
        env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
        cmd = [sys.executable, "-m", "adowner", "review", str(self.link), "--port", str(self.port),
               "--token", TOKEN, "--db", str(self.db)]  # fmt: skip
        self.proc = subprocess.Popen(
            cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError("server did not answer /health in 60 s")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=20)
            self.proc = None


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="the playwright package is missing (pip install -e '.[dev]')"
    )
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium is missing at {CHROMIUM} (apt-get install -y chromium)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def server(review_link, tmp_path) -> Iterator[Server]:
    s = Server(review_link, tmp_path / "decisions.sqlite")
    s.start()
    yield s
    s.stop()


def test_list_filter_open_mark_reload_restart_export(browser, server, review_link, tmp_path):
    run = LinkRun(review_link)
    top = int(run.owners.iloc[0]["group_id"])
    context = browser.new_context(accept_downloads=True)  # type: ignore[attr-defined]
    page = context.new_page()
    page.goto(f"{server.url}/?token={TOKEN}")
    assert page.url == server.url + "/"  # the token went into a cookie, out of the address
    assert page.locator("tr.grouprow").count() == len(run.members)

    # filter by size: htmx swaps in the rows that pass
    big = int(run.owners["n_ads"].max())
    page.fill("#f-min", str(big))
    page.press("#f-min", "Tab")  # the change event
    want = int((run.owners["n_ads"] >= big).sum())
    page.wait_for_function(f"document.querySelectorAll('tr.grouprow').length == {want}")
    page.goto(server.url + "/")

    # open the top group: its reason is on the page
    page.click("tr.grouprow >> nth=0 >> a.open-group")
    page.wait_for_selector("#reason")
    assert page.url.endswith(f"/groups/{top}")
    assert run.explain(top).summary in page.inner_text("#reason")
    assert page.locator(".card").count() == min(12, len(run.members[top]))

    # mark it, with a note
    page.fill("#note", "same phone and wallet")
    page.click("#confirm")
    page.wait_for_selector("#state.state-confirmed")
    page.reload()
    assert page.inner_text("#state") == "confirmed"
    assert "same phone and wallet" in page.inner_text("#decision")

    # restart the server: the decision is still there
    server.stop()
    server.start()
    page.goto(f"{server.url}/groups/{top}")
    assert page.inner_text("#state") == "confirmed"
    page.goto(server.url + "/?state=confirmed")
    assert page.locator("tr.grouprow").count() == 1

    # split: tick an ad, press split
    page.goto(f"{server.url}/groups/{top}")
    if len(run.members[top]) > 1:
        page.locator("input.choose").nth(0).check()
        page.click("#split")
        page.wait_for_selector("#state.state-split")

    # the edges between two sub-groups on demand
    if page.locator("button.show-edges").count():
        page.locator("button.show-edges").nth(0).click()
        page.wait_for_selector("table.edge-list")

    # export the labels
    with page.expect_download() as info:
        page.click("#export-labels")
    path = tmp_path / "pairs.csv"
    info.value.save_as(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "ad_a,ad_b,label,group_key,decision,decided_at"
    assert any(",must-link," in line for line in lines[1:])
    context.close()
