"""BTC/USD exchange rates: read a CSV series and give the rate "of that moment".

The paper converts an ad's USD price to BTC at the rate of the moment of payment, a 10-minute
average (Portnoff et al., KDD 2017, section 5). Here the series is linearly interpolated and
averaged over the ``average_minutes`` before each moment (11 samples a minute apart for the
default 10, which is exact up to the sampling for a piecewise-linear series).

Accepted CSV layouts (the first column is the time):

| layout                         | columns                                   | time of the price      |
|--------------------------------|-------------------------------------------|------------------------|
| simulator (``rates.csv``)      | ``timestamp, price_usd``                  | the timestamp          |
| Yahoo daily                    | ``Date, Open, High, Low, Close, ...``     | end of the day (close) |
| CoinDesk BPI daily             | ``Date, "Close Price"`` (+ footer lines)  | end of the day (close) |

A daily file gives the close at the end of its day (date + 1 day, 00:00 UTC). Rows whose time
or price cannot be read (the CoinDesk footer, for example; a price that is not a finite
positive number) are skipped and counted in
``series.attrs["bad_rows"]`` with their line numbers logged. Times outside the series give NaN:
no extrapolation.

Example::

    >>> s = read_rates("rates.csv")
    >>> rate_at(s, pd.to_datetime(["2015-07-01 12:00"], utc=True))
    array([263.41])
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from adowner.defaults import MATCH
from adowner.errors import InputError
from adowner.log import get_logger

log = get_logger(__name__)

PRICE_COLUMNS = ("price_usd", "Close", "close", "Close Price", "price", "rate", "usd")


def read_rates(path: str | os.PathLike[str]) -> pd.Series:
    """The rate series (USD per BTC) indexed by UTC time, sorted, duplicates averaged."""
    try:
        # undecodable bytes cannot be a time or a price: such a row is skipped like the others
        df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding_errors="replace")
    except (OSError, ValueError) as exc:  # ParserError and EmptyDataError are ValueErrors
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"cannot read rates CSV: {first}", path=str(path)) from None
    if df.shape[1] < 2 or df.empty:
        raise InputError("rates CSV needs a time column and a price column", path=str(path))
    price_col = next((c for c in PRICE_COLUMNS if c in df.columns), None)
    if price_col is None:
        raise InputError(
            f"no price column (expected one of {', '.join(PRICE_COLUMNS)})", path=str(path)
        )
    time_col = df.columns[0]
    times = pd.to_datetime(df[time_col], utc=True, errors="coerce", format="mixed")
    prices = pd.to_numeric(df[price_col], errors="coerce")
    ok = times.notna() & prices.notna() & np.isfinite(prices) & (prices > 0)
    daily = str(time_col).lower() == "date" and price_col != "price_usd"
    if daily:  # the day's end must still be a representable time
        ok &= times.notna() & (times < pd.Timestamp.max.tz_localize("UTC") - pd.Timedelta(days=1))
    if not ok.any():
        raise InputError("no readable (time, price) row", path=str(path), field=price_col)
    bad = np.flatnonzero(~ok.to_numpy()) + 2  # +1 header, +1 one-based
    if len(bad):
        log.warning(
            "%s: skipped %d unreadable rate rows (lines %s)", path, len(bad), bad[:5].tolist()
        )
    if daily:
        times = times.where(ok) + pd.Timedelta(days=1)  # a daily close: the price at day's end
    s = pd.Series(prices[ok].to_numpy(float), index=pd.DatetimeIndex(times[ok]), name="usd_per_btc")
    s = s.groupby(level=0).mean().sort_index()
    s.attrs["bad_rows"] = len(bad)
    s.attrs["bad_lines"] = bad.tolist()
    return s


def rate_at(
    series: pd.Series,
    times: pd.Series | pd.DatetimeIndex,
    average_minutes: float = MATCH.average_minutes,
) -> np.ndarray:
    """Mean interpolated rate over the ``average_minutes`` before each time (NaN outside)."""
    # microseconds, not nanoseconds: pandas holds times past 2262 (a rates file may have them)
    knots = pd.DatetimeIndex(series.index).as_unit("us").asi8.astype(np.float64) / 1e6
    values = series.to_numpy(np.float64)
    t = pd.DatetimeIndex(times).as_unit("us").asi8.astype(np.float64) / 1e6
    n = max(round(average_minutes), 0)
    offsets = np.linspace(0.0, average_minutes * 60.0, n + 1) if n else np.zeros(1)
    samples = t[:, None] - offsets[None, :]
    out = np.interp(samples, knots, values, left=np.nan, right=np.nan).mean(axis=1)
    return np.asarray(out, dtype=np.float64)
