"""The in-memory log: rows by event id, newest first, de-duplicated; a sighting_end updates
its row in place (or stands for a sighting the watcher never had); filters, counts per class,
and the edges and cameras panel."""

from __future__ import annotations

from tests.watcher.conftest import entry
from watcher.config import Filters
from watcher.log import Change, Fleet, Log
from wire import messages as m

Kind = m.EventKind


def test_rows_are_newest_first_and_paged() -> None:
    log = Log()
    for seq, start in ((1, 3000), (2, 1000), (3, 2000)):
        assert log.apply(entry(seq, started_at=start)) is Change.ADDED
    assert [r.seq for r in log.visible()] == [1, 3, 2]
    assert [r.seq for r in log.page(1, 5)] == [3, 2]
    assert log.page(3, 5) == []
    assert log.position(entry(2).event_id) == 2


def test_an_entry_seen_twice_is_one_row() -> None:
    log = Log()
    first = entry(1)
    assert log.apply(first) is Change.ADDED
    version = log.version
    assert log.apply(first) is Change.DUPLICATE
    assert len(log) == 1 and log.version == version


def test_sighting_end_updates_its_row_in_place() -> None:
    log = Log()
    sighting = entry(1, label="dog")
    log.apply(sighting)
    log.apply(entry(2, label="fox"))
    end = entry(3, kind=Kind.SIGHTING_END, label="cat", ends=sighting.event_id)
    assert log.apply(end) is Change.UPDATED
    assert len(log) == 2
    row = log.rows[sighting.event_id]
    assert (row.label, row.ended, row.seq, row.ended_at) == ("cat", True, 1, end.ended_at)
    assert row.image_ids == (end.event_id, sighting.event_id)  # newest picture first
    assert log.owner(end.event_id) is row
    assert dict(log.counts) == {"cat": 1, "fox": 1}
    assert log.apply(end) is Change.DUPLICATE  # resent after a reconnection


def test_sighting_end_without_its_sighting_shows_as_the_sighting() -> None:
    log = Log()
    missing = "5b0b9d1c-0000-4000-8000-00000000abcd"
    end = entry(7, kind=Kind.SIGHTING_END, label="cat", ends=missing)
    assert log.apply(end) is Change.ADDED
    (row,) = log.visible()
    assert row.event_id == missing and row.kind is Kind.SIGHTING and row.ended
    assert row.image_ids == (end.event_id, missing)


def test_filters_by_class_camera_dates_and_text() -> None:
    log = Log()
    log.apply(entry(1, label="cat", camera="door", started_at=10_000))
    log.apply(entry(2, label="dog", camera="yard", started_at=20_000))
    log.apply(entry(3, label="cat", camera="yard", started_at=30_000))
    log.apply(entry(4, kind=Kind.CAMERA_OFFLINE, label="", camera="yard", started_at=40_000))
    cases = [
        (Filters(labels=("cat",)), [3, 1]),
        (Filters(cameras=("yard",)), [4, 3, 2]),
        (Filters(since_ms=21_000), [4, 3, 2]),  # ended at or after
        (Filters(until_ms=20_000), [2, 1]),  # started at or before
        (Filters(text="DOG"), [2]),
        (Filters(labels=("cat",), cameras=("yard",)), [3]),
        (Filters(), [4, 3, 2, 1]),
    ]
    for filters, expected in cases:
        log.set_filters(filters)
        assert [r.seq for r in log.visible()] == expected, filters
    log.set_filters(Filters(labels=("cat",)))
    log.apply(entry(5, label="cat", started_at=50_000))
    log.apply(entry(6, label="dog", started_at=60_000))
    assert [r.seq for r in log.visible()] == [5, 3, 1]  # live rows are filtered too


def test_counts_per_class_follow_the_filters_and_updates() -> None:
    log = Log()
    for seq, label in enumerate(["cat", "cat", "dog", "person"], 1):
        log.apply(entry(seq, label=label, camera="door" if seq < 4 else "yard"))
    log.apply(entry(9, kind=Kind.CAMERA_ONLINE, label=""))
    assert dict(log.counts) == {"cat": 2, "dog": 1, "person": 1}  # camera changes not counted
    log.set_filters(Filters(cameras=("door",)))
    assert dict(log.counts) == {"cat": 2, "dog": 1}
    dog = log.rows[entry(3).event_id]
    log.apply(entry(10, kind=Kind.SIGHTING_END, label="cat", ends=dog.event_id))
    assert dict(log.counts) == {"cat": 3}


def test_a_sighting_that_ends_as_another_class_leaves_a_class_filter() -> None:
    log = Log()
    log.set_filters(Filters(labels=("dog",)))
    first = entry(1, label="dog")
    log.apply(first)
    assert len(log) == 1
    log.apply(entry(2, kind=Kind.SIGHTING_END, label="cat", ends=first.event_id))
    assert len(log) == 0 and not log.counts


def test_a_hundred_thousand_rows_page_without_copying_the_log() -> None:
    log = Log()
    template = entry(1)
    for seq in range(1, 100_001):  # made without validation: the log is under test, not pydantic
        log.apply(
            template.model_construct(
                **{
                    **template.__dict__,
                    "seq": seq,
                    "event_id": f"{seq:08x}-0000-4000-8000-000000000000",
                    "label": ("cat", "dog")[seq % 2],
                    "started_at": seq,
                }
            )
        )
    assert len(log) == 100_000
    assert [r.seq for r in log.page(0, 3)] == [100_000, 99_999, 99_998]
    assert [r.seq for r in log.page(99_998, 5)] == [2, 1]
    log.set_filters(Filters(labels=("cat",)))
    assert len(log) == 50_000 and log.counts["cat"] == 50_000


def test_the_fleet_from_notices_and_camera_entries() -> None:
    fleet = Fleet()
    fleet.apply_entry(entry(1))
    assert fleet.cameras[("edge-1", "door")].online
    fleet.apply_entry(entry(2, kind=Kind.CAMERA_OFFLINE, label=""))
    assert not fleet.cameras[("edge-1", "door")].online
    camera = m.CameraStatus(
        camera="door",
        online=True,
        fps=9.5,
        inference_ms=12.0,
        frames_in=1,
        processed=1,
        dropped=0,
        queue_depth=0,
    )
    node = m.NodeStatus(
        sent_at=5,
        model_version="v7",
        cpu_load=0.5,
        cpu_temp_c=None,
        throttled=[],
        cameras=[camera],
    )
    fleet.apply_notice(m.StatusNotice(edge="edge-1", online=True, last_seen_ms=5, node=node))
    state, edge = fleet.cameras[("edge-1", "door")], fleet.edges["edge-1"]
    assert state.online and state.fps == 9.5 and edge.model_version == "v7" and edge.online
    fleet.apply_notice(m.StatusNotice(edge="edge-1", online=False, last_seen_ms=9, node=node))
    assert not fleet.edges["edge-1"].online
    assert not fleet.cameras[("edge-1", "door")].online  # an offline edge sees nothing
