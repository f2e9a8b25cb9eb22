"""The import rules of docs/ARCHITECTURE.md, checked on the source (no import is executed)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "adowner"

# package -> packages it must never import
FORBIDDEN = {
    "data": {"model", "export", "serve", "link", "evaluation", "simulate"},
    "text": {"data", "model", "export", "serve", "link", "evaluation", "chain", "simulate"},
    # scoring sits below evaluation, model, export, serve and link: it never imports upward
    "scoring": {"data", "model", "export", "serve", "link", "evaluation", "chain", "simulate"},
    "chain": {"model", "export", "serve", "link", "evaluation", "text", "simulate"},
    "evaluation": {"serve", "link", "chain", "simulate"},
    "model": {"export", "serve", "link", "chain", "simulate"},
    "export": {"serve", "link", "chain", "simulate"},
    "serve": {"link", "chain", "simulate", "model"},
    "simulate": {"model", "export", "serve", "link", "evaluation"},
}
# evaluation may load checkpoints and folders, but only through this one module, lazily.
ALLOWED = {("evaluation", "resolve.py"): {"model", "export"}}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "adowner" and len(parts) > 1:
                found.add(parts[1])
    return found


def test_import_rules_hold():
    violations = []
    for pkg, banned in FORBIDDEN.items():
        for path in sorted((SRC / pkg).rglob("*.py")):
            allowed = ALLOWED.get((pkg, path.name), set())
            bad = (_imports(path) & banned) - allowed
            if bad:
                violations.append(f"{path.relative_to(SRC)} imports {sorted(bad)}")
    assert not violations, "import rules of docs/ARCHITECTURE.md broken:\n" + "\n".join(violations)


def test_nothing_but_cli_imports_link():
    for path in SRC.rglob("*.py"):
        if path.parent.name == "link" or path.name == "cli.py":
            continue
        assert "link" not in _imports(path), f"{path.relative_to(SRC)} imports adowner.link"
