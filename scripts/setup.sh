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
# The [dev] extra brings the Python package playwright; the workbench's browser tests drive this
# Chromium with it (`executable_path=/usr/bin/chromium`; never `playwright install`, which needs
# the network). Headless Chromium also renders the HTML reports in the tests (they skip without it). Best effort:
# only as root with apt, and never fatal; set ADOWNER_SKIP_CHROMIUM=1 to leave it out.
if [ -z "${ADOWNER_SKIP_CHROMIUM:-}" ] && ! command -v chromium >/dev/null 2>&1 \
    && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 \
        || echo "adowner: could not install chromium; report-rendering tests will be skipped" >&2
fi
echo "adowner: environment ready in .venv ($(.venv/bin/python -c 'import torch; print("torch", torch.__version__)'))"
