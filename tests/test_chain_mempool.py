"""mempool-watch against a fake Bitcoin Core JSON-RPC server on loopback."""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from adowner.chain.ingest import read_mempool_log
from adowner.chain.mempool import RPCError, read_cookie, rpc_call, watch
from adowner.cli import main


class FakeNode:
    """Serves getrawmempool from a list of snapshots (the last one repeats); checks auth."""

    def __init__(
        self, snapshots: list[list[str]], user: str = "__cookie__", password: str = "s3cret"
    ):
        self.snapshots, self.calls = snapshots, 0
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        node = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.headers.get("Authorization") != f"Basic {token}":
                    self.send_response(401)
                    self.end_headers()
                    return
                if body["method"] != "getrawmempool":
                    reply = {
                        "result": None,
                        "error": {"code": -32601, "message": "Method not found"},
                    }
                else:
                    snap = node.snapshots[min(node.calls, len(node.snapshots) - 1)]
                    node.calls += 1
                    reply = {"result": snap, "error": None, "id": body["id"]}
                data = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def test_watch_logs_new_txids_once_and_survives_a_restart(tmp_path):
    cookie = tmp_path / ".cookie"
    cookie.write_text("__cookie__:s3cret")
    log = tmp_path / "mempool.jsonl"
    with FakeNode([["aa"], ["aa", "bb"], ["bb", "cc"]]) as node:
        stats = watch(node.url, log, interval=0, auth=read_cookie(cookie), max_polls=3)
    assert stats == {"known_at_start": 0, "polls": 3, "new": 3, "errors": 0}
    recs = [json.loads(x) for x in log.read_text().splitlines()]
    assert [r["txid"] for r in recs] == ["aa", "bb", "cc"]
    with open(log, "a") as fh:
        fh.write('{"txid": "to')  # a record torn by a crash
    with FakeNode([["cc", "dd"]]) as node:
        rc = main(
            [
                "chain",
                "mempool-watch",
                "--rpc",
                node.url,
                "--out",
                str(log),
                "--cookie",
                str(cookie),
                "--interval",
                "0",
                "--max-polls",
                "2",
            ]
        )
    assert rc == 0
    seen = read_mempool_log(log)
    assert sorted(seen["txid"]) == ["aa", "bb", "cc", "dd"]
    assert seen.attrs["bad_lines"] == 1
    assert seen["first_seen"].is_monotonic_increasing


def test_wrong_password_and_unreachable_node(tmp_path):
    with FakeNode([["aa"]]) as node:
        with pytest.raises(RPCError, match="authentication refused"):
            rpc_call(node.url, "getrawmempool", auth=("u", "wrong"))
        with pytest.raises(RPCError, match="Method not found"):
            rpc_call(node.url, "stop", auth=("__cookie__", "s3cret"))
        url = node.url
    stats = watch(url, tmp_path / "m.jsonl", interval=0, auth=("u", "p"), max_polls=2)
    assert stats["errors"] == 2
    assert stats["new"] == 0
