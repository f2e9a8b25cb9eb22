"""Benchmark embedding throughput: ``adowner.load(DIR).embed`` against sentence-transformers.

What it measures
    Ads per second of (a) ``SentenceTransformer(DIR).encode`` (batch 32, its default; it sorts
    by length itself) and (b) ``adowner.load(DIR, backend=...).embed`` for each backend asked
    for, on the same model folder and the same texts, in one process, interleaved round by round
    (ST, then each backend, then ST again, ...) so that the load of a shared machine hits every
    side alike. The ratio is taken per round (ours / ST of the same round); the median, min and
    max over rounds are reported. Every adowner embedding is compared with ST's fp32 PyTorch
    embedding of the same text: the minimum cosine is reported (must be >= 0.999).

    ST gets texts that are already style-normalised; adowner normalises them itself inside the
    timed call (so adowner does strictly more work).

Texts
    ``--texts agora`` (default): real Agora listings (``ADOWNER_SHARED_DATA``), one to three
    listings of one vendor joined, which gives real-ad lengths (median ~110 word pieces, a
    third over 128, cut at 256); ``--texts agora-crawl``: every listing of some vendors from all
    four scrapes in the file (reposts repeat word for word, as in a real crawl); or ``--texts FILE`` (Parquet/CSV with a ``text`` column, e.g. the
    simulator's ads). ``--model minilm`` exports the packaged all-MiniLM-L6-v2 (untuned) to a
    temporary folder first (with ONNX).

Usage
    python scripts/bench_embed.py --model runs/export/adowner-minilm-agora --n 512 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np


def agora_texts(n: int, seed: int) -> list[str]:
    import pandas as pd

    root = Path(
        os.environ.get(
            "ADOWNER_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"
        )
    )
    df = pd.read_csv(root / "authorship" / "agora_vendor_listings_2014-01.csv")
    df["t"] = df["product"].astype(str) + "\n" + df["description"].astype(str)
    by_vendor = [g["t"].tolist() for _, g in df.groupby("vendor")]
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        listings = by_vendor[rng.integers(len(by_vendor))]
        k = int(rng.integers(1, 4))
        out.append("\n\n".join(rng.choice(listings, size=min(k, len(listings)), replace=False)))
    return out


def agora_crawl_texts(n: int, seed: int) -> list[str]:
    """Every listing, from every scrape date, of randomly chosen vendors, until ``n`` rows.

    The file holds four scrapes of the market, so a vendor's listings repeat word for word
    across scrapes: the duplication an ads crawl really has (8,533 rows, 3,527 distinct texts).
    """
    import pandas as pd

    root = Path(
        os.environ.get(
            "ADOWNER_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"
        )
    )
    df = pd.read_csv(root / "authorship" / "agora_vendor_listings_2014-01.csv")
    df["t"] = df["product"].astype(str) + "\n" + df["description"].astype(str)
    vendors = list(df["vendor"].drop_duplicates())
    np.random.default_rng(seed).shuffle(vendors)
    out: list[str] = []
    for vendor in vendors:
        out += df.loc[df["vendor"] == vendor, "t"].tolist()
        if len(out) >= n:
            break
    return out[:n]


def file_texts(path: Path, n: int, seed: int) -> list[str]:
    import pandas as pd

    df = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    texts = df["text"].dropna().astype(str)
    return texts.sample(n=min(n, len(texts)), random_state=seed).tolist()


def export_minilm(out: Path) -> Path:
    """The packaged MiniLM as an exported folder (no thresholds), with ONNX."""
    from adowner.export.folder import update_config, write_folder
    from adowner.export.onnx_export import export_onnx
    from adowner.model.encoder import AuthorshipEncoder

    enc = AuthorshipEncoder("minilm").eval()
    write_folder(enc, out, meta={"model_id": "all-MiniLM-L6-v2"})
    export_onnx(enc, out / "model.onnx")
    update_config(out, onnx={"file": "model.onnx"})
    return out


def load_side(folder: Path, spec: str, default_device: str = "cpu"):
    """``onnx`` / ``torch`` / ``auto`` with the loader's defaults, or
    ``BACKEND:TOKEN_BUDGET:MAX_BATCH:WORKERS[:PAD_MULTIPLE]`` (e.g. ``onnx:4096:64:1``, the
    settings before the 2026-11-29 tuning; ``torch@bf16:1024:16:2:32``: two PyTorch streams,
    widths rounded up to multiples of 32) to compare settings;
    ``@PRECISION`` after the backend (``torch@bf16``) sets the PyTorch backend's precision and
    ``@PRECISION@DEVICE`` (``torch@fp16@cuda``) its device too."""
    import adowner

    head, *rest = spec.split(":")
    backend, *opts = head.split("@")
    precision = opts[0] if opts else "auto"
    device = opts[1] if len(opts) > 1 else default_device
    kwargs: dict[str, object] = {"precision": precision, "device": device}
    if rest:
        budget, batch, workers, *pad = (int(x) for x in rest)
        kwargs.update(token_budget=budget, max_batch=batch, workers=workers)
        if pad:
            kwargs["pad_multiple"] = pad[0]
    return adowner.load(folder, backend=backend, **kwargs)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--model", default="minilm", help="exported folder, or 'minilm'")
    ap.add_argument(
        "--texts", default="agora", help="'agora' or a Parquet/CSV file with a text column"
    )
    ap.add_argument("--n", type=int, default=512, help="texts per round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument(
        "--backends",
        default="onnx,torch",
        help="comma-separated: onnx, torch, BACKEND:TOKEN_BUDGET:MAX_BATCH:WORKERS; "
        "torch@bf16 (or @fp16@cuda) for reduced precision",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--device",
        default="cpu",
        help="where ST and the sides without @DEVICE run (cuda: use torch sides, e.g. torch@fp16)",
    )
    ap.add_argument("--out", help="write the figures as JSON here")
    args = ap.parse_args()

    import torch
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    tmp = None
    if args.model == "minilm":
        tmp = tempfile.TemporaryDirectory()
        folder = export_minilm(Path(tmp.name) / "all-MiniLM-L6-v2")
    else:
        folder = Path(args.model)
    if args.texts == "agora":
        texts = agora_texts(args.n, args.seed)
    elif args.texts == "agora-crawl":
        texts = agora_crawl_texts(args.n, args.seed)
    else:
        texts = file_texts(Path(args.texts), args.n, args.seed)

    encoders = {b: load_side(folder, b, args.device) for b in args.backends.split(",")}
    first = next(iter(encoders.values()))
    normalized = first.normalize(texts)
    lengths = np.array([len(first.tokenizer.encode(t).ids) for t in normalized])
    st = SentenceTransformer(str(folder), device=args.device)
    print(
        f"{len(texts)} texts ({len(set(texts))} distinct): word pieces median {np.median(lengths):.0f}, "
        f"{(lengths > 128).mean():.0%} over 128, {(lengths >= first.max_length).mean():.0%} cut at "
        f"{first.max_length}; torch threads {torch.get_num_threads()}, cpus {os.cpu_count()}"
    )

    # Warm-up (first calls allocate and pick kernels), and the fp32 PyTorch reference.
    st.encode(normalized[:32], batch_size=32)
    for enc in encoders.values():
        enc.embed(texts[:32])
    reference = st.encode(normalized, batch_size=32, normalize_embeddings=True)

    rates: dict[str, list[float]] = {
        "sentence-transformers": [],
        **{f"adowner-{b}": [] for b in encoders},
    }
    min_cos: dict[str, float] = {}
    loads: list[float] = []
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    for r in range(args.rounds):
        load = os.getloadavg()[0]
        loads.append(load)
        torch.set_num_threads(os.cpu_count() or 1)  # a side may have set fewer (process-wide)
        t0 = time.perf_counter()
        st.encode(normalized, batch_size=32, normalize_embeddings=True)
        rates["sentence-transformers"].append(len(texts) / (time.perf_counter() - t0))
        for b, enc in encoders.items():
            t0 = time.perf_counter()
            emb = enc.embed(texts)
            rates[f"adowner-{b}"].append(len(texts) / (time.perf_counter() - t0))
            cos = float(np.einsum("ij,ij->i", emb, reference).min())
            min_cos[b] = min(min_cos.get(b, 1.0), cos)
        print(
            f"round {r + 1} (1-min load {load:.2f} at its start): "
            + ", ".join(f"{k} {v[-1]:.1f}/s" for k, v in rates.items())
        )

    st_rates = np.array(rates["sentence-transformers"])
    summary: dict[str, object] = {
        "model": str(args.model),
        "device": args.device,
        "texts": args.texts,
        "n": len(texts),
        "rounds": args.rounds,
        "distinct_texts": len(set(texts)),
        "median_word_pieces": float(np.median(lengths)),
        "ads_per_s": {k: [round(x, 2) for x in v] for k, v in rates.items()},
        "ratio": {},
        "min_cosine_vs_fp32": min_cos,
        "started": started,
        "load_1min_at_round_start": [round(x, 2) for x in loads],
        "settings": {
            b: {
                "workers": e.workers,
                "token_budget": e.token_budget,
                "max_batch": e.max_batch,
                "device": e.device,
                "precision": e.precision,
                "path": e.path.name,
                "pad_multiple": e.pad_multiple,
            }
            for b, e in encoders.items()
        },
    }
    for b in encoders:
        ratio = np.array(rates[f"adowner-{b}"]) / st_rates
        summary["ratio"][b] = {  # type: ignore[index]
            "median": float(np.median(ratio)),
            "min": float(ratio.min()),
            "max": float(ratio.max()),
        }
        print(
            f"adowner {b}: {np.median(rates[f'adowner-{b}']):.1f} ads/s vs ST {np.median(st_rates):.1f} "
            f"-> x{np.median(ratio):.2f} (rounds {ratio.min():.2f}-{ratio.max():.2f}), "
            f"min cosine vs fp32 {min_cos[b]:.6f}"
        )
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
