"""The hub's SQLite database: schema, connections, and the queries readers run.

One writer thread (hub.writer) owns every write in the hub process; any thread reads through
its own connection, which WAL mode lets run beside the writer. Admin commands (`hub add-peer`,
`hub revoke`) write from their own process; SQLite's locking and a busy timeout keep that safe.

Migrations run when a writable connection opens: a database made before sighting ends existed
gets the `events.ends` column (NULL in its old rows) and its index.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from wire import messages as m

SCHEMA = """
CREATE TABLE IF NOT EXISTS peers (
    name TEXT PRIMARY KEY, role TEXT NOT NULL, secret TEXT NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0, created_ms INTEGER NOT NULL, last_seen_ms INTEGER);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL UNIQUE, kind TEXT NOT NULL,
    edge TEXT NOT NULL, camera TEXT NOT NULL, label TEXT NOT NULL, score REAL NOT NULL,
    started_at INTEGER NOT NULL, ended_at INTEGER NOT NULL, box TEXT, model_version TEXT,
    snapshot TEXT, thumbnail TEXT, bytes INTEGER NOT NULL, received_ms INTEGER NOT NULL,
    ends TEXT);
CREATE INDEX IF NOT EXISTS events_received ON events(received_ms);
CREATE TABLE IF NOT EXISTS edge_status (
    edge TEXT PRIMARY KEY, received_ms INTEGER NOT NULL, node TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cameras (
    edge TEXT NOT NULL, camera TEXT NOT NULL, online INTEGER NOT NULL,
    changed_ms INTEGER NOT NULL, PRIMARY KEY (edge, camera));
CREATE TABLE IF NOT EXISTS models (
    version TEXT PRIMARY KEY, sha256 TEXT NOT NULL, size INTEGER NOT NULL, file TEXT NOT NULL,
    uploaded_ms INTEGER NOT NULL, uploaded_by TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS assignments (
    edge TEXT PRIMARY KEY, version TEXT NOT NULL, assigned_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS model_reports (
    edge TEXT PRIMARY KEY, version TEXT NOT NULL, state TEXT NOT NULL, reason TEXT NOT NULL,
    reported_ms INTEGER NOT NULL);
"""
EVERY_EDGE = "*"  # the assignments row that applies to edges without one of their own
#: Only sighting_end rows name a sighting they end: a partial index costs other rows nothing.
ENDS_INDEX = "CREATE INDEX IF NOT EXISTS events_ends ON events(ends) WHERE ends IS NOT NULL"


def connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    """Open the database in WAL mode with full durability; create the schema if writable."""
    uri = f"file:{path}?mode={'ro' if readonly else 'rwc'}"
    # A stalled database must answer (with an error) well within a peer's 8 s keepalive
    # deadline: the connection thread waiting on it does not read pings meanwhile.
    conn = sqlite3.connect(uri, uri=True, timeout=4, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    if not readonly:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(SCHEMA)
        migrate(conn)
    conn.execute("PRAGMA synchronous=FULL")  # a commit survives power loss
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def migrate(conn: sqlite3.Connection) -> list[str]:
    """Bring an older database's schema up to date; returns what was changed."""
    done: list[str] = []
    columns = {row[1] for row in conn.execute("PRAGMA table_info(events)")}
    if "ends" not in columns:
        conn.execute("ALTER TABLE events ADD COLUMN ends TEXT")
        done.append("added events.ends")
    conn.execute(ENDS_INDEX)
    return done


#: Log entry kinds that carry a label (the label filter applies to them).
LABELLED = (m.EventKind.SIGHTING, m.EventKind.SIGHTING_END)


@dataclass(frozen=True)
class Filters:
    """What a watcher (or an export) wants from the log."""

    cameras: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    since_ms: int | None = None
    until_ms: int | None = None

    @classmethod
    def of(cls, sub: m.Subscribe) -> Filters:
        """The filters a subscribe message asks for."""
        return cls(tuple(sub.cameras), tuple(sub.labels), sub.since_ms, sub.until_ms)

    @property
    def none(self) -> bool:
        """True when nothing is filtered out."""
        return not (self.cameras or self.labels) and self.since_ms is None and self.until_ms is None

    def admits(self, entry: m.LogEntry) -> bool:
        """Whether one entry passes (labels filter sightings and their ends only)."""
        return (
            (not self.cameras or entry.camera in self.cameras)
            and (not self.labels or entry.kind not in LABELLED or entry.label in self.labels)
            and (self.since_ms is None or entry.ended_at >= self.since_ms)
            and (self.until_ms is None or entry.started_at <= self.until_ms)
        )

    def sql(self) -> tuple[str, list[object]]:
        """The same test as a WHERE clause fragment and its parameters."""
        clauses: list[str] = []
        params: list[object] = []
        if self.cameras:
            clauses.append(f"camera IN ({','.join('?' * len(self.cameras))})")
            params += list(self.cameras)
        if self.labels:
            marks = ",".join("?" * len(self.labels))
            clauses.append(f"(kind NOT IN ('sighting', 'sighting_end') OR label IN ({marks}))")
            params += list(self.labels)
        if self.since_ms is not None:
            clauses.append("ended_at >= ?")
            params.append(self.since_ms)
        if self.until_ms is not None:
            clauses.append("started_at <= ?")
            params.append(self.until_ms)
        return " AND ".join(clauses) or "1", params


@dataclass(frozen=True)
class StoredEvent:
    """One row of the log, with where its images are (relative to the data directory)."""

    entry: m.LogEntry
    snapshot: str | None
    thumbnail: str | None
    received_ms: int
    thumbnail_data: bytes | None = None  # when just ingested: spares watchers a disk read


def stored_event(row: sqlite3.Row) -> StoredEvent:
    """Turn an events row into its typed form."""
    box = m.Box.model_validate(json.loads(row["box"])) if row["box"] else None
    entry = m.LogEntry(
        seq=row["seq"],
        kind=m.EventKind(row["kind"]),
        event_id=row["event_id"],
        edge=row["edge"],
        camera=row["camera"],
        label=row["label"],
        score=row["score"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        box=box,
        model_version=row["model_version"],
        ends=row["ends"] if "ends" in row.keys() else None,  # noqa: SIM118 - a Row, not a dict
    )
    return StoredEvent(entry, row["snapshot"], row["thumbnail"], row["received_ms"])


class Reader:
    """Read-only queries, each thread on its own connection."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()

    def db(self) -> sqlite3.Connection:
        """This thread's connection."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = connect(self.path, readonly=True)
        return conn

    def events_after(self, seq: int, filters: Filters, limit: int) -> list[StoredEvent]:
        """Up to `limit` entries with a greater seq, oldest first."""
        where, params = filters.sql()
        rows = self.db().execute(
            f"SELECT * FROM events WHERE seq > ? AND {where} ORDER BY seq LIMIT ?",
            [seq, *params, limit],
        )
        return [stored_event(r) for r in rows]

    def iter_events(self, filters: Filters, page: int = 1000) -> Iterator[StoredEvent]:
        """Every matching entry, oldest first, in pages."""
        seq = 0
        while batch := self.events_after(seq, filters, page):
            yield from batch
            seq = batch[-1].entry.seq

    def event(self, event_id: str) -> StoredEvent | None:
        """One event by its id."""
        row = self.db().execute("SELECT * FROM events WHERE event_id = ?", (event_id,)).fetchone()
        return stored_event(row) if row else None

    def last_seq(self) -> int:
        """The newest seq in the log (0 if empty)."""
        row = self.db().execute("SELECT MAX(seq) FROM events").fetchone()
        return int(row[0] or 0)
