"""Match ads to the Bitcoin payments that paid for them (Portnoff et al., KDD 2017, section 5).

What it computes: the ad site posted an ad as soon as its payment processor saw the payment.
An ad matches an output to one of the site's payment addresses when

* the transaction was first seen (mempool log) in the ad's minute or up to ``window_minutes``
  minutes before it (the ad follows the payment), or up to ``minutes_after`` after it (our node
  heard of it late); the paper's rule is one minute;
* the output's USD value, at the rate of its first-seen moment (a 10-minute average,
  ``chain.rates``), is the ad's price within ±``tol`` (±2%), or ±``tol_sponsored`` (±5%) for
  sponsored ads.

Among several candidates the closest in price is chosen (then the closest in time), and the
ad is ``ambiguous``; with one it is ``unique``; with none, ``none``. The payer is the wallet
cluster of the chosen transaction's inputs (``chain.cluster``).

It scales by sorting, not by pairs: payments are sorted by (first-seen minute, USD cents)
packed into one int64 key, and each ad looks up its window with two binary searches per
minute (``numpy.searchsorted``); only true candidates are ever materialised. Cost is
O((A·W + P) log P) for A ads, P payments, W window minutes. ``engine="spark"`` does the same as
an equi-join on the minute bucket plus a range filter, for data beyond one machine:
:func:`match_chain_spark` (``chain match --engine spark``) runs the whole step as DataFrame
operations (ads and the ingest folder read by Spark, USD values on the executors, the join,
the ranking, the payer clusters) and writes a Parquet folder with Spark's writer
(``chain.spark.match_spark``); it gives the local engine's matches, timestamps in
microseconds.

Requires: ads with ``ad_id, posted_at, price_usd, sponsored``; an ingest folder with
``first_seen`` filled (``chain ingest --mempool-log``); a rate series; site addresses.

| output column     | meaning                                                          |
|-------------------|------------------------------------------------------------------|
| match_status      | unique / ambiguous / none                                        |
| n_candidates      | candidate outputs                                                |
| candidate_txids   | their transactions (list)                                        |
| txid, vout        | the chosen output (null when none)                               |
| value_sat, paid_usd, rate_usd, rel_error | its value, in USD, the rate, (paid-price)/price|
| score             | 1 − abs(rel_error)/tolerance: 1 = exact price, 0 = at the edge   |
| first_seen        | when the chosen transaction was first seen                       |
| payer_cluster_id  | wallet cluster of the chosen transaction's first input           |
| payer_clusters    | distinct clusters among its inputs (>1: a CoinJoin or a guard)   |

:func:`match_chain` is the whole step on an ingest folder (clusters read or made under the
clustering policy, the site's payments, :func:`match_ads`): ``chain match`` and ``link --chain``
both call it.

Example::

    run = match_chain(ads, "chain/", read_rates("rates.csv"), site=site_addresses)
    m = match_ads(ads, payments_to_site("chain/", site), read_rates("rates.csv"))
    m["match_status"].value_counts()
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from adowner.chain.rates import rate_at
from adowner.defaults import MATCH
from adowner.errors import InputError
from adowner.log import get_logger

log = get_logger(__name__)

CENT_BITS = 40  # USD cents below 2**40 (about 11 billion dollars)
AD_COLUMNS = ("ad_id", "posted_at", "price_usd")


def read_address_list(path: str | os.PathLike[str]) -> np.ndarray:
    """Addresses, one a line (blank lines and ``#`` comments ignored)."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError(f"cannot read address list: {exc}", path=str(path)) from exc
    out = [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    if not out:
        raise InputError("address list is empty", path=str(path))
    return np.asarray(out, dtype=object)


def site_from_seeds(seeds: np.ndarray, clusters: pd.DataFrame) -> np.ndarray:
    """All addresses of the clusters that contain any seed address."""
    ids = clusters.loc[clusters["address"].isin(seeds), "cluster_id"].unique()
    if len(ids) == 0:
        raise InputError("none of the seed addresses is in the clusters", field="address")
    return np.asarray(clusters.loc[clusters["cluster_id"].isin(ids), "address"], dtype=object)


def ads_to_match(path: str | os.PathLike[str]) -> pd.DataFrame:
    """``ad_id, posted_at (UTC), price_usd, sponsored`` of an ads file or prepared folder/split.

    The columns are read as stored by :func:`adowner.io.ads.read_ad_columns` (Parquet, CSV or
    JSONL; no text is read, so nothing is masked): matching needs no text.
    """
    from adowner.io.ads import read_ad_columns

    df = read_ad_columns(path, AD_COLUMNS, optional=("sponsored",))
    out = pd.DataFrame({"ad_id": df["ad_id"].astype(str)})
    out["posted_at"] = pd.to_datetime(df["posted_at"], utc=True, errors="coerce")
    out["price_usd"] = pd.to_numeric(df["price_usd"], errors="coerce")
    sponsored = df["sponsored"] if "sponsored" in df.columns else False
    out["sponsored"] = (
        pd.Series(sponsored, index=df.index).astype(str).str.lower().isin(["true", "1", "yes"])
    )
    return out


def payments_to_site(chain_dir: str | os.PathLike[str], site: np.ndarray) -> pd.DataFrame:
    """Outputs to site addresses with their transaction's first-seen time (unknown ones dropped)."""
    d = Path(chain_dir)
    outs = pd.read_parquet(d / "outputs.parquet", columns=["txid", "n", "address", "value_sat"])
    outs = outs[outs["address"].isin(site)]
    tx = pd.read_parquet(d / "transactions.parquet", columns=["txid", "first_seen"])
    pay = outs.merge(tx, on="txid", how="left").rename(columns={"n": "vout"})
    unknown = int(pay["first_seen"].isna().sum())
    if unknown:
        log.warning("%d payments to the site have no first-seen time; they cannot match", unknown)
    pay = pay[pay["first_seen"].notna()].reset_index(drop=True)
    pay.attrs["no_first_seen"] = unknown
    return pay


def _minutes(t: pd.Series) -> np.ndarray:
    return np.asarray(pd.DatetimeIndex(t).as_unit("s").asi8 // 60, dtype=np.int64)


def candidates(
    ads: pd.DataFrame,
    payments: pd.DataFrame,
    rates: pd.Series,
    *,
    window_minutes: int = MATCH.window_minutes,
    minutes_after: int = MATCH.minutes_after,
    tol: float = MATCH.tol,
    tol_sponsored: float = MATCH.tol_sponsored,
    average_minutes: float = MATCH.average_minutes,
    engine: str = "local",
    spark: Any = None,
) -> pd.DataFrame:
    """Every (ad row, payment row) pair that meets the rule, with price error and time gap."""
    pay_usd = (
        payments["value_sat"].to_numpy(np.float64)
        / 1e8
        * rate_at(rates, payments["first_seen"], average_minutes)
    )
    ok = np.isfinite(pay_usd)
    pay_idx = np.flatnonzero(ok)
    pay_min = _minutes(payments["first_seen"])[ok]
    m0 = int(pay_min.min()) if len(pay_min) else 0
    cents = np.rint(pay_usd[ok] * 100).astype(np.int64)
    keys = ((pay_min - m0) << CENT_BITS) | cents
    order = np.argsort(keys, kind="stable")
    keys = keys[order]

    valid = ads["posted_at"].notna().to_numpy() & (ads["price_usd"].to_numpy(float) > 0)
    ad_idx = np.flatnonzero(valid)
    price = ads["price_usd"].to_numpy(np.float64)[ad_idx]
    t = np.where(ads["sponsored"].to_numpy(bool)[ad_idx], tol_sponsored, tol)
    lo_c = np.floor(price * (1 - t) * 100).astype(np.int64)
    hi_c = np.ceil(price * (1 + t) * 100).astype(np.int64)
    ad_min = _minutes(ads["posted_at"].iloc[ad_idx]) - m0

    if engine == "spark":
        from adowner.chain.spark import match_pairs_spark, spark_session

        pairs = match_pairs_spark(
            spark or spark_session(),
            pd.DataFrame(
                {
                    "ad_row": np.arange(len(ad_idx)),
                    "minute": ad_min,
                    "lo_cents": lo_c,
                    "hi_cents": hi_c,
                }
            ),
            pd.DataFrame({"pay_row": pay_idx, "minute": pay_min - m0, "cents": cents}),
            window_minutes=window_minutes,
            minutes_after=minutes_after,
        ).sort_values(["ad_row", "pay_row"])
        rep_a, p_rows = pairs["ad_row"].to_numpy(), pairs["pay_row"].to_numpy()
    elif engine == "local":
        rep_a, pos = _window_search(keys, ad_min, lo_c, hi_c, window_minutes, minutes_after)
        p_rows = pay_idx[order[pos]]
    else:
        raise InputError(f"unknown engine {engine!r} (local or spark)", field="engine")

    price_rep = price[rep_a]
    paid = pay_usd[p_rows]
    rel = (paid - price_rep) / price_rep
    posted = pd.DatetimeIndex(ads["posted_at"].iloc[ad_idx[rep_a]]).as_unit("us")
    seen = pd.DatetimeIndex(payments["first_seen"].iloc[p_rows]).as_unit("us")
    return pd.DataFrame(
        {
            "ad_row": ad_idx[rep_a],
            "pay_row": p_rows,
            "paid_usd": paid,
            "rate_usd": paid / (payments["value_sat"].to_numpy(np.float64)[p_rows] / 1e8),
            "rel_error": rel,
            "score": 1 - np.abs(rel) / t[rep_a],
            "gap_s": (posted.asi8 - seen.asi8) / 1e6,
        }
    )


def _window_search(
    keys: np.ndarray,
    ad_min: np.ndarray,
    lo_c: np.ndarray,
    hi_c: np.ndarray,
    window_minutes: int,
    minutes_after: int,
) -> tuple[np.ndarray, np.ndarray]:
    """(ad index, sorted-key position) of every key inside each ad's minute/cents window."""
    parts_ad, parts_s, parts_e = [], [], []
    for off in range(-window_minutes, minutes_after + 1):
        mm = ad_min + off
        inside = mm >= 0
        parts_s.append(np.searchsorted(keys, (mm[inside] << CENT_BITS) | lo_c[inside], "left"))
        parts_e.append(np.searchsorted(keys, (mm[inside] << CENT_BITS) | hi_c[inside], "right"))
        parts_ad.append(np.flatnonzero(inside))
    a = np.concatenate(parts_ad)
    s = np.concatenate(parts_s)
    counts = np.concatenate(parts_e) - s
    rep_a = np.repeat(a, counts)
    start = np.repeat(s - (np.cumsum(counts) - counts), counts)
    return rep_a, start + np.arange(int(counts.sum()))


def match_ads(
    ads: pd.DataFrame,
    payments: pd.DataFrame,
    rates: pd.Series,
    *,
    inputs: pd.DataFrame | None = None,
    clusters: pd.DataFrame | None = None,
    **rule: Any,
) -> pd.DataFrame:
    """One row per ad: status, candidates, the chosen output and the payer cluster."""
    ads = ads.reset_index(drop=True)
    payments = payments.reset_index(drop=True)
    cand = candidates(ads, payments, rates, **rule)
    cand["txid"] = payments["txid"].to_numpy()[cand["pay_row"].to_numpy()]
    cand = cand.assign(_err=cand["rel_error"].abs(), _gap=cand["gap_s"].abs())
    cand = cand.sort_values(["ad_row", "_err", "_gap", "txid"], kind="stable")
    best = cand.drop_duplicates("ad_row").set_index("ad_row")

    out = ads[["ad_id", "posted_at", "price_usd", "sponsored"]].copy()
    # Candidate lists by slicing the sorted candidates (a pandas agg(list) is 10x slower).
    rows = cand["ad_row"].to_numpy(np.int64)
    n = np.bincount(rows, minlength=len(out))
    starts = np.concatenate([[0], np.cumsum(n)[:-1]])
    txids = cand["txid"].to_numpy(object)
    out["n_candidates"] = n
    out["match_status"] = np.select([n == 1, n > 1], ["unique", "ambiguous"], "none")
    out["candidate_txids"] = [txids[a : a + k].tolist() for a, k in zip(starts, n, strict=True)]
    chosen = best.reindex(out.index)
    has = chosen["pay_row"].notna().to_numpy()
    rows = chosen["pay_row"].to_numpy()[has].astype(np.int64)
    chosen_pay = payments.iloc[rows]
    txid = np.full(len(out), None, dtype=object)
    txid[has] = chosen_pay["txid"].to_numpy()
    out["txid"] = txid
    for col in ("vout", "value_sat"):
        values = pd.array([pd.NA] * len(out), dtype="Int64")
        values[has] = chosen_pay[col].to_numpy(np.int64)
        out[col] = values
    seen = pd.Series(pd.NaT, index=out.index, dtype=payments["first_seen"].dtype)
    seen[has] = chosen_pay["first_seen"].to_numpy()
    out["first_seen"] = seen
    for col in ("paid_usd", "rate_usd", "rel_error", "score"):
        out[col] = chosen[col].to_numpy()
    out["payer_cluster_id"], out["payer_clusters"] = _payer(out["txid"], inputs, clusters)
    return out


def _payer(
    txids: pd.Series, inputs: pd.DataFrame | None, clusters: pd.DataFrame | None
) -> tuple[pd.Series, pd.Series]:
    none = (
        pd.Series([None] * len(txids), dtype=object),
        pd.Series(pd.array([pd.NA] * len(txids), dtype="Int64")),
    )
    if inputs is None or clusters is None:
        return none
    ins = inputs[inputs["txid"].isin(txids.dropna())][["txid", "index", "address"]]
    ins = ins.merge(clusters[["address", "cluster_id"]], on="address", how="left")
    ins = ins.sort_values(["txid", "index"])
    first = ins.groupby("txid")["cluster_id"].first()
    distinct = ins.groupby("txid")["cluster_id"].nunique()
    cid = txids.map(first)
    nd = pd.array(txids.map(distinct).to_numpy(), dtype="Int64")
    return cid.astype(object).where(cid.notna(), None), pd.Series(nd)


def evaluate(matches: pd.DataFrame, truth: pd.DataFrame) -> dict[str, Any]:
    """Precision and recall of the chosen transactions against the simulator's ad -> txid truth.

    precision = correct choices / ads given a transaction; recall = correct choices / ads that
    were paid in Bitcoin; the same over unique matches only (what ``link`` uses).
    """
    t = truth[["ad_id", "txid"]].rename(columns={"txid": "true_txid"})
    m = matches[["ad_id", "match_status", "txid"]].merge(t, on="ad_id", how="left")
    chosen = m["txid"].notna()
    correct = chosen & (m["txid"] == m["true_txid"])
    unique = m["match_status"] == "unique"
    paid = int(m["true_txid"].notna().sum())

    def ratio(a: int, b: int) -> float | None:
        return a / b if b else None

    return {
        "ads": len(m),
        "ads_paid_in_bitcoin": paid,
        "matched": int(chosen.sum()),
        "unique": int(unique.sum()),
        "ambiguous": int((m["match_status"] == "ambiguous").sum()),
        "correct": int(correct.sum()),
        "precision": ratio(int(correct.sum()), int(chosen.sum())),
        "recall": ratio(int(correct.sum()), paid),
        "precision_unique": ratio(int((correct & unique).sum()), int(unique.sum())),
        "recall_unique": ratio(int((correct & unique).sum()), paid),
    }


@dataclass
class MatchRun:
    """What :func:`match_chain` returns: the matches, the payments they were drawn from, the
    site's addresses, the clusters (``clustered``: made now, not read) and the policy."""

    matches: pd.DataFrame
    payments: pd.DataFrame
    site: np.ndarray
    clusters: pd.DataFrame
    clustered: bool
    policy: dict[str, Any] | None
    cluster_stats: dict[str, Any] | None


def match_chain(
    ads: pd.DataFrame,
    chain_dir: str | os.PathLike[str],
    rates: pd.Series,
    *,
    site: np.ndarray | None = None,
    site_seeds: np.ndarray | None = None,
    clusters: str | os.PathLike[str] | pd.DataFrame | None = None,
    policy: Any = None,
    **rule: Any,
) -> MatchRun:
    """Payment matching on an ingest folder: the one function ``chain match`` and ``link --chain``
    call.

    Clusters are read from ``clusters`` (a path or a table) or made now from ``chain_dir`` under
    ``policy`` (default :data:`adowner.defaults.CHAIN`), with the site's addresses as the known
    payees (``known_payee_change``). The site is ``site``, or the clusters of ``site_seeds``
    (then the seeds are the known payees). ``rule``: :func:`match_ads`'s options (window,
    tolerances, engine).
    """
    from adowner.chain.cluster import cluster_tables, load_tables
    from adowner.chain.policy import read_policy

    if (site is None) == (site_seeds is None):
        raise InputError(
            "give the site's addresses or its seed addresses (one of them)", field="site"
        )
    known = np.asarray(site if site is not None else site_seeds, dtype=object)
    inputs, outputs = load_tables(chain_dir)
    stats: dict[str, Any] | None = None
    if clusters is None:
        cl, _, stats = cluster_tables(
            inputs, outputs, policy=policy, payees={str(a) for a in known}
        )
        policy_json: dict[str, Any] | None = stats["policy"]
    elif isinstance(clusters, pd.DataFrame):
        cl, policy_json = clusters, None
    else:
        cl = pd.read_parquet(clusters, columns=["address", "cluster_id"])
        try:
            policy_json = read_policy(clusters).to_json()
        except InputError:
            policy_json = None  # a clusters file from before issue 17 or another tool
    if site is None:
        site = site_from_seeds(np.asarray(site_seeds, dtype=object), cl)
    payments = payments_to_site(chain_dir, site)
    matches = match_ads(ads, payments, rates, inputs=inputs, clusters=cl, **rule)
    return MatchRun(matches, payments, site, cl, clusters is None, policy_json, stats)


def ads_spark(spark: Any, path: str | os.PathLike[str]) -> Any:
    """:func:`ads_to_match` as a Spark DataFrame, with ``ad_row`` (the file's row order).

    A Parquet ads file whose ``posted_at`` is a timestamp is read by Spark itself; CSV, JSONL,
    prepared folders and text times are parsed by :func:`ads_to_match` (pandas' time parser,
    so that both engines read the same times) and handed to Spark.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq
    from pyspark.sql import functions as F

    p = Path(path)
    if p.is_file() and p.suffix == ".parquet":
        schema = pq.read_schema(p)
        if "posted_at" in schema.names and pa.types.is_timestamp(schema.field("posted_at").type):
            df = spark.read.parquet(str(p))  # nanoseconds as longs (spark_session's conf)
            if schema.field("posted_at").type.unit == "ns":
                df = df.withColumn("posted_at", F.timestamp_micros(F.expr("posted_at div 1000")))
            missing = [c for c in AD_COLUMNS if c not in df.columns]
            if missing:
                raise InputError(f"ads file lacks column(s) {missing}", path=str(p))
            sponsored = (
                F.lower(F.col("sponsored").cast("string")).isin("true", "1", "yes")
                if "sponsored" in df.columns
                else F.lit(False)
            )
            return df.select(
                F.monotonically_increasing_id().alias("ad_row"),
                F.col("ad_id").cast("string").alias("ad_id"),
                "posted_at",
                F.col("price_usd").cast("double").alias("price_usd"),
                F.coalesce(sponsored, F.lit(False)).alias("sponsored"),
            )
    ads = ads_to_match(p).reset_index(drop=True)
    ads.insert(0, "ad_row", np.arange(len(ads), dtype=np.int64))
    return spark.createDataFrame(
        ads, "ad_row long, ad_id string, posted_at timestamp, price_usd double, sponsored boolean"
    )


def match_chain_spark(
    spark: Any,
    ads: Any,
    chain_dir: str | os.PathLike[str],
    rates: pd.Series,
    out: str | os.PathLike[str],
    *,
    site: np.ndarray | None = None,
    site_seeds: np.ndarray | None = None,
    clusters: str | os.PathLike[str] | None = None,
    policy: Any = None,
    **rule: Any,
) -> dict[str, Any]:
    """:func:`match_chain` on Spark, end to end as DataFrame operations; writes ``out``.

    ``ads``: a Spark DataFrame of :func:`ads_spark` (or a path to read with it). The ingest
    folder's outputs, transactions and inputs are read by Spark; clusters are read from
    ``clusters`` (a file or the Spark engine's folder) or made now with
    ``chain.spark.cluster_spark`` under ``policy``, the site's addresses as known payees; the
    site is ``site`` or the clusters of ``site_seeds``. Payments, USD values, the window join
    and the ranking: ``chain.spark.match_spark``. ``out`` is written by Spark's writer as a
    Parquet folder of part files, atomically (``chain.spark.write_parquet_dir``), in the ads'
    order, with the columns of ``chain.tables.MATCHES`` (timestamps in microseconds). Returns
    the counts of the summary; only counts reach the driver.
    """
    from pyspark.sql import functions as F

    from adowner.chain.cluster import NO_PAYEES, _policy_of, _read_chain_spark
    from adowner.chain.policy import read_policy
    from adowner.chain.spark import cluster_spark, match_spark, payments_spark, write_parquet_dir

    if (site is None) == (site_seeds is None):
        raise InputError(
            "give the site's addresses or its seed addresses (one of them)", field="site"
        )
    opts = {
        "window_minutes": MATCH.window_minutes,
        "minutes_after": MATCH.minutes_after,
        "tol": MATCH.tol,
        "tol_sponsored": MATCH.tol_sponsored,
        "average_minutes": MATCH.average_minutes,
        **{k: v for k, v in rule.items() if v is not None and k not in ("engine", "spark")},
    }
    d = Path(chain_dir)
    ads_df = ads if not isinstance(ads, (str, os.PathLike)) else ads_spark(spark, ads)
    known = [str(a) for a in (site if site is not None else site_seeds)]  # type: ignore[union-attr]
    known_df = spark.createDataFrame([(a,) for a in known], "address string")
    policy_json: dict[str, Any] | None
    if clusters is None:
        p = _policy_of(policy, None, False)
        if p.has("known_payee_change") and not known:
            p = p.without("known_payee_change", NO_PAYEES)
        ins, outs = _read_chain_spark(spark, d)
        cl = cluster_spark(ins, outs, p, set(known))["clusters"].select("address", "cluster_id")
        policy_json = p.to_json()
    else:
        cl = spark.read.parquet(str(clusters)).select("address", "cluster_id")
        try:
            policy_json = read_policy(clusters).to_json()
        except InputError:
            policy_json = None
    cl = cl.localCheckpoint(eager=True)
    if site is None:
        ids = cl.join(known_df, "address", "left_semi").select("cluster_id").distinct()
        site_df = cl.join(ids, "cluster_id", "left_semi").select("address")
        if site_df.limit(1).count() == 0:
            raise InputError("none of the seed addresses is in the clusters", field="address")
    else:
        site_df = known_df
    outputs = spark.read.parquet(str(d / "outputs.parquet"))
    transactions = spark.read.parquet(str(d / "transactions.parquet"))
    inputs = spark.read.parquet(str(d / "inputs.parquet")).select("txid", "index", "address")
    payments = payments_spark(outputs, transactions, site_df).localCheckpoint(eager=True)
    counts = payments.agg(
        F.count(F.lit(1)).alias("payments"),
        F.sum(F.col("seen_us").isNull().cast("int")).alias("no_first_seen"),
    ).first()
    no_first_seen = int(counts["no_first_seen"] or 0)
    if no_first_seen:
        log.warning(
            "%d payments to the site have no first-seen time; they cannot match", no_first_seen
        )
    matches = match_spark(ads_df, payments, rates, inputs=inputs, clusters=cl, **opts)
    write_parquet_dir(matches, out)
    status = {
        str(r["match_status"]): int(r["count"])
        for r in spark.read.parquet(str(out)).groupBy("match_status").count().collect()
    }
    return {
        "ads": sum(status.values()),
        "site_addresses": int(site_df.count()),
        "payments": int(counts["payments"]) - no_first_seen,
        "payments_without_first_seen": no_first_seen,
        "status": status,
        "policy": policy_json,
        "engine": "spark",
        "spark_master": str(spark.sparkContext.master),
    }
