"""The writer's jobs: each one change to the database, applied inside a group commit.

Image files may be named by more than one row (a sighting and its sighting_end show the same
pictures when the end brought none): a job that drops or replaces a row's files answers only
the files no remaining row names, for the caller to delete once the change is committed.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import time
import uuid
from dataclasses import dataclass

from hub.db import EVERY_EDGE, StoredEvent, stored_event
from wire import messages as m


def now_ms() -> int:
    """Wall-clock milliseconds since the epoch (UTC)."""
    return int(time.time() * 1000)


@dataclass(frozen=True)
class Ack:
    """What an event's insertion answers: its seq, and whether it was already there."""

    seq: int
    duplicate: bool


@dataclass(frozen=True)
class InsertEvent:
    """Store one sighting whose images are already durable; a known event_id is not stored
    twice but acknowledged again with its original seq."""

    edge: str
    event: m.Event
    snapshot: str
    thumbnail: str
    thumbnail_data: bytes | None = None  # passed on to the watchers, not stored

    def apply(self, db: sqlite3.Connection, created: list[StoredEvent]) -> Ack:
        """Find the row already there, or insert it. (Looked up first: an insert that hits
        the unique key would still use up an AUTOINCREMENT value and leave a gap in seq.)"""
        e = self.event
        old = db.execute("SELECT seq FROM events WHERE event_id = ?", (e.event_id,)).fetchone()
        if old is not None:
            return Ack(old[0], duplicate=True)
        row = db.execute(
            "INSERT INTO events (event_id, kind, edge, camera, label, score, started_at, "
            "ended_at, box, model_version, snapshot, thumbnail, bytes, received_ms) "
            "VALUES (?, 'sighting', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *",
            (
                e.event_id,
                self.edge,
                e.camera,
                e.label,
                e.score,
                e.started_at,
                e.ended_at,
                e.box.model_dump_json(),
                e.model_version,
                self.snapshot,
                self.thumbnail,
                e.snapshot_len + e.thumbnail_len,
                now_ms(),
            ),
        ).fetchone()
        created.append(dataclasses.replace(stored_event(row), thumbnail_data=self.thumbnail_data))
        return Ack(row["seq"], duplicate=False)


@dataclass(frozen=True)
class EndAck:
    """What an event_end's insertion answers: its seq, whether it was already there, whether
    the hub had the sighting it ends, and the image files no row names any more."""

    seq: int
    duplicate: bool
    sighting_found: bool
    unnamed: list[str] = dataclasses.field(default_factory=list)


@dataclass(frozen=True)
class InsertEnd:
    """Store one event_end (its images, if any, already durable) as a sighting_end row, and
    update its sighting's row in place to the final values: label, score, ended_at, box, and
    the pictures when the end brought a better view. A known end_id is acknowledged again,
    changing nothing. An end whose sighting is not here (removed by retention), or is another
    edge's, is stored as its own row and changes no other row."""

    edge: str
    end: m.EventEnd
    snapshot: str | None  # the better view's files, when the end brought one
    thumbnail: str | None
    thumbnail_data: bytes | None = None  # passed on to the watchers, not stored

    def apply(self, db: sqlite3.Connection, created: list[StoredEvent]) -> EndAck:
        """Look up the end and its sighting, update the sighting, insert the end's row."""
        e = self.end
        old = db.execute("SELECT seq FROM events WHERE event_id = ?", (e.end_id,)).fetchone()
        if old is not None:
            return EndAck(old[0], duplicate=True, sighting_found=True)
        sighting = db.execute(
            "SELECT * FROM events WHERE event_id = ? AND kind = 'sighting' AND edge = ?",
            (e.event_id, self.edge),
        ).fetchone()
        unnamed = self._update_sighting(db, sighting) if sighting is not None else []
        row = self._insert(db, sighting)
        created.append(dataclasses.replace(stored_event(row), thumbnail_data=self.thumbnail_data))
        return EndAck(row["seq"], duplicate=False, sighting_found=sighting is not None,
                      unnamed=unnamed)  # fmt: skip

    def _update_sighting(self, db: sqlite3.Connection, sighting: sqlite3.Row) -> list[str]:
        """The final values into the sighting's row; its replaced files that no row names."""
        e = self.end
        db.execute(
            "UPDATE events SET label = ?, score = ?, ended_at = ?, box = ? WHERE seq = ?",
            (e.label, e.score, e.ended_at, e.box.model_dump_json(), sighting["seq"]),
        )
        if self.snapshot is None:
            return []
        db.execute(
            "UPDATE events SET snapshot = ?, thumbnail = ?, bytes = ? WHERE seq = ?",
            (self.snapshot, self.thumbnail, e.snapshot_len + e.thumbnail_len, sighting["seq"]),
        )
        replaced = {sighting["snapshot"], sighting["thumbnail"]} - {self.snapshot, self.thumbnail}
        return unnamed_files(db, replaced, {e.event_id})

    def _insert(self, db: sqlite3.Connection, sighting: sqlite3.Row | None) -> sqlite3.Row:
        """The sighting_end row: the end's values, the sighting's start and model, and the
        pictures it shows now (the better view, else the sighting's)."""
        e = self.end
        snapshot, thumbnail = self.snapshot, self.thumbnail
        if snapshot is None and sighting is not None:
            snapshot, thumbnail = sighting["snapshot"], sighting["thumbnail"]
        row: sqlite3.Row = db.execute(
            "INSERT INTO events (event_id, kind, edge, camera, label, score, started_at, "
            "ended_at, box, model_version, snapshot, thumbnail, bytes, received_ms, ends) "
            "VALUES (?, 'sighting_end', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *",
            (
                e.end_id,
                self.edge,
                e.camera,
                e.label,
                e.score,
                sighting["started_at"] if sighting is not None else e.ended_at,
                e.ended_at,
                e.box.model_dump_json(),
                sighting["model_version"] if sighting is not None else None,
                snapshot,
                thumbnail,
                # Shared files are counted once, by the sighting; files of an end whose
                # sighting is gone, by the end.
                e.snapshot_len + e.thumbnail_len if sighting is None else 0,
                now_ms(),
                e.event_id,
            ),
        ).fetchone()
        return row


def unnamed_files(db: sqlite3.Connection, paths: set[str | None], ids: set[str]) -> list[str]:
    """Of `paths` (image files of rows of the sightings and ends `ids` that were deleted or
    changed), those no remaining row names. Only a sighting and its ends share files, so only
    rows that are, or end, one of `ids` are looked at."""
    wanted = {p for p in paths if p}
    named: set[str] = set()
    listed = sorted(i for i in ids if i)
    for start in range(0, len(listed), 400):
        chunk = listed[start : start + 400]
        marks = ",".join("?" * len(chunk))
        rows = db.execute(
            f"SELECT snapshot, thumbnail FROM events WHERE event_id IN ({marks}) "
            f"OR ends IN ({marks})",
            chunk + chunk,
        )
        named.update(p for r in rows for p in (r[0], r[1]) if p)
    return sorted(wanted - named)


@dataclass(frozen=True)
class SaveStatus:
    """Keep an edge's latest status, and log each camera that went offline or came back."""

    edge: str
    node: m.NodeStatus

    def apply(self, db: sqlite3.Connection, created: list[StoredEvent]) -> None:
        """Upsert the status; compare each camera with its last known state."""
        now = now_ms()
        db.execute(
            "INSERT INTO edge_status VALUES (?, ?, ?) ON CONFLICT (edge) DO UPDATE "
            "SET received_ms = excluded.received_ms, node = excluded.node",
            (self.edge, now, self.node.model_dump_json()),
        )
        for camera in self.node.cameras:
            before = db.execute(
                "SELECT online FROM cameras WHERE edge = ? AND camera = ?",
                (self.edge, camera.camera),
            ).fetchone()
            if before is not None and bool(before[0]) == camera.online:
                continue
            db.execute(
                "INSERT OR REPLACE INTO cameras VALUES (?, ?, ?, ?)",
                (self.edge, camera.camera, int(camera.online), now),
            )
            if before is not None or not camera.online:  # a first sighting of a live camera
                created.append(self._change(db, camera, now))  # is not a change

    def _change(self, db: sqlite3.Connection, camera: m.CameraStatus, now: int) -> StoredEvent:
        kind = m.EventKind.CAMERA_ONLINE if camera.online else m.EventKind.CAMERA_OFFLINE
        row = db.execute(
            "INSERT INTO events (event_id, kind, edge, camera, label, score, started_at, "
            "ended_at, model_version, bytes, received_ms) VALUES (?, ?, ?, ?, '', 0, ?, ?, ?, "
            "0, ?) RETURNING *",
            (
                str(uuid.uuid4()),
                kind.value,
                self.edge,
                camera.camera,
                now,
                now,
                self.node.model_version,
                now,
            ),
        ).fetchone()
        return stored_event(row)


@dataclass(frozen=True)
class TouchPeer:
    """Note that a peer was seen now."""

    name: str

    def apply(self, db: sqlite3.Connection, created: list[StoredEvent]) -> None:
        """Update last_seen_ms."""
        db.execute("UPDATE peers SET last_seen_ms = ? WHERE name = ?", (now_ms(), self.name))


class ModelConflict(ValueError):
    """A version that is already stored with other content."""


@dataclass(frozen=True)
class StoreModel:
    """Register a package file already moved into the models folder."""

    version: str
    sha256: str
    size: int
    file: str
    uploaded_by: str

    def apply(self, db: sqlite3.Connection, created: list[StoredEvent]) -> None:
        """Insert; the same version with the same hash again is fine, with another is not."""
        old = db.execute("SELECT sha256 FROM models WHERE version = ?", (self.version,)).fetchone()
        if old is not None and old[0] != self.sha256:
            raise ModelConflict(
                f"version {self.version} is already stored with another hash; "
                f"give the new package a new version"
            )
        db.execute(
            "INSERT OR IGNORE INTO models VALUES (?, ?, ?, ?, ?, ?)",
            (self.version, self.sha256, self.size, self.file, now_ms(), self.uploaded_by),
        )


class UnknownModel(KeyError):
    """A version the registry does not hold."""


@dataclass(frozen=True)
class AssignModel:
    """Make `version` the model of these edges (none named: every edge)."""

    version: str
    edges: tuple[str, ...]

    def apply(self, db: sqlite3.Connection, created: list[StoredEvent]) -> list[str]:
        """Record the assignment; answer the edges it now applies to."""
        if db.execute("SELECT 1 FROM models WHERE version = ?", (self.version,)).fetchone() is None:
            raise UnknownModel(f"no model version {self.version} in the registry")
        targets = self.edges or (EVERY_EDGE,)
        if not self.edges:
            db.execute("DELETE FROM assignments")  # the fleet-wide one replaces them all
        db.executemany(
            "INSERT OR REPLACE INTO assignments VALUES (?, ?, ?)",
            [(edge, self.version, now_ms()) for edge in targets],
        )
        if self.edges:
            return list(self.edges)
        rows = db.execute("SELECT name FROM peers WHERE role = 'edge' AND revoked = 0")
        return [r[0] for r in rows]


@dataclass(frozen=True)
class SaveReport:
    """What an edge did with a version: running it, refused it, rolled back from it."""

    edge: str
    report: m.ModelReport

    def apply(self, db: sqlite3.Connection, created: list[StoredEvent]) -> None:
        """Keep the edge's latest report."""
        db.execute(
            "INSERT OR REPLACE INTO model_reports VALUES (?, ?, ?, ?, ?)",
            (self.edge, self.report.version, self.report.state, self.report.reason, now_ms()),
        )


def assignment_of(db: sqlite3.Connection, edge: str) -> tuple[str, str, int, str] | None:
    """The model version assigned to `edge` (its own, else the fleet's) with its file."""
    row = db.execute(
        "SELECT m.version, m.sha256, m.size, m.file FROM assignments a JOIN models m "
        "ON m.version = a.version WHERE a.edge IN (?, ?) ORDER BY a.edge = ? LIMIT 1",
        (edge, EVERY_EDGE, EVERY_EDGE),
    ).fetchone()
    return None if row is None else (row[0], row[1], row[2], row[3])


@dataclass(frozen=True)
class Retain:
    """Remove sightings past the age limit, then the oldest until under the byte budget;
    never one younger than `min_age_ms`. Answers the image files to delete after commit: those
    of the removed rows that no remaining row names."""

    max_age_ms: int
    max_bytes: int
    min_age_ms: int

    def apply(self, db: sqlite3.Connection, created: list[StoredEvent]) -> list[str]:
        """Delete rows; the caller unlinks their files once the deletion is committed."""
        now = now_ms()
        keep_after = now - self.min_age_ms
        gone = db.execute(
            "DELETE FROM events WHERE received_ms < ? AND received_ms < ? "
            "RETURNING event_id, ends, snapshot, thumbnail, bytes",
            (now - self.max_age_ms, keep_after),
        ).fetchall()
        excess = db.execute("SELECT COALESCE(SUM(bytes), 0) FROM events").fetchone()[0]
        excess -= self.max_bytes
        doomed: list[int] = []
        oldest = db.execute(
            "SELECT seq, bytes FROM events WHERE received_ms < ? ORDER BY seq", (keep_after,)
        )
        for seq, size in oldest:  # only as many as it takes, oldest first
            if excess <= 0:
                break
            doomed.append(seq)
            excess -= size
        for start in range(0, len(doomed), 500):
            marks = ",".join("?" * len(doomed[start : start + 500]))
            gone += db.execute(
                f"DELETE FROM events WHERE seq IN ({marks}) "
                "RETURNING event_id, ends, snapshot, thumbnail, bytes",
                doomed[start : start + 500],
            ).fetchall()
        paths = {path for r in gone for path in (r["snapshot"], r["thumbnail"])}
        ids = {i for r in gone for i in (r["event_id"], r["ends"])}
        return unnamed_files(db, paths, ids)  # a file a kept sighting or end names stays
