"""The spool: durable before sent, deleted only when acknowledged, in order across restarts,
never broken by a crash or a damaged file, and within its disk budget."""

from __future__ import annotations

import logging
import os
import struct
import zlib
from pathlib import Path

import pytest

from edge.delivery.spool import Spool, SpoolError, SpoolFull, SpoolOptions
from edge.sighting import Report, Sighting
from tests.edge.delivery.samples import end, sighting
from wire import messages as m


def _files(spool_dir: Path) -> list[str]:
    return sorted(p.name for p in spool_dir.iterdir() if p.is_file())


def test_spooled_sightings_survive_a_restart_in_order(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    made = [sighting(camera=f"cam{i}") for i in range(5)]
    for s in made:
        spool.add(s)
    reopened = Spool(tmp_path)  # as after a power cut: nothing but the files
    assert [e.event_id for e in reopened.pending()] == [s.event_id for s in made]
    for s in made:
        loaded = reopened.read(s.event_id)
        assert loaded is not None
        assert loaded == s.to_event()
    reopened.add(extra := sighting())
    assert reopened.pending()[-1].event_id == extra.event_id  # numbering goes on after a restart


def test_an_acknowledged_event_is_deleted_for_good(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    first, second, third = sighting(), sighting(), sighting()
    for s in (first, second, third):
        spool.add(s)
    assert spool.acknowledge(second.event_id) is not None
    assert spool.acknowledge(second.event_id) is None  # a second ack changes nothing
    assert spool.read(second.event_id) is None
    assert [e.event_id for e in Spool(tmp_path).pending()] == [first.event_id, third.event_id]
    assert len(_files(tmp_path)) == 2
    assert spool.stats().acknowledged == 1


def test_pending_pages_by_spool_order(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    made = [sighting() for _ in range(6)]
    for s in made:
        spool.add(s)
    first_two = spool.pending(limit=2)
    assert [e.event_id for e in first_two] == [s.event_id for s in made[:2]]
    rest = spool.pending(after=first_two[-1].seq)
    assert [e.event_id for e in rest] == [s.event_id for s in made[2:]]


def test_an_event_already_pending_is_stored_once(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    s = sighting()
    assert spool.add(s) == spool.add(s)
    assert len(spool) == 1 and len(_files(tmp_path)) == 1


def test_a_half_written_file_left_by_a_crash_is_ignored_and_removed(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    kept = sighting()
    spool.add(kept)
    whole = (tmp_path / _files(tmp_path)[0]).read_bytes()
    (tmp_path / "0000000000000002.evt.part").write_bytes(whole[: len(whole) // 2])
    reopened = Spool(tmp_path)
    assert [e.event_id for e in reopened.pending()] == [kept.event_id]
    assert not any(name.endswith(".part") for name in _files(tmp_path))
    assert reopened.stats().corrupt == 0  # a .part is not damage: it was never stored


def test_a_failed_write_stores_nothing_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = Spool(tmp_path)

    def disk_error(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", disk_error)
    lost = sighting(camera="yard")
    with pytest.raises(SpoolError, match="camera yard: cannot write event"):
        spool.add(lost)
    monkeypatch.undo()
    assert _files(tmp_path) == [] and len(spool) == 0
    assert len(Spool(tmp_path)) == 0


def test_a_corrupt_file_is_moved_aside_and_never_stops_the_spool(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = Spool(tmp_path)
    bad_header, bad_body, good = sighting(), sighting(), sighting()
    for s in (bad_header, bad_body, good):
        spool.add(s)
    first, second, _ = sorted(tmp_path.glob("*.evt"))
    first.write_bytes(b"garbage" + first.read_bytes()[7:])  # the magic is gone
    damaged = bytearray(second.read_bytes())
    damaged[-100] ^= 0xFF  # one flipped bit in the snapshot: only the CRC can tell
    second.write_bytes(bytes(damaged))
    (tmp_path / "not-a-number.evt").write_bytes(b"left by someone")
    with caplog.at_level(logging.WARNING, logger="vigia.edge.spool"):
        reopened = Spool(tmp_path)
        assert reopened.read(bad_body.event_id) is None  # caught by the CRC when read
    assert [e.event_id for e in reopened.pending()] == [good.event_id]
    assert reopened.read(good.event_id) == good.to_event()
    aside = sorted(p.name.split(".")[0] for p in (tmp_path / "corrupt").iterdir())
    assert aside == sorted([first.stem, second.stem, "not-a-number"])
    assert reopened.stats().corrupt == 3
    assert sum("moved corrupt" in r.getMessage() for r in caplog.records) == 3


def test_a_file_deleted_from_outside_is_forgotten_and_named_as_lost(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = Spool(tmp_path)
    gone, kept = sighting(), sighting()
    for s in (gone, kept):
        spool.add(s)
    sorted(tmp_path.glob("*.evt"))[0].unlink()
    with caplog.at_level(logging.ERROR, logger="vigia.edge.spool"):
        assert spool.read(gone.event_id) is None
    assert [e.event_id for e in spool.pending()] == [kept.event_id]  # not pending for ever
    assert len(spool) == 1 and spool.stats().lost == 1
    (record,) = [r for r in caplog.records if "deleted from outside" in r.getMessage()]
    assert gone.event_id in record.getMessage() and gone.camera in record.getMessage()
    assert spool.read(kept.event_id) == kept.to_event()


def test_the_budget_warns_once_at_80_percent(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    probe = Spool(tmp_path / "probe")
    size = probe.add(sighting(snapshot=10_000, thumbnail=1_000)).size
    spool = Spool(tmp_path / "spool", SpoolOptions(budget_bytes=10 * size))
    with caplog.at_level(logging.WARNING, logger="vigia.edge.spool"):
        made = [spool.add(sighting(snapshot=10_000, thumbnail=1_000)) for _ in range(7)]
        assert not spool.stats().nearly_full  # 70 %
        made.append(spool.add(sighting(snapshot=10_000, thumbnail=1_000)))  # 80 %
        made.append(spool.add(sighting(snapshot=10_000, thumbnail=1_000)))  # 90 %
    stats = spool.stats()
    assert stats.nearly_full and not stats.full and stats.refused == 0
    assert spool.status_flags() == ["spool_nearly_full"]
    warnings = [r for r in caplog.records if "bytes used" in r.getMessage()]
    assert len(warnings) == 1 and "80%" in warnings[0].getMessage()
    for entry in made[:3]:
        spool.acknowledge(entry.event_id)
    assert not spool.stats().nearly_full and spool.status_flags() == []


def test_when_full_the_oldest_snapshots_go_first_then_new_events_are_refused(
    tmp_path: Path,
) -> None:
    probe = Spool(tmp_path / "probe").add(sighting(snapshot=20_000, thumbnail=1_000))
    spool = Spool(tmp_path / "spool", SpoolOptions(budget_bytes=3 * probe.size + 2000))
    made = [sighting(snapshot=20_000, thumbnail=1_000) for _ in range(3)]
    for s in made:
        spool.add(s)
    assert spool.stats().degraded == 0
    newest = sighting(snapshot=20_000, thumbnail=1_000)
    spool.add(newest)  # room is made by dropping the oldest event's snapshot
    oldest = spool.read(made[0].event_id)
    assert oldest is not None
    event, body = oldest
    assert event.snapshot_len == 0 and body == made[0].thumbnail
    assert event.model_copy(update={"snapshot_len": len(made[0].snapshot)}) == made[0].to_event()[0]
    assert spool.read(newest.event_id) == newest.to_event()  # the newest is whole
    assert spool.stats().degraded == 1
    refused = 0
    for _ in range(60):  # every snapshot goes, then thumbnails only fit, then nothing
        try:
            spool.add(sighting(snapshot=20_000, thumbnail=1_000))
        except SpoolFull as exc:
            assert "spool full" in str(exc) and "camera door refused" in str(exc)
            refused += 1
    stats = spool.stats()
    assert refused > 0 and stats.refused == refused and stats.full
    assert spool.status_flags() == ["spool_full"]
    assert stats.used_bytes <= stats.budget_bytes
    reopened = Spool(tmp_path / "spool")  # everything kept is whole and readable
    assert len(reopened) == stats.pending and reopened.stats().corrupt == 0
    assert all(reopened.read(e.event_id) is not None for e in reopened.pending())
    assert reopened.pending()[0].event_id == made[0].event_id  # nothing old was dropped


def test_without_degrading_a_full_spool_refuses_the_newest(tmp_path: Path) -> None:
    probe = Spool(tmp_path / "probe").add(sighting())
    spool = Spool(
        tmp_path / "spool", SpoolOptions(budget_bytes=2 * probe.size + 100, degrade=False)
    )
    kept = [sighting(), sighting()]
    for s in kept:
        spool.add(s)
    with pytest.raises(SpoolFull):
        spool.add(sighting())
    assert [spool.read(s.event_id) for s in kept] == [s.to_event() for s in kept]
    assert spool.stats().refused == 1 and spool.stats().degraded == 0


def test_sightings_and_their_ends_keep_their_order_across_a_restart(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    first, second = sighting(camera="yard"), sighting(camera="door")
    made: list[Report] = [first, second, end(first, pictures=True), end(second)]
    for report in made:
        spool.add(report)
    reopened = Spool(tmp_path)
    pending = reopened.pending()
    assert [e.key for e in pending] == [r.key for r in made]
    assert [e.kind for e in pending] == ["event", "event", "event_end", "event_end"]
    assert [e.event_id for e in pending] == [first.event_id, second.event_id] * 2
    for report in made:
        expected = report.to_event() if isinstance(report, Sighting) else report.to_message()
        assert reopened.read(report.key) == expected
    assert reopened.has(first.event_id) and reopened.acknowledge(first.event_id) is not None
    assert not reopened.has(first.event_id)
    assert reopened.acknowledge(made[2].key) is not None  # an end is acknowledged by its end_id
    assert [e.key for e in Spool(tmp_path).pending()] == [second.event_id, made[3].key]


def test_files_of_the_previous_format_are_still_read(tmp_path: Path) -> None:
    """An edge upgraded with events waiting in VGSPOOL1 files (no kind byte) sends them."""
    old = sighting()
    event, body = old.to_event()
    payload = event.encode()
    crc = zlib.crc32(body, zlib.crc32(payload))
    head = struct.pack("!8sIQI", b"VGSPOOL1", len(payload), len(body), crc)
    (tmp_path / f"{7:016d}.evt").write_bytes(head + payload + body)
    spool = Spool(tmp_path)
    (entry,) = spool.pending()
    assert (entry.seq, entry.key, entry.kind) == (7, old.event_id, "event")
    assert spool.read(old.event_id) == (event, body)
    new = spool.add(end(old))
    assert new.seq == 8 and (tmp_path / f"{8:016d}.evt").read_bytes()[:8] == b"VGSPOOL2"


def test_a_full_spool_drops_an_ends_pictures_but_keeps_its_values(tmp_path: Path) -> None:
    made = sighting(snapshot=1_000, thumbnail=200)
    heavy = end(made, pictures=True)
    spool = Spool(tmp_path, SpoolOptions(budget_bytes=20_000))
    spool.add(made)
    spool.add(heavy)  # 16.5 kB of pictures: fits
    spool.add(sighting(snapshot=3_000, thumbnail=300))  # does not, unless the end's go
    loaded = spool.read(heavy.end_id)
    assert loaded is not None
    slim, body = loaded
    assert isinstance(slim, m.EventEnd) and body == b""
    assert (slim.snapshot_len, slim.thumbnail_len, slim.label) == (0, 0, heavy.label)
    assert slim.ended_at == heavy.ended_at and spool.stats().degraded >= 1
