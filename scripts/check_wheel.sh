#!/usr/bin/env bash
# The installed package works without the repository: build the wheel, install it into a fresh
# venv, and from a folder with no checkout simulate a tiny marketplace, prepare it, train
# `--config tiny` (the packaged experiment, found by name), export (the packaged card template
# renders README.md) and serve it (GET /health). Exits non-zero on the first failure.
#
# Nothing is downloaded: the wheel is built without build isolation (setuptools and wheel of
# the running Python), installed with --no-deps, and the new venv reads the dependencies from
# the running Python's site-packages through a .pth file (so run it with the project's venv
# active, or PYTHON=.venv/bin/python). KEEP=1 keeps the temp folder.
#
#   bash scripts/check_wheel.sh
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
PY="${PYTHON:-python}"
TMP="$(mktemp -d "${TMPDIR:-/tmp}/adowner-wheel.XXXXXX")"
SERVER=""
cleanup() {
    if [ -n "$SERVER" ] && kill -0 "$SERVER" 2>/dev/null; then kill "$SERVER"; wait "$SERVER" || true; fi
    if [ "${KEEP:-0}" = 1 ]; then echo "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
unset PYTHONPATH  # the checkout's src/ must not shadow the installed wheel
export WANDB_MODE=disabled HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
start=$(date +%s)
step() { echo "== $* ($(( $(date +%s) - start )) s)"; }

step "copy the tracked and unignored files (a build from a clean tree: no stale build/)"
mkdir -p "$TMP/tree"
git -C "$REPO" ls-files -z -co --exclude-standard | (cd "$REPO" && tar --null -T - -cf -) \
    | tar -C "$TMP/tree" -xf -

step "pip wheel"
"$PY" -m pip wheel --no-deps --no-build-isolation --no-index -q -w "$TMP/dist" "$TMP/tree"
WHEEL="$(ls "$TMP"/dist/adowner-*.whl)"
echo "$WHEEL"

step "fresh venv, the running Python's packages through a .pth, the wheel --no-deps"
DEPS="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
"$PY" -m venv --without-pip "$TMP/venv"
VPY="$TMP/venv/bin/python"
SITE="$("$VPY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
echo "$DEPS" > "$SITE/_adowner_deps.pth"
"$VPY" -m pip install --no-deps --no-index -q "$WHEEL"
ADOWNER="$TMP/venv/bin/adowner"

mkdir -p "$TMP/work"
cd "$TMP/work"  # no checkout here: nothing may be read from the repository
"$VPY" - "$TMP/venv" <<'EOF'
import sys
from pathlib import Path

import adowner
from adowner.export.card import TEMPLATE
from adowner.resources import config_root

venv = Path(sys.argv[1]).resolve()
for what, path in (("adowner", Path(adowner.__file__)), ("configs", config_root()), ("card template", TEMPLATE)):
    path = path.resolve()
    assert path.is_relative_to(venv), f"{what} comes from {path}, not the wheel in {venv}"
    assert path.exists(), f"{what}: {path} missing"
    print(f"{what}: {path}")
EOF

step "simulate + prepare"
"$ADOWNER" simulate --out market --owners 40 --no-chain --no-progress
"$ADOWNER" prepare market/ads.parquet --out prepared --owner-column true_owner \
    --split 0.6 0.2 0.2 --config default --no-progress

step "train --config tiny"
"$ADOWNER" train --config tiny --data prepared --out run \
    trainer.max_epochs=1 data.batches_per_epoch=4 callbacks.last_every_n_steps=2
test -f run/checkpoints/best.ckpt

step "export"
"$ADOWNER" export run/checkpoints/best.ckpt --out model --data prepared --dataset tiny-sim
test -f model/README.md
"$VPY" - <<'EOF'
from pathlib import Path

card = Path("model/README.md").read_text(encoding="utf-8")
assert card.startswith("---\n") and "\n# model\n" in card, "model card not rendered"
assert "$" not in card.split("---", 2)[1], "unfilled placeholders in the card's front matter"
print(f"model card: {len(card.splitlines())} lines")
EOF

step "serve + GET /health"
PORT="$("$VPY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$ADOWNER" serve --model model --port "$PORT" > serve.log 2>&1 &
SERVER=$!
if "$VPY" - "$PORT" "$SERVER" <<'EOF'
import json
import os
import sys
import time
import urllib.request

port, pid = sys.argv[1], int(sys.argv[2])
deadline = time.time() + 120
while True:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
            body = json.load(r)
        break
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            sys.exit("adowner serve exited before answering (see serve.log)")
        if time.time() > deadline:
            sys.exit("adowner serve did not answer /health within 120 s")
        time.sleep(0.5)
assert body["status"] == "ok", body
print("/health:", json.dumps({k: body[k] for k in ("status", "model", "dimension", "backend")}))
EOF
then :; else echo "-- serve.log:"; cat serve.log; exit 1; fi
kill "$SERVER"
wait "$SERVER" || true
SERVER=""
step "wheel check passed"
