"""Experiment configs: composition from the defaults list, dotted overrides, group swaps."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from adowner.errors import InputError
from adowner.model.config import load_config, to_yaml

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.mark.parametrize("name", ["tiny", "minilm-agora", "minilm-simulated", "minilm-quickstart"])
def test_every_experiment_composes(name) -> None:
    cfg = load_config(CONFIGS / "experiment" / f"{name}.yaml")
    assert {"data", "model", "trainer", "logger"} <= set(cfg)
    assert cfg["model"]["encoder"]["backbone"]
    assert cfg["data"]["owners_per_batch"] >= 2


def test_experiment_keys_override_group_files() -> None:
    cfg = load_config(CONFIGS / "experiment" / "tiny.yaml")
    assert cfg["trainer"]["max_epochs"] == 3  # tiny.yaml over trainer/cpu.yaml's 6
    assert cfg["trainer"]["accelerator"] == "cpu"  # kept from trainer/cpu.yaml


def test_overrides_dotted_and_group_swap() -> None:
    cfg = load_config(
        CONFIGS / "experiment" / "tiny.yaml",
        [
            "trainer.max_epochs=2",
            "model.normalizer.enabled=false",
            "logger=wandb-online",
            "x.y=abc",
        ],
    )
    assert cfg["trainer"]["max_epochs"] == 2
    assert cfg["model"]["normalizer"]["enabled"] is False
    assert cfg["logger"]["wandb"]["mode"] == "online"
    assert cfg["x"] == {"y": "abc"}
    assert "_config_root" not in yaml.safe_load(to_yaml(cfg))


def test_bad_inputs_are_clear_errors(tmp_path) -> None:
    with pytest.raises(InputError, match="not key=value"):
        load_config(CONFIGS / "experiment" / "tiny.yaml", ["trainer.max_epochs"])
    with pytest.raises(InputError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    (tmp_path / "experiment").mkdir()
    bad = tmp_path / "experiment" / "x.yaml"
    bad.write_text("defaults:\n  - model: nosuch\n")
    with pytest.raises(InputError, match="no model config 'nosuch'"):
        load_config(bad)
