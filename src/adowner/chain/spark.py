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


def components_spark(
    spark: Any, edges: Any, *, checkpoint_every: int = 3, max_rounds: int = 200
) -> pd.Series:
    """node -> smallest node of its component, for every node with an edge that is not a root."""
    from pyspark.sql import functions as F

    if isinstance(edges, pd.DataFrame):
        if edges.empty:
            return pd.Series([], dtype=object)
        edges = spark.createDataFrame(edges[["src", "dst"]].astype(str))
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
