"""Behaviour of the style-preserving normaliser."""

from __future__ import annotations

import pytest

from adowner.text.normalize import NormalizerConfig, StyleNormalizer


def test_markers_case_emoji_newlines_and_runs() -> None:
    out = StyleNormalizer()("HOT new girl in Town!!!!!! 😘😘\ncall now sooooo")
    assert out == "^ HOT new girl in ¬ Town!!! ¤ throwing kiss ¤ throwing kiss ¶ call now sooo"


def test_sentence_start_capitals_and_pronoun_i_are_not_marked() -> None:
    assert StyleNormalizer()("Hello there. Nice day, I think") == "Hello there. Nice day, I think"


def test_disabled_is_identity_and_rules_switch_off() -> None:
    text = "HOT Town!!!!! 😘\nx"
    assert StyleNormalizer({"enabled": False})(text) == text
    cfg = {"caps_marker": "", "title_marker": "", "newline_marker": "", "emoji": "keep"}
    assert StyleNormalizer(cfg)(text) == "HOT Town!!! 😘\nx"
    assert StyleNormalizer({"emoji": "drop"})("a 😘 b") == "a b"


def test_skin_tones_and_variation_selectors_are_dropped() -> None:
    assert StyleNormalizer()("ok 👍🏽 ❤️") == "ok ¤ thumbs up ¤ heart"


def test_round_trip_and_bad_settings() -> None:
    norm = StyleNormalizer({"max_letter_run": 2})
    again = StyleNormalizer.from_dict(norm.to_dict())
    assert again.config == norm.config == NormalizerConfig(max_letter_run=2)
    with pytest.raises(ValueError, match="unknown"):
        StyleNormalizer({"nope": 1})
    with pytest.raises(ValueError, match="emoji"):
        StyleNormalizer({"emoji": "spell"})


def test_batch_handles_none_and_empty() -> None:
    assert StyleNormalizer().normalize_batch(["", None, "A"]) == ["", "", "A"]  # type: ignore[list-item]


def test_markers_are_single_word_pieces_for_minilm() -> None:
    from transformers import AutoTokenizer

    from adowner.backbones import packaged_minilm_path

    tok = AutoTokenizer.from_pretrained(str(packaged_minilm_path()))
    cfg = NormalizerConfig()
    for marker in (cfg.caps_marker, cfg.title_marker, cfg.emoji_marker, cfg.newline_marker):
        assert tok.tokenize(f"{marker} x") == [marker, "x"]
    assert "[UNK]" not in tok.tokenize(StyleNormalizer()("hi 😘🔥💋 ✨"))
