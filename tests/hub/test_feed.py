"""Watchers: backlog from a cursor, then live; filters; snapshots on demand; a slow watcher
catches up from the database with no gap and no duplicate, and never slows ingest."""

from __future__ import annotations

import socket
import time

from tests.hub.conftest import (
    HubFactory,
    RunningHub,
    read_until_caught_up,
    send_event,
    sighting,
    subscribe,
)
from wire import messages as m
from wire.roles import Role


def test_backlog_then_live(hub: RunningHub) -> None:
    edge = hub.dial("edge-1")
    sent = [sighting() for _ in range(3)]
    for event, body in sent:
        send_event(edge, event, body)
    watcher = hub.dial("watcher-1")
    subscribe(watcher, after=1)
    backlog, caught_up = read_until_caught_up(watcher)
    assert [e.seq for e, _ in backlog] == [2, 3] and caught_up == 3
    for (entry, thumb), (event, body) in zip(backlog, sent[1:], strict=True):
        assert entry.event_id == event.event_id and entry.edge == "edge-1"
        assert thumb == body[event.snapshot_len :]
    live_event, live_body = sighting(camera="yard")
    send_event(edge, live_event, live_body)
    got = watcher.receive()
    while not isinstance(got.message, m.LogEntry):  # status notices may come first
        got = watcher.receive()
    assert got.message.seq == 4 and got.message.camera == "yard"
    assert bytes(got.body) == live_body[live_event.snapshot_len :]


def test_filters_by_camera_label_and_time(hub: RunningHub) -> None:
    edge = hub.dial("edge-1")
    base = int(time.time() * 1000) - 100_000
    cases = [
        ("door", "cat", base),
        ("yard", "cat", base),
        ("door", "dog", base),
        ("door", "cat", base - 50_000),
    ]
    for camera, label, start in cases:
        send_event(edge, *sighting(camera=camera, label=label, started_at=start))
    watcher = hub.dial("watcher-1")
    subscribe(watcher, cameras=["door"], labels=["cat"], since_ms=base - 10_000)
    backlog, _ = read_until_caught_up(watcher)
    assert [e.seq for e, _ in backlog] == [1]
    send_event(edge, *sighting(camera="yard", label="cat"))
    send_event(edge, *sighting(camera="door", label="cat"))
    got = watcher.receive()
    while not isinstance(got.message, m.LogEntry):
        got = watcher.receive()
    assert got.message.seq == 6  # seq 5 (the yard) was filtered out of the live feed too


def test_snapshot_on_demand(hub: RunningHub) -> None:
    event, body = sighting(size=30_000)
    send_event(hub.dial("edge-1"), event, body)
    watcher = hub.dial("watcher-1")
    watcher.send(m.SnapshotRequest(event_id=event.event_id, thumbnail=False))
    reply = watcher.receive()
    assert reply.message == m.Snapshot(event_id=event.event_id, thumbnail=False)
    assert bytes(reply.body) == body[: event.snapshot_len]
    unknown = "00000000-0000-4000-8000-000000000000"
    watcher.send(m.SnapshotRequest(event_id=unknown, thumbnail=False))
    missing = watcher.receive().message
    assert isinstance(missing, m.Error) and missing.code == "not_found" and not missing.fatal


def test_a_slow_watcher_catches_up_without_gap_or_duplicate(start_hub: HubFactory) -> None:
    hub = start_hub(watcher_queue=10)
    watcher = hub.dial("watcher-1")
    (session,) = hub.hub.server.sessions(Role.WATCHER)
    for sock in (watcher.transport.raw.sock, session.transport.raw.sock):  # type: ignore[attr-defined]
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a watcher on poor Wi-Fi:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)  # little in flight
    subscribe(watcher)
    read_until_caught_up(watcher)
    edge = hub.dial("edge-1")
    started = time.monotonic()
    for _ in range(150):  # the watcher reads nothing meanwhile: its queue overflows
        send_event(edge, *sighting(size=20_000))
    ingest_s = time.monotonic() - started
    seqs: list[int] = []
    while len(seqs) < 150:
        got = watcher.receive().message
        if isinstance(got, m.LogEntry):
            seqs.append(got.seq)
    assert seqs == list(range(1, 151))
    (sub,) = hub.hub.feed.subscriptions()
    assert sub.overflows >= 1  # it really fell behind and caught up from the database
    assert ingest_s < 10


def test_a_reconnecting_watcher_resumes_from_its_cursor(hub: RunningHub) -> None:
    edge = hub.dial("edge-1")
    for _ in range(3):
        send_event(edge, *sighting())
    first = hub.dial("watcher-1")
    subscribe(first)
    backlog, last = read_until_caught_up(first)
    first.close("wifi dropped")
    for _ in range(2):
        send_event(edge, *sighting())
    second = hub.dial("watcher-1")
    subscribe(second, after=last)
    resumed, _ = read_until_caught_up(second)
    assert [e.seq for e, _ in backlog] + [e.seq for e, _ in resumed] == [1, 2, 3, 4, 5]


def test_a_watcher_can_take_thumbnails_on_demand(hub: RunningHub) -> None:
    """A laptop on Wi-Fi need not download every thumbnail: it subscribes without them and
    asks for the ones it shows."""
    edge = hub.dial("edge-1")
    event, body = sighting(size=30_000)
    send_event(edge, event, body)
    watcher = hub.dial("watcher-1")
    subscribe(watcher, thumbnails=False)
    backlog, _ = read_until_caught_up(watcher)
    assert [(e.event_id, thumb) for e, thumb in backlog] == [(event.event_id, b"")]
    live_event, live_body = sighting()
    send_event(edge, live_event, live_body)
    got = watcher.receive()
    while not isinstance(got.message, m.LogEntry):
        got = watcher.receive()
    assert got.message.event_id == live_event.event_id and got.body == b""
    watcher.send(m.SnapshotRequest(event_id=event.event_id, thumbnail=True))
    reply = watcher.receive()
    assert reply.message == m.Snapshot(event_id=event.event_id, thumbnail=True)
    assert bytes(reply.body) == body[event.snapshot_len :]
