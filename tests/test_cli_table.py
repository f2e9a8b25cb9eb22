"""Every command's parser against the record of its options, and the command table itself.

``tests/data/cli_parsers.json`` holds, for each command (``adowner``, ``adowner prepare``, ...,
``adowner chain match``), every option as ``[flags, dest, default, required, nargs, type,
choices, action]``, recorded from the parsers as they were before the commands became tables
(``adowner.cli_options``). A change of a flag or a default fails here; when the change is meant,
rerun ``python tests/test_cli_table.py --record`` and commit the file with the change.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from adowner.cli import build_parser, main
from adowner.cli_options import Command, OneOf, add_commands, arguments, commas, flag, opt, out
from adowner.defaults import CHAIN

RECORD = Path(__file__).parent / "data" / "cli_parsers.json"


def _jsonable(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    return repr(v)


def parsers() -> dict[str, list[list[Any]]]:
    """``{"adowner CMD ...": [option rows]}`` of the whole command tree."""
    found: dict[str, list[list[Any]]] = {}

    def walk(parser: argparse.ArgumentParser, path: str) -> None:
        rows = []
        for a in parser._actions:
            if isinstance(a, argparse._SubParsersAction):
                for name, sub in a.choices.items():
                    walk(sub, f"{path} {name}")
            elif not isinstance(a, argparse._HelpAction):
                rows.append(
                    _jsonable(
                        [
                            a.option_strings,
                            a.dest,
                            parser.get_default(a.dest),
                            a.required,
                            a.nargs,
                            getattr(a.type, "__name__", None),
                            list(a.choices) if a.choices else None,
                            type(a).__name__,
                        ]
                    )
                )
        found[path] = rows

    walk(build_parser(), "adowner")
    return found


def test_every_command_keeps_its_flags_and_defaults() -> None:
    recorded = json.loads(RECORD.read_text(encoding="utf-8"))
    now = parsers()
    assert sorted(now) == sorted(recorded)
    for command, rows in recorded.items():
        assert now[command] == rows, command


def test_every_command_has_a_handler_and_help(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, p in sub.choices.items():
        assert callable(p.get_default("func")), name
        text = p.format_help()  # every %(default)s in a help string renders
        assert f"adowner {name}" in text


def test_a_command_table_builds_its_parser() -> None:
    seen: dict[str, Any] = {}

    def run(args: argparse.Namespace) -> int:
        seen.update(vars(args))
        return 0

    table = Command(
        "hello",
        help="say hello",
        run=run,
        options=(
            out("where"),
            flag("--loud", "shout"),
            OneOf((opt("--a"), opt("--b")), required=True),
            opt("--k", type=int),
        ),
        defaults={"k": 7},
    )
    parser = argparse.ArgumentParser(prog="t")
    add_commands(parser.add_subparsers(), [table])
    args = parser.parse_args(["hello", "--out", "x", "--a", "1"])
    assert args.func(args) == 0
    assert (seen["out"], seen["loud"], seen["a"], seen["b"], seen["k"]) == (
        "x",
        False,
        "1",
        None,
        7,
    )
    with pytest.raises(SystemExit):
        parser.parse_args(["hello", "--out", "x", "--a", "1", "--b", "2"])  # one of
    with pytest.raises(SystemExit):
        parser.parse_args(["hello", "--a", "1"])  # --out is required


_SUMMARY = {
    "n_ads": 0,
    "n_groups": 0,
    "n_groups_2plus": 0,
    "largest_group": 0,
    "ambiguous_matches": 0,
}
RETURNS: dict[str, Any] = {"cross_validate": {"models": {}}, "link_command": _SUMMARY}

# (argv, module and function the handler calls, the keyword arguments it must receive)
HANDLERS = [
    pytest.param(
        ["cv", "--config", "tiny", "--data", "D", "--out", "O", "--folds", "4", "--only-folds",
         "1", "--baselines", "a, b", "--checkpoints", "best,avg2", "--no-hybrid", "--curve",
         "--val-fraction", "0.2", "--seed", "5", "--bootstrap", "0", "x.y=1"],
        ("adowner.model.crossval", "cross_validate"),
        {"cfg": {"config": "tiny", "overrides": ["x.y=1"]}, "data_dir": "D", "out_dir": "O",
         "folds": 4, "baselines": ["a", "b"], "checkpoints": ["best", "avg2"], "hybrid": False,
         "val_fraction": 0.2, "seed": 5, "bootstrap": 0, "only_folds": [1], "curve": True},
        id="cv",
    ),
    pytest.param(
        ["link", "--ads", "A", "--model", "M", "--out", "O", "--chain", "C", "--rates", "R",
         "--site-addresses", "S", "--clusters", "CL", "--matches", "MA", "--fpr", "0.001",
         "--threshold", "0.5", "--no-payee-change", "--text-score", "cosine", "-k", "7",
         "--method", "components", "--min-density", "0.3", "--index", "flat", "--top", "3",
         "--heuristics", "multi_input"],
        ("adowner.link.pipeline", "link_command"),
        {"ads": "A", "model": "M", "out": "O", "chain": "C", "rates": "R",
         "site_addresses": "S", "clusters": "CL", "matches": "MA", "fpr": 0.001,
         "threshold": 0.5, "payee_change": False, "text_score": "cosine", "k": 7,
         "method": "components", "min_density": 0.3, "index": "flat", "top": 3,
         "heuristics": "multi_input"},
        id="link",
    ),
    pytest.param(
        ["link", "--ads", "A", "--model", "M", "--out", "O"],
        ("adowner.link.pipeline", "link_command"),
        {"ads": "A", "model": "M", "out": "O", "chain": None, "rates": None,
         "site_addresses": None, "clusters": None, "matches": None, "fpr": 0.01,
         "threshold": None, "payee_change": True, "text_score": "auto", "k": 20,
         "method": "guarded", "min_density": 0.1, "index": "auto", "top": 50,
         "heuristics": CHAIN.heuristics},
        id="link-defaults",
    ),
    pytest.param(
        ["quickstart", "--out", "O", "--owners", "9", "--seed", "2", "--config", "tiny"],
        ("adowner.link.quickstart", "quickstart"),
        {"out": "O", "owners": 9, "seed": 2, "config": "tiny", "force": False},
        id="quickstart",
    ),
    pytest.param(
        ["simulate", "--out", "O", "--owners", "9", "--days", "3", "--no-chain", "--no-progress"],
        ("adowner.simulate.run", "run_simulation"),
        {"chain": False, "difficulty": False, "progress": False, "n_owners": 9, "seed": 0,
         "operator_share": 0.15, "start": "2015-07-01", "days": 3},
        id="simulate",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("argv", "target", "expected"), HANDLERS)
def test_each_handler_passes_every_option_to_its_function(
    monkeypatch: pytest.MonkeyPatch, argv: list[str], target: tuple[str, str], expected: dict
) -> None:
    import functools
    import importlib

    module = importlib.import_module(target[0])
    real = getattr(module, target[1])
    seen: dict[str, Any] = {}

    @functools.wraps(real)  # the same signature, which ``arguments`` reads
    def fake(*args: Any, **kwargs: Any) -> Any:
        seen.update(kwargs)
        if args:
            seen["positional"] = [str(a) for a in args]
        return RETURNS.get(target[1])  # what the handler prints from

    monkeypatch.setattr(module, target[1], fake)
    import adowner.model.config

    monkeypatch.setattr(
        adowner.model.config, "load_config", lambda c, o: {"config": c, "overrides": o}
    )
    assert main(argv) == 0
    if target[1] == "run_simulation":
        assert seen.pop("positional") == ["O"]
    assert seen == expected


def test_arguments_maps_options_to_parameters() -> None:
    def fn(out: str, *, k: int = 1, method: str = "x", hybrid: bool = True) -> None: ...

    args = argparse.Namespace(out="o", k=3, method="m", no_hybrid=True, func=print, extra=1)
    got = arguments(fn, args, hybrid=not args.no_hybrid)
    assert got == {"out": "o", "k": 3, "method": "m", "hybrid": False}
    assert commas(" a, b,,c ,") == ["a", "b", "c"]


def dump(found: dict[str, list[list[Any]]]) -> str:
    """The record as JSON, one option a line."""
    blocks = [
        f"  {json.dumps(cmd)}: [\n"
        + ",\n".join(f"    {json.dumps(row, ensure_ascii=False)}" for row in rows)
        + "\n  ]"
        for cmd, rows in found.items()
    ]
    return "{\n" + ",\n".join(blocks) + "\n}\n"


if __name__ == "__main__" and sys.argv[1:] == ["--record"]:
    RECORD.write_text(dump(parsers()), encoding="utf-8")
    print(f"wrote {RECORD}")
