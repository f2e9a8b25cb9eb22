"""The authorship encoder: shapes, norms, order, and a folder that loads anywhere."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from adowner.errors import InputError
from adowner.model.encoder import AuthorshipEncoder

TEXTS = ["HOT new girl in town 😘", "call me", "a much longer ad " * 20, "x"]


def test_embed_is_normalised_float32_in_input_order(tiny_backbone) -> None:
    enc = AuthorshipEncoder(str(tiny_backbone), projection_dim=8, max_length=32)
    vecs = enc.embed(TEXTS, batch_size=2)
    assert vecs.shape == (4, 8)
    assert vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    one_by_one = np.vstack([enc.embed([t]) for t in TEXTS])
    np.testing.assert_allclose(vecs, one_by_one, atol=1e-5)
    assert enc.embed([]).shape == (0, 8)


def test_normalisation_changes_what_the_model_sees(tiny_backbone) -> None:
    enc = AuthorshipEncoder(str(tiny_backbone), max_length=32)
    a = enc.embed(["HELLO there"], normalize_text=True)
    b = enc.embed(["HELLO there"], normalize_text=False)
    assert enc.embedding_dim == 32
    assert not np.allclose(a, b)


def test_save_and_load_round_trip_and_sentence_transformers(tiny_backbone, tmp_path) -> None:
    enc = AuthorshipEncoder(
        str(tiny_backbone), projection_dim=8, normalizer={"max_letter_run": 2}, max_length=40
    )
    with torch.no_grad():
        enc.projection.weight.mul_(3.0)
    folder = enc.save_pretrained(tmp_path / "enc")
    cfg = json.loads((folder / "adowner_encoder.json").read_text())
    assert cfg["projection_dim"] == 8
    assert cfg["max_length"] == 40
    assert cfg["normalizer"]["max_letter_run"] == 2
    assert not list(folder.rglob("*.bin"))
    again = AuthorshipEncoder.from_pretrained(folder)
    np.testing.assert_allclose(again.embed(TEXTS), enc.embed(TEXTS), atol=1e-6)
    exact = enc.embed(TEXTS, precision="fp32")  # sentence-transformers runs fp32

    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(folder), device="cpu")
    got = st.encode(enc.normalizer.normalize_batch(TEXTS))
    np.testing.assert_allclose(got, exact, atol=1e-5)


def test_missing_folder_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(InputError, match=r"adowner_encoder\.json"):
        AuthorshipEncoder.from_pretrained(tmp_path)


def test_embed_precision_auto_follows_the_cpu(tiny_backbone, monkeypatch) -> None:
    """auto embeds in fp32 without native bf16 and under bf16 autocast with it; bf16 stays
    close to fp32 and comes back normalised float32."""
    from adowner import hardware

    enc = AuthorshipEncoder(str(tiny_backbone), max_length=32)
    texts = ["sweet Ana in town 555-0142 ~~", "new girl!! call me", "", "Ana again ~~ tonight"]
    fp32 = enc.embed(texts, precision="fp32")
    monkeypatch.setattr(hardware, "native_bf16_cpu", lambda: False)
    np.testing.assert_array_equal(enc.embed(texts), fp32)
    bf16 = enc.embed(texts, precision="bf16")
    assert bf16.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(bf16, axis=1), 1.0, atol=1e-5)
    assert not np.array_equal(bf16, fp32)  # it did run in another precision
    assert (np.sum(bf16 * fp32, axis=1) > 0.99).all()
    monkeypatch.setattr(hardware, "native_bf16_cpu", lambda: True)
    np.testing.assert_array_equal(enc.embed(texts), bf16)
    assert enc.training  # embed leaves the training flag as it was


def test_forward_and_embed_agree_in_fp32(tiny_backbone) -> None:
    enc = AuthorshipEncoder(str(tiny_backbone), max_length=32).eval()
    texts = ["a short ad", "a somewhat longer ad with more words in it"]
    batch = enc.tokenize(texts)
    with torch.inference_mode():
        direct = enc(batch["input_ids"], batch["attention_mask"]).numpy()
    np.testing.assert_allclose(enc.embed(texts, precision="fp32"), direct, atol=1e-6)
