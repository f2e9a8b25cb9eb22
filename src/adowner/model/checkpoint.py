"""Load the authorship encoder from a Lightning checkpoint that ``adowner train`` wrote.

The checkpoint holds the module's hyper-parameters (the encoder settings: backbone name or folder,
projection, normaliser, max length) and its ``state_dict``. The encoder is rebuilt from its
backbone (which must still be reachable: the packaged MiniLM, a Hugging Face folder, or the run's
``tiny-bert/`` folder) and the fine-tuned weights are copied in.

Only checkpoints written by this project are opened, with ``torch.load(weights_only=True)`` (no
arbitrary unpickling).

Example::

    enc = load_encoder("runs/minilm-agora/checkpoints/best.ckpt")
    vecs = enc.embed(["HOT new girl in town"])
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from adowner.errors import InputError
from adowner.model.encoder import AuthorshipEncoder


def _read_checkpoint(path: Path) -> dict:
    """A checkpoint's dict (``torch.load(weights_only=True)``), or one InputError line."""
    if not path.is_file():
        raise InputError("checkpoint not found", path=str(path))
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated file or a foreign pickle
        raise InputError(
            f"not a readable adowner checkpoint: {exc}".splitlines()[0], path=str(path)
        ) from exc
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise InputError("not an adowner training checkpoint (no state_dict)", path=str(path))
    return ckpt


def load_encoder(ckpt_path: str | Path) -> AuthorshipEncoder:
    """The fine-tuned :class:`AuthorshipEncoder` of a checkpoint, in eval mode on the CPU."""
    path = Path(ckpt_path)
    ckpt = _read_checkpoint(path)
    hparams = ckpt.get("hyper_parameters") or {}
    if "encoder" not in hparams:
        raise InputError("not an adowner training checkpoint (no encoder settings)", path=str(path))
    encoder = AuthorshipEncoder(**hparams["encoder"])
    prefix = "encoder."
    state = {k[len(prefix) :]: v for k, v in ckpt["state_dict"].items() if k.startswith(prefix)}
    missing, unexpected = encoder.load_state_dict(state, strict=False)
    # Position-id buffers are not saved by every transformers version; weights must all match.
    missing = [k for k in missing if not k.endswith("position_ids")]
    if missing or unexpected:
        raise InputError(
            f"checkpoint does not match its encoder: missing {missing[:3]}, unexpected {unexpected[:3]}",
            path=str(path),
        )
    return encoder.eval()


def average_checkpoints(paths: Sequence[str | Path]) -> dict:
    """The first checkpoint with its floating-point weights replaced by the mean over all.

    The "ensemble of checkpoints" lever at the cost of one model: the mean of the weights of the
    last epochs of one run (Vaswani et al. 2017 average their last checkpoints; Izmailov et al.
    2018, SWA). Runs trained with ``callbacks.keep_every_epoch=true`` (``adowner cv --curve``)
    keep ``checkpoints/epochN.ckpt``. Integer buffers and the hyper-parameters come from the
    first file; the mean is taken in float64 and cast back to each weight's dtype.
    """
    if len(paths) < 2:
        raise InputError(f"give at least two checkpoints to average, not {len(paths)}")
    first = _read_checkpoint(Path(paths[0]))
    weights = first["state_dict"]
    total = {k: v.double() for k, v in weights.items() if v.is_floating_point()}
    for p in paths[1:]:
        state = _read_checkpoint(Path(p))["state_dict"]
        if state.keys() != weights.keys():
            raise InputError(f"holds other weights than {paths[0]}", path=str(p))
        for k in total:
            if state[k].shape != weights[k].shape:
                raise InputError(
                    f"weight {k} has shape {tuple(state[k].shape)}, not {tuple(weights[k].shape)}",
                    path=str(p),
                )
            total[k] += state[k].double()
    for k, v in total.items():
        weights[k] = (v / len(paths)).to(weights[k].dtype)
    first["averaged_from"] = [str(p) for p in paths]
    return first
