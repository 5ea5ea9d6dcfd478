"""Status: the latest health of each edge reaches watchers; camera changes are log entries."""

from __future__ import annotations

from tests.hub.conftest import RunningHub, read_until_caught_up, subscribe
from tests.wire.conftest import wait_for
from wire import messages as m
from wire.connection import Connection


def _node(**cameras: bool) -> m.NodeStatus:
    return m.NodeStatus(
        sent_at=1,
        model_version="v1",
        cpu_load=0.4,
        cpu_temp_c=58.0,
        throttled=["soft_temp_limit"],
        cameras=[
            m.CameraStatus(
                camera=name,
                online=online,
                fps=10.0 if online else 0.0,
                inference_ms=21.0,
                frames_in=100,
                processed=90,
                dropped=10,
                queue_depth=0,
            )
            for name, online in cameras.items()
        ],
    )


def _next(conn: Connection, kind: type[m.Message]) -> m.Message:
    while True:
        got = conn.receive().message
        if isinstance(got, kind):
            return got


def test_watchers_get_each_edges_status_and_connection_state(hub: RunningHub) -> None:
    watcher = hub.dial("watcher-1")
    subscribe(watcher)
    read_until_caught_up(watcher)
    edge = hub.dial("edge-1")
    online = _next(watcher, m.StatusNotice)
    assert isinstance(online, m.StatusNotice) and online.edge == "edge-1" and online.online
    edge.send(m.Status(node=_node(door=True)))
    reported = _next(watcher, m.StatusNotice)
    assert isinstance(reported, m.StatusNotice) and reported.node == _node(door=True)
    edge.close("power cut")
    gone = _next(watcher, m.StatusNotice)
    assert isinstance(gone, m.StatusNotice) and not gone.online
    assert gone.node == _node(door=True)  # the last known status stays visible


def test_a_new_watcher_gets_every_known_status(hub: RunningHub) -> None:
    hub.dial("edge-1").send(m.Status(node=_node(door=True)))
    assert wait_for(lambda: any(n.node for n in hub.hub.board.notices()))
    watcher = hub.dial("watcher-1")
    subscribe(watcher)
    read_until_caught_up(watcher)
    notice = _next(watcher, m.StatusNotice)
    assert isinstance(notice, m.StatusNotice) and notice.node == _node(door=True)


def test_camera_changes_are_recorded_as_log_entries(hub: RunningHub) -> None:
    edge = hub.dial("edge-1")
    edge.send(m.Status(node=_node(door=True, yard=True)))  # first report: nothing changed
    edge.send(m.Status(node=_node(door=False, yard=True)))  # the door camera dropped
    edge.send(m.Status(node=_node(door=False, yard=True)))  # still down: no new entry
    edge.send(m.Status(node=_node(door=True, yard=True)))  # back
    watcher = hub.dial("watcher-1")
    assert wait_for(lambda: hub.hub.reader.last_seq() == 2)
    subscribe(watcher)
    entries, _ = read_until_caught_up(watcher)
    assert [(e.kind, e.camera, e.edge) for e, _ in entries] == [
        (m.EventKind.CAMERA_OFFLINE, "door", "edge-1"),
        (m.EventKind.CAMERA_ONLINE, "door", "edge-1"),
    ]
    assert all(thumb == b"" for _, thumb in entries)
