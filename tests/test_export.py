"""Export: folder layout, adowner.json, calibration, sentence-transformers and ONNX parity,
atomicity, the model card and the CLI errors. A tiny BERT stands in for MiniLM."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from adowner.cli import main
from adowner.errors import AdownerError, InputError
from adowner.export.calibrate import calibrate
from adowner.export.export import export_checkpoint
from adowner.export.inference import load
from test_export_fixtures import cosines, generated_ads, make_checkpoint, make_prepared


@pytest.fixture(scope="module")
def exported(tiny_backbone, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("export")
    ckpt = make_checkpoint(tiny_backbone, root)
    table = root / "table.csv"
    table.write_text(
        "model,roc_auc,roc_auc_lo,roc_auc_hi,tpr@fpr=0.01,tpr@fpr=0.01_lo,tpr@fpr=0.01_hi,n_ads,n_owners\n"
        "tfidf-char,0.81,0.78,0.84,0.30,0.25,0.35,500,50\n"
        "tiny-model,0.90,0.88,0.92,0.55,0.50,0.60,500,50\n",
        encoding="utf-8",
    )
    out = root / "models" / "tiny-model"
    export_checkpoint(
        ckpt, out, data=make_prepared(root / "prepared"), onnx=True, metrics=[table], dataset="gen"
    )
    return out


def test_folder_layout_and_config(exported: Path) -> None:
    for name in ("config.json", "model.safetensors", "tokenizer.json", "modules.json",
                 "sentence_bert_config.json", "1_Pooling/config.json", "2_Dense/model.safetensors",
                 "adowner.json", "model.onnx", "model_ort.onnx", "README.md"):  # fmt: skip
        assert (exported / name).is_file(), name
    cfg = json.loads((exported / "adowner.json").read_text())
    assert cfg["embedding_dim"] == 16
    assert cfg["max_length"] == 64
    assert cfg["normalization"]["enabled"] is True
    assert cfg["model_id"] == "tiny-model"
    assert cfg["source_checkpoint"].endswith("tiny.ckpt")
    assert not list(exported.parent.glob(".*tmp")), "temporary folder left behind"
    # thresholds: one per FPR, each honest about the FPR it reaches on validation pairs
    th = {t["fpr"]: t for t in cfg["thresholds"]}
    assert set(th) == {0.01, 0.001}
    for fpr, t in th.items():
        assert t["achieved_fpr"] <= fpr + 1e-12
        assert -1.0 <= t["threshold"] <= 1.0 + 1e-6
    assert th[0.001]["threshold"] >= th[0.01]["threshold"]
    assert th[0.001]["tpr"] <= th[0.01]["tpr"]
    assert cfg["calibration"]["pairs"]["positive"] > 0
    assert cfg["onnx"]["min_cosine"] >= 0.9999
    assert cfg["onnx"]["fused_min_cosine"] >= 0.9999


def test_thresholds_reproduce_on_validation(exported: Path) -> None:
    """Recomputing the FPR of the stored threshold on the validation pairs gives <= target."""
    from adowner.scoring.pairs import sample_pairs

    cfg = json.loads((exported / "adowner.json").read_text())
    val = generated_ads(60, seed=1)
    emb = load(exported, backend="torch").embed(val["text"].tolist())
    i, j, y = sample_pairs(
        val["owner"].to_numpy(), val["dup_group"].to_numpy(), neg_ratio=20, seed=0
    )
    s = np.einsum("ij,ij->i", emb[i], emb[j])
    for t in cfg["thresholds"]:
        fpr = float(((s >= t["threshold"]) & (y == 0)).sum() / (y == 0).sum())
        assert fpr <= t["fpr"] + 1e-12


def test_calibrate_on_separable_scores() -> None:
    rng = np.random.default_rng(0)
    owners = np.repeat(np.arange(20), 5)
    centers = rng.normal(size=(20, 8))
    emb = centers[owners] + 0.05 * rng.normal(size=(100, 8))
    emb = (emb / np.linalg.norm(emb, axis=1, keepdims=True)).astype(np.float32)
    res = calibrate(emb, owners.astype(str), None)
    assert res["roc_auc"] > 0.99
    t1 = res["thresholds"][0]
    assert t1["fpr"] == 0.01
    assert t1["tpr"] > 0.95
    assert t1["achieved_fpr"] <= 0.01


def test_calibrate_needs_pairs() -> None:
    emb = np.eye(3, dtype=np.float32)
    with pytest.raises(AdownerError, match="cannot calibrate"):
        calibrate(emb, np.array(["a", "b", "c"]), None)


@pytest.mark.slow
def test_sentence_transformers_parity_without_adowner(exported: Path, tmp_path: Path) -> None:
    """SentenceTransformer(DIR), in a process that never imports adowner, gives our embeddings."""
    enc = load(exported, backend="torch")
    texts = enc.normalize(generated_ads(24, seed=3)["text"].tolist())
    (tmp_path / "texts.json").write_text(json.dumps(texts))
    code = (
        "import json, sys, numpy as np\n"
        "from sentence_transformers import SentenceTransformer\n"
        f"m = SentenceTransformer({str(exported)!r}, device='cpu')\n"
        f"t = json.load(open({str(tmp_path / 'texts.json')!r}))\n"
        f"np.save({str(tmp_path / 'st.npy')!r}, m.encode(t, batch_size=8))\n"
        "assert not any(k.startswith('adowner') for k in sys.modules), 'adowner was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=900)
    st = np.load(tmp_path / "st.npy")
    ours = enc.embed(texts, normalized=True)
    assert st.shape == ours.shape == (24, 16)
    assert cosines(st, ours).min() >= 0.9999


def test_onnx_parity_generated(exported: Path) -> None:
    texts = [*generated_ads(40, seed=7)["text"].tolist(), "", "x", "🔥" * 50, "A " * 400]
    a = load(exported, backend="torch").embed(texts)
    b = load(exported, backend="onnx").embed(texts)
    assert cosines(a, b).min() >= 0.9999


@pytest.mark.real_data
def test_onnx_parity_real_agora(exported: Path, shared_data: Path) -> None:
    import pandas as pd

    from conftest import shared_file

    df = pd.read_csv(shared_file("authorship/agora_vendor_listings_2014-01.csv"), nrows=200)
    texts = (df["product"].astype(str) + "\n" + df["description"].astype(str)).tolist()
    a = load(exported, backend="torch").embed(texts)
    b = load(exported, backend="onnx").embed(texts)
    assert cosines(a, b).min() >= 0.9999


def test_model_card(exported: Path) -> None:
    text = (exported / "README.md").read_text()
    assert text.startswith("---\n")
    meta = yaml.safe_load(text.split("---\n")[1])
    assert meta["library_name"] == "sentence-transformers"
    result = meta["model-index"][0]["results"][0]
    assert {m["type"]: m["value"] for m in result["metrics"]}["tpr_at_fpr_1pct"] == 0.55
    assert "**tiny-model** (this model)" in text
    assert "tfidf-char" in text
    assert "0.550 [0.500, 0.600]" in text
    for phrase in ("must be normalised", "never the sole basis", "Domain shift", "Label noise",
                   "Privacy", "Intended users"):  # fmt: skip
        assert phrase.lower() in text.lower(), phrase
    assert "$" not in text.split("```")[0].replace("$model", "")  # no unfilled placeholder


def test_interrupted_export_leaves_nothing(tiny_backbone, tmp_path: Path, monkeypatch) -> None:
    ckpt = make_checkpoint(tiny_backbone, tmp_path)
    out = tmp_path / "models" / "m"
    export_checkpoint(ckpt, out)  # a first, complete export
    before = (out / "adowner.json").read_text()

    def boom(*args, **kwargs):
        raise KeyboardInterrupt  # as if the user pressed Ctrl-C half-way

    monkeypatch.setattr("adowner.export.export._calibrate", boom)
    with pytest.raises(KeyboardInterrupt):
        export_checkpoint(ckpt, out, data=make_prepared(tmp_path / "p"))
    assert (out / "adowner.json").read_text() == before  # old folder intact
    assert sorted(p.name for p in out.parent.iterdir()) == ["m"]  # no half folder
    fresh = tmp_path / "models" / "fresh"
    with pytest.raises(KeyboardInterrupt):
        export_checkpoint(ckpt, fresh, data=make_prepared(tmp_path / "p"))
    assert not fresh.exists()
    with pytest.raises(InputError, match="not an adowner model folder"):
        load(fresh)


def test_export_cli_errors(tmp_path: Path, capsys) -> None:
    assert main(["export", str(tmp_path / "nope.ckpt"), "--out", str(tmp_path / "o")]) == 2
    assert "checkpoint not found" in capsys.readouterr().err
    (tmp_path / "bad.ckpt").write_bytes(b"not a checkpoint")
    assert main(["export", str(tmp_path / "bad.ckpt"), "--out", str(tmp_path / "o"),
                 "--data", str(tmp_path)]) == 2  # fmt: skip
    assert "val.parquet" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_export_cli_writes_folder(tiny_backbone, tmp_path: Path, capsys) -> None:
    ckpt = make_checkpoint(tiny_backbone, tmp_path, projection_dim=None)
    rc = main(["export", str(ckpt), "--out", str(tmp_path / "cli-model"),
               "--data", str(make_prepared(tmp_path / "p"))])  # fmt: skip
    assert rc == 0
    assert "thresholds FPR 0.01" in capsys.readouterr().out
    cfg = json.loads((tmp_path / "cli-model" / "adowner.json").read_text())
    assert cfg["embedding_dim"] == 32
    assert cfg["projection"] is False
    assert not (tmp_path / "cli-model" / "model.onnx").exists()


def test_export_hybrid_is_json_and_drives_same_owner(tiny_backbone, tmp_path: Path) -> None:
    from test_export_fixtures import generated_ads

    ckpt = make_checkpoint(tiny_backbone, tmp_path, projection_dim=None)
    data = make_prepared(tmp_path / "p")
    generated_ads(80, seed=7).to_parquet(data / "train.parquet", index=False)
    # --hybrid without a train split is refused before anything is written
    with pytest.raises(InputError, match=r"train\.parquet"):
        export_checkpoint(ckpt, tmp_path / "no", data=make_prepared(tmp_path / "v"), hybrid=True)
    assert not (tmp_path / "no").exists()
    out = tmp_path / "hybrid-model"
    rc = main(["export", str(ckpt), "--out", str(out), "--data", str(data), "--hybrid"])
    assert rc == 0
    cfg = json.loads((out / "adowner.json").read_text())
    assert cfg["hybrid"]["file"] == "hybrid.json"
    assert [t["fpr"] for t in cfg["hybrid"]["thresholds"]] == [0.01, 0.001]
    assert "Hybrid same-owner score" in (out / "README.md").read_text()
    state = json.loads((out / "hybrid.json").read_text())  # plain JSON, no pickle
    assert state["features"] == ["cosine", "char", "pairwise", "cosine_asnorm"]
    assert state["score_norm"]["method"] == "as-norm"  # the cohort travels in the same JSON
    enc = load(out)
    assert enc.score_kind == "hybrid"
    a, b = "NEW in town!!! ask for Mia <3", "NEW in town!!! ask for Mia <3 today"
    score, same = enc.same_owner(a, b)
    assert 0.0 <= score <= 1.0
    assert same == (score >= enc.hybrid_thresholds[0.01])
    # the score is the hybrid's probability for the pair, not the cosine
    expected = enc.hybrid.score_pairs([a, b], np.array([0]), np.array([1]))[0]
    assert score == pytest.approx(expected)
    cosine = float(np.dot(*enc.embed([a, b])))
    assert score != pytest.approx(cosine)

    # the HTTP service answers /same-owner with the same hybrid score and its threshold
    from fastapi.testclient import TestClient

    from adowner.serve.app import create_app

    with TestClient(create_app(enc)) as client:
        health = client.get("/health").json()
        assert health["same_owner_score"] == "hybrid"
        reply = client.post("/same-owner", json={"a": a, "b": b}).json()
    assert reply["score_kind"] == "hybrid"
    assert reply["score"] == pytest.approx(score, abs=1e-5)
    assert reply["threshold"] == pytest.approx(enc.hybrid_thresholds[0.01])
    assert reply["decision"] == same


def test_export_hybrid_with_locations(tiny_backbone, tmp_path: Path) -> None:
    """Where the prepared splits have locations, the exported hybrid compares them too; load,
    same_owner and /same-owner take each ad's location; --hybrid-location off keeps texts only."""
    from fastapi.testclient import TestClient

    from adowner.serve.app import create_app
    from test_export_fixtures import generated_ads

    cities = ["Fresno", "Modesto", "San Diego", "Oakland", "Redding", "Chico"]

    def located(df):
        return df.assign(location=[cities[int(o[1:]) % len(cities)] for o in df["owner"]])

    ckpt = make_checkpoint(tiny_backbone, tmp_path, projection_dim=None)
    data = tmp_path / "p"
    data.mkdir()
    located(generated_ads(80, seed=7)).to_parquet(data / "train.parquet", index=False)
    located(generated_ads(60, seed=1)).to_parquet(data / "val.parquet", index=False)
    out = tmp_path / "loc-model"
    assert main(["export", str(ckpt), "--out", str(out), "--data", str(data), "--hybrid"]) == 0
    state = json.loads((out / "hybrid.json").read_text())
    assert state["version"] == 3
    assert state["features"][-2:] == ["location_same", "location_jac"]
    assert json.loads((out / "adowner.json").read_text())["hybrid"]["features"] == state["features"]
    assert "location_a" in (out / "README.md").read_text()
    enc = load(out)
    a, b = "NEW in town!!! ask for Mia <3", "sweet and discreet, call me"
    same_place, _ = enc.same_owner(a, b, location_a="City of Fresno, Fresno", location_b="fresno")
    apart, _ = enc.same_owner(a, b, location_a="Fresno", location_b="Chico")
    unknown, _ = enc.same_owner(a, b)
    assert same_place > unknown > apart  # every owner posts in one city here
    with TestClient(create_app(enc)) as client:
        body = {"a": a, "b": b, "location_a": "City of Fresno, Fresno", "location_b": "fresno"}
        reply = client.post("/same-owner", json=body).json()
        assert reply["score"] == pytest.approx(same_place, abs=1e-5)
        assert client.post("/same-owner", json={"a": a, "b": b}).json()["score"] == (
            pytest.approx(unknown, abs=1e-5)
        )
        bad = client.post("/same-owner", json={"a": a, "b": b, "location_a": 3})
        assert bad.status_code == 422
    text_only = tmp_path / "text-model"
    argv = ["export", str(ckpt), "--out", str(text_only), "--data", str(data), "--hybrid"]
    assert main([*argv, "--hybrid-location", "off"]) == 0
    assert json.loads((text_only / "hybrid.json").read_text())["version"] == 2
