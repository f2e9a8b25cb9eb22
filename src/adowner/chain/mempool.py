"""Watch a Bitcoin Core node's mempool and log when each transaction was first seen.

What it does: polls ``getrawmempool`` every ``interval`` seconds and appends one JSON line
``{"txid": ..., "first_seen": ISO-8601 UTC}`` per transaction not seen before; the log is
flushed and synced after each poll, so a crash loses at most the poll in flight. On restart it
re-reads the log to know which txids it has already recorded (a torn last line is skipped
with a warning). ``chain ingest --mempool-log`` joins the log into ``transactions.first_seen``;
the matching rule of Portnoff et al. (KDD 2017) needs exactly this time, to the minute.

The time is the poll's time, so its resolution is the interval: keep it well under a minute.

Authentication: Bitcoin Core's cookie file (``<datadir>/.cookie``, ``__cookie__:<secret>``)
or ``rpcuser``/``rpcpassword``, sent as HTTP Basic. The JSON-RPC call is a few lines of
standard-library ``urllib``: python-bitcoinlib's ``RawProxy`` takes credentials only inside the
URL (reserved characters in a password break it) and does not survive a node restart.

| argument   | meaning                                               |
|------------|-------------------------------------------------------|
| rpc_url    | e.g. ``http://127.0.0.1:8332/``                       |
| out        | the JSON Lines log (appended to)                      |
| interval   | seconds between polls                                 |
| auth       | ``(user, password)`` or None                          |
| max_polls  | stop after this many polls (None: until interrupted)  |

Example::

    watch("http://127.0.0.1:8332/", "mempool.jsonl", auth=read_cookie("~/.bitcoin/.cookie"))
"""

from __future__ import annotations

import base64
import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from adowner.errors import AdownerError, InputError
from adowner.log import get_logger

log = get_logger(__name__)


class RPCError(AdownerError):
    """The node answered with an error, or not at all."""


def read_cookie(path: str | os.PathLike[str]) -> tuple[str, str]:
    """``(user, password)`` from a Bitcoin Core ``.cookie`` file."""
    p = Path(path).expanduser()
    try:
        text = p.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise InputError(f"cannot read cookie file: {exc}", path=str(p)) from exc
    user, sep, password = text.partition(":")
    if not sep:
        raise InputError("cookie file is not 'user:password'", path=str(p))
    return user, password


def rpc_call(
    url: str,
    method: str,
    params: list[Any] | None = None,
    *,
    auth: tuple[str, str] | None = None,
    timeout: float = 30.0,
) -> Any:
    """One JSON-RPC 1.0 call; returns ``result`` or raises :class:`RPCError`."""
    body = json.dumps({"jsonrpc": "1.0", "id": "adowner", "method": method, "params": params or []})
    req = urllib.request.Request(url, data=body.encode(), method="POST")
    req.add_header("Content-Type", "application/json")
    if auth is not None:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        req.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            reply = json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        if exc.code == 401:
            raise RPCError(
                f"{url}: authentication refused (check --cookie or --user/--password)"
            ) from exc
        try:
            reply = json.loads(exc.read())
        except (ValueError, OSError):
            raise RPCError(f"{url}: HTTP {exc.code}") from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise RPCError(f"{url}: {exc}") from exc
    if reply.get("error"):
        raise RPCError(f"{url}: {method}: {reply['error']}")
    return reply.get("result")


def load_seen(path: str | os.PathLike[str]) -> set[str]:
    """Txids already in a log (empty if the file does not exist)."""
    seen: set[str] = set()
    p = Path(path)
    if not p.exists():
        return seen
    with open(p, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                seen.add(str(json.loads(line)["txid"]))
            except (ValueError, KeyError, TypeError):
                log.warning("%s line %d: unreadable record skipped", p, lineno)
    return seen


def watch(
    rpc_url: str,
    out: str | os.PathLike[str],
    *,
    interval: float = 5.0,
    auth: tuple[str, str] | None = None,
    max_polls: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, int]:
    """Poll the mempool and append new txids with their first-seen time; returns counts."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    seen = load_seen(out)
    stats = {"known_at_start": len(seen), "polls": 0, "new": 0, "errors": 0}
    torn = out.exists() and out.stat().st_size > 0 and not out.read_bytes().endswith(b"\n")
    with open(out, "a", encoding="utf-8") as fh:
        if torn:
            fh.write("\n")  # never glue a record to a line torn by a crash
        while max_polls is None or stats["polls"] < max_polls:
            now = datetime.now(UTC).isoformat()
            try:
                txids = rpc_call(rpc_url, "getrawmempool", auth=auth)
            except RPCError as exc:
                stats["errors"] += 1
                log.warning("poll failed: %s", exc)
            else:
                new = [t for t in txids if t not in seen]
                fh.writelines(json.dumps({"txid": t, "first_seen": now}) + "\n" for t in new)
                fh.flush()
                os.fsync(fh.fileno())
                seen.update(new)
                stats["new"] += len(new)
                log.debug("poll: %d in mempool, %d new", len(txids), len(new))
            stats["polls"] += 1
            if max_polls is None or stats["polls"] < max_polls:
                sleep(interval)
    return stats
