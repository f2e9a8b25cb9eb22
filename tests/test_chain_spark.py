"""The Spark engines give exactly the local results (one SparkSession for the module)."""

from __future__ import annotations

import json

import pandas as pd
import polars as pl
import pytest

from adowner.chain import match as M
from adowner.chain.cluster import cluster_frames, cluster_tables, load_tables, read_chain
from adowner.chain.ingest import ingest
from adowner.chain.match import match_ads, payments_to_site, read_address_list
from adowner.chain.policy import Policy
from adowner.chain.rates import read_rates
from adowner.chain.schema import COINBASE_TXID
from adowner.errors import InputError
from conftest import shared_file
from test_chain_cluster import _assert_same, reference_clusters
from test_chain_sim import simulated

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def spark(tmp_path_factory):
    pytest.importorskip("pyspark")
    from adowner.chain.spark import spark_session

    session = spark_session(
        "local[2]", shuffle_partitions=2, checkpoint_dir=str(tmp_path_factory.mktemp("ckpt"))
    )
    # Tiny test data: compiling whole-stage code costs more than it saves.
    session.conf.set("spark.sql.codegen.wholeStage", "false")
    yield session
    session.stop()


def test_large_small_star_on_a_path_and_two_components(spark):
    from adowner.chain.spark import components_spark

    # A long path converges only through several rounds (and a reliable checkpoint at round 3).
    path = [(f"n{i:02d}", f"n{i + 1:02d}") for i in range(6)]
    edges = pd.DataFrame([*path, ("z2", "z1"), ("z3", "z2")], columns=["src", "dst"])
    want = {**{f"n{i:02d}": "n00" for i in range(1, 7)}, "z2": "z1", "z3": "z1"}
    for local_first in (False, True):
        roots = components_spark(spark, edges, checkpoint_every=2, local_first=local_first)
        assert roots.to_dict() == want
    assert components_spark(spark, edges.iloc[:0]).empty


@pytest.mark.parametrize("local_first", [False, True])
def test_components_on_a_random_graph_spread_over_partitions_equal_scipy(spark, local_first):
    """Integer ids over 4 partitions: the local contraction sees only part of each component,
    the rounds join the parts; node -> smallest node equals scipy's components."""
    import numpy as np
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    from adowner.chain.spark import components_df

    rng = np.random.default_rng(7)
    n, m = 600, 450  # near the giant component's threshold: long, branching components
    src, dst = rng.integers(0, n, m), rng.integers(0, n, m)
    _, labels = connected_components(coo_matrix((np.ones(m), (src, dst)), shape=(n, n)))
    first = np.full(labels.max() + 1, n)
    np.minimum.at(first, labels, np.arange(n))
    nodes = set(src) | set(dst)
    want = {int(i): int(first[labels[i]]) for i in nodes if first[labels[i]] != i}
    edges = spark.createDataFrame(pd.DataFrame({"src": src, "dst": dst})).repartition(4)
    got = components_df(edges, local_first=local_first).toPandas()
    assert len(got) == len(want)
    assert dict(zip(got["u"].astype(int), got["v"].astype(int), strict=True)) == want
    assert max(np.bincount(labels)) > 50  # a component spread over every partition


def test_hash_id_collisions_fall_back_to_the_addresses(spark):
    """With every address forced onto one id, the collision check sees it and the components
    run on the address strings: still the local engine's clusters."""
    from pyspark.sql import functions as F

    from adowner.chain.spark import cluster_spark

    s = simulated()
    inputs, outputs = read_chain(s["chain"])
    policy = Policy.parse("multi_input,coinjoin_guard")
    local = cluster_frames(inputs, outputs, policy=policy).clusters.to_pandas()
    ins = spark.createDataFrame(inputs.to_pandas(), "txid string, address string")
    outs = spark.createDataFrame(
        outputs.to_pandas(), "txid string, address string, value_sat long, script_type string"
    )
    r = cluster_spark(ins, outs, policy, node_ids=lambda c: F.lit(7).cast("long"))
    got = r["clusters"].orderBy("first_seen.side", "first_seen.row").toPandas()
    assert got["address"].tolist() == local["address"].tolist()
    assert got["cluster_id"].tolist() == local["cluster_id"].tolist()
    assert got["cluster_size"].tolist() == local["cluster_size"].tolist()


def _sorted(df: pd.DataFrame) -> pd.DataFrame:
    df = df.astype({c: "string" for c in df.columns if df[c].dtype != "int64"})
    return df.sort_values(list(df.columns)).reset_index(drop=True)


def test_spark_clusters_equal_local_on_simulated_chain(spark):
    inputs, outputs = load_tables(simulated()["chain"])
    local, local_skipped, local_stats = cluster_tables(inputs, outputs)
    on_spark, skipped, stats = cluster_tables(inputs, outputs, engine="spark", spark=spark)
    pd.testing.assert_frame_equal(local, on_spark)
    pd.testing.assert_frame_equal(_sorted(local_skipped), _sorted(skipped))
    _assert_same(on_spark, reference_clusters(inputs, outputs, set(skipped["txid"])))
    assert stats["clusters_with_2_or_more"] > 10
    for key in ("skipped_by_rule", "links_by_rule", "edges", "clusters", "policy"):
        assert stats[key] == local_stats[key], key


@pytest.mark.parametrize(
    "spec", ["multi_input,coinjoin_guard,known_payee_change,one_time_change", "multi_input"]
)
def test_spark_guard_change_rules_and_links_equal_local(spark, spec):
    """Every rule in DataFrames: same skipped transactions (and rule), links and clusters."""
    s = simulated()
    inputs, outputs = read_chain(s["chain"])
    site = set(M.read_address_list(s["sim"] / "site_addresses.txt"))
    policy = Policy.parse(spec)
    local = cluster_frames(inputs, outputs, policy=policy, payees=site)
    on_spark = cluster_frames(
        inputs, outputs, policy=policy, payees=site, engine="spark", spark=spark
    )
    assert on_spark.clusters.equals(local.clusters, check_metadata=True)
    for name in ("skipped", "links"):
        a = _sorted(getattr(local, name).to_pandas())
        b = _sorted(getattr(on_spark, name).to_pandas())
        pd.testing.assert_frame_equal(a, b)
    assert on_spark.stats["links_by_rule"] == local.stats["links_by_rule"]
    if "known_payee_change" in spec:
        assert on_spark.stats["links_by_rule"]["known_payee_change"] > 0
        assert on_spark.stats["skipped_transactions"] > 0


def test_each_coinjoin_rule_flags_the_same_transactions_in_spark(spark):
    """The shared rule functions of chain.coinjoin, run on Spark features, one rule at a time."""
    from adowner.chain.coinjoin import RULES, coinjoin_rule, tx_features
    from adowner.chain.spark import features_spark, guard_spark

    inputs, outputs = load_tables(simulated()["chain"])
    f = tx_features(inputs, outputs)
    ins = inputs[inputs["spent_txid"] != COINBASE_TXID][["txid", "address"]]
    sf = features_spark(
        spark.createDataFrame(ins, "txid string, address string"),
        spark.createDataFrame(
            outputs[["txid", "address", "value_sat", "script_type"]],
            "txid string, address string, value_sat long, script_type string",
        ),
    )
    fired = 0
    for name in RULES:
        want = set(coinjoin_rule(f, [name]).dropna().index)
        got = {r["txid"] for r in guard_spark(sf, (name,)).collect()}
        assert got == want, name
        fired += bool(want)
    assert fired >= 2


def test_spark_clusters_equal_local_on_the_benchmark_generator(spark, tmp_path):
    from adowner.chain.synthetic import write_ingest_folder

    write_ingest_folder(2_000, tmp_path, seed=5)
    inputs, outputs = load_tables(tmp_path)
    local, skipped, _ = cluster_tables(inputs, outputs)
    on_spark, _, _ = cluster_tables(inputs, outputs, engine="spark", spark=spark)
    pd.testing.assert_frame_equal(local, on_spark)
    assert len(skipped) > 0  # the generator's CoinJoins were left out by both


def test_spark_matching_equals_local(spark):
    s = simulated()
    pays = payments_to_site(s["chain"], read_address_list(s["sim"] / "site_addresses.txt"))
    rates = read_rates(s["sim"] / "rates.csv")
    local = match_ads(s["ads"], pays, rates, window_minutes=2, minutes_after=1)
    on_spark = match_ads(
        s["ads"], pays, rates, window_minutes=2, minutes_after=1, engine="spark", spark=spark
    )
    pd.testing.assert_frame_equal(local, on_spark)
    assert (local["match_status"] == "ambiguous").any()


@pytest.mark.slow
@pytest.mark.real_data
def test_spark_clusters_equal_local_on_block_413567(spark, tmp_path):
    ingest([shared_file("bitcoin/block413567.raw")], tmp_path)
    inputs, outputs = load_tables(tmp_path)
    local, _, _ = cluster_tables(inputs, outputs)
    on_spark, _, _ = cluster_tables(inputs, outputs, engine="spark", spark=spark)
    pd.testing.assert_frame_equal(local, on_spark)


def test_cluster_dir_on_spark_reads_on_the_executors_and_equals_local(spark, tmp_path):
    """``chain cluster --engine spark``: Spark reads the folder, sizes its shuffles, and the
    written clusters, skipped transactions, links and policy equal the local engine's."""
    from adowner.chain.cluster import cluster_dir
    from adowner.chain.policy import read_policy
    from adowner.chain.spark import shuffle_partitions_for
    from adowner.chain.synthetic import write_ingest_folder

    write_ingest_folder(3_000, tmp_path / "chain", seed=11, chunk=1_000)
    local = cluster_dir(tmp_path / "chain", tmp_path / "local.parquet")
    on_spark = cluster_dir(
        tmp_path / "chain", tmp_path / "spark.parquet", engine="spark", spark=spark
    )
    for suffix in (".parquet", "_skipped.parquet", "_links.parquet"):
        a = pd.read_parquet(tmp_path / f"local{suffix}")
        b = pd.read_parquet(tmp_path / f"spark{suffix}")
        if suffix == ".parquet":
            pd.testing.assert_frame_equal(a, b)
        else:
            pd.testing.assert_frame_equal(_sorted(a), _sorted(b))
    assert read_policy(tmp_path / "spark.parquet") == read_policy(tmp_path / "local.parquet")
    # The Spark engine's layout: Parquet folders of part files, the policy inside and beside.
    for suffix in (".parquet", "_skipped.parquet", "_links.parquet"):
        assert (tmp_path / f"spark{suffix}").is_dir()
    parts = {f.name for f in (tmp_path / "spark.parquet").iterdir()}
    assert parts
    assert all(p.startswith("part-") and p.endswith(".parquet") for p in parts)
    assert json.loads((tmp_path / "spark.json").read_text())["policy"] == local["policy"]
    assert not list(tmp_path.glob(".spark*"))  # no temporary folder left beside
    folder = pl.read_parquet(tmp_path / "spark.parquet")  # polars reads the folder too
    assert (
        folder["cluster_id"].to_list()
        == pd.read_parquet(tmp_path / "local.parquet")["cluster_id"].tolist()
    )
    for key in ("addresses", "clusters", "largest_cluster", "clusters_with_2_or_more"):
        assert on_spark[key] == local[key], key
    # (not "edges": with an address twice among a transaction's inputs, the engines' choice
    # of representative input changes how many rows link it, not the clusters)
    for key in ("skipped_by_rule", "links_by_rule"):
        assert on_spark[key] == local[key], key
    # Local again over the Spark folder: the folder is replaced by one file.
    cluster_dir(tmp_path / "chain", tmp_path / "spark.parquet")
    assert (tmp_path / "spark.parquet").is_file()
    assert on_spark["inputs"] == local["inputs"]
    assert on_spark["skipped_transactions"] > 0
    assert int(spark.conf.get("spark.sql.shuffle.partitions")) == shuffle_partitions_for(
        sum(f.stat().st_size for f in (tmp_path / "chain").glob("*puts.parquet")), 2
    )


def test_shuffle_partitions_rule():
    from adowner.chain.spark import shuffle_partitions_for

    assert shuffle_partitions_for(0, 2) == 2  # one per core at least
    assert shuffle_partitions_for(150 * 2**20, 2) == 5  # 1 M inputs: 600 MiB of rows
    assert shuffle_partitions_for(100 * 2**30, 64) == 3200  # 100 GiB of Parquet


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(check, what: str, log_file, timeout: float = 90.0) -> None:
    import time

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return
        time.sleep(0.5)
    pytest.fail(
        f"{what} did not come up in {timeout:.0f} s; its log:\n{log_file.read_text()[-3000:]}"
    )


@pytest.fixture
def standalone_master(tmp_path):
    """A Spark standalone master and one worker (1 core, 1 GiB) from the pyspark package,
    on free ports; both stopped (their process groups) after the test."""
    import os
    import shutil
    import signal
    import socket
    import subprocess
    from pathlib import Path

    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("Java is missing: a Spark standalone master and worker need a JVM")
    pyspark = pytest.importorskip("pyspark")
    home = os.environ.get("SPARK_HOME") or str(Path(pyspark.__file__).parent)
    spark_class = Path(home) / "bin" / "spark-class"
    if not spark_class.is_file():
        pytest.skip(f"no bin/spark-class in {home}")
    import adowner

    src = str(Path(adowner.__file__).parents[1])
    env = {
        **os.environ,
        "SPARK_HOME": home,
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_LOG_DIR": str(tmp_path / "logs"),
        "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]),
    }
    port = _free_port()
    url = f"spark://127.0.0.1:{port}"
    procs = []

    def start(name: str, *args: str) -> Path:
        log_file = tmp_path / f"{name}.log"
        procs.append(
            subprocess.Popen(
                ["bash", str(spark_class), *args],
                stdout=log_file.open("wb"),
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        )
        return log_file

    def listening() -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0

    try:
        m_log = start(
            "master",
            "org.apache.spark.deploy.master.Master",
            "--host", "127.0.0.1", "--port", str(port), "--webui-port", str(_free_port()),
        )  # fmt: skip
        _wait_for(listening, "the Spark master", m_log)
        start(
            "worker",
            "org.apache.spark.deploy.worker.Worker", url,
            "--cores", "1", "--memory", "1g", "--host", "127.0.0.1",
            "--webui-port", str(_free_port()), "--work-dir", str(tmp_path / "work"),
        )  # fmt: skip
        _wait_for(lambda: "Registering worker" in m_log.read_text(), "the Spark worker", m_log)
        yield url, env
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


@pytest.mark.slow
def test_chain_cluster_cli_against_a_standalone_master(standalone_master, tmp_path):
    """``adowner chain cluster --engine spark --spark-master spark://...`` runs its jobs on a
    standalone cluster's executor and writes what the local engine writes."""
    import json
    import subprocess
    import sys

    from adowner.chain.cluster import cluster_dir
    from adowner.chain.policy import read_policy
    from adowner.chain.synthetic import write_ingest_folder

    url, env = standalone_master
    write_ingest_folder(1_500, tmp_path / "chain", seed=3)
    local = cluster_dir(tmp_path / "chain", tmp_path / "local.parquet")
    out = tmp_path / "spark.parquet"
    run = subprocess.run(
        [sys.executable, "-m", "adowner", "chain", "cluster", str(tmp_path / "chain"),
         "--out", str(out), "--engine", "spark", "--spark-master", url],
        env=env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    stats = json.loads((tmp_path / "spark.json").read_text())
    assert stats["engine"] == "spark"
    assert stats["spark_master"] == url
    assert out.is_dir()
    assert list(out.glob("part-*.parquet"))
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "local.parquet"), pd.read_parquet(out))
    assert read_policy(out) == read_policy(tmp_path / "local.parquet")
    assert stats["clusters"] == local["clusters"]
    assert stats["skipped_transactions"] > 0


def _as_matches(table) -> pd.DataFrame:
    """A matches table in the MATCHES schema as comparable pandas (timestamps in µs)."""
    import pyarrow as pa

    from adowner.chain.tables import MATCHES

    t = table.select(MATCHES.names)
    cols = []
    for f in MATCHES:
        c = t.column(f.name)
        if pa.types.is_timestamp(f.type):
            # Spark holds microseconds: the ads' nanoseconds are truncated (the matching
            # itself works in microseconds on both engines)
            c = c.cast(pa.timestamp("us", tz="UTC"), safe=False)
        elif f.type != c.type:
            c = c.cast(f.type)
        cols.append(c)
    return pa.table(cols, names=MATCHES.names).to_pandas()


@pytest.mark.parametrize("with_clusters", [True, False])
def test_chain_match_on_spark_as_dataframes_equals_local(spark, tmp_path, with_clusters):
    """``chain match --engine spark``: ads, payments, USD values, the window join, the
    ranking and the payer clusters as DataFrame operations, written by Spark; every column of
    every ad equals the local engine's (clusters read from a file, or made now)."""
    import pyarrow.parquet as pq

    from adowner.chain.match import match_chain, match_chain_spark
    from adowner.chain.tables import MATCHES, to_table

    s = simulated()
    site = read_address_list(s["sim"] / "site_addresses.txt")
    rates = read_rates(s["sim"] / "rates.csv")
    clusters = s["root"] / "clusters.parquet" if with_clusters else None
    rule = {"window_minutes": 2, "minutes_after": 1}
    local = match_chain(
        M.ads_to_match(s["root"] / "ads.parquet"), s["chain"], rates, site=site,
        clusters=clusters, **rule,
    )  # fmt: skip
    out = tmp_path / "matches.parquet"
    summary = match_chain_spark(
        spark, s["root"] / "ads.parquet", s["chain"], rates, out, site=site,
        clusters=clusters, **rule,
    )  # fmt: skip
    assert out.is_dir()
    a = _as_matches(to_table(local.matches, MATCHES))
    b = _as_matches(pq.read_table(out))
    pd.testing.assert_frame_equal(a, b)
    assert (a["match_status"] == "ambiguous").any()
    assert a["payer_cluster_id"].notna().any()
    assert summary["status"] == a["match_status"].value_counts().to_dict()
    assert summary["payments"] == len(local.payments)
    assert summary["policy"] == local.policy


def test_chain_match_cli_engine_spark_writes_the_local_matches(spark, tmp_path):
    """``adowner chain match --engine spark``: a Parquet folder written by Spark, the same
    matches and summary counts as ``--engine local``."""
    import pyarrow.parquet as pq

    from adowner.cli import main

    s = simulated()
    common = [
        "chain", "match", "--ads", str(s["root"] / "ads.parquet"), "--chain", str(s["chain"]),
        "--rates", str(s["sim"] / "rates.csv"),
        "--site-addresses", str(s["sim"] / "site_addresses.txt"),
        "--clusters", str(s["root"] / "clusters.parquet"),
        "--truth", str(s["sim"] / "truth_ad_tx.parquet"),
    ]  # fmt: skip
    assert main([*common, "--out", str(tmp_path / "local.parquet")]) == 0
    assert main([*common, "--out", str(tmp_path / "spark.parquet"), "--engine", "spark"]) == 0
    assert (tmp_path / "spark.parquet").is_dir()
    a = _as_matches(pq.read_table(tmp_path / "local.parquet"))
    b = _as_matches(pq.read_table(tmp_path / "spark.parquet"))
    pd.testing.assert_frame_equal(a, b)
    sa = json.loads((tmp_path / "local.json").read_text())
    sb = json.loads((tmp_path / "spark.json").read_text())
    for key in ("ads", "site_addresses", "payments", "status", "rule", "policy", "evaluation"):
        assert sa[key] == sb[key], key


def test_readers_take_the_spark_clusters_folder(spark, tmp_path):
    """``chain match --clusters`` / ``link --chain`` (``match_chain``) read the Spark engine's
    clusters folder and its policy as they read the local engine's file."""
    from adowner.chain.cluster import cluster_dir
    from adowner.chain.match import match_chain
    from adowner.chain.policy import read_policy

    s = simulated()
    site = read_address_list(s["sim"] / "site_addresses.txt")
    folder = tmp_path / "clusters.parquet"
    cluster_dir(s["chain"], folder, engine="spark", spark=spark)
    assert folder.is_dir()
    assert read_policy(folder) == read_policy(s["root"] / "clusters.parquet")
    rates = read_rates(s["sim"] / "rates.csv")
    ads = M.ads_to_match(s["root"] / "ads.parquet")
    from_file = match_chain(
        ads, s["chain"], rates, site=site, clusters=s["root"] / "clusters.parquet"
    )
    from_folder = match_chain(ads, s["chain"], rates, site=site, clusters=folder)
    pd.testing.assert_frame_equal(from_file.matches, from_folder.matches)
    assert from_folder.policy == from_file.policy
    assert from_folder.matches["payer_cluster_id"].notna().any()
    (tmp_path / "clusters.json").unlink()  # no summary beside: a clear error, then no policy
    with pytest.raises(InputError, match=r"clusters\.json"):
        read_policy(folder)
    assert match_chain(ads, s["chain"], rates, site=site, clusters=folder).policy is None
