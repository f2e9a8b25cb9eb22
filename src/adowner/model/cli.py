"""Subcommands of adowner.model (registered by adowner.cli)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add this subpackage's subcommands to sub."""
