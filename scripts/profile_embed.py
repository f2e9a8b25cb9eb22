"""Where the embedding time goes: ONNX Runtime's per-operator profile of an exported model.

Runs the exported graph (``model_ort.onnx``, else ``model.onnx``) on one core, single-threaded,
over the same length-sorted batches ``adowner.load(DIR).embed`` makes (512 padded word pieces,
at most 8 ads), with ONNX Runtime's profiler on, and prints ads/s, the share of each operator
type and, for a graph whose attention core is one ``MultiHeadAttention`` operator (so that
every ``MatMul`` is a linear layer), the linear layers' achieved GFLOP/s.

``--graph FILE`` (repeatable) profiles other graphs; ``--variants`` adds two written here from
``model.onnx`` by ONNX Runtime's transformer optimizer: ``MultiHeadAttention`` instead of
``Attention``, and the same without the key padding mask (its flash-attention path; exact only
for batches of equal-length ads, so a timing probe, not a usable model).

Usage
    python scripts/profile_embed.py --model runs/export/adowner-minilm-agora --n 256
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_embed import agora_texts, file_texts


def write_variants(onnx_path: Path, tmp: Path, hidden: int, cfg: dict) -> list[str]:
    """MultiHeadAttention graph, and the same with the padding mask dropped (flash path)."""
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    options = FusionOptions("bert")
    options.use_multi_head_attention = True
    model = optimize_model(
        str(onnx_path),
        model_type="bert",
        num_heads=cfg["num_attention_heads"],
        hidden_size=hidden,
        optimization_options=options,
        opt_level=0,
    )
    mha = tmp / "mha.onnx"
    model.save_model_to_file(str(mha))
    for node in model.model.graph.node:
        if node.op_type == "MultiHeadAttention":
            del node.input[4:]  # query, key, value, bias; no key_padding_mask
    nomask = tmp / "mha_nomask.onnx"
    model.save_model_to_file(str(nomask))
    return [str(mha), str(nomask)]


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--model", required=True, help="exported model folder (with --onnx)")
    ap.add_argument("--texts", default="agora", help="'agora' or a Parquet/CSV with a text column")
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--graph", action="append", help="ONNX file(s) to profile instead")
    ap.add_argument("--variants", action="store_true", help="also the MHA and no-mask graphs")
    args = ap.parse_args()

    import onnxruntime as ort

    import adowner

    folder = Path(args.model)
    enc = adowner.load(folder, backend="onnx", threads=1)
    raw = (
        agora_texts(args.n, args.seed)
        if args.texts == "agora"
        else file_texts(Path(args.texts), args.n, args.seed)
    )
    texts = enc.normalize(raw)
    encodings = enc.tokenizer.encode_batch(texts)
    lengths = np.array([len(e.ids) for e in encodings])
    order = np.argsort(-lengths, kind="stable")
    batches = []
    for idx in enc._batches(order, lengths):
        width = int(lengths[idx[0]])
        ids = np.full((len(idx), width), enc.pad_id, dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, k in enumerate(idx):
            ids[row, : lengths[k]] = encodings[k].ids
            mask[row, : lengths[k]] = 1
        batches.append((ids, mask))
    tokens = sum(int(b[0].size) for b in batches)
    print(
        f"{len(texts)} ads, {len(batches)} batches, {tokens} padded word pieces "
        f"({lengths.sum()} real), median {np.median(lengths):.0f} a text"
    )
    cfg = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    hidden, inter, layers = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"]
    linear_flop = 2 * tokens * layers * (4 * hidden * hidden + 2 * hidden * inter)

    graphs = args.graph or [
        str(folder / ("model_ort.onnx" if (folder / "model_ort.onnx").is_file() else "model.onnx"))
    ]
    with tempfile.TemporaryDirectory() as tmp:
        if args.variants:
            graphs += write_variants(folder / "model.onnx", Path(tmp), hidden, cfg)
        for graph in graphs:
            opts = ort.SessionOptions()
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            opts.intra_op_num_threads = 1
            opts.inter_op_num_threads = 1
            session = ort.InferenceSession(graph, opts, providers=["CPUExecutionProvider"])

            def run(sess: ort.InferenceSession) -> None:
                names = {i.name for i in sess.get_inputs()}
                for ids, mask in batches:
                    feed = {"input_ids": ids, "attention_mask": mask}
                    if "token_type_ids" in names:
                        feed["token_type_ids"] = np.zeros_like(ids)
                    sess.run(None, feed)

            run(session)  # warm-up
            t0 = time.perf_counter()
            run(session)
            seconds = time.perf_counter() - t0
            opts.enable_profiling = True
            opts.profile_file_prefix = str(Path(tmp) / "profile")
            profiled = ort.InferenceSession(graph, opts, providers=["CPUExecutionProvider"])
            run(profiled)
            events = json.loads(Path(profiled.end_profiling()).read_text(encoding="utf-8"))
            per_op: Counter[str] = Counter()
            for e in events:
                if e.get("cat") == "Node":
                    per_op[e["args"].get("op_name", "?")] += int(e["dur"])
            total = sum(per_op.values())
            print(f"\n{graph}: {len(texts) / seconds:.1f} ads/s on one core ({seconds:.2f} s)")
            for op, us in per_op.most_common(8):
                print(f"  {op:28s} {100 * us / total:5.1f}%")
            gemm_us = sum(
                us for op, us in per_op.items() if op in {"MatMul", "Gemm", "FusedMatMul"}
            )
            if per_op.get("Attention"):
                print("  (Attention includes the QKV projection)")
            elif per_op.get("MultiHeadAttention") and gemm_us:
                # only there are the MatMuls exactly the linear layers (QKV, output, FFN)
                print(
                    f"  linear layers: {linear_flop / (gemm_us / 1e6) / 1e9:.0f} GFLOP/s achieved"
                )


if __name__ == "__main__":
    main()
