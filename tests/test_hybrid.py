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
from adowner.evaluation.resolve import check_model_spec, resolve_model
from adowner.scoring.hybrid import FEATURES, Hybrid
from adowner.scoring.pairs import sample_pairs
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
    nb, sc = h.neighbors(texts, q, 6)
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
    assert resolve_model("hybrid:zero-shot").name == "hybrid:zero-shot"


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
    from adowner.scoring.hybrid import FEATURES_V1

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
    """OwnerOracle that counts the texts it is asked to embed (a loaded model: an Embedder of
    the Scorer protocol that learns nothing)."""

    learns = False
    pairwise = False

    def __init__(self, owner_of: dict[str, str]) -> None:
        super().__init__(owner_of)
        self.embedded: list[str] = []
        self.name = "counting"
        self.notes: list[str] = []

    def fit(self, train_df: pd.DataFrame, val_df: pd.DataFrame | None = None) -> None:
        pass

    def embed(self, texts: list[str], *, progress: bool = False) -> np.ndarray:
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


CITIES = ["Bakersfield", "Modesto", "San Diego", "Fresno", "Oakland", "Sacramento", "Redding"]


def _with_locations(df: pd.DataFrame, seed: int, home_share: float = 0.8) -> pd.DataFrame:
    """Each owner posts mostly in a home city, written in two ways; the rest anywhere."""
    rng = np.random.default_rng(seed)
    out = df.copy()
    owners = sorted(out["owner"].unique())
    home = {o: CITIES[k % len(CITIES)] for k, o in enumerate(owners)}
    locs = []
    for o in out["owner"]:
        city = home[o] if rng.random() < home_share else CITIES[rng.integers(len(CITIES))]
        locs.append(f"City of {city}, {city}" if rng.random() < 0.5 else city)
    out["location"] = locs
    return out


@pytest.fixture(scope="module")
def located(splits) -> dict[str, pd.DataFrame]:
    return {k: _with_locations(df, n) for n, (k, df) in enumerate(splits.items())}


def _auc_loc(model: Hybrid, df: pd.DataFrame, locations=None) -> float:
    texts = df["text"].tolist()
    i, j, y = sample_pairs(df["owner"].to_numpy(), df["dup_group"].to_numpy(), neg_ratio=5)
    return M.verification_metrics(model.score_pairs(texts, i, j, locations=locations), y)["roc_auc"]


def test_location_features_are_learned_where_val_has_locations(located):
    from adowner.scoring.hybrid import FEATURES_V3

    # texts dealt at random across owners: only the locations tell owners apart
    located = {
        k: df.assign(text=np.random.default_rng(n).permutation(df["text"].to_numpy()))
        for n, (k, df) in enumerate(located.items())
    }
    h = Hybrid(Noise())
    h.fit(located["train"], located["val"])
    assert h.features_used == FEATURES_V3
    assert h.uses_locations
    weights = dict(zip(FEATURES_V3, h.combiner.coef, strict=True))
    assert weights["location_same"] + weights["location_jac"] > 0.3
    text_only = Hybrid(Noise(), use_location=False)
    text_only.fit(located["train"], located["val"])
    assert text_only.features_used == FEATURES
    assert not text_only.uses_locations
    test = located["test"]
    with_loc = _auc_loc(h, test, test["location"].tolist())
    assert _auc_loc(text_only, test) < 0.65 < 0.75 < with_loc
    # without locations every pair scores as "location unknown": no better than the texts
    assert _auc_loc(h, test) < 0.65


def test_unknown_location_scores_as_the_val_mean(located):
    h = Hybrid(Noise())
    h.fit(located["train"], located["val"])
    texts = located["test"]["text"].tolist()[:4]
    i, j = np.array([0, 1, 2]), np.array([1, 2, 3])
    x = h.features(texts, i, j, locations=["Fresno", "", "fresno!", "FRESNO"])
    np.testing.assert_allclose(x[0, 4:], h.location_fill)  # one side unknown
    np.testing.assert_allclose(x[1, 4:], h.location_fill)
    np.testing.assert_allclose(x[2, 4:], [1.0, 1.0])  # same after folding case and punctuation
    y = h.features(texts, i, j)  # no locations at all
    np.testing.assert_allclose(y[:, 4:], np.tile(h.location_fill, (3, 1)))
    with pytest.raises(InputError, match="locations for"):
        h.features(texts, i, j, locations=["Fresno"])


def test_location_jaccard_of_word_sets():
    from adowner.scoring.hybrid import LocationSets

    s = LocationSets(["City of San Diego, San Diego", "San Diego", "", None, "Oakland"])
    same, jac, known = s.pairs(np.array([0, 0, 1, 1]), np.array([1, 2, 3, 4]))
    np.testing.assert_allclose(jac, [0.5, 0.0, 0.0, 0.0])  # {city, of, san, diego} vs {san, diego}
    assert known.tolist() == [True, False, False, True]
    assert same.tolist() == [0.0, 0.0, 0.0, 0.0]


def test_few_locations_leave_the_location_features_out(located):
    val = located["val"].copy()
    val.loc[val.index[: int(len(val) * 0.6)], "location"] = None
    h = Hybrid(Noise())
    h.fit(located["train"], val)
    assert h.features_used == FEATURES
    assert any("location left out" in n for n in h.notes)


def test_location_state_round_trips_and_is_checked(located):
    h = Hybrid(Noise())
    h.fit(located["train"], located["val"])
    state = json.loads(json.dumps(h.state()))
    assert state["version"] == 3
    assert state["features"][-2:] == ["location_same", "location_jac"]
    again = Hybrid.from_state(state, Noise())
    test = located["test"]
    texts, locs = test["text"].tolist(), test["location"].tolist()
    i, j, _ = sample_pairs(test["owner"].to_numpy(), None, neg_ratio=3)
    np.testing.assert_allclose(
        again.score_pairs(texts, i, j, locations=locs),
        h.score_pairs(texts, i, j, locations=locs),
        1e-6,
    )
    state["location"] = {"fill": [0.1]}
    with pytest.raises(InputError, match=r"location\.fill"):
        Hybrid.from_state(state, Noise())


def test_evaluation_passes_the_split_locations(located):
    from adowner.evaluation.runner import _Scored

    seen: list[object] = []

    class Spy(Hybrid):
        def score_pairs(self, texts, i, j, *, locations=None):
            seen.append(locations)
            return super().score_pairs(texts, i, j, locations=locations)

    h = Spy(Noise())
    h.fit(located["train"], located["val"])
    test = located["test"]
    scored = _Scored(
        h,
        test["text"].tolist(),
        test["owner"].to_numpy(),
        test["dup_group"].to_numpy(),
        test["location"].tolist(),
    )
    scored.pair_scores(np.array([0]), np.array([1]))
    assert seen
    assert all(s == test["location"].tolist() for s in seen)


def test_hybrid_text_spec():
    check_model_spec("hybrid-text:zero-shot")
    with pytest.raises(InputError, match="one base model"):
        check_model_spec("hybrid-text:hybrid:zero-shot")
    for spec in ("hybrid:tfidf-char", "hybrid-text:paper-pairwise", "asnorm:tfidf-char"):
        with pytest.raises(InputError, match="dense embedding model"):
            check_model_spec(spec)
    h = resolve_model("hybrid-text:zero-shot")
    assert isinstance(h, Hybrid)
    assert not h.use_location
    assert resolve_model("hybrid:zero-shot").use_location


def test_eval_data_keeps_the_location_column(located, tmp_path):
    from adowner.evaluation.data import load_eval_data

    for name in ("train", "val", "test"):
        df = located[name].copy()
        if name == "test":
            df.loc[df.index[0], "location"] = None
        df.to_parquet(tmp_path / f"{name}.parquet", index=False)
    data = load_eval_data(str(tmp_path))
    assert data.val["location"].tolist() == located["val"]["location"].tolist()
    assert pd.isna(data.test["location"].iloc[0])
    h = Hybrid(Noise())
    h.fit(data.train, data.val)
    assert h.uses_locations
