"""Subcommand of adowner.review: ``review`` (registered by adowner.cli)."""

from __future__ import annotations

import argparse

from adowner.cli_options import Command, opt
from adowner.defaults import REVIEW


def _review(args: argparse.Namespace) -> int:
    import os
    import secrets
    from pathlib import Path

    from adowner.errors import InputError
    from adowner.log import get_logger
    from adowner.review.labels import export_pairs
    from adowner.review.run import LinkRun
    from adowner.review.store import Store

    log = get_logger(__name__)
    db = (
        Path(args.db)
        if os.sep in args.db or args.db != REVIEW.db
        else Path(args.link_dir) / args.db
    )
    run = LinkRun(args.link_dir, ads=args.ads)
    store = Store(db)
    if args.export_labels:
        counts = export_pairs(store.all(), args.export_labels, run.edges)
        print(
            f"wrote {counts['must-link']:,} must-link and {counts['cannot-link']:,} cannot-link "
            f"pairs from {counts['decisions']:,} decisions to {args.export_labels}"
        )
        return 0
    import uvicorn

    from adowner.review.app import TOKEN_ENV, create_app

    if not 0 < args.port < 65536:
        raise InputError("port must be 1..65535", field="--port")
    token = args.token or os.environ.get(TOKEN_ENV) or secrets.token_urlsafe(18)
    app = create_app(run, store, token=token)
    if args.host not in {"127.0.0.1", "localhost", "::1"}:
        log.warning(
            "listening on %s: anyone who can reach it and has the token can decide", args.host
        )
    print(
        f"adowner review: {len(run.members):,} groups of {len(run.ads):,} ads; decisions in {db}\n"
        f"open http://{args.host}:{args.port}/?token={token}",
        flush=True,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", server_header=False)
    return 0


COMMANDS = (
    Command(
        "review",
        help="analyst workbench over a link folder: groups, reasons, decisions, label export",
        description="Serve a local web application over a `link` output folder: the ranked "
        "groups with filters and search, each group's reason, ads side by side, timeline, cities, "
        "evidence and false-merge warnings; confirm / dismiss / split / note decisions kept in "
        "SQLite; labels exported as must-link / cannot-link pairs for `prepare --owner-pairs`.",
        epilog="The token comes from --token, else ADOWNER_REVIEW_TOKEN, else a random one; the "
        "command prints http://HOST:PORT/?token=TOKEN. Open that once: the browser keeps the "
        "token in a cookie (HttpOnly, SameSite=Strict). Scripts send 'Authorization: Bearer TOKEN'.",
        run=_review,
        options=(
            opt("link_dir", metavar="LINK_DIR", help="a link output folder (adowner link --out)"),
            opt("--host", help="address to listen on (default %(default)s: this machine only)"),
            opt("--port", type=int, help="port (default %(default)s)"),
            opt("--token", help="access token (default: $ADOWNER_REVIEW_TOKEN or a random one)"),
            opt("--db", help="decisions database (default LINK_DIR/%(default)s)"),
            opt(
                "--ads",
                help="the ads file it was linked from (only for a link folder without ads.parquet)",
            ),
            opt(
                "--export-labels",
                metavar="FILE",
                help="write the decisions as must-link / cannot-link pairs (CSV) to FILE and exit",
            ),
        ),
        defaults={"host": REVIEW.host, "port": REVIEW.port, "db": REVIEW.db},
    ),
)
