"""``zero-shot``: the base transformer without fine-tuning, mean-pooled (the floor a fine-tuned
model must beat).

Loads a Hugging Face encoder (default: the packaged ``sentence-transformers/all-MiniLM-L6-v2``
via :func:`adowner.backbones.resolve_backbone`; ``zero-shot:PATH`` for another folder), embeds
at most 256 tokens per ad, mean-pools the last hidden states over the attention mask and
L2-normalises (the sentence-transformers recipe for MiniLM). Ads are batched by sorted length
so that padding stays small. Weights load from safetensors (``use_safetensors=True``).

==============  ===========  ===================================================
input           type         meaning
==============  ===========  ===================================================
``backbone``    str          ``minilm`` or a Hugging Face folder
``max_length``  int          token cut (256)
``embed``       list[str]    ads → float32 (n, hidden), L2-normalised
==============  ===========  ===================================================

Example::

    ZeroShot().embed(["Sweet Sara, new in town", "Sara is back!!"]).shape
    # -> (2, 384)
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from adowner.backbones import resolve_backbone
from adowner.progress import track
from adowner.scoring.vectors import mean_pool


class ZeroShot:
    """The ``zero-shot`` baseline: an embedder (:class:`adowner.evaluation.scorer.Embedder`)."""

    name = "zero-shot"
    learns = False
    pairwise: Literal[False] = False

    def __init__(self, backbone: str = "minilm", max_length: int = 256, batch_size: int = 32):
        self.backbone, self.max_length, self.batch_size = backbone, max_length, batch_size
        self._model: Any = None
        self._tokenizer: Any = None
        self.notes: list[str] = []

    def fit(self, train_df: Any, val_df: Any = None) -> None:
        """Nothing to fit: the backbone is used as it is."""

    def _load(self) -> None:
        from transformers import AutoModel, AutoTokenizer

        path = resolve_backbone(self.backbone)
        self._tokenizer = AutoTokenizer.from_pretrained(path)
        self._model = AutoModel.from_pretrained(path, use_safetensors=True).eval()

    def embed(self, texts: list[str], *, progress: bool = False) -> np.ndarray:
        import torch

        if self._model is None:
            self._load()
        assert self._model is not None
        assert self._tokenizer is not None
        texts = [t or "" for t in texts]
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out = None
        with torch.inference_mode():
            for s in track(
                range(0, len(texts), self.batch_size), "zero-shot embedding", disable=not progress
            ):
                idx = order[s : s + self.batch_size]
                batch = self._tokenizer(
                    [texts[k] for k in idx],
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                )
                hidden = self._model(**batch).last_hidden_state
                pooled = mean_pool(hidden, batch["attention_mask"])
                vec = torch.nn.functional.normalize(pooled, dim=1).float().numpy()
                if out is None:
                    out = np.zeros((len(texts), vec.shape[1]), dtype=np.float32)
                out[idx] = vec
        return out if out is not None else np.zeros((0, 1), dtype=np.float32)
