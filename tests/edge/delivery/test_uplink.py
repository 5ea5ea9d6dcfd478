"""The uplink against a real hub: every sighting (and every sighting's end) arrives exactly once
with its pictures, also across a hub restart and an edge restart; an end never before its
sighting; what the hub cannot store stays spooled and is sent again; statuses arrive, at once
when a camera drops."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from edge.delivery.spool import Spool
from edge.delivery.uplink import Uplink, UplinkOptions
from edge.sighting import Report, Sighting
from edge.system.status import StatusSource, SystemProbe, SystemSources
from tests.edge.delivery.samples import end, sighting
from tests.hub.conftest import HubFactory, RunningHub, send_event
from tests.wire.conftest import wait_for
from wire import messages as m
from wire.client import Endpoint

FAST = UplinkOptions(
    status_interval_s=0.5, retry_after_s=0.3, backoff_base_s=0.05, backoff_cap_s=0.3
)
UplinkFactory = Callable[..., Uplink]


def _quiet_status() -> m.NodeStatus:
    return m.NodeStatus(
        sent_at=int(time.time() * 1000),
        model_version=None,
        cpu_load=0.1,
        cpu_temp_c=None,
        throttled=[],
        cameras=[],
    )


@pytest.fixture
def make_uplink() -> Iterator[UplinkFactory]:
    """Start uplinks as edge-1 to a hub (stopped before the hubs are)."""
    started: list[Uplink] = []

    def make(hub: RunningHub, spool: Spool, **kwargs: object) -> Uplink:
        cred = hub.credential("edge-1")
        endpoint = Endpoint("127.0.0.1", hub.hub.server.address[1], cred.fingerprint)
        kwargs.setdefault("status_source", _quiet_status)
        kwargs.setdefault("options", FAST)
        uplink = Uplink(cred, spool, endpoint=endpoint, **kwargs)  # type: ignore[arg-type]
        uplink.start()
        started.append(uplink)
        return uplink

    yield make
    for uplink in started:
        uplink.stop()


def _stored(hub: RunningHub) -> dict[str, int]:
    """event_id -> how many rows the hub has of it (sightings only)."""
    db = sqlite3.connect(hub.data.database)
    rows = db.execute(
        "SELECT event_id, COUNT(*) FROM events WHERE kind = 'sighting' GROUP BY event_id"
    ).fetchall()
    db.close()
    return {event_id: count for event_id, count in rows}


def _seq_order(hub: RunningHub) -> list[str]:
    db = sqlite3.connect(hub.data.database)
    rows = db.execute("SELECT event_id FROM events WHERE kind = 'sighting' ORDER BY seq")
    order = [r[0] for r in rows]
    db.close()
    return order


def _assert_pictures(hub: RunningHub, made: list[Sighting]) -> None:
    for s in made:
        stored = hub.hub.reader.event(s.event_id)
        assert stored is not None and stored.entry.camera == s.camera
        assert hub.hub.images.read(stored.snapshot) == s.snapshot
        assert hub.hub.images.read(stored.thumbnail) == s.thumbnail


def test_sightings_arrive_once_with_their_pictures_and_leave_the_spool(
    hub: RunningHub, make_uplink: UplinkFactory, tmp_path: Path
) -> None:
    spool = Spool(tmp_path / "spool")
    uplink = make_uplink(hub, spool)
    made = [sighting(camera=f"cam{i % 3}") for i in range(10)]
    for s in made:
        assert uplink.submit(s)
    assert wait_for(lambda: len(spool) == 0, timeout=10)
    assert _stored(hub) == {s.event_id: 1 for s in made}
    assert _seq_order(hub) == [s.event_id for s in made]  # in the order they were made
    _assert_pictures(hub, made)
    state = uplink.state()
    assert state.connected and state.acknowledged == 10 and state.duplicates == 0
    assert state.in_flight == 0 and list((tmp_path / "spool").glob("*.evt")) == []


def test_a_hub_restart_loses_nothing_and_duplicates_nothing(
    start_hub: HubFactory, make_uplink: UplinkFactory, tmp_path: Path
) -> None:
    hub = start_hub()
    port = hub.hub.server.address[1]
    spool = Spool(tmp_path / "spool")
    uplink = make_uplink(hub, spool)
    before = [sighting() for _ in range(5)]
    for s in before:
        uplink.submit(s)
    assert wait_for(lambda: len(spool) == 0, timeout=10)
    during = [sighting(camera="yard") for _ in range(50)]
    for s in during[:25]:
        assert uplink.submit(s)
    hub.hub.stop()  # with events in flight: some stored and acked, some not, some unacked
    assert wait_for(lambda: not uplink.connected, timeout=10)
    for s in during[25:]:
        assert uplink.submit(s)  # spooled while the hub is away
    assert len(spool) >= 25
    again = start_hub(data=hub.data, port=port)  # same data, same address
    assert wait_for(lambda: len(spool) == 0, timeout=20)
    made = before + during
    assert _stored(again) == {s.event_id: 1 for s in made}
    assert _seq_order(again) == [s.event_id for s in made]
    _assert_pictures(again, during[::10])
    assert uplink.state().sessions >= 2


def test_an_edge_restart_sends_what_its_spool_kept(
    hub: RunningHub, make_uplink: UplinkFactory, tmp_path: Path
) -> None:
    made = [sighting() for _ in range(8)]
    offline = Spool(tmp_path / "spool")
    for s in made:
        offline.add(s)  # made while the edge could not reach the hub; then the power went
    spool = Spool(tmp_path / "spool")
    make_uplink(hub, spool, options=UplinkOptions(window=3, backoff_base_s=0.05))
    assert wait_for(lambda: len(spool) == 0, timeout=10)
    assert _seq_order(hub) == [s.event_id for s in made]


def test_a_drain_waits_for_the_hub_to_take_the_spool_only_while_connected(
    start_hub: HubFactory, make_uplink: UplinkFactory, tmp_path: Path
) -> None:
    hub = start_hub()
    spool = Spool(tmp_path / "spool")
    uplink = make_uplink(hub, spool)
    assert wait_for(lambda: uplink.connected, timeout=10)
    made = [sighting() for _ in range(5)]
    for s in made:
        uplink.submit(s)
    assert uplink.drain(10)  # returns once the hub has acknowledged every one
    assert len(spool) == 0 and _stored(hub) == {s.event_id: 1 for s in made}
    hub.hub.stop()
    assert wait_for(lambda: not uplink.connected, timeout=10)
    uplink.submit(sighting())
    started = time.monotonic()
    assert not uplink.drain(10)  # no hub: nothing to wait for
    assert time.monotonic() - started < 1 and len(spool) == 1


def test_a_resent_event_is_acknowledged_as_a_duplicate_and_removed(
    hub: RunningHub, make_uplink: UplinkFactory, tmp_path: Path
) -> None:
    s = sighting()
    first = send_event(hub.dial("edge-1"), *s.to_event())  # as if acked on a lost connection
    spool = Spool(tmp_path / "spool")
    uplink = make_uplink(hub, spool)
    uplink.submit(s)
    assert wait_for(lambda: len(spool) == 0, timeout=10)
    state = uplink.state()
    assert state.acknowledged == 1 and state.duplicates == 1
    assert _stored(hub) == {s.event_id: 1} and hub.hub.reader.last_seq() == first.seq


def test_an_event_the_hub_cannot_store_stays_spooled_and_is_retried(
    start_hub: HubFactory, make_uplink: UplinkFactory, tmp_path: Path
) -> None:
    full = start_hub(retention={"min_free_mb": 1e9})  # the hub's disk is "full"
    port = full.hub.server.address[1]
    spool = Spool(tmp_path / "spool")
    uplink = make_uplink(full, spool)
    made = [sighting() for _ in range(3)]
    for s in made:
        uplink.submit(s)
    assert wait_for(lambda: uplink.state().hub_refusals >= 6, timeout=10)  # retried
    assert len(spool) == 3 and _stored(full) == {}
    full.hub.stop()
    roomy = start_hub(data=full.data, port=port)
    assert wait_for(lambda: len(spool) == 0, timeout=10)
    assert _stored(roomy) == {s.event_id: 1 for s in made}
    assert _seq_order(roomy) == [s.event_id for s in made]


def _rows(hub: RunningHub) -> list[tuple[str, str, str, str | None, int]]:
    """(kind, event_id, label, ends, ended_at) of every sighting and end, in log order."""
    db = sqlite3.connect(hub.data.database)
    rows = db.execute(
        "SELECT kind, event_id, label, ends, ended_at FROM events "
        "WHERE kind IN ('sighting', 'sighting_end') ORDER BY seq"
    ).fetchall()
    db.close()
    return [tuple(r) for r in rows]


def test_an_end_is_acknowledged_by_its_end_id_and_updates_its_sighting(
    hub: RunningHub, make_uplink: UplinkFactory, tmp_path: Path
) -> None:
    spool = Spool(tmp_path / "spool")
    uplink = make_uplink(hub, spool)
    first, second = sighting(camera="yard"), sighting(camera="door")
    ends = [end(first, pictures=True, label="dog"), end(second)]
    reports: list[Report] = [first, second, *ends]
    for report in reports:
        assert uplink.submit(report)
    assert wait_for(lambda: len(spool) == 0, timeout=10)
    assert uplink.state().acknowledged == 4 and uplink.state().duplicates == 0
    assert _rows(hub) == [
        ("sighting", first.event_id, "dog", None, ends[0].ended_at),  # updated in place
        ("sighting", second.event_id, "cat", None, ends[1].ended_at),
        ("sighting_end", ends[0].end_id, "dog", first.event_id, ends[0].ended_at),
        ("sighting_end", ends[1].end_id, "cat", second.event_id, ends[1].ended_at),
    ]
    stored = hub.hub.reader.event(first.event_id)
    assert stored is not None and hub.hub.images.read(stored.snapshot) == ends[0].snapshot
    kept = hub.hub.reader.event(second.event_id)  # no new view: its own pictures stay
    assert kept is not None and hub.hub.images.read(kept.thumbnail) == second.thumbnail


def test_an_end_waits_until_its_sighting_is_acknowledged(
    start_hub: HubFactory, make_uplink: UplinkFactory, tmp_path: Path
) -> None:
    """The hub's disk is "full": it refuses the sighting (images), and would take an end
    without pictures; the end is held back all the same, so the hub never has an end before
    its sighting. Once the hub has room, both arrive, in order."""
    full = start_hub(retention={"min_free_mb": 1e9})
    port = full.hub.server.address[1]
    spool = Spool(tmp_path / "spool")
    uplink = make_uplink(full, spool)
    first, other = sighting(), sighting(camera="yard")
    finish = end(first)
    for report in (first, finish, other):
        uplink.submit(report)
    assert wait_for(lambda: uplink.state().hub_refusals >= 4, timeout=10)
    assert len(spool) == 3 and _rows(full) == [] and uplink.state().sent >= 4
    full.hub.stop()
    roomy = start_hub(data=full.data, port=port)
    assert wait_for(lambda: len(spool) == 0, timeout=10)
    order = [event_id for _, event_id, *_ in _rows(roomy)]
    assert sorted(order) == sorted([first.event_id, finish.end_id, other.event_id])
    assert order.index(first.event_id) < order.index(finish.end_id)
    assert _rows(roomy)[0][3:] == (None, finish.ended_at)  # the sighting has its final end


def test_status_reaches_the_hub_and_a_camera_going_offline_is_logged_at_once(
    hub: RunningHub, make_uplink: UplinkFactory, tmp_path: Path
) -> None:
    online = {"door": True, "yard": True}

    def cameras() -> list[m.CameraStatus]:
        return [
            m.CameraStatus(
                camera=name,
                online=up,
                fps=10.0 if up else 0.0,
                inference_ms=20.0,
                frames_in=100,
                processed=90,
                dropped=10,
                queue_depth=0,
            )
            for name, up in online.items()
        ]

    (tmp_path / "temp").write_text("51250\n")
    probe = SystemProbe(
        SystemSources(thermal=tmp_path / "temp", throttle_command=None, cpu_count=4)
    )
    status = StatusSource(cameras, lambda: "v7", probe=probe)
    slow = UplinkOptions(status_interval_s=60, backoff_base_s=0.05)  # only the first on its own
    uplink = make_uplink(hub, Spool(tmp_path / "spool"), status_source=status, options=slow)

    def edge_node() -> m.NodeStatus | None:
        return next((n.node for n in hub.hub.board.notices() if n.edge == "edge-1"), None)

    assert wait_for(lambda: edge_node() is not None, timeout=10)
    node = edge_node()
    assert node is not None and node.model_version == "v7" and node.cpu_temp_c == 51.25
    assert [c.camera for c in node.cameras] == ["door", "yard"]
    online["door"] = False
    uplink.status_now()
    assert wait_for(lambda: hub.hub.reader.last_seq() == 1, timeout=3)
    db = sqlite3.connect(hub.data.database)
    kinds = db.execute("SELECT kind, edge, camera FROM events").fetchall()
    db.close()
    assert kinds == [("camera_offline", "edge-1", "door")]
