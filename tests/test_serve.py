"""The HTTP service, over real HTTP on a loopback port (uvicorn in a thread, httpx clients)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import uvicorn

import adowner
from adowner.export.export import export_checkpoint
from adowner.serve.app import create_app
from test_export_fixtures import cosines, generated_ads, make_checkpoint, make_prepared

PHONE = "202-555-0143"


@contextlib.contextmanager
def running(app) -> Iterator[str]:
    """Serve ``app`` on a free 127.0.0.1 port; yield its base URL; stop it (bounded) at exit."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


@pytest.fixture(scope="module")
def folder(tiny_backbone, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("serve")
    out = root / "tiny-model"
    export_checkpoint(make_checkpoint(tiny_backbone, root), out, data=make_prepared(root / "p"))
    return out


@pytest.fixture(scope="module")
def encoder(folder: Path):
    return adowner.load(folder)


@pytest.fixture(scope="module")
def url(encoder) -> Iterator[str]:
    with running(create_app(encoder, max_texts=8, max_chars=500)) as base:
        yield base


def test_health(url: str) -> None:
    r = httpx.get(f"{url}/health")
    assert r.status_code == 200
    body = r.json()
    assert body["model"] == "tiny-model"
    assert body["dimension"] == 16
    assert body["status"] == "ok"
    from adowner.hardware import native_bf16_cpu

    # "auto" is decided on the machine: bf16 where the CPU has it natively, else fp32
    assert (body["device"], body["precision"]) == ("cpu", "bf16" if native_bf16_cpu() else "fp32")
    # the path taken and why (adowner.hardware.fastest_exact_path)
    assert body["path"] == f"{body['backend']}-{body['precision']}-cpu"
    assert body["path_reason"]


def test_embed_equals_library(url: str, encoder) -> None:
    texts = generated_ads(8, seed=2)["text"].str.slice(0, 500).tolist()
    r = httpx.post(f"{url}/embed", json={"texts": texts}, timeout=60)
    assert r.status_code == 200
    got = np.asarray(r.json()["embeddings"], dtype=np.float32)
    assert r.json()["model"] == "tiny-model"
    assert got.shape == (8, 16)
    assert cosines(got, encoder.embed(texts)).min() >= 0.99999
    assert httpx.post(f"{url}/embed", json={"texts": []}).json()["embeddings"] == []


def test_same_owner(url: str, encoder) -> None:
    a, b = generated_ads(2, seed=9)["text"].str.slice(0, 400)
    r = httpx.post(f"{url}/same-owner", json={"a": a, "b": b}, timeout=60)
    assert r.status_code == 200
    body = r.json()
    score, decision = encoder.same_owner(a, b)
    assert body["score"] == pytest.approx(score, abs=1e-5)
    assert body["decision"] == decision
    assert body["fpr"] == 0.01
    assert body["threshold"] == pytest.approx(encoder.threshold(0.01))
    strict = httpx.post(f"{url}/same-owner", json={"a": a, "b": b, "fpr": 0.001}).json()
    assert strict["fpr"] == 0.001
    r = httpx.post(f"{url}/same-owner", json={"a": a, "b": b, "fpr": 0.2})
    assert r.status_code == 422
    assert "no threshold calibrated" in r.json()["detail"]


@pytest.mark.parametrize(
    ("payload", "status", "message"),
    [
        ({"texts": ["x"] * 9}, 413, "too many texts: 9 > limit 8"),
        ({"texts": ["ok", "y" * 501]}, 413, "text 1 has 501 characters > limit 500"),
        ({"a": "z" * 501, "b": "ok"}, 413, "text 0 has 501 characters"),
        ({"texts": "not a list"}, 422, "texts"),
        ({"texts": [PHONE, 5]}, 422, "texts.1"),
        ({"txts": [PHONE]}, 422, "texts"),
        ({"a": PHONE}, 422, "b"),
        (b'{"texts": ["\\ud800 call 202-555-0143"]}', 422, "not valid Unicode"),
    ],
)
def test_limits_and_bad_requests(url: str, payload, status: int, message: str) -> None:
    if isinstance(payload, bytes):  # JSON that decodes to a lone surrogate
        r = httpx.post(
            f"{url}/embed", content=payload, headers={"content-type": "application/json"}
        )
    else:
        path = "/same-owner" if ("a" in payload or "b" in payload) else "/embed"
        r = httpx.post(f"{url}{path}", json=payload)
    assert r.status_code == status, r.text
    assert message in r.json()["detail"]
    assert "555" not in r.text  # the submitted text is never echoed


def test_malformed_json_and_body_limit(url: str) -> None:
    r = httpx.post(
        f"{url}/embed",
        content=b'{"texts": ["call ' + PHONE.encode() + b'"',
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 400
    assert r.json()["detail"] == "malformed JSON body"
    assert "555" not in r.text
    r = httpx.post(
        f"{url}/embed", content=b"\xff\xfe garbage", headers={"content-type": "application/json"}
    )
    assert r.status_code == 400
    r = httpx.post(
        f"{url}/embed", content=b"x" * 200_000, headers={"content-type": "application/json"}
    )
    assert r.status_code == 413
    assert "too large" in r.json()["detail"]
    assert httpx.get(f"{url}/health").status_code == 200  # still up


def test_bearer_token(encoder) -> None:
    with running(create_app(encoder, token="s3cret")) as base:
        assert httpx.get(f"{base}/health").status_code == 200  # health stays open for probes
        r = httpx.post(f"{base}/embed", json={"texts": ["hi"]})
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == "Bearer"
        bad = httpx.post(
            f"{base}/embed", json={"texts": ["hi"]}, headers={"Authorization": "Bearer nope"}
        )
        assert bad.status_code == 401
        ok = httpx.post(
            f"{base}/embed", json={"texts": ["hi"]}, headers={"Authorization": "Bearer s3cret"}
        )
        assert ok.status_code == 200
        assert len(ok.json()["embeddings"][0]) == 16


def test_200_concurrent_requests_none_lost(url: str, encoder) -> None:
    texts = generated_ads(200, seed=5)["text"].str.slice(0, 300).tolist()
    expected = encoder.embed(texts)

    async def fire() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        async with httpx.AsyncClient(base_url=url, limits=limits, timeout=120) as client:
            return await asyncio.gather(
                *(client.post("/embed", json={"texts": [t]}) for t in texts)
            )

    responses = asyncio.run(asyncio.wait_for(fire(), timeout=180))
    assert [r.status_code for r in responses] == [200] * 200
    got = np.asarray([r.json()["embeddings"][0] for r in responses], dtype=np.float32)
    assert cosines(got, expected).min() >= 0.99999  # each answer is for its own request
