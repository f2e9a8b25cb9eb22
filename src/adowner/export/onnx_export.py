"""Export the encoder to ONNX: ``(input_ids, attention_mask) -> embedding`` (L2-normalised).

The graph holds the whole network, backbone, mean pooling, optional projection and L2 norm, so
ONNX Runtime alone embeds tokenised text. Batch and sequence axes are dynamic. It uses
PyTorch's TorchScript-based exporter (``dynamo=False``): it runs offline, takes seconds, and its
graph is what ONNX Runtime's BERT fusions (SkipLayerNorm, BiasGelu) recognise. The export is
checked against PyTorch by :func:`parity` (cosine per ad; the tests require >= 0.9999).

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

OPSET = 17


def export_onnx(encoder: Any, path: Path) -> Path:
    """Write ``encoder`` (network only, no tokenizer) to ``path`` as ONNX."""
    import torch

    encoder = encoder.eval()
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
    return path


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
        got = got / np.linalg.norm(got, axis=1, keepdims=True)
        cosines.append(np.einsum("ij,ij->i", ref, got))
    cos = np.concatenate(cosines)
    return {"texts": len(cos), "min_cosine": float(cos.min()), "mean_cosine": float(cos.mean())}
