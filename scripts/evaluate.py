#!/usr/bin/env python
"""Thin entry point: ``python scripts/evaluate.py --model M --data D --out OUT`` = ``adowner evaluate``.

``python scripts/evaluate.py compare --models M1,M2 --data D --out OUT`` runs ``adowner compare``.
All options are those of the commands (see ``adowner evaluate --help``).
"""

from __future__ import annotations

import sys

from adowner.cli import main

if __name__ == "__main__":
    argv = sys.argv[1:]
    sys.exit(main(argv if argv[:1] in (["compare"], ["evaluate"]) else ["evaluate", *argv]))
