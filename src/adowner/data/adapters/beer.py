"""Adapter for a Stack Exchange ``Posts.xml`` dump (the Beer Stack Exchange posts).

What it reads
    ``beer_stackexchange_posts.xml`` (GitHub ``kevswanberg/beer_tentrr``; Stack Exchange data
    dump, CC BY-SA): one ``<row .../>`` per post with attributes ``Id, PostTypeId, CreationDate,
    Body, OwnerUserId, Title`` (questions have a title, answers do not). Parsed with
    ``defusedxml`` because an XML file from elsewhere is untrusted input.

How it maps the attributes

    ================  =============  ======================================================
    XML               canonical      note
    ================  =============  ======================================================
    ``Id``            ``ad_id``      ``beer-<Id>``
    ``Title``         ``title``      empty for answers
    ``Body``          ``body``       HTML → plain text; paragraphs and list items become
                                     lines, entities are decoded, tags dropped
    ``OwnerUserId``   ``owner``      rows without one (deleted users) have no owner and
                                     are quarantined by validation ("missing owner")
    ``CreationDate``  ``posted_at``  UTC
    (constant)        ``site``       ``beer.stackexchange.com``
    ================  =============  ======================================================

Example
    >>> table = read_beer("../shared/data/authorship/beer_stackexchange_posts.xml")  # doctest: +SKIP
"""

from __future__ import annotations

import os
import re
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd

from adowner.data.readers import RawTable
from adowner.errors import InputError

_BLOCK = {"p", "br", "li", "pre", "blockquote", "div", "h1", "h2", "h3", "h4", "h5", "h6", "tr"}


class _TextOf(HTMLParser):
    """Collect the text of an HTML fragment, with a newline at each block element."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_to_text(html: str) -> str:
    """Plain text of an HTML fragment; blank lines folded, ends stripped."""
    parser = _TextOf()
    parser.feed(html)
    parser.close()
    text = "".join(parser.parts)
    text = re.sub(r"[ \t]*\n[ \t\n]*", "\n", text)
    return text.strip()


def read_beer(path: str | os.PathLike[str], column_map: dict[str, str] | None = None) -> RawTable:
    """Read a Stack Exchange ``Posts.xml`` into canonical columns."""
    from xml.etree.ElementTree import ParseError

    from defusedxml import ElementTree

    p = Path(path)
    if not p.is_file():
        raise InputError("no such file", path=str(p))
    if p.stat().st_size == 0:
        raise InputError("file is empty", path=str(p))
    records: list[dict[str, object]] = []
    try:
        for _event, elem in ElementTree.iterparse(str(p), events=("end",)):
            if elem.tag != "row":
                continue
            a = elem.attrib
            records.append(
                {
                    "ad_id": f"beer-{a['Id']}" if a.get("Id") else None,
                    "title": a.get("Title"),
                    "body": html_to_text(a["Body"]) if a.get("Body") else None,
                    "owner": a.get("OwnerUserId"),
                    "posted_at": a.get("CreationDate"),
                    "site": "beer.stackexchange.com",
                    "_row": len(records) + 1,
                }
            )
            elem.clear()
    except (ParseError, ValueError, LookupError) as exc:  # LookupError: an unknown encoding=
        raise InputError(f"not a readable Stack Exchange Posts.xml ({exc})", path=str(p)) from None
    if not records:
        raise InputError("no <row> elements: not a Stack Exchange Posts.xml", path=str(p))
    frame = pd.DataFrame.from_records(records)
    if column_map:
        frame = frame.rename(columns=column_map)
    return RawTable(str(p), frame, [], len(records))
