"""Subcommands of adowner.serve (``COMMANDS``, added by adowner.cli): ``serve``."""

from __future__ import annotations

import argparse

from adowner.cli_options import ENCODER_OPTIONS, Command, model, opt
from adowner.defaults import SERVE, fields_of


def _serve(args: argparse.Namespace) -> int:
    import os

    import uvicorn

    from adowner.errors import InputError
    from adowner.export.encoder_args import load_encoder
    from adowner.log import get_logger
    from adowner.serve.app import TOKEN_ENV, create_app

    log = get_logger(__name__)
    if args.max_texts < 1 or args.max_chars < 1:
        raise InputError("limits must be >= 1", field="--max-texts/--max-chars")
    if args.pad_multiple < 1:
        raise InputError("must be >= 1", field="--pad-multiple")
    token = os.environ.get(TOKEN_ENV) or None
    if args.host not in {"127.0.0.1", "localhost", "::1"} and token is None:
        log.warning("listening on %s without a token: set %s to require one", args.host, TOKEN_ENV)
    encoder = load_encoder(args, pad_multiple=args.pad_multiple)
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


COMMANDS = (
    Command(
        "serve",
        help="HTTP service over an exported model (/health, /embed, /same-owner)",
        description="Serve an exported model folder over HTTP with FastAPI and uvicorn. Set "
        "ADOWNER_API_TOKEN to require 'Authorization: Bearer <token>' on every call but /health.",
        run=_serve,
        options=(
            model(),
            opt("--host", help="address to listen on (default %(default)s)"),
            opt("--port", type=int, help="port (default %(default)s)"),
            *ENCODER_OPTIONS,
            opt("--max-texts", type=int, help="texts per /embed request (413 above)"),
            opt("--max-chars", type=int, help="characters per text (413 above)"),
            opt(
                "--pad-multiple",
                type=int,
                help="round each batch's width up to a multiple of this many word pieces, so "
                "that memory stays flat (default %(default)s; 1 = no rounding)",
            ),
        ),
        defaults=fields_of(SERVE),
    ),
)
