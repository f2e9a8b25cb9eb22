"""Connected components on Spark DataFrames: a local contraction, then large-star/small-star.

GraphFrames cannot be installed here (its jar is not on PyPI), so the algorithm of
"Connected Components in MapReduce and Beyond" (Kiveris, Lattanzi, Mirrokni, Rastogi,
Vassilvitskii; SoCC 2014) is written over DataFrames, with the same two refinements as
GraphFrames' ``connectedComponents`` (large-star/small-star on integer ids, checkpoints every
few rounds) and a local first phase:

1. **Integer node ids**: an address's id is its 64-bit ``xxhash64`` (:func:`node_id`),
   computed column by column; that no two addresses share an id is checked
   (:func:`ids_collide`), and on a collision the address strings themselves are the ids. A
   component's cluster id is then its smallest *address*, one aggregate at the end, so the
   result is the local engine's.
2. **Local contraction first**, a two-phase scheme (solve what each partition holds, then
   iterate over the boundary only). It is added here: Kiveris et al. and GraphFrames iterate
   over the whole graph. ``mapInPandas`` runs scipy ``connected_components`` on each
   partition's edges, on the executors (:func:`_local_stars`). A node seen in one partition
   only is settled by its local root; only the nodes seen in two or more partitions, with
   their local roots, go on (:func:`_contract`), and the settled ones are joined to their
   root's final root at the end.
3. **Large-star/small-star rounds** on what is left (:func:`_iterate`), two shuffles a round:

   * large-star: each node u links every neighbour larger than u to m(u), the smallest of u
     and its neighbours (one ``groupBy`` collecting each node's neighbours);
   * small-star: each node u links itself and its neighbours no larger than u to the
     smallest of them (one ``groupBy``).

   It stops when the edges form stars around their roots (no node has two smaller
   neighbours, or a smaller and a larger one): the test is a column of the next round's
   large-star grouping, read from its checkpoint with no shuffle of its own. O(log² n) rounds
   in the worst case, a handful in practice. The lineage is cut every round
   (``localCheckpoint``) and written to the checkpoint folder every ``CHECKPOINT_EVERY``
   rounds, so long runs neither grow their plans nor lose all their progress to an executor
   failure.

Measured levers (``scripts/bench_chain.py spark-levers``, docs/BENCHMARKS.md): hashed ids
about halve the components' time against address strings, the local contraction takes a
further quarter off, and fewer, larger partitions help the contraction.

Requires: an edge DataFrame (pandas or Spark) with columns ``src, dst``; a SparkSession (see
:func:`spark_session`, which sets ``local[*]``, no UI, few shuffle partitions).

Example::

    spark = spark_session()
    mapping = components_spark(spark, pd.DataFrame({"src": ["b", "c"], "dst": ["a", "b"]}))
    mapping.to_dict()   # {"b": "a", "c": "a"}: node -> root (roots themselves are left out)
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
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
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master(master)
        .appName("adowner-chain")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        .config("spark.driver.memory", driver_memory)
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.adaptive.enabled", "false")  # tiny stages; AQE only adds planning
        # no broadcast joins: the components' rounds keep earlier rounds' checkpointed blocks in
        # memory, and a broadcast on top of them failed a test run with "Not enough memory to
        # build and broadcast the table"; at chain scale the joined tables are too large to
        # broadcast anyway, so sort-merge joins are what runs
        .config("spark.sql.autoBroadcastJoinThreshold", "-1")
        # pandas writes nanosecond timestamps, which Spark reads only as longs
        .config("spark.sql.legacy.parquet.nanosAsLong", "true")
        # matches' timestamps as Parquet's TIMESTAMP(MICROS), not the legacy INT96
        .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    spark.sparkContext.setCheckpointDir(checkpoint_dir or tempfile.mkdtemp(prefix="adowner-spark-"))
    return spark


# Rounds between reliable checkpoints (written to the checkpoint folder); the rounds between
# only cut their lineage (``localCheckpoint``, kept in executor memory).
CHECKPOINT_EVERY = 4


def _local_stars(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """``mapInPandas`` body: one partition's edges ``u, v`` -> ``x, r`` for every node ``x`` of
    the partition, ``r`` the smallest node of its component among this partition's edges
    (scipy ``connected_components``, on the executor; roots included as ``x = r``)."""
    import numpy as np
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    frames = [b for b in batches if len(b)]
    if not frames:
        return
    df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    m = len(df)
    codes, uniques = pd.factorize(np.concatenate([df["u"].to_numpy(), df["v"].to_numpy()]))
    uniques = np.asarray(uniques)
    n = len(uniques)
    graph = coo_matrix((np.ones(m, np.int8), (codes[:m], codes[m:])), shape=(n, n))
    n_comp, labels = connected_components(graph, directed=False)
    order = np.argsort(uniques, kind="stable")
    rank = np.empty(n, np.int64)
    rank[order] = np.arange(n)
    best = np.full(n_comp, n, np.int64)
    np.minimum.at(best, labels, rank)
    yield pd.DataFrame({"x": uniques, "r": uniques[order[best[labels]]]})


def _contract(e: Any) -> tuple[Any, Any]:
    """Local contraction, the first of two phases: ``(core, leaves)``.

    Each partition's edges are reduced to stars around the smallest node of each of their
    local components (:func:`_local_stars`). A node seen in one partition only, and not the
    root there, is a *leaf*: its component is its local root's, so it leaves the iterative
    phase (``leaves``: ``u`` -> local root ``v``). The ``core`` edges, ``(x, local root)`` for
    every node seen in two or more partitions, connect the local components to each other and
    are all the large-star/small-star rounds see.
    """
    from pyspark.sql import functions as F

    stars = e.mapInPandas(_local_stars, f"x {_type(e, 'u')}, r {_type(e, 'u')}")
    g = (
        stars.groupBy("x")
        .agg(F.count(F.lit(1)).alias("n"), F.collect_list("r").alias("rs"))
        .localCheckpoint(eager=True)
    )
    leaves = g.where(F.col("n") == 1).select(F.col("x").alias("u"), F.col("rs")[0].alias("v"))
    core = (
        g.where(F.col("n") > 1)
        .select(F.col("x").alias("u"), F.explode("rs").alias("v"))
        .where(F.col("u") != F.col("v"))
    )
    return core, leaves.where(F.col("u") != F.col("v"))


def _type(df: Any, col: str) -> str:
    return str(df.schema[col].dataType.simpleString())


def _large_star_grouped(e: Any) -> Any:
    """Each node's distinct neighbours (one shuffle), with ``bad``: the node breaks the star
    condition (two smaller neighbours, or a smaller and a larger one)."""
    from pyspark.sql import functions as F

    sym = e.select("u", "v").union(e.select(F.col("v").alias("u"), F.col("u").alias("v")))
    g = sym.groupBy("u").agg(F.array_distinct(F.collect_list("v")).alias("nb"))
    lo = F.filter("nb", lambda x: x < F.col("u"))
    hi = F.filter("nb", lambda x: x > F.col("u"))
    return g.select(
        "u",
        F.least(F.col("u"), F.array_min("nb")).alias("m"),
        lo.alias("lo"),
        hi.alias("hi"),
    ).withColumn("bad", (F.size("lo") > 1) | ((F.size("lo") >= 1) & (F.size("hi") >= 1)))


def _small_star(e: Any) -> Any:
    """Small-star: each node ``u`` links itself and its smaller neighbours to the smallest of
    them (one shuffle; ``e`` has ``u > v``)."""
    from pyspark.sql import functions as F

    g = e.groupBy("u").agg(F.array_distinct(F.collect_list("v")).alias("nb"))
    g = g.select(F.array_union("nb", F.array("u")).alias("all"), F.array_min("nb").alias("m"))
    return (
        g.select(F.explode("all").alias("u"), "m")
        .where(F.col("u") != F.col("m"))
        .select("u", F.col("m").alias("v"))
    )


def _iterate(e: Any, *, checkpoint_every: int, max_rounds: int) -> tuple[Any, int]:
    """Large-star/small-star rounds on edges ``u > v`` until they are stars; ``(u -> root, rounds)``.

    Each round is two shuffles: the large-star's grouping, which also tells whether its input
    (the previous round's result) was already made of stars — the convergence test folded
    into the round, read from the checkpointed grouping without another shuffle — and the
    small-star's.
    """
    from pyspark.sql import functions as F

    for rnd in range(1, max_rounds + 1):
        g = _large_star_grouped(e).localCheckpoint(eager=True)
        if g.where(F.col("bad")).limit(1).count() == 0:
            roots = g.where(F.size("lo") == 1).select("u", F.col("lo")[0].alias("v"))
            return roots, rnd - 1
        big = g.select(F.explode("hi").alias("u"), F.col("m").alias("v"))
        e = _small_star(big)
        e = (
            e.checkpoint(eager=True)
            if rnd % checkpoint_every == 0
            else e.localCheckpoint(eager=True)
        )
    raise RuntimeError(f"connected components did not converge in {max_rounds} rounds")


def components_df(
    edges: Any,
    *,
    checkpoint_every: int = CHECKPOINT_EVERY,
    max_rounds: int = 200,
    local_first: bool = True,
) -> Any:
    """Spark DataFrame ``u, v``: node -> smallest node of its component (roots left out).

    ``edges``: a Spark DataFrame ``src, dst`` (any orderable type; integer ids are fastest).
    Runs on the executors; only counts reach the driver (the convergence test). With
    ``local_first`` (default), a local contraction on each partition first (:func:`_contract`)
    leaves only the edges between partitions to the iterative rounds.
    """
    from pyspark.sql import functions as F

    e = (
        edges.select(F.col("src").alias("u"), F.col("dst").alias("v"))
        .where(F.col("u") != F.col("v"))
        .select(F.greatest("u", "v").alias("u"), F.least("u", "v").alias("v"))
    )
    if not local_first:
        roots, rounds = _iterate(e, checkpoint_every=checkpoint_every, max_rounds=max_rounds)
        log.info("large-star/small-star converged after %d rounds", rounds)
        return roots
    core, leaves = _contract(e)
    roots, rounds = _iterate(core, checkpoint_every=checkpoint_every, max_rounds=max_rounds)
    roots = roots.localCheckpoint(eager=True)
    log.info("local contraction, then large-star/small-star converged after %d rounds", rounds)
    via = leaves.join(roots.select(F.col("u").alias("v"), F.col("v").alias("root")), "v", "left")
    return roots.unionByName(via.select("u", F.coalesce("root", "v").alias("v")))


def components_spark(
    spark: Any,
    edges: Any,
    *,
    checkpoint_every: int = CHECKPOINT_EVERY,
    max_rounds: int = 200,
    local_first: bool = True,
) -> pd.Series:
    """node -> smallest node of its component, for every node with an edge that is not a root.

    A driver-side wrapper of :func:`components_df` (pandas or Spark edges in, pandas out).
    """
    if isinstance(edges, pd.DataFrame):
        if edges.empty:
            return pd.Series([], dtype=object)
        edges = spark.createDataFrame(edges[["src", "dst"]].astype(str))
    e = components_df(
        edges, checkpoint_every=checkpoint_every, max_rounds=max_rounds, local_first=local_first
    )
    result = e.toPandas()
    return pd.Series(result["v"].to_numpy(), index=result["u"].to_numpy(), name="root")


def write_parquet_dir(df: Any, path: str | os.PathLike[str]) -> None:
    """``df`` as a Parquet folder at ``path`` by Spark's writer (the executors write their
    part files), atomically: into a temporary folder beside ``path``, renamed into place
    (:func:`adowner._io.atomic_dir`; a file at ``path`` is replaced too). Only the
    ``part-*.parquet`` files stay in the folder (Hadoop's ``.crc`` checksums and the
    ``_SUCCESS`` marker are removed: the rename is the success marker), so that pyarrow,
    pandas and polars all read the folder as one table."""
    from pathlib import Path

    from adowner._io import atomic_dir

    target = Path(path)
    with atomic_dir(target) as tmp:
        df.write.mode("overwrite").parquet(str(tmp))
        for f in tmp.iterdir():
            if not (f.name.startswith("part-") and f.name.endswith(".parquet")):
                f.unlink()
        if target.is_file():
            target.unlink()  # the local engine's single file: the folder takes its place


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
    rounded up, and at least one per core so that every core has work. Fewer, larger
    partitions are faster for the components (the local contraction settles more of the graph
    on each: at 1 M inputs 2 partitions took 8.9 s against 8 partitions' 11.2 s,
    docs/BENCHMARKS.md), so there are no more than that. ``cores``: the executors' cores
    (``defaultParallelism``). 1 M inputs (about 150 MB of Parquet) on 2 cores: 5 partitions.
    """
    return max(max(cores, 1), -(-input_bytes * PARQUET_EXPANSION // PARTITION_BYTES))


def tx_inputs(inputs: Any) -> Any:
    """Per transaction, its inputs in one shuffle: ``txid, n_in, addrs`` (distinct non-null
    input addresses), ``in_segwit``, ``rep`` (smallest input address)."""
    from pyspark.sql import functions as F

    a = F.col("address")
    seg_in = ((a.startswith("bc1q") & (F.length(a) == 42)) | a.startswith("bc1p")).cast("int")
    return (
        inputs.groupBy("txid")
        .agg(
            F.count(F.lit(1)).alias("n_in"),
            F.array_distinct(F.collect_list("address")).alias("addrs"),
            (F.min(F.coalesce(seg_in, F.lit(0))) == 1).alias("in_segwit"),
        )
        .withColumn("rep", F.array_min("addrs"))
    )


def features_spark(inputs: Any, outputs: Any, tx_in: Any = None) -> Any:
    """:func:`adowner.chain.coinjoin.features_coded` as Spark aggregates, candidates only.

    ``inputs``: spending inputs ``txid, address``; ``outputs``: ``txid, address, value_sat,
    script_type``; ``tx_in``: :func:`tx_inputs` of ``inputs`` if already made. One row per
    transaction with at least 2 inputs and 2 outputs (the only ones a guard rule can flag),
    with the columns of ``chain.coinjoin``'s feature table. One shuffle of the inputs and one
    of the outputs, both by ``txid`` (so their join needs none): each transaction's output
    values are collected, and the most common value and its count are the largest
    ``(count, value)`` over its distinct values (largest value on ties, as locally).
    """
    from pyspark.sql import functions as F

    from adowner.chain.coinjoin import SEGWIT_TYPES

    ins = (tx_in if tx_in is not None else tx_inputs(inputs)).select(
        "txid", "n_in", F.size("addrs").alias("n_in_addresses"), "in_segwit"
    )
    seg_out = F.coalesce(F.col("script_type").isin(list(SEGWIT_TYPES)), F.lit(False))
    outs = outputs.groupBy("txid").agg(
        F.count(F.lit(1)).alias("n_out"),
        (F.min(seg_out.cast("int")) == 1).alias("out_segwit"),
        F.collect_list("value_sat").alias("vals"),
    )
    cand = ins.join(outs, "txid").where((F.col("n_in") >= 2) & (F.col("n_out") >= 2))
    counts = F.transform(
        F.array_distinct("vals"),
        lambda v: F.struct(
            F.size(F.filter("vals", lambda x: x == v)).alias("c"), v.alias("value_sat")
        ),
    )
    cand = cand.withColumn("counts", counts)
    top = F.array_max("counts")
    repeated = F.aggregate(
        F.filter("counts", lambda x: x["c"] >= 2), F.lit(0), lambda acc, x: acc + x["c"]
    )
    return cand.select(
        "txid",
        "n_in",
        "n_in_addresses",
        "in_segwit",
        "n_out",
        "out_segwit",
        top["value_sat"].cast("long").alias("mode_value"),
        top["c"].cast("long").alias("mode_count"),
        repeated.cast("long").alias("n_repeated"),
    )


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


def node_id(col: str) -> Any:
    """A node's integer id: the 64-bit xxHash of its address (Spark's ``xxhash64``).

    Components on longs are several times cheaper to shuffle and compare than on 42-character
    strings, and the id is computed column by column (no dictionary to build and join back).
    Exactness is checked (:func:`ids_collide`); on a collision the caller falls back to the
    addresses themselves as ids.
    """
    from pyspark.sql import functions as F

    return F.xxhash64(F.col(col))


def ids_collide(seen: Any) -> bool:
    """True when two distinct addresses of ``seen`` (``address, id``; one row per address)
    share an id: one aggregate, a count to the driver."""
    from pyspark.sql import functions as F

    return bool(seen.groupBy("id").count().where(F.col("count") > 1).limit(1).count() > 0)


def cluster_spark(
    inputs: Any,
    outputs: Any,
    policy: Any,
    payees: set[str] | None = None,
    *,
    node_ids: Any = node_id,
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
    * ``edges``: ``src, dst`` as node ids (:func:`node_id`, or the addresses after a
      collision), checkpointed;
    * ``per_cluster``: ``root, cluster_id, cluster_size`` (the summary's counts);
    * ``tx_inputs``: :func:`tx_inputs` of ``inputs`` (``sum(n_in)`` is the input count).

    ``node_ids``: the id function (a test forces collisions with it).

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
    # The inputs are shuffled once: each transaction's distinct input addresses, kept (lazily
    # once computed) for the guard's features, the multi-input edges and the change rules.
    tx_in = tx_inputs(inputs).localCheckpoint(eager=False)
    feats = features_spark(inputs, outputs, tx_in)
    skipped = guard_spark(feats, policy.guard_rules)
    if policy.guard_rules:
        skipped = skipped.localCheckpoint(eager=True)  # used by every rule below
    kept_tx = tx_in.where(F.size("addrs") > 0).join(skipped.select("txid"), "txid", "left_anti")
    rep = kept_tx.select("txid", "rep")
    kept = kept_tx.select("txid", F.explode("addrs").alias("address"))
    edge_parts, link_parts = [], []
    if policy.has("multi_input"):
        mi = kept_tx.select("txid", "rep", F.explode("addrs").alias("address")).where(
            F.col("address") != F.col("rep")
        )
        edge_parts.append(mi.select(F.col("address").alias("src"), F.col("rep").alias("dst")))
        link_parts.append(
            kept_tx.where(F.size("addrs") >= 2).select(
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
        .withColumn("id", node_ids("address"))
        .localCheckpoint(eager=True)
    )
    if ids_collide(seen):
        log.warning("64-bit address hashes collide: components on the address strings")
        node_ids = F.col
        seen = seen.withColumn("id", F.col("address"))
    id_edges = edges.select(
        node_ids("src").alias("src"), node_ids("dst").alias("dst")
    ).localCheckpoint(eager=True)
    roots = components_df(id_edges)
    members = seen.join(
        roots.select(F.col("u").alias("id"), F.col("v").alias("root")), "id", "left"
    ).withColumn("root", F.coalesce("root", "id"))
    # A component's id is its smallest address (as the local engine): one aggregate per root.
    # Kept once computed (lazy checkpoints): the summary's counts read ``per_root``, and the
    # writer's range partitioning samples ``clusters`` before sorting it.
    per_root = (
        members.groupBy("root")
        .agg(F.min("address").alias("cluster_id"), F.count(F.lit(1)).alias("cluster_size"))
        .localCheckpoint(eager=False)
    )
    clusters = (
        members.join(per_root, "root")
        .select("address", "cluster_id", F.col("cluster_size").cast("long"), "first_seen")
        .localCheckpoint(eager=False)
    )
    return {
        "clusters": clusters,
        "per_cluster": per_root,
        "skipped": skipped,
        "links": links,
        "edges": id_edges,
        "tx_inputs": tx_in,
    }


def _usd_batches(
    rates: pd.Series, average_minutes: float
) -> Any:  # Callable[[Iterator[pd.DataFrame]], Iterator[pd.DataFrame]]
    """``mapInPandas`` body: each payment's USD value at its first-seen moment, with the very
    ``chain.rates.rate_at`` of the local engine (the rate series travels in the closure: a
    few thousand points), its minute and its cents; payments without a finite value dropped."""
    import numpy as np

    from adowner.chain.rates import rate_at

    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for b in batches:
            seen = pd.DatetimeIndex(
                pd.to_datetime(b["seen_us"].to_numpy(np.int64), unit="us", utc=True)
            )
            usd = b["value_sat"].to_numpy(np.float64) / 1e8 * rate_at(rates, seen, average_minutes)
            ok = np.isfinite(usd)
            yield pd.DataFrame(
                {
                    "pay_row": b["pay_row"].to_numpy()[ok],
                    "minute": b["seen_us"].to_numpy(np.int64)[ok] // 60_000_000,
                    "cents": np.rint(usd[ok] * 100).astype(np.int64),
                    "paid_usd": usd[ok],
                }
            )

    return run


def payments_spark(outputs: Any, transactions: Any, site: Any) -> Any:
    """``chain.match.payments_to_site`` as DataFrame operations: the outputs to ``site``
    (``address``) with their transaction's first-seen time (``seen_us``), numbered
    ``pay_row`` in the outputs' order (as the local table's rows), those without a
    first-seen time dropped."""
    from pyspark.sql import functions as F

    outs = outputs.select("txid", F.col("n").alias("vout"), "address", "value_sat").withColumn(
        "pay_row", F.monotonically_increasing_id()
    )
    pay = outs.join(site.select("address").distinct(), "address", "left_semi").join(
        transactions.select("txid", F.unix_micros("first_seen").alias("seen_us")), "txid", "left"
    )
    return pay


def match_spark(
    ads: Any,
    payments: Any,
    rates: pd.Series,
    *,
    inputs: Any,
    clusters: Any,
    window_minutes: int,
    minutes_after: int,
    tol: float,
    tol_sponsored: float,
    average_minutes: float,
) -> Any:
    """``chain.match.match_ads`` as DataFrame operations: one row per ad, the ``MATCHES``
    columns (``chain.tables``), in the ads' order (``ad_row``).

    ``ads``: ``ad_row, ad_id, posted_at, price_usd, sponsored``; ``payments``: from
    :func:`payments_spark`; ``inputs``: ``txid, index, address``; ``clusters``: ``address,
    cluster_id``. The USD conversion runs on the executors (:func:`_usd_batches`); each valid
    ad is exploded over the minutes of its window, equi-joined with the payments of that minute
    and range-filtered on cents (a sort-merge join); the candidates are ranked per ad by
    (abs(price error), abs(time gap), txid, payment row), as the local engine's stable sort;
    the payer is the cluster of the chosen transaction's first input with a cluster.
    """
    from pyspark.sql import functions as F

    pay = payments.where(F.col("seen_us").isNotNull())
    usd = pay.select("pay_row", "value_sat", "seen_us").mapInPandas(
        _usd_batches(rates, average_minutes),
        "pay_row long, minute long, cents long, paid_usd double",
    )
    pay = pay.join(usd, "pay_row")
    t = F.when(F.col("sponsored"), F.lit(tol_sponsored)).otherwise(F.lit(tol))
    a = (
        ads.withColumn("posted_us", F.unix_micros("posted_at"))
        .where(F.col("posted_us").isNotNull() & (F.col("price_usd") > 0))
        .withColumn("t", t)
        .select(
            "ad_row",
            "posted_us",
            "price_usd",
            "t",
            F.floor(F.col("price_usd") * (1 - F.col("t")) * 100).alias("lo_c"),
            F.ceil(F.col("price_usd") * (1 + F.col("t")) * 100).alias("hi_c"),
            F.explode(
                F.sequence(
                    F.expr("posted_us div 60000000") - window_minutes,
                    F.expr("posted_us div 60000000") + minutes_after,
                )
            ).alias("minute"),
        )
    )
    cand = a.join(pay, "minute").where(
        (F.col("cents") >= F.col("lo_c")) & (F.col("cents") <= F.col("hi_c"))
    )
    rel = (F.col("paid_usd") - F.col("price_usd")) / F.col("price_usd")
    cand = cand.select(
        "ad_row",
        F.abs(rel).alias("err"),
        F.abs((F.col("posted_us") - F.col("seen_us")) / 1e6).alias("gap"),
        "txid",
        "pay_row",
        "vout",
        "value_sat",
        "seen_us",
        "paid_usd",
        (F.col("paid_usd") / (F.col("value_sat") / 1e8)).alias("rate_usd"),
        rel.alias("rel_error"),
        (1 - F.abs(rel) / F.col("t")).alias("score"),
    )
    per_ad = cand.groupBy("ad_row").agg(
        F.sort_array(
            # every candidate column, sort key (err, then gap) first
            F.collect_list(F.struct(*cand.columns[1:]))
        ).alias("c")
    )
    per_ad = per_ad.select(
        "ad_row",
        F.size("c").alias("n_candidates"),
        F.transform("c", lambda x: x["txid"]).alias("candidate_txids"),
        F.col("c")[0].alias("best"),
    )
    chosen = per_ad.select("ad_row", F.col("best.txid").alias("txid"))
    ins = inputs.join(chosen.select("txid").distinct(), "txid", "left_semi").join(
        clusters.select("address", "cluster_id"), "address", "left"
    )
    first = F.when(F.col("cluster_id").isNotNull(), F.struct("index", "cluster_id"))
    payer = ins.groupBy("txid").agg(
        F.min(first)["cluster_id"].alias("payer_cluster_id"),
        F.countDistinct("cluster_id").alias("payer_clusters"),
    )
    n = F.coalesce(F.col("n_candidates"), F.lit(0))
    out = (
        ads.join(per_ad, "ad_row", "left")
        .join(payer, F.col("best.txid") == payer["txid"], "left")
        .select(
            "ad_row",
            F.col("ad_id").cast("string"),
            "posted_at",
            F.col("price_usd").cast("double"),
            F.col("sponsored").cast("boolean"),
            n.cast("long").alias("n_candidates"),
            F.when(n == 1, "unique")
            .when(n > 1, "ambiguous")
            .otherwise("none")
            .alias("match_status"),
            F.coalesce("candidate_txids", F.array().cast("array<string>")).alias("candidate_txids"),
            F.col("best.txid").alias("txid"),
            F.col("best.vout").cast("long").alias("vout"),
            F.col("best.value_sat").cast("long").alias("value_sat"),
            F.timestamp_micros(F.col("best.seen_us")).alias("first_seen"),
            F.col("best.paid_usd").alias("paid_usd"),
            F.col("best.rate_usd").alias("rate_usd"),
            F.col("best.rel_error").alias("rel_error"),
            F.col("best.score").alias("score"),
            "payer_cluster_id",
            F.col("payer_clusters").cast("long").alias("payer_clusters"),
        )
    )
    return out.orderBy("ad_row").drop("ad_row")
