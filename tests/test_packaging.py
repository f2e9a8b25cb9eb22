"""The package works installed: configs and the card template are package data, found by name
through ``importlib.resources``; no module climbs out of the package or calls another command's
CLI. (``scripts/check_wheel.sh`` runs the installed wheel end to end.)"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from adowner.cli import main
from adowner.errors import InputError
from adowner.export.card import TEMPLATE
from adowner.model.config import load_config
from adowner.resources import config_root, packaged_names, resolve_config

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src" / "adowner"
EXPERIMENTS = ["ads", "minilm-agora", "minilm-quickstart", "minilm-simulated", "tiny"]


def test_the_packaged_configs_and_template_are_the_checkouts_one_copy() -> None:
    assert config_root().resolve() == (SRC / "configs").resolve()
    assert (REPO / "configs").resolve() == config_root().resolve()  # the link of the checkout
    assert TEMPLATE.resolve() == (SRC / "export" / "templates" / "model_card.md").resolve()
    assert (REPO / "model_cards" / "TEMPLATE.md").resolve() == TEMPLATE.resolve()
    assert TEMPLATE.read_text(encoding="utf-8").startswith("---\n$front_matter\n---")
    assert set(EXPERIMENTS) <= set(packaged_names())


def test_a_name_finds_the_packaged_experiment(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # no checkout here
    ads = config_root() / "experiment" / "ads.yaml"
    for spec in ("ads", "ads.yaml", "experiment/ads", "configs/experiment/ads.yaml"):
        assert resolve_config(spec) == ads, spec
    assert resolve_config("default", group="prepare") == config_root() / "prepare" / "default.yaml"
    assert resolve_config("prepare/default") == config_root() / "prepare" / "default.yaml"
    by_name = load_config("tiny", ["trainer.max_epochs=1"])
    by_path = load_config(REPO / "configs" / "experiment" / "tiny.yaml", ["trainer.max_epochs=1"])
    assert by_name == by_path
    assert by_name["model"]["encoder"]["backbone"] == "tiny-bert"


def test_a_path_that_exists_wins_over_the_name(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    own = Path("configs/experiment/ads.yaml")
    own.parent.mkdir(parents=True)
    own.write_text("defaults:\n  - model: tiny\nseed: 42\n", encoding="utf-8")
    assert resolve_config("configs/experiment/ads.yaml") == own
    cfg = load_config("configs/experiment/ads.yaml")
    assert cfg["seed"] == 42
    assert cfg["model"]["encoder"]["backbone"] == "tiny-bert"  # the group from the package
    Path("ads").write_text("seed: 7\n", encoding="utf-8")
    assert load_config("ads")["seed"] == 7


def test_an_own_config_composes_from_its_tree_then_the_packaged_groups(tmp_path) -> None:
    alone = tmp_path / "mine.yaml"
    alone.write_text(
        "defaults:\n  - data: tiny\n  - model: tiny\n  - trainer: cpu\n  - logger: none\n"
        "trainer:\n  max_epochs: 1\n",
        encoding="utf-8",
    )
    cfg = load_config(alone, ["logger=default", "model=tiny"])
    packaged = {
        g: yaml.safe_load((config_root() / g / f"{n}.yaml").read_text("utf-8"))
        for g, n in (("trainer", "cpu"), ("logger", "default"), ("model", "tiny"))
    }
    assert cfg["trainer"] == {**packaged["trainer"], "max_epochs": 1}
    assert cfg["logger"] == packaged["logger"]
    assert cfg["model"] == packaged["model"]
    # a group file of the config's own tree wins over the packaged one
    (tmp_path / "tree" / "experiment").mkdir(parents=True)
    (tmp_path / "tree" / "model").mkdir()
    (tmp_path / "tree" / "model" / "tiny.yaml").write_text("lr: 0.5\n", encoding="utf-8")
    mine = tmp_path / "tree" / "experiment" / "x.yaml"
    mine.write_text(
        "defaults:\n  - model: tiny\n  - trainer: cpu\n  - logger: none\n", encoding="utf-8"
    )
    cfg = load_config(mine)
    assert cfg["model"] == {"lr": 0.5}
    assert cfg["trainer"]["accelerator"] == "cpu"
    with pytest.raises(InputError, match=r"no logger config 'nosuch' \(choices: default, none"):
        load_config(mine, ["logger=nosuch"])


def test_an_unknown_name_is_one_line_listing_the_packaged_names(tmp_path, capsys) -> None:
    with pytest.raises(InputError) as info:
        resolve_config("nosuch")
    message = str(info.value)
    assert "\n" not in message
    assert "config not found" in message
    assert "packaged: " + ", ".join(sorted(packaged_names())) in message
    with pytest.raises(InputError, match="not found"):
        resolve_config(tmp_path / "nope.yaml")
    with pytest.raises(InputError, match="not found"):
        resolve_config("../experiment/ads")  # names never leave the packaged folder
    argv = ["train", "--config", "nosuch", "--data", str(tmp_path), "--out", str(tmp_path / "r")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "config not found" in err[0]
    assert "tiny" in err[0]


def test_no_module_locates_files_through_its_own_path() -> None:
    """Package files come through ``importlib.resources``; ``__file__`` would tie the installed
    package to the repository's layout (the old ``parents[3]``)."""
    offenders = [
        str(p.relative_to(SRC)) for p in SRC.rglob("*.py") if "__file__" in p.read_text("utf-8")
    ]
    assert not offenders


def _adowner_imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return {name for name in found if name.startswith("adowner.") or name == "adowner"}


def test_no_cli_module_imports_another_and_only_main_imports_the_top_cli() -> None:
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC)
        cli = {n for n in _adowner_imports(path) if n == "adowner.cli" or n.endswith(".cli")}
        if rel == Path("__main__.py"):
            assert cli == {"adowner.cli"}
        else:
            assert not cli, f"{rel} imports {sorted(cli)}"


@pytest.mark.slow
def test_the_wheel_holds_every_config_and_the_card_template(tmp_path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, tree / name)
    shutil.copytree(
        SRC, tree / "src" / "adowner", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    pip = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index"]
    subprocess.run(
        [*pip, "-q", "-w", str(tmp_path / "dist"), str(tree)],
        check=True,
        capture_output=True,
    )
    (wheel,) = (tmp_path / "dist").glob("adowner-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    configs = {
        "adowner/configs/" + p.relative_to(config_root()).as_posix()
        for p in config_root().rglob("*.yaml")
    }
    assert len(configs) >= 15
    assert configs <= names
    assert "adowner/export/templates/model_card.md" in names
    review = {
        "adowner/review/" + p.relative_to(SRC / "review").as_posix()
        for d in ("templates", "static")
        for p in (SRC / "review" / d).iterdir()
    }
    assert "adowner/review/static/htmx.min.js" in review
    assert review <= names  # the workbench's templates, style and vendored htmx
