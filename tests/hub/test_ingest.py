"""Ingest: an event is acknowledged only once its images and row are durable; a resend is
acknowledged again and not stored twice; seq is gap-free; a failed write loses nothing."""

from __future__ import annotations

import errno
import os
import sqlite3
import threading
import time

import pytest

from tests.hub.conftest import HubFactory, RunningHub, send_event, sighting
from wire import messages as m
from wire.errors import ConnectionClosed


def _rows(hub: RunningHub) -> list[sqlite3.Row]:
    db = sqlite3.connect(hub.data.database)
    db.row_factory = sqlite3.Row
    return db.execute("SELECT * FROM events ORDER BY seq").fetchall()


def test_an_acknowledged_event_is_in_the_database_with_its_images(hub: RunningHub) -> None:
    edge = hub.dial("edge-1")
    event, body = sighting(size=40_000)
    ack = send_event(edge, event, body)
    assert ack == m.EventAck(event_id=event.event_id, seq=1, duplicate=False)
    (row,) = _rows(hub)  # read by another connection: it is committed, not just cached
    assert (row["event_id"], row["edge"], row["camera"], row["label"]) == (
        event.event_id,
        "edge-1",
        "door",
        "cat",
    )
    assert (hub.data.root / row["snapshot"]).read_bytes() == body[: event.snapshot_len]
    assert (hub.data.root / row["thumbnail"]).read_bytes() == body[event.snapshot_len :]
    assert row["snapshot"].startswith("images/") and "/edge-1/door/" in row["snapshot"]


def test_a_resent_event_is_acknowledged_again_and_stored_once(hub: RunningHub) -> None:
    edge = hub.dial("edge-1")
    event, body = sighting()
    first = send_event(edge, event, body)
    again = send_event(hub.dial("edge-1"), event, body)  # as after a reconnect
    assert again == m.EventAck(event_id=event.event_id, seq=first.seq, duplicate=True)
    assert len(_rows(hub)) == 1
    assert send_event(edge, *sighting()).seq == first.seq + 1  # the resend left no gap


def test_seq_is_gap_free_and_increasing_under_concurrent_edges(hub: RunningHub) -> None:
    acks: list[int] = []

    def run(name: str) -> None:
        conn = hub.dial(name)
        for _ in range(60):
            acks.append(send_event(conn, *sighting(size=500)).seq)

    threads = [threading.Thread(target=run, args=(n,)) for n in ("edge-1", "edge-2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(acks) == list(range(1, 121))
    assert [r["seq"] for r in _rows(hub)] == list(range(1, 121))


def test_a_full_disk_refuses_the_event_and_stores_nothing(start_hub: HubFactory) -> None:
    hub = start_hub(retention={"min_free_mb": 1e9})  # as if the disk were full
    edge = hub.dial("edge-1")
    event, body = sighting()
    edge.send(event, body)
    refusal = edge.receive().message
    assert isinstance(refusal, m.Error) and not refusal.fatal
    assert refusal.code == "storage_failed" and refusal.ref == event.event_id
    assert "disk nearly full" in refusal.message
    assert _rows(hub) == []
    edge.send(event, body)  # the session goes on; the edge may retry, and is refused again
    assert edge.receive().message == refusal


def test_an_io_error_refuses_the_event_and_the_edge_can_retry(
    hub: RunningHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    edge = hub.dial("edge-1")
    event, body = sighting()
    real_write = os.write

    def failing(fd: int, data: bytes | memoryview) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", failing)
    edge.send(event, body)
    refusal = edge.receive().message
    assert isinstance(refusal, m.Error) and refusal.code == "storage_failed"
    assert "No space left on device" in refusal.message
    monkeypatch.setattr(os, "write", real_write)
    ack = send_event(edge, event, body)  # the edge kept it, and retries
    assert ack.duplicate is False and ack.seq == 1
    assert len(_rows(hub)) == 1


def test_stopping_answers_every_event_it_stored(hub: RunningHub) -> None:
    """On stop the hub reads no more, but each event it took in is committed and
    acknowledged before it says goodbye: an edge never has to resend what was stored."""
    edge = hub.dial("edge-1")
    sent = [sighting(size=20_000) for _ in range(200)]

    def pipeline() -> None:
        for event, body in sent:
            edge.send(event, body)

    threading.Thread(target=pipeline, daemon=True).start()
    while hub.hub.reader.last_seq() < 5:  # the hub is busy taking them in
        time.sleep(0.005)
    hub.hub.stop()
    acked: set[str] = set()
    with pytest.raises(ConnectionClosed, match="server stopping"):
        while True:
            got = edge.receive().message
            assert isinstance(got, m.EventAck)
            acked.add(got.event_id)
    stored = {row["event_id"] for row in _rows(hub)}
    assert stored == acked
    assert len(stored) >= 5


def test_half_written_images_from_a_crash_are_swept_at_start(start_hub: HubFactory) -> None:
    first = start_hub()
    event, body = sighting()
    send_event(first.dial("edge-1"), event, body)
    first.hub.stop()
    folder = next(first.data.images.rglob("*.jpg")).parent
    (folder / ".cut-short.jpg.1a2b3c4d.part").write_bytes(b"\xff\xd8 half")  # as a crash leaves
    again = start_hub(first.data)
    assert not list(first.data.images.rglob("*.part"))
    assert len(list(folder.glob("*.jpg"))) == 2  # the real images stay
    assert send_event(again.dial("edge-1"), *sighting()).seq == 2
