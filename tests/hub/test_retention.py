"""Retention: oldest first, by age and by bytes; never what is too new or not yet acked."""

from __future__ import annotations

import sqlite3
import time

from hub.jobs import Retain
from tests.hub.conftest import HubFactory, RunningHub, send_event, sighting
from wire import messages as m


def _age_rows(hub: RunningHub, seconds: dict[int, float]) -> None:
    """Pretend events were received that many seconds ago."""
    db = sqlite3.connect(hub.data.database)
    now = int(time.time() * 1000)
    with db:
        for seq, age in seconds.items():
            db.execute(
                "UPDATE events SET received_ms = ? WHERE seq = ?", (now - int(age * 1000), seq)
            )
    db.close()


def _seqs(hub: RunningHub) -> list[int]:
    db = sqlite3.connect(hub.data.database)
    try:
        return [r[0] for r in db.execute("SELECT seq FROM events ORDER BY seq")]
    finally:
        db.close()


def _files(hub: RunningHub) -> set[str]:
    return {p.name for p in hub.data.images.rglob("*.jpg")}


def _fill(hub: RunningHub, count: int, size: int) -> list[m.Event]:
    edge = hub.dial("edge-1")
    events = []
    for _ in range(count):
        event, body = sighting(size=size)
        send_event(edge, event, body)
        events.append(event)
    return events


def test_by_age_oldest_go_and_the_rest_stay(start_hub: HubFactory) -> None:
    hub = start_hub(retention={"max_age_days": 1.0, "min_age_s": 60, "interval_s": 3600})
    events = _fill(hub, 4, 1000)
    _age_rows(hub, {1: 3 * 86400, 2: 2 * 86400, 3: 3600})
    assert hub.hub.run_retention() == 4  # two events, two images each
    assert _seqs(hub) == [3, 4]
    assert not any(name.startswith(events[0].event_id) for name in _files(hub))
    assert any(name.startswith(events[2].event_id) for name in _files(hub))


def test_by_bytes_oldest_first_but_never_too_new(start_hub: HubFactory) -> None:
    size = 100_000
    budget_gb = 3.5 * size * 1.1 / 2**30  # room for three and a half events
    hub = start_hub(retention={"max_gb": budget_gb, "min_age_s": 600, "interval_s": 3600})
    _fill(hub, 5, size)
    _age_rows(hub, {1: 5000, 2: 4000, 3: 3000})  # 4 and 5 are younger than min_age_s
    hub.hub.run_retention()
    assert _seqs(hub) == [3, 4, 5]  # 1 and 2 went, oldest first, until under budget
    squeeze = Retain(max_age_ms=10**12, max_bytes=1, min_age_ms=600_000)
    removed = hub.hub.writer.call(squeeze)  # over any budget: only 3 is old enough to go
    assert len(removed) == 2 and all("/edge-1/door/" in path for path in removed)
    assert _seqs(hub) == [4, 5]


def test_images_not_yet_committed_are_left_alone(hub: RunningHub) -> None:
    """Files written for an event whose row is not committed (the edge will resend) are
    not retention's to delete: it only removes what the database lists."""
    orphan = hub.data.images / "2026-01-01" / "edge-1" / "door"
    orphan.mkdir(parents=True)
    (orphan / "in-flight.jpg").write_bytes(b"x")
    _fill(hub, 1, 1000)
    _age_rows(hub, {1: 400 * 86400})
    hub.hub.run_retention()
    assert (orphan / "in-flight.jpg").exists()
