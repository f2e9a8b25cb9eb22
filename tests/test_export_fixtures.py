"""Builders shared by the export, inference and serve tests (imported by those files).

A tiny checkpoint in the exact layout ``adowner train`` writes (``hyper_parameters.encoder`` and
a ``state_dict`` with ``encoder.`` keys) from the real :class:`AuthorshipModule`, a prepared
folder with a small validation split, and generated ad texts.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pandas as pd

WORDS = [
    "new",
    "in",
    "town",
    "sweet",
    "discreet",
    "call",
    "me",
    "now",
    "available",
    "tonight",
    "incall",
    "outcall",
    "fresh",
    "pics",
    "real",
    "no",
    "games",
    "sexy",
    "latina",
    "blonde",
    "upscale",
    "party",
    "friendly",
    "generous",
    "gentlemen",
    "only",
    "quality",
    "service",
    "shipping",
    "worldwide",
    "stealth",
    "grams",
    "pills",
    "discount",
    "bulk",
    "order",
    "escrow",
    "reliable",
    "vendor",
    "tracked",
]
STYLES = [
    lambda s: s.upper(),
    lambda s: s.title() + "!!!",
    lambda s: s + " 💋💋",
    lambda s: "~*~ " + s + " ~*~",
    lambda s: s.replace(" ", "  ") + " ...",
    lambda s: s.capitalize() + ". Call [PHONE].",
]


def generated_ads(n: int, seed: int = 0, owners: int = 6) -> pd.DataFrame:
    """``n`` fictional ads by ``owners`` owners, each owner with its own habit; lengths vary."""
    rng = random.Random(seed)
    rows = []
    for k in range(n):
        owner = k % owners
        words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 120)))
        rows.append(
            {
                "ad_id": f"ad{k}",
                "text": STYLES[owner % len(STYLES)](words) + f"\nline {k}",
                "owner": f"o{owner}",
                "dup_group": f"d{k}",
            }
        )
    return pd.DataFrame(rows)


def make_checkpoint(tiny_backbone: Path, out: Path, projection_dim: int | None = 16) -> Path:
    """A checkpoint of a randomly initialised tiny :class:`AuthorshipModule`."""
    import torch

    from adowner.model.module import AuthorshipModule

    torch.manual_seed(0)
    module = AuthorshipModule(
        {"backbone": str(tiny_backbone), "projection_dim": projection_dim, "max_length": 64}
    )
    path = out / "tiny.ckpt"
    torch.save({"hyper_parameters": dict(module.hparams), "state_dict": module.state_dict()}, path)
    return path


def make_prepared(out: Path, n: int = 60) -> Path:
    """A prepared folder with ``val.parquet`` (generated ads)."""
    out.mkdir(parents=True, exist_ok=True)
    generated_ads(n, seed=1).to_parquet(out / "val.parquet", index=False)
    return out


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return np.einsum("ij,ij->i", a, b)
