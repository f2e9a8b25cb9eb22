#!/usr/bin/env bash
# Set up (or update) the project's virtual environment in .venv.
# torch is installed first and pinned to the CPU wheel: an unpinned torch pulls a CUDA build of
# several GB. Safe to run again: pip skips what is already installed.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
export PIP_DISABLE_PIP_VERSION_CHECK=1
.venv/bin/python -m pip install -q "torch==${ADOWNER_TORCH_VERSION:-2.13.0}"
.venv/bin/python -m pip install -q -e ".[dev]"
echo "adowner: environment ready in .venv ($(.venv/bin/python -c 'import torch; print("torch", torch.__version__)'))"
