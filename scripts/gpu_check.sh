#!/usr/bin/env bash
# GPU check for a lent CUDA device (issue 18), inside 10 minutes:
#   1. installs what it needs: a CUDA build of PyTorch is kept if the machine has one, else
#      pip tries the default (CUDA) wheel; then this checkout (`pip install -e .`);
#   2. prepares the escort ads and trains `ads.yaml` on them with `trainer=gpu` (bf16-mixed);
#   3. measures embedding throughput of the trained model, fp32/fp16/bf16 on CUDA, against
#      `SentenceTransformer.encode` on the same folder and texts (scripts/bench_embed.py);
#   4. writes one JSON of figures: $OUT/gpu_check.json (OUT defaults to ./gpu-check).
# Every step records its rc and seconds, so a step that fails still leaves the others' figures.
#
# Usage (repository root, shared data at ../shared/data or ADOWNER_SHARED_DATA):
#   OUT=/tmp/out bash scripts/gpu_check.sh
# Figures go to docs/BENCHMARKS.md ("GPU") when a device was lent.
set -uo pipefail

OUT=${OUT:-gpu-check}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
DATA=${ADOWNER_SHARED_DATA:-$(cd "$(dirname "$0")/../.." && pwd)/shared/data}
ESCORT="$DATA/escort_ads/backpage_ca_dev.parquet"
PY=${PYTHON:-python3}
LOG="$OUT/gpu_check.log"
STEPS="$OUT/steps.jsonl"
: >"$STEPS"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 WANDB_MODE=disabled TOKENIZERS_PARALLELISM=false
deadline=$((SECONDS + ${BUDGET_S:-570}))

step() { # step NAME LIMIT_S CMD...: run with a timeout inside the overall budget; record it
    local name=$1 limit=$2 t0=$SECONDS rc
    shift 2
    local left=$((deadline - SECONDS))
    ((limit > left)) && limit=$left
    if ((limit <= 5)); then
        echo "{\"step\": \"$name\", \"rc\": null, \"skipped\": \"out of time\"}" >>"$STEPS"
        return 1
    fi
    echo "== $name (limit ${limit}s)" | tee -a "$LOG"
    timeout "$limit" "$@" >>"$LOG" 2>&1
    rc=$?
    echo "{\"step\": \"$name\", \"rc\": $rc, \"seconds\": $((SECONDS - t0))}" >>"$STEPS"
    return $rc
}

# 1. install: keep a CUDA torch if there is one (never replace a working one)
if ! $PY -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
    step install-torch 240 $PY -m pip install -q "torch>=2.4" || true
fi
$PY -c "import adowner" 2>/dev/null || step install-adowner 180 $PY -m pip install -q -e . || true
$PY - >"$OUT/device.json" 2>>"$LOG" <<'EOF'
import json, platform
import torch
d = {"torch": torch.__version__, "cuda": torch.version.cuda, "available": torch.cuda.is_available(),
     "python": platform.python_version()}
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    d.update(name=p.name, memory_gib=round(p.total_memory / 2**30, 1),
             bf16=torch.cuda.is_bf16_supported())
print(json.dumps(d))
EOF

# 2. train ads.yaml on the escort ads on the GPU
step prepare 60 $PY -m adowner prepare "$ESCORT" --dedup eval --out "$OUT/prepared" || true
step train 300 $PY -m adowner train --config ads --data "$OUT/prepared" --out "$OUT/train" \
    trainer=gpu logger=none || true
CKPT=$(ls "$OUT"/train/checkpoints/best*.ckpt 2>/dev/null | head -1)
MODEL=minilm
if [[ -n "$CKPT" ]]; then
    step export 90 $PY -m adowner export "$CKPT" --out "$OUT/model" --data "$OUT/prepared" &&
        MODEL="$OUT/model"
fi

# 3. embedding throughput on CUDA against ST, same folder and texts, one process
step bench 120 $PY scripts/bench_embed.py --model "$MODEL" --texts "$OUT/prepared/test.parquet" \
    --n 512 --rounds 3 --device cuda --backends torch@fp32@cuda,torch@fp16@cuda,torch@bf16@cuda \
    --out "$OUT/bench.json" || true

# 4. one JSON
$PY - "$OUT" <<'EOF'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
def read(name):
    p = out / name
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError):
        return None
train = read("train/metrics.json")
result = {
    "device": read("device.json"),
    "steps": [json.loads(l) for l in (out / "steps.jsonl").read_text().splitlines() if l.strip()],
    "train_metrics": train,
    "embedding": read("bench.json"),
}
(out / "gpu_check.json").write_text(json.dumps(result, indent=2) + "\n")
print(json.dumps({k: result[k] for k in ("device", "steps")}, indent=2))
EOF
