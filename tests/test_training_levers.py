"""Training levers of the ads recipe that are off by default: hard-pair mining
(``model.miner``) and checkpoint averaging (``scripts/average_checkpoints.py``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from adowner.errors import InputError
from adowner.model.checkpoint import average_checkpoints, load_encoder
from adowner.model.module import AuthorshipModule, build_miner

REPO = Path(__file__).resolve().parents[1]


def _batch(module: AuthorshipModule) -> dict[str, torch.Tensor]:
    texts = [f"new girl {i % 4} in town, call {i % 4} now" for i in range(8)]
    enc = module.encoder.tokenizer(texts, padding=True, return_tensors="pt")
    labels = torch.tensor([i % 4 for i in range(8)])
    return {
        "input_ids": enc["input_ids"],
        "attention_mask": enc["attention_mask"],
        "labels": labels,
    }


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("NoSuchMiner", r"unknown miner 'NoSuchMiner'; one of .*MultiSimilarityMiner"),
        ("LpDistance", r"unknown miner 'LpDistance'"),  # a pml class that is not a miner
        ({"name": "MultiSimilarityMiner", "epsilonn": 0.1}, r"MultiSimilarityMiner: .*epsilonn"),
        ({"epsilon": 0.1}, r"unknown miner None"),
    ],
)
def test_a_bad_miner_is_one_line_naming_model_miner(spec, message) -> None:
    with pytest.raises(InputError, match=message) as info:
        build_miner(spec)
    assert info.value.field == "model.miner"
    assert "\n" not in str(info.value)


def test_no_miner_by_default_and_a_named_one_with_its_arguments() -> None:
    assert build_miner(None) is None
    miner = build_miner({"name": "MultiSimilarityMiner", "epsilon": 0.3})
    assert type(miner).__name__ == "MultiSimilarityMiner"
    assert miner.epsilon == pytest.approx(0.3)


def test_the_loss_sees_only_the_mined_pairs(tiny_backbone: Path) -> None:
    torch.manual_seed(0)
    encoder = {"backbone": str(tiny_backbone), "projection_dim": 16, "max_length": 32}
    plain = AuthorshipModule(encoder)
    mined = AuthorshipModule(encoder, miner="BatchHardMiner")
    mined.load_state_dict(plain.state_dict())
    batch = _batch(plain)
    loss_plain = plain.training_step(batch, 0)
    loss_mined = mined.training_step(batch, 0)
    assert torch.isfinite(loss_mined)
    # batch-hard keeps one positive and one negative per anchor: another loss than all pairs
    assert not torch.isclose(loss_plain, loss_mined)
    loss_mined.backward()
    grads = [p.grad for p in mined.parameters() if p.requires_grad and p.grad is not None]
    assert grads
    assert all(torch.isfinite(g).all() for g in grads)
    assert mined.hparams["miner"] == "BatchHardMiner"  # saved with the checkpoint


def _checkpoint(path: Path, w: float, step: int) -> Path:
    state = {"encoder.w": torch.full((2, 3), w), "encoder.n": torch.tensor(step)}
    torch.save({"hyper_parameters": {"lr": 1e-5}, "state_dict": state}, path)
    return path


def test_averaging_means_the_float_weights_and_keeps_the_rest(tmp_path: Path) -> None:
    paths = [_checkpoint(tmp_path / f"e{i}.ckpt", w, i) for i, w in enumerate((1.0, 2.0, 6.0))]
    avg = average_checkpoints(paths)
    assert torch.equal(avg["state_dict"]["encoder.w"], torch.full((2, 3), 3.0))
    assert avg["state_dict"]["encoder.n"].item() == 0  # integer buffers from the first
    assert avg["hyper_parameters"] == {"lr": 1e-5}
    assert avg["averaged_from"] == [str(p) for p in paths]


def test_averaging_refuses_mismatched_or_single_checkpoints(tmp_path: Path) -> None:
    a = _checkpoint(tmp_path / "a.ckpt", 1.0, 0)
    with pytest.raises(InputError, match="at least two"):
        average_checkpoints([a])
    b = tmp_path / "b.ckpt"
    torch.save({"state_dict": {"encoder.w": torch.zeros(3, 2), "encoder.n": torch.tensor(0)}}, b)
    with pytest.raises(InputError, match=r"b\.ckpt.*shape \(3, 2\), not \(2, 3\)"):
        average_checkpoints([a, b])
    c = tmp_path / "c.ckpt"
    c.write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match=r"c\.ckpt.*not a readable"):
        average_checkpoints([a, c])


def test_the_script_writes_a_checkpoint_that_loads_as_an_encoder(
    tiny_backbone: Path, tmp_path: Path
) -> None:
    encoder = {"backbone": str(tiny_backbone), "projection_dim": 16, "max_length": 32}
    paths = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        module = AuthorshipModule(encoder)
        path = tmp_path / f"epoch{seed}.ckpt"
        torch.save(
            {"hyper_parameters": dict(module.hparams), "state_dict": module.state_dict()}, path
        )
        paths.append(path)
    out = tmp_path / "avg.ckpt"
    script = REPO / "scripts" / "average_checkpoints.py"
    done = subprocess.run(
        [sys.executable, str(script), *map(str, paths), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    a, b = (torch.load(p, weights_only=True)["state_dict"] for p in paths)
    key = next(k for k, v in a.items() if v.is_floating_point() and v.ndim == 2)
    enc = load_encoder(out)
    got = dict(enc.named_parameters())[key.removeprefix("encoder.")]
    torch.testing.assert_close(got.detach(), (a[key] + b[key]) / 2)
    assert not list(tmp_path.glob(".avg.ckpt*"))  # no temporary left beside it
