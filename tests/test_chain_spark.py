"""The Spark engines give exactly the local results (one SparkSession for the module)."""

from __future__ import annotations

import pandas as pd
import pytest

from adowner.chain.cluster import cluster_tables, load_tables
from adowner.chain.ingest import ingest
from adowner.chain.match import match_ads, payments_to_site, read_address_list
from adowner.chain.rates import read_rates
from conftest import shared_file
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
    roots = components_spark(spark, edges, checkpoint_every=2)
    assert roots.to_dict() == {**{f"n{i:02d}": "n00" for i in range(1, 7)}, "z2": "z1", "z3": "z1"}
    assert components_spark(spark, edges.iloc[:0]).empty


def test_spark_clusters_equal_local_on_simulated_chain(spark):
    inputs, outputs = load_tables(simulated()["chain"])
    local, _, _ = cluster_tables(inputs, outputs)
    on_spark, _, stats = cluster_tables(inputs, outputs, engine="spark", spark=spark)
    pd.testing.assert_frame_equal(local, on_spark)
    assert stats["clusters_with_2_or_more"] > 10


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
