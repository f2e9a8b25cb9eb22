"""Analysts' decisions on owner groups, kept in SQLite through SQLAlchemy 2 (ORM).

Tables
    ==================  =========================================================================
    table               rows
    ==================  =========================================================================
    ``schema_version``  one row: the version of these tables (:data:`SCHEMA_VERSION`); a database
                        written by a newer adowner is refused, not silently misread
    ``decisions``       one row a group: its key, its ad ids, the current state (``confirmed``,
                        ``dismissed``, ``split`` or ``open``), the chosen ads of a split, the note,
                        who and when. Last write wins.
    ``history``         every decision ever made, in order, including the ones overwritten
    ==================  =========================================================================

A group's key is the SHA-256 of its sorted ad ids (the ids themselves are stored beside it), so a
decision does not depend on ``link``'s group numbers: a rerun of ``link`` on the same ads finds
it by key, and a rerun on new data finds it by ad ids (:meth:`Store.match`). SQLite runs in WAL
mode with a busy timeout and every transaction begins ``IMMEDIATE``, so two browsers deciding at
once are serialised: both writes are in
``history`` and the later one is the decision.

Example
    >>> store = Store(":memory:")
    >>> d = store.decide(["ad2", "ad1"], "confirmed", note="same phone")
    >>> store.get(group_key(["ad1", "ad2"])).state
    'confirmed'
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text, create_engine, event, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker
from sqlalchemy.pool import StaticPool

from adowner.errors import InputError

SCHEMA_VERSION = 1
STATES = ("confirmed", "dismissed", "split", "open")


def group_key(ad_ids: Iterable[str]) -> str:
    """The key of the group of ``ad_ids``: SHA-256 of the sorted, distinct ids, one a line."""
    return hashlib.sha256("\n".join(sorted({str(a) for a in ad_ids})).encode()).hexdigest()


class Base(DeclarativeBase):
    pass


class SchemaVersion(Base):
    __tablename__ = "schema_version"
    version: Mapped[int] = mapped_column(Integer, primary_key=True)


class DecisionRow(Base):
    __tablename__ = "decisions"
    group_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    ad_ids: Mapped[str] = mapped_column(Text)  # JSON list, sorted
    state: Mapped[str] = mapped_column(String(16))
    chosen: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON list (split)
    note: Mapped[str] = mapped_column(Text, default="")
    analyst: Mapped[str] = mapped_column(String(100), default="")
    decided_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revision: Mapped[int] = mapped_column(Integer, default=1)


class HistoryRow(Base):
    __tablename__ = "history"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    group_key: Mapped[str] = mapped_column(
        String(64), ForeignKey("decisions.group_key"), index=True
    )
    ad_ids: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16))
    chosen: Mapped[str | None] = mapped_column(Text, nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")
    analyst: Mapped[str] = mapped_column(String(100), default="")
    decided_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


@dataclass(frozen=True)
class Decision:
    """A decision as the app uses it (detached from the database session)."""

    group_key: str
    ad_ids: tuple[str, ...]
    state: str
    chosen: tuple[str, ...]
    note: str
    analyst: str
    decided_at: datetime
    revision: int = 1
    carried: bool = False  # found by ad ids for a group that has changed since

    @classmethod
    def of(cls, row: DecisionRow | HistoryRow, revision: int = 1) -> Decision:
        at = row.decided_at if row.decided_at.tzinfo else row.decided_at.replace(tzinfo=UTC)
        return cls(
            row.group_key,
            tuple(json.loads(row.ad_ids)),
            row.state,
            tuple(json.loads(row.chosen)) if row.chosen else (),
            row.note or "",
            row.analyst or "",
            at,
            getattr(row, "revision", revision),
        )


def _pragmas(dbapi_connection: Any, _record: Any) -> None:
    # transactions are begun by _begin below (pysqlite's own BEGIN is deferred: two writers
    # could both read "no decision yet" and both insert)
    dbapi_connection.isolation_level = None
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _begin(conn: Any) -> None:
    """Every transaction takes SQLite's write lock first (``BEGIN IMMEDIATE``): the read of a
    decision and its update are one step, so concurrent writers queue (the SQLAlchemy recipe for
    pysqlite, "Serializable isolation / Savepoints / Transactional DDL")."""
    conn.exec_driver_sql("BEGIN IMMEDIATE")


class Store:
    """The decisions database at ``path`` (created with its schema when absent)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path == ":memory:":
            engine: Engine = create_engine(
                "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
            )
        else:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(
                f"sqlite:///{self.path}", connect_args={"timeout": 30, "check_same_thread": False}
            )
        event.listen(engine, "connect", _pragmas)
        event.listen(engine, "begin", _begin)
        self.engine = engine
        self.session = sessionmaker(engine, expire_on_commit=False)
        try:
            Base.metadata.create_all(engine)
            with self.session.begin() as s:
                found = s.scalars(select(SchemaVersion.version)).all()
                if not found:
                    s.add(SchemaVersion(version=SCHEMA_VERSION))
                elif max(found) > SCHEMA_VERSION:
                    raise InputError(
                        f"decisions database has schema version {max(found)}; this adowner "
                        f"reads up to {SCHEMA_VERSION} (upgrade adowner)",
                        path=self.path,
                        field="schema_version",
                    )
        except InputError:
            raise
        except Exception as exc:  # not a database, locked for good, unreadable
            raise InputError(
                f"cannot open the decisions database ({type(exc).__name__}: {exc})", path=self.path
            ) from None

    def schema_version(self) -> int:
        with self.session() as s:
            return int(max(s.scalars(select(SchemaVersion.version)).all()))

    def decide(
        self,
        ad_ids: Sequence[str],
        state: str,
        *,
        chosen: Sequence[str] = (),
        note: str | None = None,
        analyst: str = "",
    ) -> Decision:
        """Record a decision on the group of ``ad_ids`` (last write wins; history keeps all).

        ``note=None`` keeps the note already there; a ``split`` needs ``chosen``, a non-empty
        proper subset of ``ad_ids``.
        """
        if state not in STATES:
            raise ValueError(f"state must be one of {', '.join(STATES)}, not {state!r}")
        ids = sorted({str(a) for a in ad_ids})
        picked = sorted({str(a) for a in chosen})
        if state == "split":
            if not picked or not set(picked) < set(ids):
                raise ValueError("a split needs the chosen ads: some, not all, of the group's")
        else:
            picked = []
        key = group_key(ids)
        now = datetime.now(UTC)
        with self.session.begin() as s:
            row = s.get(DecisionRow, key)
            if row is None:
                row = DecisionRow(group_key=key, ad_ids=json.dumps(ids), revision=0, note="")
                s.add(row)
            row.state, row.analyst, row.decided_at = state, analyst, now
            row.chosen = json.dumps(picked) if picked else None
            if note is not None:
                row.note = note
            row.revision = (row.revision or 0) + 1
            s.flush()
            s.add(
                HistoryRow(
                    group_key=key,
                    ad_ids=row.ad_ids,
                    state=state,
                    chosen=row.chosen,
                    note=row.note,
                    analyst=analyst,
                    decided_at=now,
                )
            )
            return Decision.of(row)

    def get(self, key: str) -> Decision | None:
        with self.session() as s:
            row = s.get(DecisionRow, key)
            return Decision.of(row) if row is not None else None

    def all(self) -> list[Decision]:
        with self.session() as s:
            return [Decision.of(r) for r in s.scalars(select(DecisionRow)).all()]

    def history(self, key: str | None = None) -> list[Decision]:
        """Every decision (on ``key``'s group), oldest first."""
        with self.session() as s:
            q = select(HistoryRow).order_by(HistoryRow.id)
            if key is not None:
                q = q.where(HistoryRow.group_key == key)
            return [Decision.of(r) for r in s.scalars(q).all()]

    def match(self, groups: Mapping[int, Sequence[str]]) -> dict[int, Decision]:
        """The decision of each group of a (new) link run: by key, else by shared ad ids.

        A decision made on an earlier run is carried to the group that holds most of its ads,
        when that is more than half of them; it is then marked ``carried`` (the analyst sees the
        group changed) and a split's chosen ads are cut to the ones still in the group.
        """
        decisions = self.all()
        by_key = {d.group_key: d for d in decisions}
        out: dict[int, Decision] = {}
        owner_of: dict[str, int] = {}
        for gid, ids in groups.items():
            for a in ids:
                owner_of[str(a)] = gid
            d = by_key.get(group_key(ids))
            if d is not None:
                out[gid] = d
        taken = {d.group_key for d in out.values()}
        for d in decisions:
            if d.group_key in taken:
                continue
            hits: dict[int, int] = {}
            for a in d.ad_ids:
                g = owner_of.get(a)
                if g is not None:
                    hits[g] = hits.get(g, 0) + 1
            if not hits:
                continue
            gid, n = max(hits.items(), key=lambda kv: (kv[1], -kv[0]))
            if n * 2 <= len(d.ad_ids) or gid in out:
                continue
            here = {str(a) for a in groups[gid]}
            chosen = tuple(a for a in d.chosen if a in here)
            state = (
                d.state if d.state != "split" or (chosen and len(chosen) < len(here)) else "open"
            )
            out[gid] = Decision(
                d.group_key, d.ad_ids, state, chosen, d.note, d.analyst, d.decided_at,
                d.revision, carried=True,
            )  # fmt: skip
        return out
