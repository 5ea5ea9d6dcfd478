"""Sighting ends (`event_end`): stored durably as their own log entry while the sighting's entry
is updated in place to the final values; idempotent by end_id; an end without its sighting is
kept; old databases get the `ends` column; watchers, exports and retention see them right."""

from __future__ import annotations

import io
import json
import logging
import os
import sqlite3
import time
import uuid
from pathlib import Path

import pytest

from hub.db import Filters, connect
from hub.export import export
from tests.hub.conftest import (
    HubFactory,
    RunningHub,
    read_until_caught_up,
    send_event,
    sighting,
    subscribe,
)
from wire import messages as m
from wire.connection import Connection


def ending(
    event: m.Event, *, pictures: bool = False, label: str | None = None
) -> tuple[m.EventEnd, bytes]:
    """The end of `event`: 900 ms later, a bigger box, and new pictures or none."""
    snapshot = b"\xff\xd8" + os.urandom(5000) if pictures else b""
    thumbnail = b"\xff\xd8" + os.urandom(500) if pictures else b""
    end = m.EventEnd(
        end_id=str(uuid.uuid4()),
        event_id=event.event_id,
        camera=event.camera,
        label=label or event.label,
        score=0.97,
        ended_at=event.ended_at + 900,
        box=m.Box(x=10, y=12, w=64, h=48),
        snapshot_len=len(snapshot),
        thumbnail_len=len(thumbnail),
    )
    return end, snapshot + thumbnail


def send_end(conn: Connection, end: m.EventEnd, body: bytes) -> m.EventAck:
    conn.send(end, body)
    return conn.expect(m.EventAck)


def rows(hub: RunningHub) -> list[sqlite3.Row]:
    db = sqlite3.connect(hub.data.database)
    db.row_factory = sqlite3.Row
    try:
        return db.execute("SELECT * FROM events ORDER BY seq").fetchall()
    finally:
        db.close()


def test_an_end_updates_its_sighting_and_is_logged_as_its_own_entry(hub: RunningHub) -> None:
    edge = hub.dial("edge-1")
    event, body = sighting()
    first = send_event(edge, event, body)
    end, end_body = ending(event, label="dog")
    ack = send_end(edge, end, end_body)
    assert (ack.event_id, ack.seq, ack.duplicate) == (end.end_id, first.seq + 1, False)
    stored = hub.hub.reader.event(event.event_id)  # the sighting: final values, same seq
    assert stored is not None and stored.entry.seq == first.seq
    entry = stored.entry
    assert (entry.kind, entry.label, entry.score, entry.ended_at) == (
        m.EventKind.SIGHTING, "dog", 0.97, end.ended_at,
    )  # fmt: skip
    assert entry.box == end.box and entry.started_at == event.started_at
    assert hub.hub.images.read(stored.snapshot) == body[: event.snapshot_len]  # kept
    logged = hub.hub.reader.event(end.end_id)
    assert logged is not None
    assert (logged.entry.kind, logged.entry.ends) == (m.EventKind.SIGHTING_END, event.event_id)
    assert (logged.entry.started_at, logged.entry.model_version) == (event.started_at, "v1")
    assert logged.thumbnail == stored.thumbnail  # it shows the sighting's pictures
    assert [r["seq"] for r in rows(hub)] == [1, 2]


def test_a_better_view_replaces_the_sightings_pictures(hub: RunningHub) -> None:
    edge = hub.dial("edge-1")
    event, body = sighting()
    send_event(edge, event, body)
    before = hub.hub.reader.event(event.event_id)
    assert before is not None and before.snapshot is not None
    end, end_body = ending(event, pictures=True)
    send_end(edge, end, end_body)
    after = hub.hub.reader.event(event.event_id)
    assert after is not None
    assert hub.hub.images.read(after.snapshot) == end_body[: end.snapshot_len]
    assert hub.hub.images.read(after.thumbnail) == end_body[end.snapshot_len :]
    assert not (hub.data.root / before.snapshot).exists()  # the replaced files: no row names them
    watcher = hub.dial("watcher-1")
    watcher.send(m.SnapshotRequest(event_id=event.event_id, thumbnail=False))
    got = watcher.receive()
    assert isinstance(got.message, m.Snapshot)
    assert bytes(got.body) == end_body[: end.snapshot_len]  # the final one


def test_a_resent_end_is_a_duplicate_and_changes_nothing(hub: RunningHub) -> None:
    edge = hub.dial("edge-1")
    event, body = sighting()
    send_event(edge, event, body)
    end, end_body = ending(event, pictures=True)
    first = send_end(edge, end, end_body)
    again = send_end(hub.dial("edge-1"), end, end_body)
    assert (again.event_id, again.seq, again.duplicate) == (end.end_id, first.seq, True)
    assert [r["kind"] for r in rows(hub)] == ["sighting", "sighting_end"]
    stored = hub.hub.reader.event(event.event_id)
    assert stored is not None
    assert hub.hub.images.read(stored.thumbnail) == end_body[end.snapshot_len :]


def test_an_end_without_its_sighting_is_stored_and_said(
    hub: RunningHub, caplog: pytest.LogCaptureFixture
) -> None:
    event, _ = sighting()  # never sent (or pruned by retention)
    end, end_body = ending(event)
    with caplog.at_level(logging.WARNING, logger="vigia.hub"):
        ack = send_end(hub.dial("edge-1"), end, end_body)
    assert not ack.duplicate
    (row,) = rows(hub)
    assert (row["kind"], row["event_id"], row["ends"]) == ("sighting_end", end.end_id, end.event_id)
    assert row["snapshot"] is None and row["started_at"] == end.ended_at
    assert any(event.event_id in r.message and "does not have" in r.message for r in caplog.records)


def test_an_edge_cannot_end_another_edges_sighting(hub: RunningHub) -> None:
    event, body = sighting()
    send_event(hub.dial("edge-1"), event, body)
    end, end_body = ending(event, label="dog")
    send_end(hub.dial("edge-2"), end, end_body)
    stored = hub.hub.reader.event(event.event_id)
    assert stored is not None and stored.entry.label == "cat"
    assert stored.entry.ended_at == event.ended_at


def test_an_old_database_gets_the_ends_column_when_opened(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL "
        "UNIQUE, kind TEXT NOT NULL, edge TEXT NOT NULL, camera TEXT NOT NULL, label TEXT NOT "
        "NULL, score REAL NOT NULL, started_at INTEGER NOT NULL, ended_at INTEGER NOT NULL, "
        "box TEXT, model_version TEXT, snapshot TEXT, thumbnail TEXT, bytes INTEGER NOT NULL, "
        "received_ms INTEGER NOT NULL);"
        "INSERT INTO events VALUES (NULL, '0b7e4c1e-7f43-4c1a-9a53-3f1f8f0c2a11', 'sighting', "
        "'edge-1', 'door', 'cat', 0.9, 1, 2, NULL, 'v1', 'a.jpg', 'a.thumb.jpg', 10, 3);"
    )
    old.close()
    db = connect(path)
    columns = [r[1] for r in db.execute("PRAGMA table_info(events)")]
    indexes = [r[1] for r in db.execute("PRAGMA index_list(events)")]
    row = db.execute("SELECT * FROM events").fetchone()
    db.close()
    assert columns[-1] == "ends" and "events_ends" in indexes
    assert row["ends"] is None and row["label"] == "cat"  # the old row is untouched
    connect(path).close()  # a second open changes nothing and does not fail


def test_an_old_data_dir_serves_ends(start_hub: HubFactory, tmp_path: Path) -> None:
    hub = start_hub()
    event, body = sighting()
    send_event(hub.dial("edge-1"), event, body)
    data, port = hub.data, hub.hub.server.address[1]
    hub.hub.stop()
    db = sqlite3.connect(data.database)
    db.executescript("DROP INDEX events_ends; ALTER TABLE events DROP COLUMN ends;")
    db.close()
    again = start_hub(data=data, port=port)
    ack = send_end(again.dial("edge-1"), *ending(event, label="dog"))
    assert ack.seq == 2
    stored = again.hub.reader.event(event.event_id)
    assert stored is not None and stored.entry.label == "dog"


def test_watchers_get_end_entries_with_the_right_thumbnail_and_filters(hub: RunningHub) -> None:
    edge = hub.dial("edge-1")
    cat, cat_body = sighting(camera="door", label="cat")
    dog, dog_body = sighting(camera="door", label="dog")
    send_event(edge, cat, cat_body)
    send_event(edge, dog, dog_body)
    cat_end, cat_end_body = ending(cat)  # no new view: the sighting's thumbnail
    send_end(edge, cat_end, cat_end_body)
    live = hub.dial("watcher-1")
    subscribe(live, after=3, labels=["cat"], cameras=["door"])
    assert read_until_caught_up(live) == ([], 3)
    dog_end, dog_end_body = ending(dog, pictures=True)
    late, late_body = sighting(camera="door", label="cat")
    late_end, late_end_body = ending(late, pictures=True)
    send_end(edge, dog_end, dog_end_body)  # filtered out: a dog
    send_event(edge, late, late_body)
    send_end(edge, late_end, late_end_body)
    got: list[tuple[m.LogEntry, bytes]] = []
    while len(got) < 2:
        msg = live.receive()
        if isinstance(msg.message, m.LogEntry):
            got.append((msg.message, bytes(msg.body)))
    assert [(e.kind, e.event_id, e.ends) for e, _ in got] == [
        (m.EventKind.SIGHTING, late.event_id, None),
        (m.EventKind.SIGHTING_END, late_end.end_id, late.event_id),
    ]
    assert got[1][1] == late_end_body[late_end.snapshot_len :]  # the new thumbnail, live
    backlog = hub.dial("watcher-1")
    subscribe(backlog, labels=["cat"])
    entries, _ = read_until_caught_up(backlog)
    assert [(e.kind, e.event_id) for e, _ in entries] == [
        (m.EventKind.SIGHTING, cat.event_id),
        (m.EventKind.SIGHTING_END, cat_end.end_id),
        (m.EventKind.SIGHTING, late.event_id),
        (m.EventKind.SIGHTING_END, late_end.end_id),
    ]
    assert entries[0][0].ended_at == cat_end.ended_at  # from the database: already final
    assert entries[1][1] == cat_body[cat.snapshot_len :]  # unchanged view: the sighting's
    assert entries[3][1] == late_end_body[late_end.snapshot_len :]
    assert Filters(labels=("dog",)).admits(got[1][0]) is False


def test_retention_keeps_files_another_row_still_names(start_hub: HubFactory) -> None:
    hub = start_hub(retention={"max_age_days": 1.0, "min_age_s": 60, "interval_s": 3600})
    edge = hub.dial("edge-1")
    event, body = sighting()
    send_event(edge, event, body)
    send_end(edge, *ending(event))  # names the sighting's files
    stored = hub.hub.reader.event(event.event_id)
    assert stored is not None and stored.snapshot is not None
    db = sqlite3.connect(hub.data.database)
    with db:  # the sighting is old, its end (received later) is not yet
        now = int(time.time() * 1000)
        db.execute("UPDATE events SET received_ms = ? WHERE seq = 1", (now - 3 * 86400_000,))
    assert hub.hub.run_retention() == 0
    assert [r["kind"] for r in rows(hub)] == ["sighting_end"]
    assert (hub.data.root / stored.snapshot).exists()  # the end still shows it
    with db:
        db.execute("UPDATE events SET received_ms = ?", (now - 3 * 86400_000,))
    db.close()
    assert hub.hub.run_retention() == 2
    assert rows(hub) == [] and not (hub.data.root / stored.snapshot).exists()


def test_export_names_the_sighting_an_end_ends(hub: RunningHub) -> None:
    edge = hub.dial("edge-1")
    event, body = sighting()
    send_event(edge, event, body)
    end, end_body = ending(event, label="dog")
    send_end(edge, end, end_body)
    out = io.StringIO()
    assert export(hub.hub.reader, hub.data.root, Filters(), "jsonl", out) == 2
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert (first["kind"], first["label"], first["ends"]) == ("sighting", "dog", None)
    assert (second["kind"], second["ends"]) == ("sighting_end", event.event_id)
