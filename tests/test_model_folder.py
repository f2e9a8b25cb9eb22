"""The exported folder's reader: ``Thresholds.at``, the migration of every older format,
the one "hybrid or cosine" decision, and ``link`` loading the folder once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from adowner.errors import InputError
from adowner.export.folder import (
    ENCODER_CONFIG_NAME,
    FORMAT_VERSION,
    ModelFolder,
    ThresholdError,
    Thresholds,
    migrate_config,
    migrate_folder,
)
from adowner.export.same_owner import choose_kind
from adowner.link.pipeline import calibrated_threshold, hybrid_threshold

LIST = [
    {"fpr": 0.01, "threshold": 0.71, "tpr": 0.5, "achieved_fpr": 0.009},
    {"fpr": 0.001, "threshold": 0.83, "tpr": 0.2, "achieved_fpr": 0.001},
]


def write(folder: Path, **cfg: Any) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "adowner.json").write_text(
        json.dumps({"embedding_dim": 16, "max_length": 64, **cfg}), encoding="utf-8"
    )
    return folder


# ---------------------------------------------------------------- Thresholds.at


def test_thresholds_at_is_an_exact_match() -> None:
    t = Thresholds({0.01: 0.7, 0.001: 0.8}, Path("m/adowner.json"))
    assert t.at(0.01) == 0.7
    assert t.at(0.001 + 1e-13) == 0.8  # float noise is the same FPR
    assert t.fpr_at(0.001 + 1e-13) == 0.001
    assert dict(t) == {0.01: 0.7, 0.001: 0.8}
    assert t[0.01] == 0.7
    assert len(t) == 2
    with pytest.raises(ThresholdError, match=r"no threshold calibrated for FPR 0\.05") as err:
        t.at(0.05)  # no nearest FPR, no interpolation
    assert err.value.known == [0.001, 0.01]
    assert str(err.value).startswith("m/adowner.json: ")
    assert "0.001, 0.01" in err.value.reason
    with pytest.raises(ThresholdError, match="none; export with --data"):
        Thresholds({}).at(0.01)
    assert not Thresholds({})


def test_thresholds_entries_are_checked(tmp_path: Path) -> None:
    for bad in ({"fpr": 0.01}, [{"fpr": 1.5, "threshold": 0.1}], [{"fpr": "x", "threshold": 1}]):
        with pytest.raises(InputError, match="thresholds"):
            Thresholds.from_entries(bad, tmp_path / "adowner.json")
    assert not Thresholds.from_entries(None, tmp_path)


# ---------------------------------------------------------------- migration


@pytest.mark.parametrize(
    "stored",
    [
        pytest.param({"thresholds": LIST}, id="list"),
        pytest.param({"thresholds": {"0.01": 0.71, "0.001": 0.83}}, id="dict-of-numbers"),
        pytest.param({"thresholds": {"fpr@0.01": 0.71, "fpr@0.001": 0.83}}, id="fpr@-keys"),
        pytest.param({"thresholds": {"fpr_0.01": 0.71, "fpr=0.001": 0.83}}, id="fpr_-fpr=-keys"),
        pytest.param(
            {"thresholds": {"0.01": {"threshold": 0.71}, "0.001": {"threshold": 0.83}}},
            id="dict-of-objects",
        ),
        pytest.param({"calibration": {"thresholds": LIST}}, id="under-calibration"),
        pytest.param(
            {"thresholds": [], "calibration": {"thresholds": {"fpr@0.01": 0.71, "0.001": 0.83}}},
            id="dict-under-calibration",
        ),
    ],
)
def test_every_old_threshold_format_migrates(tmp_path: Path, stored: dict[str, Any]) -> None:
    folder = write(tmp_path / "m", **stored)  # no format_version: format 1
    model = ModelFolder.read(folder)
    assert model.config["format_version"] == FORMAT_VERSION
    assert model.thresholds.at(0.01) == 0.71
    assert model.thresholds.at(0.001) == 0.83
    assert [t["fpr"] for t in model.config["thresholds"]] in ([0.01, 0.001], [0.001, 0.01])
    # link reads the same table (it accepted all of these before the migration)
    assert calibrated_threshold(folder, 0.01) == 0.71


def test_migration_keeps_entry_details_and_skips_non_fpr_keys(tmp_path: Path) -> None:
    path = tmp_path / "adowner.json"
    cfg = {
        "format_version": 1,
        "embedding_dim": 8,
        "projection": True,
        "thresholds": {"fpr@0.01": {"threshold": 0.5, "tpr": 0.4}, "method": "roc"},
    }
    new = migrate_config(cfg, path)
    assert new["thresholds"] == [{"threshold": 0.5, "tpr": 0.4, "fpr": 0.01}]
    assert new["projection_dim"] == 8  # the head's width is the embedding's
    assert cfg["format_version"] == 1  # the input is not changed
    assert migrate_config({"projection": False}, path)["projection_dim"] is None
    current = migrate_config(new, path)
    assert current == new  # the current format passes through


@pytest.mark.parametrize("version", [0, "2", True, FORMAT_VERSION + 1])
def test_unknown_format_versions_are_one_line_errors(tmp_path: Path, version: Any) -> None:
    folder = write(tmp_path / "m", format_version=version)
    with pytest.raises(InputError, match="format_version") as err:
        ModelFolder.read(folder)
    assert str(folder / "adowner.json") in str(err.value)
    assert "\n" not in str(err.value)


def test_migrate_folder_rewrites_old_folders(tmp_path: Path) -> None:
    folder = write(tmp_path / "m", thresholds={"fpr@0.01": 0.7}, projection=False)
    (folder / ENCODER_CONFIG_NAME).write_text("{}", encoding="utf-8")
    cfg = migrate_folder(folder)
    on_disk = json.loads((folder / "adowner.json").read_text(encoding="utf-8"))
    assert on_disk == cfg
    assert on_disk["format_version"] == FORMAT_VERSION
    assert on_disk["thresholds"] == [{"threshold": 0.7, "fpr": 0.01}]
    assert not (folder / ENCODER_CONFIG_NAME).exists()
    assert ModelFolder.read(folder).config == cfg


def test_export_migrate_command_copies_or_rewrites_a_format_1_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from adowner.cli import main

    old = write(tmp_path / "old", thresholds={"0.01": 0.71}, projection=True, format_version=1)
    (old / ENCODER_CONFIG_NAME).write_text("{}", encoding="utf-8")
    (old / "model.safetensors").write_bytes(b"weights")
    before = (old / "adowner.json").read_text(encoding="utf-8")

    assert main(["export", "--migrate", str(old), "--out", str(tmp_path / "new")]) == 0
    assert "format 2" in capsys.readouterr().out
    new = json.loads((tmp_path / "new" / "adowner.json").read_text(encoding="utf-8"))
    assert new["format_version"] == FORMAT_VERSION
    assert new["thresholds"] == [{"threshold": 0.71, "fpr": 0.01}]
    assert new["projection_dim"] == 16  # a format-1 head is embedding_dim wide
    assert (tmp_path / "new" / "model.safetensors").read_bytes() == b"weights"  # all copied
    assert not (tmp_path / "new" / ENCODER_CONFIG_NAME).exists()
    assert (old / "adowner.json").read_text(encoding="utf-8") == before  # the old one as it was
    assert (old / ENCODER_CONFIG_NAME).exists()
    assert ModelFolder.read(tmp_path / "new").thresholds.at(0.01) == 0.71

    assert main(["export", "--migrate", str(old)]) == 0  # in place
    assert json.loads((old / "adowner.json").read_text(encoding="utf-8")) == new
    assert not (old / ENCODER_CONFIG_NAME).exists()


def test_export_migrate_refuses_what_it_cannot_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from adowner.cli import main

    old = write(tmp_path / "old", thresholds={"0.01": 0.71})
    assert main(["export", "--migrate", str(old), "--onnx", "--out", str(tmp_path / "n")]) == 2
    assert "takes only --out, not --onnx" in capsys.readouterr().err
    assert main(["export", "ckpt", "--migrate", str(old)]) == 2
    assert "not checkpoint" in capsys.readouterr().err
    newer = write(tmp_path / "newer", format_version=FORMAT_VERSION + 1)
    assert main(["export", "--migrate", str(newer), "--out", str(tmp_path / "n")]) == 2
    assert "newer adowner" in capsys.readouterr().err
    assert not (tmp_path / "n").exists()  # nothing written
    assert main(["export", "--out", str(tmp_path / "n")]) == 2  # neither checkpoint nor --migrate
    assert "give a training checkpoint" in capsys.readouterr().err
    assert main(["export", "x.ckpt"]) == 2
    assert "--out" in capsys.readouterr().err


def test_not_a_folder_and_bad_values(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not an adowner model folder"):
        ModelFolder.read(tmp_path)
    write(tmp_path, max_length=0)
    with pytest.raises(InputError, match="max_length"):
        ModelFolder.read(tmp_path)


# ---------------------------------------------------------------- hybrid or cosine


def test_choose_kind_and_hybrid_thresholds(tmp_path: Path) -> None:
    plain = ModelFolder.read(write(tmp_path / "plain", thresholds=LIST))
    assert choose_kind(plain) == choose_kind(plain, "cosine") == "cosine"
    with pytest.raises(InputError, match=r"no hybrid\.json"):
        choose_kind(plain, "hybrid")
    with pytest.raises(InputError, match="unknown text score"):
        choose_kind(plain, "bm25")
    with pytest.raises(InputError, match="pass --threshold"):
        calibrated_threshold(plain.path, 0.05)

    folder = write(tmp_path / "hyb", thresholds=LIST)
    (folder / "hybrid.json").write_text(
        json.dumps({"thresholds": [{"fpr": 0.01, "threshold": 0.42}]}), encoding="utf-8"
    )
    hyb = ModelFolder.read(folder)
    assert choose_kind(hyb) == choose_kind(hyb, "hybrid") == "hybrid"
    assert choose_kind(hyb, "cosine") == "cosine"
    assert hyb.thresholds_for("hybrid").at(0.01) == 0.42
    assert hyb.thresholds_for("cosine").at(0.01) == 0.71
    assert hybrid_threshold(folder, 0.01) == 0.42
    with pytest.raises(InputError, match=r"hybrid\.json.*no threshold calibrated for FPR 0\.001"):
        hybrid_threshold(folder, 0.001)


# ---------------------------------------------------------------- written folders


@pytest.fixture(scope="module")
def written(tiny_backbone, tmp_path_factory) -> Path:
    from adowner.export.calibrate import calibrate
    from adowner.export.folder import update_config, write_folder
    from adowner.export.inference import load
    from adowner.model.encoder import AuthorshipEncoder

    folder = tmp_path_factory.mktemp("written") / "m"
    folder.mkdir()
    write_folder(AuthorshipEncoder(str(tiny_backbone), projection_dim=8, max_length=32), folder)
    texts = [f"owner {k % 4} ad {k} " + "word " * (k % 7) for k in range(40)]
    emb = load(folder, backend="torch").embed(texts)
    owners = np.array([str(k % 4) for k in range(40)])
    update_config(folder, thresholds=calibrate(emb, owners)["thresholds"])
    return folder


def test_written_folder_is_one_record(written: Path) -> None:
    cfg = json.loads((written / "adowner.json").read_text(encoding="utf-8"))
    assert cfg["format_version"] == FORMAT_VERSION
    assert cfg["projection_dim"] == 8 == cfg["embedding_dim"]
    assert not (written / ENCODER_CONFIG_NAME).exists()  # merged into adowner.json
    model = ModelFolder.read(written)
    assert model.config == cfg
    assert set(model.thresholds) == {0.01, 0.001}


def test_encoder_scores_through_one_scorer(written: Path) -> None:
    import adowner

    enc = adowner.load(str(written), backend="torch")
    assert enc.scorer.kind == enc.score_kind == "cosine"
    assert enc.same_owner_scorer("auto") is enc.scorer
    score, same = enc.same_owner("ad one", "ad two")
    assert same == (score >= enc.scorer.threshold(0.01) == enc.threshold(0.01))
    emb = enc.embed(["ad one", "ad two"])
    pair = np.array([0]), np.array([1])
    assert enc.scorer.score_embedded(["ad one", "ad two"], emb, *pair)[0] == pytest.approx(score)


def test_link_loads_the_folder_once(written: Path, tmp_path: Path, monkeypatch) -> None:
    """One network per run (it embedded twice before: once for the embeddings, once more for
    the hybrid), and none when the cached embeddings are reused."""
    from adowner.export import inference
    from adowner.link.pipeline import link_command

    ads = pd.DataFrame(
        {
            "ad_id": [f"a{k}" for k in range(12)],
            "text": [f"owner {k % 3} says hi " + "x " * k for k in range(12)],
            "phones": [[] for _ in range(12)],
        }
    )
    ads.to_parquet(tmp_path / "ads.parquet")
    loads: list[Any] = []
    real = inference.Encoder.__init__

    def counted(self: Any, *args: Any, **kwargs: Any) -> None:
        loads.append(args[0])
        real(self, *args, **kwargs)

    monkeypatch.setattr(inference.Encoder, "__init__", counted)
    argv = {"ads": tmp_path / "ads.parquet", "model": written, "k": 4}
    summary = link_command(**argv, out=tmp_path / "out")
    assert summary["text_score"] == "cosine"
    assert len(loads) == 1
    assert isinstance(loads[0], ModelFolder)  # the folder read once, not re-read by path
    link_command(**argv, out=tmp_path / "out", fpr=0.001)  # the cache is reused
    assert len(loads) == 1
