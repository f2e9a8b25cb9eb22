"""The Spark engines give exactly the local results (one SparkSession for the module)."""

from __future__ import annotations

import pandas as pd
import pytest

from adowner.chain import match as M
from adowner.chain.cluster import cluster_frames, cluster_tables, load_tables, read_chain
from adowner.chain.ingest import ingest
from adowner.chain.match import match_ads, payments_to_site, read_address_list
from adowner.chain.policy import Policy
from adowner.chain.rates import read_rates
from adowner.chain.schema import COINBASE_TXID
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
    roots = components_spark(spark, edges, checkpoint_every=2)
    assert roots.to_dict() == {**{f"n{i:02d}": "n00" for i in range(1, 7)}, "z2": "z1", "z3": "z1"}
    assert components_spark(spark, edges.iloc[:0]).empty


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
    assert on_spark["inputs"] == local["inputs"]
    assert on_spark["skipped_transactions"] > 0
    assert int(spark.conf.get("spark.sql.shuffle.partitions")) == shuffle_partitions_for(
        sum(f.stat().st_size for f in (tmp_path / "chain").glob("*puts.parquet")), 2
    )


def test_shuffle_partitions_rule():
    from adowner.chain.spark import shuffle_partitions_for

    assert shuffle_partitions_for(0, 2) == 4  # two per core at least
    assert shuffle_partitions_for(150 * 2**20, 2) == 5  # 1 M inputs: 600 MiB of rows
    assert shuffle_partitions_for(100 * 2**30, 64) == 3200  # 100 GiB of Parquet
