"""Training throughput: seconds per step and ads per second of two recipes on the same ads.

Trains each named experiment for ``--steps`` steps on one prepared folder (no validation, so
only training steps are timed, by the run's ``Throughput`` callback) and prints a table with
the ratio to the first (the peer). Default: the old default ``minilm-agora`` (fp32, 256 tokens,
style normaliser, K ads with replacement) against ``ads`` (precision auto, 128 training tokens,
length-chunked forward, distinct ads). Records the CPU it ran on.

    python scripts/bench_train.py --data runs/prepared/escort-eval --steps 12
    # one recipe at two precisions on this CPU (overrides after @, the first is the peer)
    python scripts/bench_train.py --data runs/prepared/escort-eval --steps 8 \
        --configs ads@trainer.precision=32-true,ads@trainer.precision=bf16-mixed
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import tempfile
from pathlib import Path

from adowner.hardware import native_bf16_cpu
from adowner.model.config import load_config
from adowner.model.train import train

REPO = Path(__file__).resolve().parents[1]


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return platform.processor()
    name = next((ln.split(":", 1)[1].strip() for ln in out.splitlines() if "Model name" in ln), "")
    flags = next((ln.split(":", 1)[1] for ln in out.splitlines() if ln.startswith("Flags")), "")
    have = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in flags.split()]
    return f"{name} ({', '.join(have)})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="prepared folder")
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument(
        "--configs",
        default="minilm-agora,ads",
        help="experiments, each NAME or NAME@key=value@...; the first is the peer",
    )
    args = ap.parse_args()
    rows = []
    for name in args.configs.split(","):
        base, *overrides = name.split("@")
        with tempfile.TemporaryDirectory() as tmp:
            cfg = load_config(
                REPO / "configs" / "experiment" / f"{base}.yaml",
                [
                    *overrides,
                    f"trainer.max_steps={args.steps}",
                    "trainer.limit_val_batches=0",
                    "trainer.max_epochs=100",
                    "logger=none",
                    "callbacks.early_stopping_patience=null",
                ],
            )
            cfg.update(data_dir=args.data, run_dir=tmp)
            m, _ = train(cfg)
            rows.append(
                (name, m.get("precision"), m["s_per_step"], m["ads_per_s"], m["batch_size"])
            )
    peer = rows[0][3]
    print(f"CPU: {cpu_model()}; native bf16: {native_bf16_cpu()}")
    print("| experiment | precision | s/step | ads/s | batch | × peer |")
    print("|---|---|---|---|---|---|")
    for name, prec, sps, aps, bs in rows:
        print(f"| {name} | {prec} | {sps:.2f} | {aps:.1f} | {bs} | ×{aps / peer:.2f} |")
    print(
        json.dumps(
            [
                dict(zip(("name", "precision", "s_per_step", "ads_per_s"), r[:4], strict=True))
                for r in rows
            ]
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
