"""Shared fixtures. Real-data tests skip with a reason when ../shared/data is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("ADOWNER_SHARED_DATA", REPO.parent / "shared" / "data"))

os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real data files (``ADOWNER_SHARED_DATA``, default ``../shared/data``)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent (set ADOWNER_SHARED_DATA)")
    return SHARED_DATA


def shared_file(relpath: str) -> Path:
    """A file under the shared data folder, or skip the test with the reason."""
    path = SHARED_DATA / relpath
    if not path.is_file():
        pytest.skip(f"real data file {path} is absent (set ADOWNER_SHARED_DATA)")
    return path


@pytest.fixture(scope="session")
def tiny_backbone(tmp_path_factory) -> Path:
    """A randomly initialised 2-layer BERT (hidden 32) with the MiniLM tokenizer, saved once."""
    from adowner.backbones import build_tiny_bert

    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))
