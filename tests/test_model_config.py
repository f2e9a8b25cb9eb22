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
            "model.encoder.normalizer.enabled=false",
            "logger=wandb-online",
            "+x.y=abc",
        ],
    )
    assert cfg["trainer"]["max_epochs"] == 2
    assert cfg["model"]["encoder"]["normalizer"]["enabled"] is False
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


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("3e-5", 3e-05),
        ("3.0e-5", 3e-05),
        ("1E-4", 1e-04),
        (".5", 0.5),
        ("-2", -2),
        ("1_000", 1000),
        ("true", True),
        ("False", False),
        ("null", None),
        ("~", None),
        ("", None),
        ("'3e-5'", "3e-5"),
        ("abc", "abc"),
        ("yes", "yes"),  # YAML 1.1 would say True
        ("00:00:50:00", "00:00:50:00"),  # YAML 1.1 would say 3000
        ("[3e-5, 1, abc]", [3e-05, 1, "abc"]),
    ],
)
def test_override_values_parse_as_a_user_writes_them(raw, value) -> None:
    from adowner.model.config import parse_value

    assert parse_value(raw) == value
    assert type(parse_value(raw)) is type(value)


def test_overrides_fit_the_composed_types() -> None:
    cfg = load_config(
        CONFIGS / "experiment" / "minilm-agora.yaml",
        [
            "model.lr=3e-5",  # the README's example (YAML 1.1 read it as a string)
            "model.loss.temperature=1",  # an integer where the config has a float
            "trainer.max_epochs=5",
            "data.batches_per_epoch=null",  # null is always allowed
            "trainer.max_time=00:00:50:00",  # text where the config has text
            "trainer.precision=16",  # Lightning takes several types here
            "trainer.devices=auto",
            "threads=1",
        ],
    )
    assert cfg["model"]["lr"] == 3e-05
    assert isinstance(cfg["model"]["loss"]["temperature"], float)
    assert cfg["trainer"]["max_epochs"] == 5
    assert cfg["data"]["batches_per_epoch"] is None
    assert cfg["trainer"]["max_time"] == "00:00:50:00"
    assert cfg["trainer"]["devices"] == "auto"
    assert cfg["threads"] == 1


def test_new_keys_where_the_code_takes_them() -> None:
    cfg = load_config(
        CONFIGS / "experiment" / "tiny.yaml",
        [
            "trainer.strategy=ddp",  # a lightning.Trainer argument absent from trainer/cpu.yaml
            "model.schedule_steps=45",  # an AuthorshipModule argument
            "model.encoder.normalizer.max_punct_run=2",  # a NormalizerConfig field
            "threads=1",
            "+extra.note=hello",  # anything else needs +
            "++model.lr=fast",  # ++: set without the type check
        ],
    )
    assert cfg["trainer"]["strategy"] == "ddp"
    assert cfg["model"]["schedule_steps"] == 45
    assert cfg["model"]["encoder"]["normalizer"]["max_punct_run"] == 2
    assert cfg["extra"] == {"note": "hello"}
    assert cfg["model"]["lr"] == "fast"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("trainer.max_epochs=abc", r"field 'trainer.max_epochs': expects an integer"),
        ("trainer.max_epochs=2.5", r"field 'trainer.max_epochs': expects an integer"),
        ("model.lr=abc", r"field 'model.lr': expects a number .*got 'abc'"),
        ("model.encoder.normalizer.enabled=yes", r"expects true or false"),
        ("model.encoder=3", r"field 'model.encoder': expects a section"),
        ("trainer.max_epochs.x=1", r"'trainer.max_epochs' is a value"),
        (
            "model.normalizer.enabled=false",
            r"unknown config key \(did you mean 'model.encoder.normalizer.enabled'\?\)",
        ),
        ("trainer.max_epoch=3", r"did you mean 'trainer.max_epochs'.*Trainer does not take it"),
        ("x.y=abc", r"field 'x.y': unknown config key; to add a new key write \+x.y=abc"),
        ("+trainer.max_epochs=3", r"already in the config \(3\)"),
        ("model=nosuch", r"no model config 'nosuch' \(choices: "),
        ("model.lr=[1,2", r"field 'model.lr': cannot parse"),
        ("_config_root=/", r"internal"),
        ("a..b=1", r"not key=value"),
    ],
)
def test_bad_overrides_are_one_line_naming_the_key(override, message) -> None:
    with pytest.raises(InputError, match=message) as err:
        load_config(CONFIGS / "experiment" / "tiny.yaml", [override])
    assert "\n" not in str(err.value)


def test_section_keys_cover_what_train_reads() -> None:
    """Every optional key ``train`` reads is one an override may add without ``+``."""
    import re

    from adowner.model.config import SECTION_KEYS

    source = (Path(__file__).resolve().parents[1] / "src/adowner/model/train.py").read_text()
    callbacks = set(re.findall(r'cb_cfg\.get\("(\w+)"', source))
    assert callbacks <= SECTION_KEYS["callbacks"][1]()
    top = set(re.findall(r'\bcfg\.get\("(\w+)"', source)) - {"resume", "data_dir", "run_dir"}
    assert top <= SECTION_KEYS[""][1]()


def test_a_named_section_takes_another_entry_by_name() -> None:
    tiny = CONFIGS / "experiment" / "tiny.yaml"
    assert load_config(tiny)["model"]["loss"] == {"name": "supcon", "temperature": 0.1}
    # a name alone: that entry with its defaults (SupCon's temperature would not fit it)
    cfg = load_config(tiny, ["model.loss=multi-similarity", "model.miner=BatchHardMiner"])
    assert cfg["model"]["loss"] == {"name": "multi-similarity"}
    assert cfg["model"]["miner"] == "BatchHardMiner"
    cfg = load_config(tiny, ["model.loss={name: ntxent, temperature: 0.2}"])
    assert cfg["model"]["loss"] == {"name": "ntxent", "temperature": 0.2}
    cfg = load_config(tiny, ["model.loss={temperature: 0.2}"])  # the same entry: merged
    assert cfg["model"]["loss"] == {"name": "supcon", "temperature": 0.2}
    cfg = load_config(tiny, ["model.miner={name: MultiSimilarityMiner, epsilon: 0.2}"])
    assert cfg["model"]["miner"] == {"name": "MultiSimilarityMiner", "epsilon": 0.2}


def test_loss_logger_and_callback_keys_are_new_keys_without_plus() -> None:
    cfg = load_config(
        CONFIGS / "experiment" / "tiny.yaml",
        [
            "model.loss.name=triplet",  # another loss: SupCon's temperature goes
            "model.loss.margin=0.1",  # an argument of a registered loss
            "logger.tensorboard.enabled=true",  # a registered logger absent from logger/none
            "callbacks.extra=[lr_monitor]",
        ],
    )
    assert cfg["model"]["loss"] == {"name": "triplet", "margin": 0.1}
    assert cfg["logger"]["tensorboard"] == {"enabled": True}
    assert cfg["callbacks"]["extra"] == ["lr_monitor"]
    with pytest.raises(InputError, match=r"field 'logger.tensorbord.enabled': unknown config key"):
        load_config(CONFIGS / "experiment" / "tiny.yaml", ["logger.tensorbord.enabled=true"])
    cfg = load_config(CONFIGS / "experiment" / "tiny.yaml", ["logger=tensorboard"])
    assert cfg["logger"] == {"wandb": {"enabled": False}, "tensorboard": {"enabled": True}}


def test_no_shipped_config_uses_the_old_temperature_key() -> None:
    """``model.temperature`` moved to ``model.loss.temperature`` in every shipped config."""
    for path in sorted(CONFIGS.glob("*/*.yaml")):
        cfg = yaml.safe_load(path.read_text()) or {}
        section = cfg.get("model", {}) if path.parent.name == "experiment" else cfg
        if path.parent.name in ("model", "experiment"):
            assert "temperature" not in (section or {}), path
