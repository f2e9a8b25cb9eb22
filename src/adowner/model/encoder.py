"""The authorship encoder: a Hugging Face backbone, mean pooling, an optional projection, L2 norm.

Architecture of LUAR (Rivera-Soto et al., EMNLP 2021) and IDTraffickers (Saxena et al.,
EMNLP 2023) at the single-ad level: token states from a transformer, averaged over the attention
mask (Reimers & Gurevych, Sentence-BERT, 2019), optionally projected, and normalised so that the
dot product is the cosine (the embedding contract of ``docs/ARCHITECTURE.md``).

==================  =====================================================================
input               meaning
==================  =====================================================================
``backbone``        Hugging Face model name or folder; the packaged all-MiniLM-L6-v2 by
                    default (resolved by :func:`adowner.backbones.resolve_backbone`)
``projection_dim``  output size of a Linear head on the pooled vector, or None for no head
``normalizer``      :class:`adowner.text.normalize.StyleNormalizer` settings (dict) or None
``max_length``      tokens kept per ad (256: real ads run long, see DESIGN.md)
==================  =====================================================================

``forward(input_ids, attention_mask) -> (batch, embedding_dim)`` float tensor, L2-normalised.
``embed(texts) -> np.ndarray`` float32, one row per text, in input order.

Saved folder layout (``save_pretrained``; safetensors only, nothing is pickled)::

    config.json, model.safetensors, tokenizer files   the backbone, at the folder root
    adowner_encoder.json                              pooling, projection, normaliser, max_length
    modules.json, sentence_bert_config.json,          the sentence-transformers layout, so that
    1_Pooling/config.json, [2_Dense/], 3_Normalize/   ``SentenceTransformer(dir)`` loads the same
                                                      network (it does not apply the normaliser:
                                                      callers normalise text first)

``2_Dense/`` (only with a projection) holds ``config.json`` and ``model.safetensors`` with the
keys ``linear.weight``/``linear.bias``, which is the file layout of sentence-transformers' ``Dense``
module with an identity activation.

The layout is written here, not by ``SentenceTransformer(modules=[...]).save``: from
sentence-transformers 5.4 that save records its own new module paths
(``sentence_transformers.base.modules.transformer.Transformer``, ...) and pooling keys
(``embedding_dimension``, ``pooling_mode``), which the 3.0-5.3 releases this package supports
cannot load; the ``sentence_transformers.models.*`` names written here load in all of them
(6.3 included, ``tests/test_model_encoder.py``).

Example::

    enc = AuthorshipEncoder("minilm", projection_dim=None)
    vecs = enc.embed(["HOT new girl in town", "call me now"])   # (2, 384) float32
    enc.save_pretrained("runs/x/encoder"); AuthorshipEncoder.from_pretrained("runs/x/encoder")
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from adowner.backbones import DEFAULT_BACKBONE, resolve_backbone
from adowner.errors import InputError
from adowner.scoring.vectors import mean_pool
from adowner.text.normalize import StyleNormalizer

ENCODER_CONFIG = "adowner_encoder.json"


class AuthorshipEncoder(nn.Module):
    """Backbone + mean pooling + optional Linear projection + L2 normalisation."""

    def __init__(
        self,
        backbone: str = DEFAULT_BACKBONE,
        *,
        projection_dim: int | None = None,
        normalizer: Mapping[str, Any] | StyleNormalizer | None = None,
        max_length: int = 256,
    ) -> None:
        super().__init__()
        from transformers import AutoModel, AutoTokenizer

        path = resolve_backbone(backbone)
        try:
            self.backbone = AutoModel.from_pretrained(path)
            self.tokenizer = AutoTokenizer.from_pretrained(path)
        except OSError as exc:
            raise InputError(f"cannot load the backbone: {exc}", path=path) from exc
        self.backbone_name = backbone
        # BERT-style backbones carry a [CLS] pooler that mean pooling never uses: freeze it, or
        # DDP fails on parameters without gradients.
        pooler = getattr(self.backbone, "pooler", None)
        if isinstance(pooler, nn.Module):
            pooler.requires_grad_(False)
        self.normalizer = (
            normalizer if isinstance(normalizer, StyleNormalizer) else StyleNormalizer(normalizer)
        )
        self.max_length = int(max_length)
        hidden = int(self.backbone.config.hidden_size)
        self.projection: nn.Linear | None = (
            nn.Linear(hidden, int(projection_dim)) if projection_dim else None
        )
        self.embedding_dim = int(projection_dim) if projection_dim else hidden

    # ------------------------------------------------------------------ network
    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        states = self.backbone(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return self._pool(states, attention_mask)

    def _pool(self, states: Tensor, attention_mask: Tensor) -> Tensor:
        """Mean over the real tokens, the optional projection, then the L2 norm (fp32 out)."""
        pooled = mean_pool(states, attention_mask)
        if self.projection is not None:
            pooled = self.projection(pooled)
        return nn.functional.normalize(pooled.float(), p=2, dim=-1)

    def tokenize(self, texts: Sequence[str], *, normalize_text: bool = True) -> dict[str, Tensor]:
        """Normalise (optionally) and tokenise a batch, padded to its longest row."""
        if normalize_text:
            texts = self.normalizer.normalize_batch(texts)
        return dict(
            self.tokenizer(
                list(texts),
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            )
        )

    @torch.inference_mode()
    def embed(
        self,
        texts: Sequence[str],
        batch_size: int = 64,
        normalize_text: bool = True,
        *,
        progress: bool = False,
        precision: str = "auto",
    ) -> np.ndarray:
        """Embed texts in batches of similar length; float32 rows in input order.

        ``precision``: ``"auto"`` runs the backbone under bf16 autocast on a CPU with native bf16
        (AVX-512 BF16 or AMX) and fp16 on CUDA, else fp32 (:func:`adowner.hardware.
        resolve_precision`); pooling, head and norm stay fp32. Measured min cosine against fp32
        on real escort ads: see docs/BENCHMARKS.md ("Evaluation embedding in bf16").
        """
        from adowner.hardware import resolve_precision
        from adowner.progress import track

        texts = [t or "" for t in texts]
        if normalize_text:
            texts = self.normalizer.normalize_batch(texts)
        out = np.zeros((len(texts), self.embedding_dim), dtype=np.float32)
        if not texts:
            return out
        was_training = self.training
        self.eval()
        device = next(self.parameters()).device
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(
            resolve_precision(precision, str(device))
        )
        autocast = torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)
        order = np.argsort([-len(t) for t in texts], kind="stable")
        starts = range(0, len(texts), batch_size)
        for start in track(starts, "embedding", disable=not progress):
            idx = order[start : start + batch_size]
            batch = self.tokenize([texts[i] for i in idx], normalize_text=False)
            ids, mask = batch["input_ids"].to(device), batch["attention_mask"].to(device)
            with autocast:
                states = self.backbone(input_ids=ids, attention_mask=mask).last_hidden_state
            vecs = self._pool(states.float(), mask)
            out[idx] = vecs.cpu().numpy()
        self.train(was_training)
        return out

    # ------------------------------------------------------------------ persistence
    def config_dict(self) -> dict[str, Any]:
        """What ``adowner_encoder.json`` holds."""
        return {
            "backbone": self.backbone_name,
            "pooling": "mean",
            "projection_dim": self.projection.out_features if self.projection else None,
            "embedding_dim": self.embedding_dim,
            "normalize_embeddings": True,
            "max_length": self.max_length,
            "normalizer": self.normalizer.to_dict(),
        }

    def save_pretrained(self, out_dir: str | Path) -> Path:
        """Write the folder described in the module docstring (safetensors only)."""
        from safetensors.torch import save_file

        from adowner._io import write_json

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        self.backbone.save_pretrained(str(out), safe_serialization=True)
        self.tokenizer.save_pretrained(str(out))
        write_json(self.config_dict(), out / ENCODER_CONFIG)
        hidden = int(self.backbone.config.hidden_size)
        modules = [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {
                "idx": 1,
                "name": "1",
                "path": "1_Pooling",
                "type": "sentence_transformers.models.Pooling",
            },
        ]
        write_json(
            {"word_embedding_dimension": hidden, "pooling_mode_mean_tokens": True},
            out / "1_Pooling" / "config.json",
        )
        if self.projection is not None:
            dense = out / "2_Dense"
            dense.mkdir(exist_ok=True)
            write_json(
                {
                    "in_features": hidden,
                    "out_features": self.projection.out_features,
                    "bias": True,
                    "activation_function": "torch.nn.modules.linear.Identity",
                },
                dense / "config.json",
            )
            state = {
                "linear.weight": self.projection.weight.detach().cpu().contiguous(),
                "linear.bias": self.projection.bias.detach().cpu().contiguous(),
            }
            save_file(state, str(dense / "model.safetensors"))
            modules.append(
                {
                    "idx": 2,
                    "name": "2",
                    "path": "2_Dense",
                    "type": "sentence_transformers.models.Dense",
                }
            )
        norm_dir = f"{len(modules)}_Normalize"
        modules.append(
            {
                "idx": len(modules),
                "name": str(len(modules)),
                "path": norm_dir,
                "type": "sentence_transformers.models.Normalize",
            }
        )
        (out / norm_dir).mkdir(exist_ok=True)
        write_json(modules, out / "modules.json")
        write_json(
            {"max_seq_length": self.max_length, "do_lower_case": False},
            out / "sentence_bert_config.json",
        )
        return out

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> AuthorshipEncoder:
        """Load a folder written by :meth:`save_pretrained` (weights from safetensors only)."""
        from safetensors.torch import load_file

        folder = Path(folder)
        cfg_path = folder / ENCODER_CONFIG
        if not cfg_path.is_file():
            raise InputError(
                f"not an adowner encoder folder (no {ENCODER_CONFIG})", path=str(folder)
            )
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
        enc = cls(
            str(folder),
            projection_dim=cfg.get("projection_dim"),
            normalizer=cfg.get("normalizer"),
            max_length=int(cfg.get("max_length", 256)),
        )
        enc.backbone_name = cfg.get("backbone", str(folder))
        if enc.projection is not None:
            state = load_file(str(folder / "2_Dense" / "model.safetensors"))
            enc.projection.weight.data.copy_(state["linear.weight"])
            enc.projection.bias.data.copy_(state["linear.bias"])
        return enc.eval()
