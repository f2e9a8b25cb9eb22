"""Subcommands of adowner.data (``COMMANDS``, added by adowner.cli): ``adowner prepare``."""

from __future__ import annotations

import argparse

from adowner.cli_options import Command, config, flag, no_progress, opt, out, seed

PREPARE_EPILOG = """\
adapters (--adapter, default auto):
  auto     agora for a CSV with columns vendor,product,description; beer for a .xml file;
           generic otherwise
  generic  CSV/TSV, JSONL, Parquet or XLSX with canonical columns: ad_id, title, body (or text),
           posted_at, site, location, price_usd, price_btc, owner, persona, true_owner
           (rename others with --map NAME_IN_FILE=CANONICAL, e.g. --map vendor=owner)
  agora    the Agora vendor listings (vendor -> owner, price in BTC, date)
  beer     a Stack Exchange Posts.xml dump (OwnerUserId -> owner, HTML body -> text)

owner labels:
  the file's `owner` column (or the column named by --owner-column, e.g. true_owner to
  evaluate on the simulator's ground truth); without one, owners are derived from shared
  phones, e-mails, URLs and handles (connected components). --owner-pairs FILE then applies
  analysts' must-link / cannot-link pairs (`adowner review`'s label export) over those owners.

identifiers are masked in the text ([PHONE], [EMAIL], [URL], [HANDLE]) and kept as salted
hashes; the default salt is public, not a secret: pass --salt for real data.

example:
  adowner prepare ../shared/data/authorship/agora_vendor_listings_2014-01.csv --out runs/prepared/agora
  adowner prepare runs/sim/ads.parquet --owner-column true_owner --out runs/prepared/sim-true
"""


def _prepare(args: argparse.Namespace) -> int:
    import json

    from adowner.data.prepare import prepare
    from adowner.data.readers import parse_column_map
    from adowner.data.schema import DataConfig

    settings: dict[str, object] = {}
    if args.config:
        import yaml

        from adowner.errors import InputError
        from adowner.resources import resolve_config

        try:
            with open(resolve_config(args.config, group="prepare"), encoding="utf-8") as fh:
                settings = yaml.safe_load(fh) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise InputError(
                f"cannot read data config ({type(exc).__name__})", path=args.config
            ) from None
        if not isinstance(settings, dict):
            raise InputError("data config must be a mapping", path=args.config)
    overrides = {
        "owner_column": args.owner_column,
        "owner_pairs": args.owner_pairs,
        "salt": args.salt,
        "region": args.region,
        "max_chars": args.max_chars,
        "near_dup_threshold": args.near_dup_threshold,
        "split": tuple(args.split) if args.split else None,
        "seed": args.seed,
    }
    settings.update({k: v for k, v in overrides.items() if v is not None})
    if args.dedup:
        settings["dedup"] = args.dedup
    if args.no_dedup:
        settings["dedup"] = "none"
    if args.no_progress:
        settings["show_progress"] = False
    config = DataConfig.from_dict(settings)
    summary = prepare(
        args.inputs,
        args.out,
        adapter=args.adapter,
        column_map=parse_column_map(args.map),
        config=config,
    )
    brief = {
        k: summary[k]
        for k in (
            "read",
            "kept",
            "quarantined",
            "duplicates_dropped",
            "written",
            "owner_source",
            "owners",
            "ads_per_owner",
        )
    }
    brief["splits"] = {k: (v["owners"], v["ads"]) for k, v in summary["splits"].items()}
    print(json.dumps(brief))
    print(f"wrote {args.out}/{{train,val,test}}.parquet, quarantine.jsonl, summary.json")
    return 0


COMMANDS = (
    Command(
        "prepare",
        help="validate, mask identifiers, label owners, dedup and split ads by owner",
        description="Read ad files, quarantine bad rows, mask identifiers, label owners, "
        "drop duplicates and write owner-disjoint train/val/test Parquet splits.",
        epilog=PREPARE_EPILOG,
        raw_description=True,
        run=_prepare,
        options=(
            opt(
                "inputs",
                nargs="+",
                metavar="INPUT",
                help="ad files (csv, tsv, jsonl, parquet, xlsx, xml)",
            ),
            out("output folder (replaced atomically)"),
            opt(
                "--adapter",
                default="auto",
                choices=("auto", "generic", "agora", "beer"),
                help="see below",
            ),
            opt(
                "--map",
                action="append",
                default=[],
                metavar="FROM=TO",
                help="rename a column, e.g. --map vendor=owner (repeatable)",
            ),
            config(
                "data settings: a YAML path or a packaged prepare config's name (default: default)"
            ),
            opt("--owner-column", help="column to use as the owner label (e.g. true_owner)"),
            opt(
                "--owner-pairs",
                metavar="FILE",
                help="must-link / cannot-link pairs of ads over the owners (adowner review's "
                "label export)",
            ),
            opt("--salt", help="salt of identifier hashes (default: a public, non-secret salt)"),
            opt("--region", help="phone region for numbers without a country code (default US)"),
            opt("--max-chars", type=int, help="cut longer texts (default 20000)"),
            opt(
                "--near-dup-threshold",
                type=float,
                help="Jaccard of char 5-grams for near-dups (0.9)",
            ),
            opt(
                "--dedup",
                choices=["all", "eval", "none"],
                help="drop duplicates from all splits (default), from val/test only (eval: "
                "training keeps reposts as positives), or none",
            ),
            flag("--no-dedup", "keep duplicates (= --dedup none)"),
            opt(
                "--split",
                type=float,
                nargs=3,
                metavar=("TRAIN", "VAL", "TEST"),
                help="owner fractions",
            ),
            seed("seed of the owner split (default 0)"),
            no_progress(),
        ),
    ),
)
