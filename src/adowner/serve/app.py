"""The HTTP service over an exported model folder (FastAPI).

==========================  ===============================================================
endpoint                    answer
==========================  ===============================================================
``GET /health``             ``{"status": "ok", "model", "dimension", "backend", "path", "path_reason", ...}``
``POST /embed``             ``{"texts": [...]}`` -> ``{"embeddings": [[...]], "model", "dimension"}``
``POST /same-owner``        ``{"a", "b", "fpr"?}`` -> ``{"score", "score_kind", "decision", "threshold", "fpr", "model"}``
==========================  ===============================================================

Errors are JSON ``{"detail": "..."}`` and never echo the submitted text (ads carry phone
numbers): 400 malformed JSON, 401 missing/wrong bearer token, 409 no calibrated threshold,
413 too many texts / too many characters in a text / body too large, 422 wrong shape or
types. Any other failure is a 500 with a generic message; the service keeps running.

Model calls run one at a time in a worker thread (concurrent calls would only oversubscribe
the CPU), and requests that arrive meanwhile are coalesced into the next call, up to
``batch_texts`` ads (dynamic batching, as Triton and TorchServe do): under load, many one-ad
requests become one batched forward pass. Each request still gets exactly its own rows.

Example::

    app = create_app(adowner.load("runs/export/adowner-minilm-agora"), max_texts=64)
    uvicorn.run(app, host="127.0.0.1", port=8000)
"""

from __future__ import annotations

import asyncio
import hmac
from functools import partial
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, StrictStr
from starlette.concurrency import run_in_threadpool

from adowner.defaults import SERVE
from adowner.export.folder import DEFAULT_FPR, ThresholdError
from adowner.log import get_logger

log = get_logger(__name__)

TOKEN_ENV = "ADOWNER_API_TOKEN"


class EmbedRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    texts: list[StrictStr]


class SameOwnerRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    a: StrictStr
    b: StrictStr
    fpr: float | None = None
    # where each ad runs (its ``location`` field); used by a hybrid fitted with locations
    location_a: StrictStr | None = None
    location_b: StrictStr | None = None


class _Batcher:
    """Coalesce concurrent ``embed`` calls into one model call of at most ``max_texts`` texts."""

    def __init__(self, embed: Any, max_texts: int) -> None:
        self.embed, self.max_texts = embed, max_texts
        self.pending: list[tuple[list[str], asyncio.Future[Any]]] = []
        self.lock = asyncio.Lock()

    async def __call__(self, texts: list[str]) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.pending.append((texts, future))
        async with self.lock:  # the holder runs batches of pending requests until its own is done
            while not future.done():
                take, size = 0, 0
                while take < len(self.pending) and (
                    take == 0 or size + len(self.pending[take][0]) <= self.max_texts
                ):
                    size += len(self.pending[take][0])
                    take += 1
                batch, self.pending = self.pending[:take], self.pending[take:]
                try:
                    emb = await run_in_threadpool(
                        self.embed, [t for texts_, _ in batch for t in texts_]
                    )
                except Exception as exc:
                    for _, f in batch:
                        if not f.done():  # a request whose client went away is cancelled
                            f.set_exception(exc)
                else:
                    start = 0
                    for texts_, f in batch:
                        if not f.done():
                            f.set_result(emb[start : start + len(texts_)])
                        start += len(texts_)
        return await future


class _Reject(Exception):
    def __init__(self, status: int, detail: str) -> None:
        self.status, self.detail = status, detail


def create_app(
    encoder: Any,
    *,
    max_texts: int = SERVE.max_texts,
    max_chars: int = SERVE.max_chars,
    max_body_bytes: int | None = None,
    token: str | None = None,
    default_fpr: float = DEFAULT_FPR,
    batch_texts: int = 64,
) -> FastAPI:
    """A FastAPI app serving ``encoder`` (what :func:`adowner.load` returns)."""
    # JSON escapes can take 6 bytes a character ("\\ud83d"); leave room for that and the wrapper.
    body_limit = max_body_bytes or (max_texts * max_chars * 6 + 65_536)
    app = FastAPI(
        title="adowner",
        version=str(getattr(encoder, "model_id", "")),
        docs_url=None,
        redoc_url=None,
    )
    run_model = _Batcher(encoder.embed, batch_texts)
    scorer = encoder.scorer  # the folder's one same-owner score (adowner.export.same_owner)

    def check_texts(texts: list[str]) -> None:
        if len(texts) > max_texts:
            raise _Reject(413, f"too many texts: {len(texts)} > limit {max_texts} per request")
        for k, t in enumerate(texts):
            if len(t) > max_chars:
                raise _Reject(413, f"text {k} has {len(t)} characters > limit {max_chars}")
            try:
                t.encode("utf-8")
            except UnicodeEncodeError:
                raise _Reject(422, f"text {k} is not valid Unicode (lone surrogate)") from None

    @app.middleware("http")
    async def guard(request: Request, call_next: Any) -> Any:
        if token is not None and request.url.path != "/health":
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                return JSONResponse(
                    {"detail": "missing or wrong bearer token"},
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > body_limit):
            return JSONResponse(
                {"detail": f"request body too large (limit {body_limit} bytes)"}, 413
            )
        return await call_next(request)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return JSONResponse({"detail": "malformed JSON body"}, status_code=400)
        # The submitted values ("input") are dropped: they may hold phone numbers.
        detail = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()) if p != 'body') or 'body'}: {e.get('msg')}"
            for e in errors
        )
        return JSONResponse({"detail": f"invalid request: {detail}"}, status_code=422)

    @app.exception_handler(_Reject)
    async def reject(request: Request, exc: _Reject) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status)

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> JSONResponse:
        log.error("%s %s failed: %s", request.method, request.url.path, type(exc).__name__)
        return JSONResponse({"detail": "internal error"}, status_code=500)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {
            "status": "ok",
            "model": encoder.model_id,
            "dimension": encoder.dimension,
            "max_length": encoder.max_length,
            "backend": encoder.backend,
            "device": getattr(encoder, "device", "cpu"),
            "precision": getattr(encoder, "precision", "fp32"),
            # the path taken and why (adowner.hardware.fastest_exact_path)
            "path": getattr(getattr(encoder, "path", None), "name", None),
            "path_reason": getattr(getattr(encoder, "path", None), "reason", None),
            "thresholds": [
                {"fpr": f, "threshold": t} for f, t in sorted(encoder.thresholds.items())
            ],
            "same_owner_score": scorer.kind,
            "hybrid_thresholds": [
                {"fpr": f, "threshold": t}
                for f, t in sorted(scorer.thresholds.items())
                if scorer.kind == "hybrid"
            ],
            "limits": {"max_texts": max_texts, "max_chars": max_chars},
        }

    @app.post("/embed")
    async def embed(req: EmbedRequest) -> dict[str, Any]:
        check_texts(req.texts)
        emb = await run_model(req.texts)
        return {
            "model": encoder.model_id,
            "dimension": encoder.dimension,
            "embeddings": emb.tolist(),
        }

    @app.post("/same-owner")
    async def same_owner(req: SameOwnerRequest) -> dict[str, Any]:
        check_texts([req.a, req.b])
        fpr = default_fpr if req.fpr is None else req.fpr
        if not scorer.thresholds:
            raise _Reject(409, "this model has no calibrated threshold (export it with --data)")
        try:
            threshold = scorer.threshold(fpr)
        except ThresholdError as exc:
            raise _Reject(422, exc.reason) from None
        emb = await run_model([req.a, req.b])
        pair = np.array([0]), np.array([1])
        locations = [req.location_a or "", req.location_b or ""]
        # the hybrid (cosine + char n-grams + pairwise features, hybrid.json) or the cosine
        scored = await run_in_threadpool(
            partial(scorer.score_embedded, locations=locations), [req.a, req.b], emb, *pair
        )
        score = float(scored[0])
        return {
            "model": encoder.model_id,
            "score": score,
            "score_kind": scorer.kind,
            "decision": score >= threshold,
            "threshold": threshold,
            "fpr": scorer.thresholds.fpr_at(fpr),
        }

    return app
