"""The hybrid same-owner scorer: weights learned on val owners, JSON round trip, ranking, CLI."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from adowner.cli import main
from adowner.errors import InputError
from adowner.evaluation import metrics as M
from adowner.evaluation.hybrid import FEATURES, Hybrid
from adowner.evaluation.pairs import sample_pairs
from adowner.evaluation.resolve import check_model_spec, resolve_model
from test_eval_cli import make_ads


class OwnerOracle:
    """Embeds an ad as its owner's fixed random direction (the owner is read from the text)."""

    def __init__(self, owner_of: dict[str, str], noise: float = 0.0) -> None:
        self.owner_of, self.noise = owner_of, noise

    def embed(self, texts: list[str]) -> np.ndarray:
        rows = []
        for t in texts:
            seed = zlib.crc32(self.owner_of[t].encode())
            v = np.random.default_rng(seed).normal(size=16)
            v += self.noise * np.random.default_rng(zlib.crc32(t.encode())).normal(size=16)
            rows.append(v / np.linalg.norm(v))
        return np.asarray(rows, dtype=np.float32)


class Noise:
    """Embeds every ad as a random direction: no owner information at all."""

    def embed(self, texts: list[str]) -> np.ndarray:
        return np.stack(
            [np.random.default_rng(zlib.crc32(t.encode())).normal(size=16) for t in texts]
        ).astype(np.float32)


@pytest.fixture(scope="module")
def splits() -> dict[str, pd.DataFrame]:
    return {
        "train": make_ads(12, 6, 0, "tr"),
        "val": make_ads(8, 5, 1, "va"),
        "test": make_ads(8, 5, 2, "te"),
    }


def _owner_map(splits: dict[str, pd.DataFrame]) -> dict[str, str]:
    return {t: o for df in splits.values() for t, o in zip(df["text"], df["owner"], strict=True)}


def _auc(model: Hybrid, df: pd.DataFrame) -> float:
    texts = df["text"].tolist()
    i, j, y = sample_pairs(df["owner"].to_numpy(), df["dup_group"].to_numpy(), neg_ratio=5)
    return M.verification_metrics(model.score_pairs(texts, i, j), y)["roc_auc"]


def test_weights_follow_what_the_base_knows(splits):
    strong = Hybrid(OwnerOracle(_owner_map(splits), noise=0.3))
    strong.fit(splits["train"], splits["val"])
    weak = Hybrid(Noise())
    weak.fit(splits["train"], splits["val"])
    w_strong = dict(zip(FEATURES, strong.combiner.coef, strict=True))
    w_weak = dict(zip(FEATURES, weak.combiner.coef, strict=True))
    # the embedding enters twice (raw and AS-normalised cosine): judge their summed weight
    emb_strong = w_strong["cosine"] + w_strong["cosine_asnorm"]
    emb_weak = abs(w_weak["cosine"]) + abs(w_weak["cosine_asnorm"])
    # an informative embedding gets a large weight; a useless one next to none
    assert emb_strong > 1.0
    assert emb_weak < 0.25 * emb_strong
    assert emb_weak < 0.5 * max(w_weak["char"], w_weak["pairwise"])
    assert _auc(strong, splits["test"]) > 0.97
    # with a useless embedding the fused score still ranks by the char/pairwise evidence
    assert _auc(weak, splits["test"]) > 0.85
    assert any("hybrid weights" in n for n in strong.notes)


def test_state_round_trips_through_json(splits):
    base = OwnerOracle(_owner_map(splits), noise=1.0)
    h = Hybrid(base)
    h.fit(splits["train"], splits["val"])
    state = json.loads(json.dumps(h.state()))
    again = Hybrid.from_state(state, base)
    texts = splits["test"]["text"].tolist()
    i, j, _ = sample_pairs(splits["test"]["owner"].to_numpy(), None, neg_ratio=3)
    np.testing.assert_allclose(again.score_pairs(texts, i, j), h.score_pairs(texts, i, j), 1e-6)
    state["version"] = 99
    with pytest.raises(InputError, match="version"):
        Hybrid.from_state(state, base)


def test_neighbors_rank_the_union_by_fused_probability(splits):
    h = Hybrid(OwnerOracle(_owner_map(splits), noise=0.5))
    h.fit(splits["train"], splits["val"])
    df = splits["test"]
    texts = df["text"].tolist()
    q = np.arange(len(texts))
    nb, sc = h.neighbors(texts, q, 6, return_scores=True)
    assert nb.shape == sc.shape == (len(texts), 6)
    assert (nb[:, 0] == q).all()
    assert (np.diff(sc[:, 1:], axis=1) <= 1e-12).all()
    for row in nb:  # no ad twice in a row
        kept = row[row >= 0]
        assert len(set(kept.tolist())) == len(kept)
    top = nb[:, 1]
    assert (df["owner"].to_numpy()[top] == df["owner"].to_numpy()).mean() > 0.9


def test_fit_needs_val_owners(splits):
    h = Hybrid(Noise())
    with pytest.raises(InputError, match="validation"):
        h.fit(splits["train"], None)
    lonely = splits["val"].drop_duplicates("owner")
    with pytest.raises(InputError, match="two ads"):
        h.fit(splits["train"], lonely)


def test_spec_checks():
    with pytest.raises(InputError, match="hybrid"):
        check_model_spec("hybrid:")
    with pytest.raises(InputError, match="unknown model"):
        check_model_spec("hybrid:nope")
    assert resolve_model("hybrid:tfidf-char").name == "hybrid:tfidf-char"


def test_evaluate_cli_with_hybrid(splits, tiny_backbone, tmp_path):
    data = tmp_path / "prepared"
    data.mkdir()
    for name, df in splits.items():
        df.to_parquet(data / f"{name}.parquet")
    out = tmp_path / "eval"
    spec = f"hybrid:zero-shot:{tiny_backbone}"
    rc = main(["evaluate", "--model", spec, "--data", str(data), "--out", str(out)])
    assert rc == 0
    metrics = json.loads((out / "metrics.json").read_text())
    details = json.loads((out / "details.json").read_text())
    assert details["kind"] == "pairwise"
    assert metrics["roc_auc"] > 0.85
    assert metrics["r_precision"] > 0.5
    assert Path(out / "metrics.md").is_file()


def test_calibrate_uses_held_out_scores(splits):
    h = Hybrid(OwnerOracle(_owner_map(splits), noise=1.5))
    h.fit(splits["train"], splits["val"])
    cal = h.calibrate(splits["val"], fprs=(0.05, 0.01))
    assert [t["fpr"] for t in cal["thresholds"]] == [0.05, 0.01]
    assert all(t["achieved_fpr"] <= t["fpr"] for t in cal["thresholds"])
    assert cal["thresholds"][0]["threshold"] <= cal["thresholds"][1]["threshold"]
    assert cal["pairs"]["positive"] > 0
    assert cal["pairs"]["negative"] > 0
    # the thresholds hold on owners never used to fit or calibrate (loosely: tiny data)
    df = splits["test"]
    i, j, y = sample_pairs(df["owner"].to_numpy(), df["dup_group"].to_numpy(), neg_ratio=20)
    s = h.score_pairs(df["text"].tolist(), i, j)
    assert (s[y == 0] >= cal["thresholds"][0]["threshold"]).mean() < 0.15


def test_compare_keeps_a_model_and_its_hybrid_apart():
    from adowner.evaluation.compare import model_slug

    ckpt = "runs/minilm-agora-v2/checkpoints/best.ckpt"
    assert model_slug(f"hybrid:{ckpt}") == "hybrid-" + model_slug(ckpt)
    assert model_slug(f"asnorm:{ckpt}") == "asnorm-" + model_slug(ckpt)
    assert model_slug(ckpt) != model_slug("runs/minilm-agora/checkpoints/best.ckpt")


def test_calibrate_falls_back_in_sample_with_few_val_owners(splits):
    h = Hybrid(OwnerOracle(_owner_map(splits), noise=1.0))
    few = splits["val"][splits["val"]["owner"].isin(["vaowner0", "vaowner1"])]
    h.fit(splits["train"], few)
    cal = h.calibrate(few, fprs=(0.01,))
    assert "in-sample" in cal["method"]
    assert cal["pairs"]["positive"] > 0


def test_version_1_state_still_loads(splits):
    from adowner.evaluation.hybrid import FEATURES_V1

    base = OwnerOracle(_owner_map(splits), noise=1.0)
    h = Hybrid(base)
    h.fit(splits["train"], splits["val"])
    state = json.loads(json.dumps(h.state()))
    v1 = dict(state, version=1, features=list(FEATURES_V1))
    v1.pop("score_norm")
    v1["combiner"] = {
        **state["combiner"],
        **{k: state["combiner"][k][:3] for k in ("mean", "scale", "coef")},
    }
    again = Hybrid.from_state(v1, base)
    assert again.features_used == FEATURES_V1
    assert again.state()["version"] == 1
    texts = splits["test"]["text"].tolist()
    i, j, _ = sample_pairs(splits["test"]["owner"].to_numpy(), None, neg_ratio=3)
    p = again.score_pairs(texts, i, j)
    assert ((p >= 0) & (p <= 1)).all()


class Counting(OwnerOracle):
    """OwnerOracle that counts the texts it is asked to embed."""

    def __init__(self, owner_of: dict[str, str]) -> None:
        super().__init__(owner_of)
        self.embedded: list[str] = []
        self.name = "counting"

    def embed(self, texts: list[str]) -> np.ndarray:
        self.embedded += list(texts)
        return super().embed(texts)


def test_memo_embedder_embeds_each_text_once_and_keeps_order(splits):
    from adowner.evaluation.scorer import MemoEmbedder

    base = Counting(_owner_map(splits))
    memo = MemoEmbedder(base)
    texts = splits["val"]["text"].tolist()
    first = memo.embed(texts[:10])
    again = memo.embed(texts[5:15] + texts[:3] + texts[:3])
    np.testing.assert_array_equal(first, base.embed(texts[:10]))
    np.testing.assert_array_equal(
        again, OwnerOracle(base.owner_of).embed(texts[5:15] + texts[:3] * 2)
    )
    assert base.embedded[:15] == texts[:15]  # 10, then only the 5 new ones
    assert (memo.misses, memo.hits) == (15, 11)
    assert memo.name == "counting"  # other attributes are the wrapped model's
    assert memo.embed([]).shape[0] == 0
    with pytest.raises(TypeError, match="fitted"):
        MemoEmbedder(resolve_model("tfidf-char"))


def test_compare_loads_a_model_once_for_all_its_specs(splits, tmp_path, monkeypatch):
    """SPEC, asnorm:SPEC and hybrid:SPEC share one loaded model: each ad is embedded once."""
    from adowner.evaluation import resolve
    from adowner.evaluation.compare import compare_models, model_slug
    from adowner.evaluation.data import EvalData

    ckpt = tmp_path / "m.ckpt"
    ckpt.write_bytes(b"")  # passes the spec check; loading is replaced below
    loaded: list[Counting] = []

    def fake_load(spec: str) -> Counting:
        loaded.append(Counting(_owner_map(splits)))
        return loaded[-1]

    monkeypatch.setattr(resolve, "_load_model", fake_load)
    data = EvalData(
        train=splits["train"], val=splits["val"], test=splits["test"], source="t", quarantine=[]
    )
    specs = [str(ckpt), f"asnorm:{ckpt}", f"hybrid:{ckpt}"]
    compare_models(specs, data, tmp_path / "cmp", bootstrap=0)
    assert len(loaded) == 1
    counts = pd.Series(loaded[0].embedded).value_counts()
    assert counts.max() == 1  # no ad embedded twice
    wanted = set(splits["test"]["text"]) | set(splits["val"]["text"]) | set(splits["train"]["text"])
    assert set(counts.index) <= wanted
    assert set(splits["test"]["text"]) <= set(counts.index)
    # and sharing changes no figure: the hybrid scored with a model loaded for it alone
    from adowner.evaluation.runner import evaluate_model

    alone = evaluate_model(f"hybrid:{ckpt}", data, tmp_path / "alone", bootstrap=0)
    folder = tmp_path / "cmp" / "models" / model_slug(f"hybrid:{ckpt}")
    shared = json.loads((folder / "metrics.json").read_text())
    assert alone == pytest.approx(shared)
