from __future__ import annotations

import subprocess
import sys

from adowner.cli import build_parser, main


def test_help_lists_subcommands(capsys):
    parser = build_parser()
    help_text = parser.format_help()
    assert "adowner" in help_text
    assert main([]) == 2  # no subcommand: help and a usage exit code


def test_module_entry_point_runs():
    out = subprocess.run(
        [sys.executable, "-m", "adowner", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.startswith("adowner ")
