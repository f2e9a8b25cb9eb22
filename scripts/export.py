#!/usr/bin/env python
"""Thin entry point: ``python scripts/export.py CHECKPOINT --out DIR [--onnx] [--data PREPARED]``.

Same as ``adowner export`` (see ``adowner.export.export.export_checkpoint``).
"""

import sys

from adowner.cli import main

if __name__ == "__main__":
    sys.exit(main(["export", *sys.argv[1:]]))
