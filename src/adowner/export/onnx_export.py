"""Export the encoder to ONNX: ``(input_ids, attention_mask) -> embedding`` (L2-normalised).

The graph holds the whole network, backbone, mean pooling, optional projection and L2 norm, so
ONNX Runtime alone embeds tokenised text. Batch and sequence axes are dynamic. It uses
PyTorch's TorchScript-based exporter (``dynamo=False``): it runs offline and takes seconds.
Attention is traced in its "eager" form (matmul, softmax, matmul), the pattern that ONNX
Runtime's transformer optimizer recognises: :func:`fuse_for_ort` rewrites the graph with its
fused BERT operators (Attention, EmbedLayerNormalization, SkipLayerNormalization, BiasGelu)
into a second file, which only ONNX Runtime runs; ``model.onnx`` stays standard ONNX.
Both are checked against PyTorch by :func:`parity` (cosine per ad; the export requires
>= 0.9999).

=================  ==============================================================
input              meaning
=================  ==============================================================
``encoder``        an :class:`adowner.model.encoder.AuthorshipEncoder` (eval mode)
``path``           where to write ``model.onnx``
=================  ==============================================================

Example::

    export_onnx(encoder, Path("DIR/model.onnx"))
    parity(encoder, Path("DIR/model.onnx"), ["some normalised ad text", "another"])
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from adowner.scoring.vectors import l2_normalise

OPSET = 17


def export_onnx(encoder: Any, path: Path) -> Path:
    """Write ``encoder`` (network only, no tokenizer) to ``path`` as ONNX."""
    import torch

    encoder = encoder.eval()
    backbone = encoder.backbone
    attn = getattr(backbone.config, "_attn_implementation", None)
    if attn not in (None, "eager"):
        backbone.set_attn_implementation("eager")
    sample = encoder.tokenize(
        ["a short ad", "a somewhat longer ad text for tracing"], normalize_text=False
    )
    axes = {0: "batch", 1: "sequence"}
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")  # tracer and deprecation chatter; parity is tested instead
        torch.onnx.export(
            encoder,
            (sample["input_ids"], sample["attention_mask"]),
            str(path),
            input_names=["input_ids", "attention_mask"],
            output_names=["embedding"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "embedding": {0: "batch"}},
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )
    if attn not in (None, "eager"):
        backbone.set_attn_implementation(attn)
    return path


def fuse_for_ort(encoder: Any, path: Path, out: Path) -> Path | None:
    """Write ``path`` with ONNX Runtime's fused BERT operators to ``out`` (None if not BERT-like)."""
    from onnxruntime.transformers.optimizer import optimize_model

    cfg = encoder.backbone.config
    if getattr(cfg, "model_type", None) not in {"bert", "roberta", "distilbert", "xlm-roberta"}:
        return None
    model = optimize_model(
        str(path),
        model_type="bert",
        num_heads=int(cfg.num_attention_heads),
        hidden_size=int(cfg.hidden_size),
    )
    model.save_model_to_file(str(out))
    return out


def quantize_int8(path: Path, out: Path) -> Path:
    """Write ``path`` with dynamic int8 weights to ``out`` (opt-in: ``export --onnx --int8``).

    ONNX Runtime's ``quantize_dynamic``: MatMul weights int8, per output channel (one scale
    per column, which keeps the small-magnitude columns of a BERT's projections from being
    rounded to zero by one per-tensor scale); activations are quantised at run time (uint8,
    per batch). The same call as sentence-transformers'
    ``export_dynamic_quantized_onnx_model`` (``QuantizationConfig.avx512_vnni`` /
    ``avx2``: per-channel, QInt8 weights, MatMul only). Source:
    https://onnxruntime.ai/docs/performance/model-optimizations/quantization.html and
    https://sbert.net/docs/sentence_transformer/usage/efficiency.html. It quantises the
    standard ``model.onnx`` (the fused graph's contrib operators are not all quantisable).
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(path),
        str(out),
        per_channel=True,
        reduce_range=False,
        weight_type=QuantType.QInt8,
        op_types_to_quantize=["MatMul"],
    )
    return out


def parity(
    encoder: Any, path: Path, texts: Sequence[str], batch_size: int = 16
) -> dict[str, float]:
    """Cosine between ONNX Runtime and PyTorch embeddings of already-normalised ``texts``."""
    import onnxruntime as ort
    import torch

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    cosines = []
    for start in range(0, len(texts), batch_size):
        batch = encoder.tokenize(list(texts[start : start + batch_size]), normalize_text=False)
        with torch.inference_mode():
            ref = encoder(batch["input_ids"], batch["attention_mask"]).numpy()
        got = session.run(
            None,
            {
                "input_ids": batch["input_ids"].numpy().astype(np.int64),
                "attention_mask": batch["attention_mask"].numpy().astype(np.int64),
            },
        )[0]
        got = l2_normalise(got)
        cosines.append(np.einsum("ij,ij->i", ref, got))
    cos = np.concatenate(cosines)
    return {"texts": len(cos), "min_cosine": float(cos.min()), "mean_cosine": float(cos.mean())}
