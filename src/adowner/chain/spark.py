"""Connected components on Spark DataFrames: large-star / small-star (Kiveris et al., 2014).

GraphFrames cannot be installed here (its jar is not on PyPI), so the algorithm of
"Connected Components in MapReduce and Beyond" (Kiveris, Lattanzi, Mirrokni, Rastogi,
Vassilvitskii; SoCC 2014) is written over DataFrames. Nodes are address strings and are
compared as strings, so every node ends pointing at the smallest address of its component:
the same cluster id as the local engine.

One round is a large-star then a small-star step on the edge set ``(u, v)``:

* large-star: each node u links every neighbour larger than u to m(u), the smallest of u and
  its neighbours;
* small-star: each node u links itself and its neighbours no larger than u to the smallest
  of them.

It stops when the edges form stars around their roots (no edge points to a node that has an
edge of its own, and each node has one edge): O(log² n) rounds in the worst case, a handful in
practice. The lineage is cut every round (``localCheckpoint``) and written to the checkpoint
folder every ``checkpoint_every`` rounds, so long runs neither grow their plans nor lose
their progress to an executor failure.

Requires: an edge DataFrame (pandas or Spark) with columns ``src, dst``; a SparkSession (see
:func:`spark_session`, which sets ``local[*]``, no UI, few shuffle partitions).

Example::

    spark = spark_session()
    mapping = components_spark(spark, pd.DataFrame({"src": ["b", "c"], "dst": ["a", "b"]}))
    mapping.to_dict()   # {"b": "a", "c": "a"}: node -> root (roots themselves are left out)
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import pandas as pd

from adowner.log import get_logger

log = get_logger(__name__)


def spark_session(
    master: str = "local[*]",
    *,
    shuffle_partitions: int = 4,
    checkpoint_dir: str | None = None,
    driver_memory: str = "2g",
) -> Any:
    """A quiet SparkSession for chain jobs (UI off, small shuffles, a checkpoint folder)."""
    os.environ.setdefault("PYSPARK_PYTHON", "python3")
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master(master)
        .appName("adowner-chain")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        .config("spark.default.parallelism", str(shuffle_partitions))
        .config("spark.driver.memory", driver_memory)
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.adaptive.enabled", "false")  # tiny stages; AQE only adds planning
        # no broadcast joins: the components' rounds keep earlier rounds' checkpointed blocks in
        # memory, and a broadcast on top of them failed a test run with "Not enough memory to
        # build and broadcast the table"; at chain scale the joined tables are too large to
        # broadcast anyway, so sort-merge joins are what runs
        .config("spark.sql.autoBroadcastJoinThreshold", "-1")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    spark.sparkContext.setCheckpointDir(checkpoint_dir or tempfile.mkdtemp(prefix="adowner-spark-"))
    return spark


def _large_star(e: Any) -> Any:
    from pyspark.sql import functions as F

    sym = e.select("u", "v").union(e.select(F.col("v").alias("u"), F.col("u").alias("v")))
    m = (
        sym.groupBy("u")
        .agg(F.min("v").alias("m"))
        .select("u", F.least(F.col("m"), F.col("u")).alias("m"))
    )
    return (
        sym.where(F.col("v") > F.col("u"))
        .join(m, "u")
        .select(F.col("v").alias("u"), F.col("m").alias("v"))
    )  # duplicates go in small-star's distinct()


def _small_star(e: Any) -> Any:
    from pyspark.sql import functions as F

    d = e.select(F.greatest("u", "v").alias("hi"), F.least("u", "v").alias("lo")).distinct()
    m = d.groupBy("hi").agg(F.min("lo").alias("m"))
    leaves = d.join(m, "hi").where(F.col("lo") != F.col("m"))
    return (
        leaves.select(F.col("lo").alias("u"), F.col("m").alias("v"))
        .union(m.select(F.col("hi").alias("u"), F.col("m").alias("v")))
        .distinct()
    )


def _converged(e: Any) -> bool:
    """True when the edges (u > v) are stars: every u has one edge and no v has an edge.

    One shuffle: each node counts its edges as ``u`` and whether it is some edge's ``v``.
    """
    from pyspark.sql import functions as F

    ends = e.select(F.col("u").alias("x"), F.lit(1).alias("as_u"), F.lit(0).alias("as_v")).union(
        e.select(F.col("v").alias("x"), F.lit(0).alias("as_u"), F.lit(1).alias("as_v"))
    )
    per_node = ends.groupBy("x").agg(F.sum("as_u").alias("cu"), F.max("as_v").alias("cv"))
    bad = per_node.where((F.col("cu") > 1) | ((F.col("cu") >= 1) & (F.col("cv") == 1)))
    return bool(bad.limit(1).count() == 0)


def components_df(edges: Any, *, checkpoint_every: int = 3, max_rounds: int = 200) -> Any:
    """Spark DataFrame ``u, v``: node -> smallest node of its component (roots left out).

    ``edges``: a Spark DataFrame ``src, dst``. Runs on the executors; only counts reach the
    driver (the convergence test).
    """
    from pyspark.sql import functions as F

    e = (
        edges.select(F.col("src").alias("u"), F.col("dst").alias("v"))
        .where(F.col("u") != F.col("v"))
        .select(F.greatest("u", "v").alias("u"), F.least("u", "v").alias("v"))
        .distinct()
    )
    for rnd in range(1, max_rounds + 1):
        e = _small_star(_large_star(e))
        e = (
            e.checkpoint(eager=True)
            if rnd % checkpoint_every == 0
            else e.localCheckpoint(eager=True)
        )
        if _converged(e):
            log.info("large-star/small-star converged after %d rounds", rnd)
            break
    else:
        raise RuntimeError(f"connected components did not converge in {max_rounds} rounds")
    return e


def components_spark(
    spark: Any, edges: Any, *, checkpoint_every: int = 3, max_rounds: int = 200
) -> pd.Series:
    """node -> smallest node of its component, for every node with an edge that is not a root.

    A driver-side wrapper of :func:`components_df` (pandas or Spark edges in, pandas out).
    """
    if isinstance(edges, pd.DataFrame):
        if edges.empty:
            return pd.Series([], dtype=object)
        edges = spark.createDataFrame(edges[["src", "dst"]].astype(str))
    e = components_df(edges, checkpoint_every=checkpoint_every, max_rounds=max_rounds)
    result = e.toPandas()
    return pd.Series(result["v"].to_numpy(), index=result["u"].to_numpy(), name="root")


def match_pairs_spark(
    spark: Any,
    ads: pd.DataFrame,
    payments: pd.DataFrame,
    *,
    window_minutes: int,
    minutes_after: int,
) -> pd.DataFrame:
    """(ad_row, pay_row) pairs meeting the payment rule, as an equi-join on the minute.

    ``ads``: ``ad_row, minute, lo_cents, hi_cents``; ``payments``: ``pay_row, minute, cents``
    (USD values already converted at the rate of their moment). Each ad is exploded over the
    minutes of its window, joined with the payments of that minute, and range-filtered on cents.
    """
    from pyspark.sql import functions as F

    if ads.empty or payments.empty:
        return pd.DataFrame({"ad_row": [], "pay_row": []}, dtype="int64")
    a = spark.createDataFrame(ads[["ad_row", "minute", "lo_cents", "hi_cents"]])
    p = spark.createDataFrame(payments[["pay_row", "minute", "cents"]])
    offsets = F.sequence(F.lit(-window_minutes), F.lit(minutes_after))
    a = a.withColumn("off", F.explode(offsets)).withColumn("minute", F.col("minute") + F.col("off"))
    pairs = (
        a.join(p, "minute")
        .where((F.col("cents") >= F.col("lo_cents")) & (F.col("cents") <= F.col("hi_cents")))
        .select("ad_row", "pay_row")
    )
    return pd.DataFrame(pairs.toPandas(), columns=["ad_row", "pay_row"]).astype("int64")


# Target bytes of shuffled data per partition (Spark's own default for file splits,
# ``spark.sql.files.maxPartitionBytes``), and how much a Parquet byte grows once decoded
# into shuffle rows (measured on the benchmark's folder: snappy Parquet of random hex ids
# compresses little, the rows carry JVM overhead).
PARTITION_BYTES = 128 * 1024 * 1024
PARQUET_EXPANSION = 4


def shuffle_partitions_for(input_bytes: int, cores: int) -> int:
    """``spark.sql.shuffle.partitions`` for a chain of ``input_bytes`` Parquet bytes.

    The rule: one partition per 128 MiB of decoded rows (``input_bytes * 4 / 128 MiB``),
    rounded up, and at least two per core so that every core has work and a straggler
    costs half a task. 1 M inputs (about 150 MB of Parquet) on 2 cores: 5 partitions.
    """
    return max(2 * max(cores, 1), -(-input_bytes * PARQUET_EXPANSION // PARTITION_BYTES))


def features_spark(inputs: Any, outputs: Any) -> Any:
    """:func:`adowner.chain.coinjoin.features_coded` as Spark aggregates, candidates only.

    ``inputs``: spending inputs ``txid, address``; ``outputs``: ``txid, address, value_sat,
    script_type``. One row per transaction with at least 2 inputs and 2 outputs (the only
    ones a guard rule can flag), with the columns of ``chain.coinjoin``'s feature table. The
    most common output value and its count come from one ``max(struct(count, value))`` per
    transaction over the per-(transaction, value) counts: largest value on ties, as locally.
    """
    from pyspark.sql import functions as F

    from adowner.chain.coinjoin import SEGWIT_TYPES

    a = F.col("address")
    seg_in = ((a.startswith("bc1q") & (F.length(a) == 42)) | a.startswith("bc1p")).cast("int")
    ins = inputs.groupBy("txid").agg(
        F.count(F.lit(1)).alias("n_in"),
        F.countDistinct("address").alias("n_in_addresses"),
        (F.min(F.coalesce(seg_in, F.lit(0))) == 1).alias("in_segwit"),
    )
    seg_out = F.coalesce(F.col("script_type").isin(list(SEGWIT_TYPES)), F.lit(False))
    outs = outputs.groupBy("txid").agg(
        F.count(F.lit(1)).alias("n_out"),
        (F.min(seg_out.cast("int")) == 1).alias("out_segwit"),
    )
    values = (
        outputs.groupBy("txid", "value_sat")
        .agg(F.count(F.lit(1)).alias("c"))
        .groupBy("txid")
        .agg(
            F.max(F.struct("c", "value_sat")).alias("top"),
            F.sum(F.when(F.col("c") >= 2, F.col("c")).otherwise(0)).alias("n_repeated"),
        )
        .select(
            "txid",
            F.col("top.value_sat").cast("long").alias("mode_value"),
            F.col("top.c").cast("long").alias("mode_count"),
            F.col("n_repeated").cast("long").alias("n_repeated"),
        )
    )
    cand = ins.join(outs, "txid").where((F.col("n_in") >= 2) & (F.col("n_out") >= 2))
    return cand.join(values, "txid")


def guard_spark(features: Any, rules: tuple[str, ...]) -> Any:
    """``txid, rule``: the first rule of ``rules`` (in ``RULES`` order) that flags each
    transaction of :func:`features_spark`, for flagged transactions only.

    The rule functions are ``chain.coinjoin.RULES`` themselves, applied to the Spark
    DataFrame (they return Columns), so both engines share one definition.
    """
    from pyspark.sql import functions as F

    from adowner.chain.coinjoin import RULES

    rule = None
    for name, fn in RULES.items():
        if name not in rules:
            continue
        rule = (F if rule is None else rule).when(fn(features), F.lit(name))
    if rule is None:
        return features.select("txid", F.lit(None).cast("string").alias("rule")).limit(0)
    return features.select("txid", rule.alias("rule")).where(F.col("rule").isNotNull())


def cluster_spark(
    inputs: Any, outputs: Any, policy: Any, payees: set[str] | None = None
) -> dict[str, Any]:
    """The whole clustering of ``chain.cluster`` as Spark DataFrame operations.

    ``inputs`` (spending, ``txid, address``) and ``outputs`` (``txid, address, value_sat,
    script_type``) are Spark DataFrames, ``policy`` a ``chain.policy.Policy`` (with
    ``known_payee_change`` already made inactive when there are no ``payees``). Returns Spark
    DataFrames, nothing collected:

    * ``clusters``: ``address, cluster_id, cluster_size, first_seen`` (``first_seen`` orders
      addresses as the local engine does: inputs first, in row order);
    * ``skipped``: ``txid, rule``;
    * ``links``: ``txid, rule, address`` (null address for ``multi_input``);
    * ``edges``: ``src, dst``.

    Rules, as ``chain.cluster``: the guard's flagged transactions are left out; each kept
    input address links to its transaction's representative (smallest) input address
    (``multi_input``); ``known_payee_change`` links the non-payee output of a two-output
    transaction with exactly one payee output; ``one_time_change`` the only output of a
    transaction (2+ outputs, no self-change) whose address receives once in the whole data.
    Components: :func:`components_df` (large-star/small-star, Kiveris et al. 2014).
    """
    from pyspark.sql import functions as F

    spark = inputs.sparkSession
    empty_links = spark.createDataFrame([], "txid string, rule string, address string")
    feats = features_spark(inputs, outputs)
    skipped = guard_spark(feats, policy.guard_rules)
    if policy.guard_rules:
        skipped = skipped.localCheckpoint(eager=True)  # used by every rule below
    kept = inputs.where(F.col("address").isNotNull()).join(
        skipped.select("txid"), "txid", "left_anti"
    )
    rep = kept.groupBy("txid").agg(F.min("address").alias("rep"))
    edge_parts, link_parts = [], []
    if policy.has("multi_input"):
        mi = kept.join(rep, "txid").where(F.col("address") != F.col("rep"))
        edge_parts.append(mi.select(F.col("address").alias("src"), F.col("rep").alias("dst")))
        link_parts.append(
            mi.select("txid")
            .distinct()
            .select(
                "txid",
                F.lit("multi_input").alias("rule"),
                F.lit(None).cast("string").alias("address"),
            )
        )
    n_out = outputs.groupBy("txid").agg(F.count(F.lit(1)).alias("n_out"))
    if policy.has("known_payee_change"):
        payee_df = F.broadcast(
            spark.createDataFrame([(p,) for p in sorted(payees or ())], "payee string")
        )
        o = (
            outputs.join(rep, "txid")
            .join(payee_df, F.col("address") == F.col("payee"), "left")
            .withColumn("to_payee", F.col("payee").isNotNull())
        )
        w_tx = o.groupBy("txid").agg(
            F.count(F.lit(1)).alias("n_out"), F.sum(F.col("to_payee").cast("int")).alias("n_pay")
        )
        ok = w_tx.where((F.col("n_out") == 2) & (F.col("n_pay") == 1)).select("txid")
        ch = o.join(ok, "txid").where(F.col("address").isNotNull() & ~F.col("to_payee"))
        edge_parts.append(ch.select(F.col("address").alias("src"), F.col("rep").alias("dst")))
        link_parts.append(ch.select("txid", F.lit("known_payee_change").alias("rule"), "address"))
    if policy.has("one_time_change"):
        has = outputs.where(F.col("address").isNotNull())
        receives = has.groupBy("address").agg(F.count(F.lit(1)).alias("receives"))
        fresh = has.join(rep, "txid").join(receives, "address").where(F.col("receives") == 1)
        n_fresh = fresh.groupBy("txid").agg(F.count(F.lit(1)).alias("n_fresh"))
        own = has.join(kept.select("txid", "address"), ["txid", "address"], "left_semi")
        ok = (
            n_fresh.where(F.col("n_fresh") == 1)
            .join(n_out.where(F.col("n_out") >= 2), "txid")
            .join(own.select("txid").distinct(), "txid", "left_anti")
            .select("txid")
        )
        ch = fresh.join(ok, "txid")
        edge_parts.append(ch.select(F.col("address").alias("src"), F.col("rep").alias("dst")))
        link_parts.append(ch.select("txid", F.lit("one_time_change").alias("rule"), "address"))
    edges = spark.createDataFrame([], "src string, dst string")
    for part in edge_parts:
        edges = edges.unionByName(part)
    links = empty_links
    for part in link_parts:
        links = links.unionByName(part)
    roots = components_df(edges)
    seen = (
        inputs.select("address", F.lit(0).alias("side"))
        .withColumn("row", F.monotonically_increasing_id())
        .unionByName(
            outputs.select("address", F.lit(1).alias("side")).withColumn(
                "row", F.monotonically_increasing_id()
            )
        )
        .where(F.col("address").isNotNull())
        .groupBy("address")
        .agg(F.min(F.struct("side", "row")).alias("first_seen"))
    )
    members = seen.join(
        roots.select(F.col("u").alias("address"), F.col("v").alias("root")), "address", "left"
    )
    members = members.withColumn("cluster_id", F.coalesce("root", "address"))
    sizes = members.groupBy("cluster_id").agg(F.count(F.lit(1)).alias("cluster_size"))
    clusters = members.join(sizes, "cluster_id").select(
        "address", "cluster_id", F.col("cluster_size").cast("long"), "first_seen"
    )
    return {"clusters": clusters, "skipped": skipped, "links": links, "edges": edges}
