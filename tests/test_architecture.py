"""The import rules of docs/ARCHITECTURE.md, checked on the source (no import is executed).

Every module under ``src/adowner`` is parsed with ``ast``, the top-level ones (``cli.py``,
``_io.py``, ``__init__.py``, ...) included, and every import form is resolved to the module it
names: ``import a.b``, ``from a import b`` (``b`` a submodule when it is one, so
``from adowner import model`` is an import of ``adowner.model``), relative imports at any level
(``from . import x``, ``from ..evaluation import metrics``), imports inside functions (marked
lazy) and ``importlib.import_module("adowner....")`` with a literal name.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "adowner"

TOP = "top"  # the modules directly under adowner/: cli, errors, _io, progress, log, ...

#: layer -> what it may import inside adowner besides itself: a layer, or one module of a layer
#: ("chain.schema": that module and its submodules only). The table of docs/ARCHITECTURE.md.
MAY_IMPORT: dict[str, set[str]] = {
    TOP: {"data.identifiers"},  # log.py masks identifiers in log lines
    "data": {TOP, "io.quarantine"},  # prepare writes its quarantine file through it
    # the I/O layer: ads files, prepared splits, quarantine files (raw ads via data.prepare)
    "io": {TOP, "data"},
    "text": {TOP},
    "chain": {TOP, "data", "io"},
    "simulate": {TOP, "data", "chain.schema"},  # simulate imports only chain's schema
    # how two ads are scored alike (hybrid, pooling, normalisation, k-NN, AS-norm), below
    # evaluation, model, export, serve and link: it never imports upward, nor data
    "scoring": {TOP, "text"},
    "evaluation": {TOP, "data", "io", "text", "scoring"},  # + model/export in resolve.py, below
    "model": {TOP, "data", "io", "text", "scoring", "evaluation"},
    "export": {TOP, "data", "io", "text", "scoring", "model", "evaluation"},
    "serve": {TOP, "text", "scoring", "export"},
    # the analyst workbench reads a link folder's files, never link's code (link imports it:
    # report.html and the workbench say why a group exists with one function, review.explain)
    "review": {TOP, "data", "io"},
    "link": {
        TOP,
        "review",
        "data",
        "io",
        "text",
        "simulate",
        "chain",
        "scoring",
        "evaluation",
        "model",
        "export",
    },
}

#: module -> what it may import besides its layer's rules, only inside functions (lazily).
LAZY_ONLY: dict[str, set[str]] = {
    # evaluation loads a checkpoint or an exported folder through this one module
    "adowner.evaluation.resolve": {"model", "export"},
    # the package's facade: ``adowner.load(DIR)`` opens an exported folder
    "adowner": {"export"},
}

#: (importing module, imported module) pairs that break a rule today and that other parts of
#: issue 16 remove; each line names the rule and the work that removes it. A line whose import
#: is gone makes the test fail: delete it then.
EXCEPTIONS: dict[tuple[str, str], str] = {
    # allowed breaches, each with who removes it (empty: issue 16's steps removed the last two)
}


@dataclass(frozen=True)
class Import:
    source: str  # the importing module, dotted (adowner.model.train)
    target: str  # the imported module, dotted, resolved to a module or package that exists
    line: int
    lazy: bool  # inside a function


def module_name(path: Path, root: Path = SRC) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _all_modules(root: Path = SRC) -> dict[str, Path]:
    return {module_name(p, root): p for p in sorted(root.rglob("*.py"))}


def imports_of(source: str, name: str, is_package: bool, modules: set[str]) -> list[Import]:
    """Every import of ``adowner`` modules in one module's source (``name``: its dotted name)."""
    tree = ast.parse(source)
    package = name if is_package else name.rpartition(".")[0]
    found: list[Import] = []

    def resolve(base: str, names: list[str]) -> list[str]:
        out = []
        for n in names:
            full = f"{base}.{n}" if base else n
            out.append(full if full in modules else base)  # a submodule, or a name in base
        return out

    def visit(node: ast.AST, lazy: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = lazy or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            targets: list[str] = []
            if isinstance(child, ast.Import):
                targets = [a.name for a in child.names]
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    up = package.split(".")
                    if child.level - 1 >= len(up):
                        raise ValueError(f"{name}:{child.lineno}: relative import beyond adowner")
                    base = ".".join(up[: len(up) - (child.level - 1)])
                    base = f"{base}.{child.module}" if child.module else base
                else:
                    base = child.module or ""
                targets = resolve(base, [a.name for a in child.names])
            elif (
                isinstance(child, ast.Call)
                and (
                    (isinstance(child.func, ast.Attribute) and child.func.attr == "import_module")
                    or (
                        isinstance(child.func, ast.Name)
                        and child.func.id in ("import_module", "__import__")
                    )
                )
                and child.args
                and isinstance(child.args[0], ast.Constant)
                and isinstance(child.args[0].value, str)
            ):
                targets = [child.args[0].value]
            for t in targets:
                if t == "adowner" or t.startswith("adowner."):
                    found.append(Import(name, t, child.lineno, inner))
            visit(child, inner)

    visit(tree, False)
    return found


def layer_of(module: str, root: Path = SRC) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and (root / parts[1]).is_dir() else TOP


def _allowed(target: str, rules: set[str]) -> bool:
    layer = layer_of(target)
    rest = target.split(".", 1)[1] if "." in target else ""
    return layer in rules or any(rest == r or rest.startswith(r + ".") for r in rules if "." in r)


def _all_imports() -> list[Import]:
    modules = _all_modules()
    out: list[Import] = []
    for name, path in modules.items():
        out += imports_of(
            path.read_text(encoding="utf-8"), name, path.name == "__init__.py", set(modules)
        )
    return out


def _is_cli(module: str) -> bool:
    return module == "adowner.cli" or module.endswith(".cli")


def violations(found: list[Import]) -> list[tuple[Import, str]]:
    """Each import that breaks a rule, with the rule."""
    bad: list[tuple[Import, str]] = []
    for imp in found:
        src_layer, dst_layer = layer_of(imp.source), layer_of(imp.target)
        if src_layer not in MAY_IMPORT:
            bad.append((imp, f"the layer {src_layer!r} has no row in the import rules"))
            continue
        lazy_ok = LAZY_ONLY.get(imp.source, set())
        if src_layer != dst_layer and not _allowed(imp.target, MAY_IMPORT[src_layer]):
            if not _allowed(imp.target, lazy_ok):
                bad.append((imp, f"{src_layer} may not import {dst_layer}"))
            elif not imp.lazy:
                bad.append((imp, f"{src_layer} imports {dst_layer} only inside functions"))
        if (
            _is_cli(imp.target)
            and imp.target != imp.source
            and imp.source not in ("adowner.cli", "adowner.__main__")
        ):
            bad.append((imp, "no CLI module is imported but by the top-level CLI"))
    return bad


def _shown(imp: Import, rule: str) -> str:
    lazy = " (inside a function)" if imp.lazy else ""
    return f"{imp.source}:{imp.line} imports {imp.target}{lazy}: {rule}"


def test_import_rules_hold() -> None:
    found = _all_imports()
    bad = [(i, r) for i, r in violations(found) if (i.source, i.target) not in EXCEPTIONS]
    assert not bad, "import rules of docs/ARCHITECTURE.md broken:\n" + "\n".join(
        _shown(i, r) for i, r in bad
    )


def test_every_exception_is_still_needed() -> None:
    still = {(i.source, i.target) for i, _ in violations(_all_imports())}
    gone = [f"{s} -> {t} ({who})" for (s, t), who in EXCEPTIONS.items() if (s, t) not in still]
    assert not gone, "these imports are gone: delete them from EXCEPTIONS:\n" + "\n".join(gone)


def test_every_subpackage_has_a_row() -> None:
    layers = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").is_file()}
    assert layers <= set(MAY_IMPORT), f"no import rules for {sorted(layers - set(MAY_IMPORT))}"


def test_nothing_but_the_cli_imports_link() -> None:
    for imp in _all_imports():
        if layer_of(imp.target) == "link" and layer_of(imp.source) != "link":
            assert imp.source == "adowner.cli", _shown(imp, "only the CLI imports link")


def test_the_lightning_module_is_given_its_evaluator() -> None:
    """``model/module.py`` imports no evaluation code: ``train`` passes the evaluator in."""
    found = [i for i in _all_imports() if i.source == "adowner.model.module"]
    assert found, "adowner.model.module not parsed"
    assert not [i for i in found if layer_of(i.target) == "evaluation"]


def test_the_cli_registers_subcommands_by_their_cli_modules() -> None:
    """``adowner/cli.py`` imports subcommands by name (``importlib``): each is a ``cli`` module."""
    tree = ast.parse((SRC / "cli.py").read_text(encoding="utf-8"))
    names = [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and node.value.startswith("adowner.")
    ]
    assert names, "no subcommand modules found in adowner/cli.py"
    for name in names:
        assert name.endswith(".cli"), name
        assert name in _all_modules(), f"{name} does not exist"


# ------------------------------------------------------------------ the resolver itself

_FAKE = {
    "adowner",
    "adowner.cli",
    "adowner.errors",
    "adowner.model",
    "adowner.model.train",
    "adowner.model.sub",
    "adowner.model.sub.deep",
    "adowner.evaluation",
    "adowner.evaluation.metrics",
    "adowner.chain",
    "adowner.chain.schema",
}


@pytest.mark.parametrize(
    ("code", "name", "is_package", "expected"),
    [
        ("import adowner.model.train", "adowner.chain", True, [("adowner.model.train", False)]),
        ("import adowner", "adowner.chain", True, [("adowner", False)]),
        ("from adowner import model", "adowner.chain", True, [("adowner.model", False)]),
        (
            "from adowner import errors, __version__",
            "adowner.cli",
            False,
            ["adowner.errors", "adowner"],
        ),
        ("from adowner.model import train", "adowner.cli", False, [("adowner.model.train", False)]),
        ("from adowner.model.train import fit", "adowner.cli", False, ["adowner.model.train"]),
        ("from . import train", "adowner.model.sub", True, ["adowner.model.sub"]),
        ("from . import train", "adowner.model.sub.deep", False, ["adowner.model.sub"]),
        ("from . import deep", "adowner.model.sub", True, ["adowner.model.sub.deep"]),
        ("from .. import train", "adowner.model.sub.deep", False, ["adowner.model.train"]),
        ("from .train import x", "adowner.model.sub", False, ["adowner.model.train"]),
        (
            "from ...evaluation import metrics",
            "adowner.model.sub.deep",
            False,
            ["adowner.evaluation.metrics"],
        ),
        ("from ... import chain", "adowner.model.sub.deep", False, ["adowner.chain"]),
        ("from . import errors", "adowner", True, ["adowner.errors"]),
        ("from . import errors", "adowner.cli", False, ["adowner.errors"]),
        (
            "def f():\n    from adowner.chain import schema\n    return schema",
            "adowner.model",
            True,
            [("adowner.chain.schema", True)],
        ),
        (
            "class C:\n    from adowner import errors\n    def m(self):\n        import adowner.cli",
            "adowner.model",
            True,
            [("adowner.errors", False), ("adowner.cli", True)],
        ),
        ("import os, numpy\nfrom os import path", "adowner.model", True, []),
        ("f = lambda: __import__('adowner.cli')", "adowner.model", True, [("adowner.cli", True)]),
        (
            "import importlib\nimportlib.import_module('adowner.chain.schema')",
            "adowner.model",
            True,
            [("adowner.chain.schema", False)],
        ),
        (
            "from importlib import import_module\nimport_module('adowner.cli')",
            "adowner.model",
            True,
            [("adowner.cli", False)],
        ),
    ],
)
def test_every_import_form_is_resolved(code, name, is_package, expected) -> None:
    got = imports_of(code, name, is_package, _FAKE)
    if expected and isinstance(expected[0], str):
        assert [i.target for i in got] == expected
    else:
        assert [(i.target, i.lazy) for i in got] == expected


def test_a_relative_import_beyond_the_package_is_an_error() -> None:
    with pytest.raises(ValueError, match="beyond adowner"):
        imports_of("from ... import x", "adowner.model", True, _FAKE)


def test_the_rules_catch_each_kind_of_breach() -> None:
    def imp(src: str, dst: str, lazy: bool = False) -> Import:
        return Import(src, dst, 1, lazy)

    cases = {
        imp("adowner.simulate.run", "adowner.chain.schema"): [],
        imp("adowner.simulate.run", "adowner.chain.cluster"): ["simulate may not import chain"],
        imp("adowner.data.readers", "adowner.model.train"): ["data may not import model"],
        imp("adowner.errors", "adowner.data.identifiers"): [],
        imp("adowner.log", "adowner.data.readers"): ["top may not import data"],
        imp("adowner.evaluation.resolve", "adowner.model.checkpoint", True): [],
        imp("adowner.evaluation.resolve", "adowner.model.checkpoint"): [
            "evaluation imports model only inside functions"
        ],
        imp("adowner.evaluation.runner", "adowner.model.checkpoint", True): [
            "evaluation may not import model"
        ],
        imp("adowner", "adowner.export.inference", True): [],
        imp("adowner", "adowner.export.inference"): ["top imports export only inside functions"],
        imp("adowner.serve.app", "adowner.model.encoder"): ["serve may not import model"],
        imp("adowner.export.card", "adowner.link.report"): ["export may not import link"],
        imp("adowner.model.train", "adowner.model.cli"): [
            "no CLI module is imported but by the top-level CLI"
        ],
        imp("adowner.__main__", "adowner.cli"): [],
    }
    for case, rules in cases.items():
        assert [r for _, r in violations([case])] == rules, case
