"""Adapter for the Agora darknet-market vendor listings (January 2014).

What it reads
    ``agora_vendor_listings_2014-01.csv`` (GitHub ``mozzarellaV8/agora-marketplace``,
    ``data/vendor/vendorall_0114.csv``): ``date, vendor, product, description, price, from, to``.

How it maps the columns

    ===============  ===============  ==================================================
    file             canonical        note
    ===============  ===============  ==================================================
    (row number)     ``ad_id``        ``agora-<row>``: the file has no listing id
    ``product``      ``title``
    ``description``  ``body``         the scraper cut it at ~250 characters and added
                                      `` ...``; that marker is removed (it is the
                                      scraper's, not the vendor's); the description
                                      often repeats the title, left as written
    ``vendor``       ``owner``        the label
    ``price``        ``price_btc``    in BTC
    ``date``         ``posted_at``    the scrape date (a day), as UTC midnight
    ``from``         ``location``     where the vendor ships from
    ``to``           (dropped)        where it ships to
    (constant)       ``site``         ``agora``
    ===============  ===============  ==================================================

Example
    >>> table = read_agora("../shared/data/authorship/agora_vendor_listings_2014-01.csv")  # doctest: +SKIP
"""

from __future__ import annotations

import os

from adowner.data.readers import RawTable, read_table
from adowner.errors import InputError

COLUMNS = {
    "product": "title",
    "description": "body",
    "vendor": "owner",
    "price": "price_btc",
    "date": "posted_at",
    "from": "location",
}
REQUIRED = ("vendor", "product", "description")
CUT_MARKER = r" \.\.\.$"  # the scraper's " ..."; an author's own "...." is left alone


def read_agora(path: str | os.PathLike[str], column_map: dict[str, str] | None = None) -> RawTable:
    """Read the Agora listings into canonical columns (``column_map`` applies after the mapping)."""
    table = read_table(path)
    frame = table.frame
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise InputError(f"not an Agora listings file: missing column(s) {missing}", path=str(path))
    frame = frame.drop(columns=[c for c in ("to",) if c in frame.columns])
    frame = frame.rename(columns=COLUMNS)
    frame["body"] = frame["body"].str.replace(CUT_MARKER, "", regex=True)
    frame["site"] = "agora"
    frame["ad_id"] = "agora-" + frame["_row"].astype(str)
    if column_map:
        frame = frame.rename(columns=column_map)
    table.frame = frame
    return table
