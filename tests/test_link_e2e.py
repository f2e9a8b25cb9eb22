"""End to end on a tiny simulated marketplace with the tiny model: adowner link, the report
in headless Chromium, and the rerun that reuses the embeddings."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from adowner.cli import main

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def market(tmp_path_factory) -> Path:
    from adowner.simulate.run import run_simulation

    out = tmp_path_factory.mktemp("market")
    run_simulation(out, n_owners=12, seed=3, progress=False)
    return out


@pytest.fixture(scope="module")
def tiny_model(tiny_backbone, market, tmp_path_factory) -> Path:
    """An exported folder of the (untrained) tiny BERT, calibrated on the marketplace's ads."""
    from adowner.export.calibrate import calibrate
    from adowner.export.folder import update_config, write_folder
    from adowner.export.inference import load
    from adowner.model.encoder import AuthorshipEncoder

    folder = tmp_path_factory.mktemp("model")
    write_folder(AuthorshipEncoder(str(tiny_backbone), max_length=64), folder)
    ads = pd.read_parquet(market / "ads.parquet")
    emb = load(folder).embed((ads["title"] + "\n" + ads["body"]).tolist())
    result = calibrate(emb, ads["true_owner"].astype(str).to_numpy())
    update_config(folder, thresholds=result["thresholds"])
    return folder


@pytest.mark.slow
def test_link_end_to_end(market, tiny_model, tmp_path):
    out = tmp_path / "link"
    argv = ["link", "--ads", str(market / "ads.parquet"), "--model", str(tiny_model)]
    assert main([*argv, "--out", str(out), "-k", "8"]) == 0
    groups = pd.read_parquet(out / "groups.parquet")
    ads = pd.read_parquet(market / "ads.parquet")
    assert sorted(groups["ad_id"]) == sorted(ads["ad_id"].astype(str))
    edges = pd.read_parquet(out / "edges.parquet")
    assert {"text", "phone"} <= set(edges["kind"])
    owners = pd.read_parquet(out / "owners.parquet")
    assert owners["n_ads"].sum() == len(ads)
    assert {"n_personas", "n_cities", "n_regions", "ads_per_day", "span_days"} <= set(
        owners.columns
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["fpr"] == 0.01
    # shared phones alone make the synthetic owners separable well above chance
    assert summary["metrics_vs_true_owner"]["bcubed_f1"] > 0.5
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "555-01" not in page  # fictional numbers of the simulator, masked
    assert "[PHONE]" in page or "PHONE" in page

    # strict threshold: fewer (or equal) text edges; the embeddings are reused from the cache
    strict = tmp_path / "strict"
    shutil.copy(out / "embeddings.npy", tmp_path / "e.npy")
    assert main([*argv, "--out", str(strict), "-k", "8", "--fpr", "0.001"]) == 0
    strict_edges = pd.read_parquet(strict / "edges.parquet")
    assert (strict_edges["kind"] == "text").sum() <= (edges["kind"] == "text").sum()


def test_link_reports_bad_input_in_one_line(tiny_model, tmp_path, capsys):
    bad = tmp_path / "ads.csv"
    bad.write_text("nothing,here\n1,2\n", encoding="utf-8")
    rc = main(["link", "--ads", str(bad), "--model", str(tiny_model), "--out", str(tmp_path / "o")])
    assert rc == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "ads.csv" in err[0]
    rc = main(["link", "--ads", str(bad), "--model", str(tmp_path), "--out", str(tmp_path / "o")])
    assert rc == 2
    assert "adowner.json" in capsys.readouterr().err


@pytest.mark.chromium
@pytest.mark.slow
def test_report_opens_in_headless_chromium(market, tiny_model, tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"headless Chromium is absent ({CHROMIUM})")
    out = tmp_path / "link"
    assert (
        main(
            [
                "link",
                "--ads",
                str(market / "ads.parquet"),
                "--model",
                str(tiny_model),
                "--out",
                str(out),
                "--top",
                "5",
            ]
        )
        == 0
    )
    owners = pd.read_parquet(out / "owners.parquet")
    cmd = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", (out / "report.html").as_uri(),
    ]  # fmt: skip
    dom = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout
    assert '<table id="groups">' in dom or 'id="groups"' in dom
    assert dom.count('class="grouprow"') == min(len(owners), 500)
    top = int(owners.iloc[0]["group_id"])
    assert f'id="g{top}"' in dom
    assert "<svg" in dom
