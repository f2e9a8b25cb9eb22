"""The quickstart end to end with tiny settings: every step runs, leaves a done-marker, and a
rerun reuses them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adowner.cli import main

REPO = Path(__file__).resolve().parents[1]
STEPS = ("simulate", "prepare", "train", "compare", "export", "ingest", "cluster", "match", "link")


@pytest.mark.slow
def test_quickstart_runs_every_step_and_resumes(tmp_path, capsys):
    out = tmp_path / "qs"
    cfg = REPO / "configs" / "experiment" / "tiny.yaml"
    argv = ["quickstart", "--out", str(out), "--owners", "40", "--config", str(cfg)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    for step in STEPS:
        marker = json.loads((out / ".done" / f"{step}.json").read_text())
        assert marker["step"] == step
    assert (out / "link" / "report.html").is_file()
    assert (out / "compare" / "report.html").is_file()
    assert (out / "model" / "adowner.json").is_file()
    assert (out / "model" / "hybrid.json").is_file()
    table = (out / "compare" / "table.csv").read_text()
    assert "hybrid:" in table
    summary = json.loads((out / "link" / "summary.json").read_text())
    assert summary["n_ads"] > 0
    assert "metrics_vs_true_owner" in summary
    assert summary["text_score"] == "hybrid"
    assert "report.html" in printed
    lines = printed[printed.index("summary:") :].splitlines()[1:]
    assert [ln.strip()[:2] for ln in lines[:5]] == ["1.", "2.", "3.", "4.", "5."]

    # a rerun reuses every finished step
    before = (out / "link" / "groups.parquet").stat().st_mtime_ns
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert printed.count("reused") == len(STEPS)
    assert (out / "link" / "groups.parquet").stat().st_mtime_ns == before
