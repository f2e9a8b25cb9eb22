"""Write an exported model folder that loads in adowner, sentence-transformers and transformers.

Layout (the contract in ``docs/ARCHITECTURE.md``)::

    DIR/
      config.json, model.safetensors        the Hugging Face backbone (AutoModel loads it)
      tokenizer.json, tokenizer_config.json, vocab.txt, special_tokens_map.json
      modules.json, sentence_bert_config.json, config_sentence_transformers.json
      1_Pooling/config.json                 mean pooling
      2_Dense/{config.json,model.safetensors}   only when the model has a projection head
      3_Normalize/                          L2 normalisation (numbered 2_ without a head)
      adowner.json                          normalisation, thresholds, dimension, max length
      model.onnx                            with --onnx: ids, mask -> L2-normalised embedding
      README.md                             the model card

``SentenceTransformer(DIR)`` gives the same embeddings as ``adowner.load(DIR).embed`` for text
that has already been style-normalised (ST does not know about the normalisation).

The Hugging Face and sentence-transformers files are written by
:meth:`adowner.model.encoder.AuthorshipEncoder.save_pretrained` (one writer for that layout);
this module adds ``adowner.json`` and ``config_sentence_transformers.json``.

``adowner.json`` keys: ``format``, ``format_version``, ``adowner_version``, ``model_id``,
``source_checkpoint``, ``backbone``, ``embedding_dim``, ``max_length``, ``pooling``,
``projection``, ``pad_token_id``, ``normalization`` (``StyleNormalizer.to_dict()``),
``thresholds`` (a list of ``{"fpr", "threshold", "tpr", "achieved_fpr"}``), ``calibration``
(how the thresholds were chosen) and ``onnx`` (file name and parity, or null).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from adowner import __version__
from adowner._io import write_json
from adowner.export.inference import CONFIG_NAME

FORMAT_VERSION = 1


def write_folder(encoder: Any, out: Path, *, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write an :class:`AuthorshipEncoder` into ``out`` with its ``adowner.json``.

    ``out`` should be a temporary folder (see :func:`adowner._io.atomic_dir`). Returns the
    ``adowner.json`` content written (no thresholds yet; see :mod:`adowner.export.calibrate`).
    """
    import sentence_transformers
    import torch
    import transformers

    encoder.save_pretrained(out)
    if not (out / "tokenizer.json").is_file():
        raise ValueError("the tokenizer is not a fast tokenizer (no tokenizer.json written)")
    write_json(
        {
            "__version__": {
                "sentence_transformers": sentence_transformers.__version__,
                "transformers": transformers.__version__,
                "pytorch": torch.__version__,
            },
            "prompts": {},
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
        out / "config_sentence_transformers.json",
    )
    config = {
        "format": "adowner-model",
        "format_version": FORMAT_VERSION,
        "adowner_version": __version__,
        "model_id": out.name,
        "backbone": encoder.backbone_name,
        **(meta or {}),
        "embedding_dim": int(encoder.embedding_dim),
        "max_length": int(encoder.max_length),
        "pooling": "mean",
        "projection": encoder.projection is not None,
        "l2_normalized": True,
        "pad_token_id": int(encoder.tokenizer.pad_token_id or 0),
        "normalization": encoder.normalizer.to_dict(),
        "thresholds": [],
        "calibration": None,
        "onnx": None,
    }
    write_json(config, out / CONFIG_NAME)
    return config


def update_config(folder: Path, **changes: Any) -> dict[str, Any]:
    """Rewrite ``adowner.json`` with some keys changed."""
    path = folder / CONFIG_NAME
    config: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    config.update(changes)
    write_json(config, path)
    return config
