#!/usr/bin/env python
"""Thin entry point: ``python scripts/train.py --config ... --data ... --out ... [overrides]``.

Same as ``adowner train`` (see ``adowner.model.train.train``).
"""

import sys

from adowner.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
