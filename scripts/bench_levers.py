"""Measure the inference levers of issue 18 against ``SentenceTransformer.encode``, one run.

Every side embeds the same texts from the same model folder, through ``adowner.Encoder``'s own
batching (length-sorted batches under a token budget, one stream per core), with only the
network swapped; the peer, sentence-transformers ``encode`` (batch 32, fp32 PyTorch), runs in
the same process, interleaved round by round, so the ratio survives a loaded machine. The
minimum cosine of each side against ST's fp32 embedding of the same text is reported (exact:
>= 0.999).

Sides (``--sides``, comma-separated):

* ``default``: ``adowner.load(DIR)`` as a user gets it (``auto``: the fastest exact path);
* ``folder=DIR``: ``adowner.load(DIR)`` of another folder, e.g. a distilled student of
  ``--model`` (speed only: its embedding space is its own, so no cosine is reported);
* ``torch-fp32``, ``torch-bf16``: the PyTorch backend, attention as transformers picks it
  (``sdpa``, ``torch.nn.functional.scaled_dot_product_attention``, in transformers >= 4.36);
* ``torch-bf16-eager``: the same with the attention written out (``attn_implementation="eager"``),
  i.e. the SDPA lever turned off;
* ``torch-bf16-compile``: ``torch.compile(model, dynamic=True)`` on the PyTorch bf16 backend
  (Inductor's CPU code generation; compiled once per shape family during the warm-up);
* ``onnx-fp32``: ONNX Runtime fp32 (fused graph where the folder has one);
* ``onnx-int8``: the opt-in ``model_qint8.onnx`` (not exact by design: judged on authorship
  metrics, docs/RESULTS.md);
* ``openvino-fp32``, ``openvino-bf16``: ``adowner.load(DIR, backend="openvino")``, the folder's
  ``model.onnx`` compiled by OpenVINO with ``INFERENCE_PRECISION_HINT`` f32 / bf16 (bf16 only
  where the CPU has it), one stream and infer request per worker (``:WORKERS[:PAD_MULTIPLE]``
  after the side's name changes the layout).

ONNX Runtime has no bf16 or fp16 matrix kernels on x86 CPUs (its CPU provider runs those types
by casting back to fp32), so no ``onnx-bf16`` side exists.

Usage::

    python scripts/bench_levers.py --model DIR --texts FILE.parquet --n 256 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np


def _cpu() -> dict[str, Any]:
    flags: list[str] = []
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and not model:
                model = line.split(":", 1)[1].strip()
            if line.startswith("flags") and not flags:
                have = set(line.split(":", 1)[1].split())
                flags = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in have]
    except OSError:
        pass
    return {"model": model, "flags": flags, "cores": os.cpu_count()}


def build_side(folder: Path, side: str) -> Any:
    import torch

    import adowner

    if side == "default":
        return adowner.load(folder)
    if side.startswith("folder="):  # another model folder (a distilled student): speed only
        return adowner.load(side.split("=", 1)[1])
    if side == "onnx-fp32":
        return adowner.load(folder, backend="onnx")
    if side == "onnx-int8":  # opt-in, lossy: model_qint8.onnx (export --onnx --int8)
        return adowner.load(folder, precision="int8")
    if side.startswith("torch-"):
        precision = side.split("-")[1]
        enc = adowner.load(folder, backend="torch", precision=precision)
        if side.endswith("-eager"):
            from transformers import AutoModel

            enc._net.model = AutoModel.from_pretrained(
                str(folder), use_safetensors=True, attn_implementation="eager"
            ).eval()
        if side.endswith("-compile"):
            enc._net.model = torch.compile(enc._net.model, dynamic=True)
        return enc
    if side.startswith("openvino-"):
        # openvino-PRECISION[:WORKERS[:PAD_MULTIPLE]]: the library's OpenVINO backend, with
        # its streams (one per worker) and batch widths rounded up (static-ish shapes)
        head, *opts = side.split(":")
        kwargs: dict[str, Any] = {"backend": "openvino", "precision": head.split("-")[1]}
        if opts:
            kwargs["workers"] = int(opts[0])
        if len(opts) > 1:
            kwargs["pad_multiple"] = int(opts[1])
        return adowner.load(folder, **kwargs)
    raise SystemExit(f"unknown side {side!r}")


def attention(sides: dict[str, Any]) -> str | None:
    """The attention implementation transformers chose for the plain PyTorch sides."""
    for s, enc in sides.items():
        if s in ("torch-fp32", "torch-bf16"):
            return str(getattr(enc._net.model.config, "_attn_implementation", None))
    return None


def texts_from(spec: str, n: int, seed: int) -> list[str]:
    import pandas as pd

    df = pd.read_parquet(spec) if spec.endswith(".parquet") else pd.read_csv(spec)
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(df), size=min(n, len(df)), replace=False)
    return df["text"].astype(str).iloc[idx].tolist()


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--model", required=True, help="exported model folder (with model.onnx)")
    ap.add_argument("--texts", required=True, help="Parquet/CSV with a text column")
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument(
        "--sides",
        default="default,torch-fp32,torch-bf16,torch-bf16-eager,torch-bf16-compile,onnx-fp32,"
        "onnx-int8,openvino-fp32,openvino-bf16",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", help="write the figures as JSON here")
    args = ap.parse_args()

    import torch
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    folder = Path(args.model)
    texts = texts_from(args.texts, args.n, args.seed)
    sides: dict[str, Any] = {}
    warm_s: dict[str, float] = {}
    for s in args.sides.split(","):
        t0 = time.perf_counter()
        try:
            sides[s] = build_side(folder, s)
            sides[s].embed(texts)  # warm-up on every shape of the run (compile, kernel choice)
        except (ImportError, RuntimeError) as exc:
            print(f"side {s} skipped: {type(exc).__name__}: {str(exc).splitlines()[0]}")
            sides.pop(s, None)
            continue
        warm_s[s] = round(time.perf_counter() - t0, 1)
    first = next(iter(sides.values()))
    normalized = first.normalize(texts)
    st = SentenceTransformer(str(folder), device="cpu")
    st.encode(normalized[:32], batch_size=32)
    reference = st.encode(normalized, batch_size=32, normalize_embeddings=True)
    lengths = [len(first.tokenizer.encode(t).ids) for t in normalized]
    print(
        f"{len(texts)} texts, word pieces median {np.median(lengths):.0f}; cpu {_cpu()}; "
        f"torch {torch.__version__}, transformers attention {attention(sides)}"
    )
    rates: dict[str, list[float]] = {"sentence-transformers": [], **{s: [] for s in sides}}
    min_cos: dict[str, float] = {}
    loads = []
    for r in range(args.rounds):
        loads.append(round(os.getloadavg()[0], 2))
        torch.set_num_threads(os.cpu_count() or 1)
        t0 = time.perf_counter()
        st.encode(normalized, batch_size=32, normalize_embeddings=True)
        rates["sentence-transformers"].append(len(texts) / (time.perf_counter() - t0))
        for s, enc in sides.items():
            t0 = time.perf_counter()
            emb = enc.embed(texts)
            rates[s].append(len(texts) / (time.perf_counter() - t0))
            if not s.startswith("folder="):
                cos = float(np.einsum("ij,ij->i", emb, reference).min())
                min_cos[s] = min(min_cos.get(s, 1.0), cos)
        print(
            f"round {r + 1} (load {loads[-1]}): "
            + ", ".join(f"{k} {v[-1]:.1f}/s" for k, v in rates.items())
        )
    st_rates = np.array(rates["sentence-transformers"])
    summary: dict[str, Any] = {
        "model": str(folder),
        "texts": args.texts,
        "n": len(texts),
        "median_word_pieces": float(np.median(lengths)),
        "cpu": _cpu(),
        "torch": torch.__version__,
        "attention": attention(sides),
        "load_1min_at_round_start": loads,
        "warm_up_s": warm_s,
        "ads_per_s": {k: [round(x, 1) for x in v] for k, v in rates.items()},
        "ratio_vs_st": {},
        "min_cosine_vs_st_fp32": {k: round(v, 6) for k, v in min_cos.items()},
        "path": {s: getattr(e, "path", None) and e.path.name for s, e in sides.items()},
    }
    for s in sides:
        ratio = np.array(rates[s]) / st_rates
        summary["ratio_vs_st"][s] = {
            "median": round(float(np.median(ratio)), 2),
            "min": round(float(ratio.min()), 2),
            "max": round(float(ratio.max()), 2),
        }
    print(json.dumps(summary, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
