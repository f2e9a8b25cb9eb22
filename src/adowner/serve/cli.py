"""Subcommands of adowner.serve: ``serve`` (registered by adowner.cli)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``serve`` to ``sub``."""
    p = sub.add_parser(
        "serve",
        help="HTTP service over an exported model (/health, /embed, /same-owner)",
        description="Serve an exported model folder over HTTP with FastAPI and uvicorn. Set "
        "ADOWNER_API_TOKEN to require 'Authorization: Bearer <token>' on every call but /health.",
    )
    p.add_argument("--model", required=True, help="exported model folder")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--backend", default="auto", choices=["auto", "onnx", "torch"])
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="cores to use (ONNX: one single-threaded session per core; default: all)",
    )
    p.add_argument(
        "--device",
        default="cpu",
        help="cpu, cuda or cuda:N (cuda runs the PyTorch backend)",
    )
    p.add_argument(
        "--precision",
        default="auto",
        choices=["auto", "fp32", "bf16", "fp16"],
        help="PyTorch backend: auto = fp16 on CUDA, bf16 on CPUs with native bf16, else fp32",
    )
    p.add_argument("--max-texts", type=int, default=64, help="texts per /embed request (413 above)")
    p.add_argument("--max-chars", type=int, default=20_000, help="characters per text (413 above)")
    p.set_defaults(func=_serve)


def _serve(args: argparse.Namespace) -> int:
    import os

    import uvicorn

    from adowner.errors import InputError
    from adowner.export.inference import load
    from adowner.log import get_logger
    from adowner.serve.app import TOKEN_ENV, create_app

    log = get_logger(__name__)
    if args.max_texts < 1 or args.max_chars < 1:
        raise InputError("limits must be >= 1", field="--max-texts/--max-chars")
    token = os.environ.get(TOKEN_ENV) or None
    if args.host not in {"127.0.0.1", "localhost", "::1"} and token is None:
        log.warning("listening on %s without a token: set %s to require one", args.host, TOKEN_ENV)
    encoder = load(
        args.model,
        backend=args.backend,
        threads=args.threads,
        device=args.device,
        precision=args.precision,
    )
    app = create_app(encoder, max_texts=args.max_texts, max_chars=args.max_chars, token=token)
    log.info(
        "serving %s (%s, %s, dim %d) on http://%s:%d",
        encoder.model_id,
        encoder.backend,
        encoder.precision,
        encoder.dimension,
        args.host,
        args.port,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="info", server_header=False)
    return 0
