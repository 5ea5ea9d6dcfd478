"""The on-disk spool: every sighting (and every sighting's end) is durable on the edge before
it is sent, and stays there until the hub acknowledges it. A hub that is away for hours costs
nothing but disk.

Two kinds of records share the spool: `event` messages (a sighting, made when its visit was
confirmed) and `event_end` messages (the end of one, made later). Both are "events" below; each
is indexed by its key, the id the hub acknowledges it by (an event's `event_id`, an end's
`end_id`). Their common spool sequence is the order they were made in, so a sighting always
comes before its end, also after a restart.

Layout: `DIR/NNNNNNNNNNNNNNNN.evt`, one file per record, `N...` its spool sequence, kept across
restarts. A file is

    header  magic b"VGSPOOL2", u8 message kind (20 event, 23 event_end), u32 JSON length,
            u64 body length, u32 CRC-32 of JSON and body
    JSON    the message's header (wire.messages.Event or EventEnd), as sent
    body    the snapshot JPEG, then the thumbnail JPEG, as sent (an end's may be empty)

Files of the previous format (magic b"VGSPOOL1", no kind byte: always an event) are still read,
so an edge upgraded with events waiting sends them; new files are always written as VGSPOOL2.

Durability. A file is written as `NAME.part`, fsynced, renamed into place, and the directory is
fsynced (edge.system.files.write_atomic), so a file under its final name is always complete; a
`.part` found at start was left by a crash and is deleted. The spool says an event is stored only
after all of that. An acknowledged event's file is unlinked without a directory fsync: if a power
cut undoes the unlink, the event is sent again and the hub acknowledges it as a duplicate.

Damage. A file whose header, lengths, JSON or CRC is wrong (SD card wear, a foreign file) is moved
to `DIR/corrupt/` with one warning line and counted; it never stops the edge. Headers are checked
when the spool opens (cheap); the CRC when an event is read to be sent.

Disk budget (`SpoolOptions.budget_bytes`, the sum of the spool's event files). At
`warn_fraction` (80 %) one warning is logged and `SpoolStats.nearly_full` is set (for the node's
status). When a new event does not fit, the spool first drops the full-frame snapshots of the
oldest events, oldest first, keeping their fields and thumbnails (the event is rewritten
atomically with `snapshot_len` 0); an end's pictures (a snapshot and thumbnail of a better view
than its sighting's) are dropped together, its values kept (the hub then keeps the sighting's
pictures); last of all the new event's own snapshot. Only when nothing is
left to shrink is the new event refused (`SpoolFull`, counted in `SpoolStats.refused`).

Why shrink the oldest rather than refuse the newest: the spool fills only while the hub has been
away for a long time, and the newest sightings are the ones that matter most when it comes back.
A snapshot is some ten times its thumbnail, so shrinking keeps every sighting (time, camera,
label, score, box, thumbnail: what the watcher's log shows) for about ten times longer, and the
recent ones whole. Nothing already stored is ever overwritten with something partial: a shrunk
event is a complete, valid event (the hub stores an empty snapshot and answers a watcher's
request for it with `not_found`). `SpoolOptions(degrade=False)` refuses the newest instead.
"""

from __future__ import annotations

import logging
import os
import struct
import threading
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from edge.sighting import Report, Sighting
from edge.system.files import remove_partials, write_atomic
from wire import messages as m
from wire.errors import WireError

log = logging.getLogger("vigia.edge.spool")

MAGIC = b"VGSPOOL2"
OLD_MAGIC = b"VGSPOOL1"  # the previous format: events only, no kind byte
SUFFIX = ".evt"
CORRUPT_DIR = "corrupt"
_HEADER = struct.Struct("!8sBIQI")
_OLD_HEADER = struct.Struct("!8sIQI")
_MAX_JSON = 65_536

Spooled = m.Event | m.EventEnd
"""The messages the spool keeps."""
_KINDS: dict[int, type[Spooled]] = {m.Event.KIND: m.Event, m.EventEnd.KIND: m.EventEnd}


class SpoolError(Exception):
    """An event could not be spooled: the disk failed, or the event is not valid."""


class SpoolFull(SpoolError):
    """The disk budget is used up and nothing is left to shrink: the new event was refused."""


class _Corrupt(Exception):
    """A spool file that cannot be read back as an event."""


@dataclass(frozen=True, slots=True)
class SpoolOptions:
    """How much disk the spool may use, and what it does when that is used up."""

    budget_bytes: int = 512 * 2**20
    warn_fraction: float = 0.8  # log once and flag the status from this share of the budget
    degrade: bool = True  # when full, drop the oldest snapshots before refusing new events

    def __post_init__(self) -> None:
        if self.budget_bytes <= 0:
            raise ValueError(f"spool budget must be positive, not {self.budget_bytes}")
        if not 0 < self.warn_fraction <= 1:
            raise ValueError(f"spool warn_fraction must be in (0, 1], not {self.warn_fraction}")


DEFAULT_OPTIONS = SpoolOptions()


@dataclass(frozen=True, slots=True)
class SpoolEntry:
    """One spooled event or end, as the spool indexes it (its pictures stay on disk)."""

    seq: int  # the spool's order, kept across restarts
    key: str  # what the hub acknowledges: an event's event_id, an end's end_id
    kind: str  # the message name: "event" or "event_end"
    event_id: str  # the sighting: the event's own id, or the one an end ends
    camera: str
    path: Path
    size: int  # bytes of its file
    degraded: bool  # its full snapshot was dropped for lack of space


@dataclass(frozen=True, slots=True)
class SpoolStats:
    """The spool now, and what it has done since it was opened."""

    pending: int
    used_bytes: int
    budget_bytes: int
    nearly_full: bool  # at or over the warning share of the budget
    full: bool  # the latest new event was refused
    spooled: int
    acknowledged: int
    refused: int
    degraded: int
    corrupt: int
    lost: int  # files deleted from outside before the hub had them


@dataclass(slots=True)
class _Counts:
    spooled: int = 0
    acknowledged: int = 0
    refused: int = 0
    degraded: int = 0
    corrupt: int = 0
    lost: int = 0


@dataclass(slots=True)
class _State:
    entries: dict[str, SpoolEntry] = field(default_factory=dict)  # by key, in seq order
    used: int = 0
    next_seq: int = 1
    nearly_full: bool = False
    full: bool = False
    counts: _Counts = field(default_factory=_Counts)


class Spool:
    """Events on disk until acknowledged; safe to use from any thread."""

    def __init__(self, directory: Path, options: SpoolOptions = DEFAULT_OPTIONS) -> None:
        """Open (or create) the spool in `directory` and load what is pending, in order."""
        self.directory = directory
        self.options = options
        self._state = _State()
        self._lock = threading.Lock()
        directory.mkdir(parents=True, exist_ok=True)
        self._load()

    # --- reading ----------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._state.entries)

    def has(self, key: str) -> bool:
        """Whether the event (or end) with this key is still waiting for its acknowledgement."""
        with self._lock:
            return key in self._state.entries

    def pending(self, after: int = 0, limit: int | None = None) -> list[SpoolEntry]:
        """Pending events with a spool sequence over `after`, oldest first (at most `limit`)."""
        out: list[SpoolEntry] = []
        with self._lock:
            for entry in self._state.entries.values():
                if limit is not None and len(out) >= limit:
                    break
                if entry.seq > after:
                    out.append(entry)
        return out

    def read(self, key: str) -> tuple[Spooled, bytes] | None:
        """A pending event (or end) and its body, CRC checked; None if it is gone or was
        corrupt."""
        with self._lock:
            entry = self._state.entries.get(key)
        if entry is None:
            return None
        try:
            return _parse(entry.path.read_bytes())
        except FileNotFoundError:
            self._vanished(entry)  # unless acknowledged meanwhile, deleted from outside
            return None
        except (OSError, _Corrupt) as exc:
            with self._lock:
                if self._state.entries.get(key) is entry:
                    self._forget(entry)
                    self._quarantine(entry.path, str(exc))
            return None

    def stats(self) -> SpoolStats:
        """Counts and levels, for the node's status and the logs."""
        with self._lock:
            s = self._state
            return SpoolStats(
                pending=len(s.entries),
                used_bytes=s.used,
                budget_bytes=self.options.budget_bytes,
                nearly_full=s.nearly_full,
                full=s.full,
                spooled=s.counts.spooled,
                acknowledged=s.counts.acknowledged,
                refused=s.counts.refused,
                degraded=s.counts.degraded,
                corrupt=s.counts.corrupt,
                lost=s.counts.lost,
            )

    def status_flags(self) -> list[str]:
        """Node flags for the status (`StatusSource(extra_flags=...)`): `spool_full` when new
        events are being refused, `spool_nearly_full` from the warning level on."""
        stats = self.stats()
        if stats.full:
            return ["spool_full"]
        return ["spool_nearly_full"] if stats.nearly_full else []

    # --- writing ----------------------------------------------------------------------------

    def add(self, sighting: Report) -> SpoolEntry:
        """Store a sighting (or a sighting's end) durably; SpoolFull when the budget is used
        up, SpoolError when the disk fails or it is not a valid message."""
        try:
            event: Spooled
            if isinstance(sighting, Sighting):
                event, body = sighting.to_event()
            else:
                event, body = sighting.to_message()
        except ValueError as exc:  # pydantic's ValidationError
            raise SpoolError(f"camera {sighting.camera}: not a valid event: {exc}") from None
        return self.add_event(event, body)

    def add_event(self, event: Spooled, body: bytes) -> SpoolEntry:
        """Store an event (or end) and its body durably (a key already pending is kept)."""
        try:
            event.check_body(len(body))
        except WireError as exc:
            raise SpoolError(f"camera {event.camera}: {exc}") from None
        with self._lock:
            known = self._state.entries.get(_key(event))
            if known is not None:
                return known
            event, body = self._fit(event, body)
            entry = self._write(self._state.next_seq, event, body)
            self._state.next_seq += 1
            self._remember(entry)
            self._state.counts.spooled += 1
            self._state.full = False
            self._check_level()
        log.debug(
            "spooled %s %s from camera %s (%d bytes)", event.NAME, entry.key, event.camera,
            entry.size,
        )  # fmt: skip
        return entry

    def acknowledge(self, key: str) -> SpoolEntry | None:
        """The hub has the event (or end) with this key: delete it. None if it was not
        pending."""
        with self._lock:
            entry = self._state.entries.get(key)
            if entry is None:
                return None
            self._forget(entry)
            self._state.counts.acknowledged += 1
            try:
                entry.path.unlink()
            except FileNotFoundError:
                pass
            except OSError as exc:  # it will be sent again after a restart: a duplicate, no loss
                log.warning(
                    "spool: cannot delete %s of camera %s: %s", entry.path, entry.camera, exc
                )
            self._check_level()
        return entry

    # --- inside ---------------------------------------------------------------------------------

    def _load(self) -> None:
        if removed := remove_partials(self.directory):
            log.warning(
                "spool %s: removed %d half-written files a crash left", self.directory, len(removed)
            )
        for path in sorted(self.directory.glob(f"*{SUFFIX}")):
            self._load_one(path)
        seqs = [e.seq for e in self._state.entries.values()]
        self._state.next_seq = max(seqs, default=0) + 1
        if seqs:
            log.info(
                "spool %s: %d events waiting for the hub (%d bytes)",
                self.directory,
                len(seqs),
                self._state.used,
            )
        self._check_level()

    def _load_one(self, path: Path) -> None:
        """Index one file by its header; move it aside if it is not a sound event file."""
        try:
            seq = int(path.stem)
            event, size = _parse_head(path)
        except (ValueError, OSError, _Corrupt) as exc:
            self._quarantine(path, str(exc))
            return
        if _key(event) in self._state.entries:
            self._quarantine(path, f"a second copy of {event.NAME} {_key(event)}")
            return
        self._remember(_entry(seq, event, path, size))

    def _fit(self, event: Spooled, body: bytes) -> tuple[Spooled, bytes]:
        """The event as it fits the budget: whole, or without its snapshot; else SpoolFull."""
        budget = self.options.budget_bytes
        size = _file_size(event, len(body))
        if self._state.used + size <= budget:
            return event, body
        if self.options.degrade:
            self._shrink_oldest(self._state.used + size - budget)
            if self._state.used + size <= budget:
                return event, body
            slim, thumb = _without_snapshot(event, body)
            if self._state.used + _file_size(slim, len(thumb)) <= budget:
                self._state.counts.degraded += 1
                log.warning(
                    "spool full: %s %s from camera %s kept without its full snapshot",
                    event.NAME,
                    _key(event),
                    event.camera,
                )
                return slim, thumb
        raise self._refusal(event)

    def _shrink_oldest(self, need: int) -> None:
        """Drop full snapshots, oldest event first, until `need` bytes are free."""
        freed = 0
        for entry in list(self._state.entries.values()):
            if freed >= need:
                return
            if not entry.degraded:
                freed += self._shrink(entry)

    def _shrink(self, entry: SpoolEntry) -> int:
        """Rewrite one event without its snapshot (atomically); returns the bytes freed."""
        try:
            event, body = _parse(entry.path.read_bytes())
        except (OSError, _Corrupt) as exc:
            self._forget(entry)
            self._quarantine(entry.path, str(exc))
            return entry.size
        slim, thumb = _without_snapshot(event, body)
        try:
            smaller = self._write(entry.seq, slim, thumb)
        except SpoolError as exc:
            log.warning("spool: cannot shrink event of camera %s: %s", entry.camera, exc)
            return 0
        self._forget(entry)
        self._remember(smaller)
        self._state.counts.degraded += 1
        log.warning(
            "spool full: dropped the full snapshot of %s %s from camera %s",
            entry.kind,
            entry.key,
            entry.camera,
        )
        return entry.size - smaller.size

    def _refusal(self, event: Spooled) -> SpoolFull:
        """Count and log a refused event; the error to raise."""
        s = self._state
        s.counts.refused += 1
        text = (
            f"spool full ({s.used} of {self.options.budget_bytes} bytes used): {event.NAME} "
            f"{_key(event)} from camera {event.camera} refused"
        )
        log.log(logging.DEBUG if s.full else logging.WARNING, "%s", text)  # once per full spell
        s.full = True
        return SpoolFull(text)

    def _write(self, seq: int, event: Spooled, body: bytes) -> SpoolEntry:
        path = self.directory / f"{seq:016d}{SUFFIX}"
        payload = event.encode()
        crc = zlib.crc32(body, zlib.crc32(payload))
        head = _HEADER.pack(MAGIC, event.KIND, len(payload), len(body), crc)
        try:
            size = write_atomic(path, (head, payload, body))
        except OSError as exc:
            raise SpoolError(
                f"camera {event.camera}: cannot write {event.NAME} {_key(event)} to the spool: "
                f"{exc}"
            ) from None
        return _entry(seq, event, path, size)

    def _remember(self, entry: SpoolEntry) -> None:
        self._state.entries[entry.key] = entry
        self._state.used += entry.size

    def _forget(self, entry: SpoolEntry) -> None:
        del self._state.entries[entry.key]
        self._state.used -= entry.size

    def _check_level(self) -> None:
        """Warn once when the spool passes the warning level; note when it is back under."""
        s = self._state
        budget = self.options.budget_bytes
        nearly = s.used >= budget * self.options.warn_fraction
        if nearly and not s.nearly_full:
            log.warning(
                "spool %s: %d of %d bytes used (%.0f%%), %d events waiting for the hub",
                self.directory,
                s.used,
                budget,
                100 * s.used / budget,
                len(s.entries),
            )
        elif s.nearly_full and not nearly:
            log.info(
                "spool %s: back under %.0f%% of its budget",
                self.directory,
                100 * self.options.warn_fraction,
            )
            s.full = False
        s.nearly_full = nearly

    def _vanished(self, entry: SpoolEntry) -> None:
        """Forget an entry whose file someone else deleted, saying what was lost."""
        with self._lock:
            if self._state.entries.get(entry.key) is not entry:
                return  # acknowledged (and deleted by us) while it was being read
            self._forget(entry)
            self._state.counts.lost += 1
        log.error(
            "spool: %s was deleted from outside: %s %s of camera %s is lost",
            entry.path,
            entry.kind,
            entry.key,
            entry.camera,
        )

    def _quarantine(self, path: Path, reason: str) -> None:
        """Move a damaged file to corrupt/, with one warning; never raise."""
        self._state.counts.corrupt += 1
        aside = self.directory / CORRUPT_DIR
        target = aside / f"{path.name}.{time.time_ns()}"
        try:
            aside.mkdir(exist_ok=True)
            os.replace(path, target)
        except OSError as exc:
            log.error("spool: cannot move corrupt %s aside (%s): %s", path, exc, reason)
            return
        log.warning("spool: moved corrupt %s aside to %s: %s", path.name, target, reason)


def _key(event: Spooled) -> str:
    """What the hub acknowledges a message by."""
    return event.event_id if isinstance(event, m.Event) else event.end_id


def _entry(seq: int, event: Spooled, path: Path, size: int) -> SpoolEntry:
    degraded = event.snapshot_len == 0  # nothing left to shrink
    return SpoolEntry(seq, _key(event), event.NAME, event.event_id, event.camera, path, size,
                      degraded)  # fmt: skip


def _file_size(event: Spooled, body_len: int) -> int:
    return _HEADER.size + len(event.encode()) + body_len


def _without_snapshot(event: Spooled, body: bytes) -> tuple[Spooled, bytes]:
    """The same event with only its thumbnail; the same end without its pictures (an end's
    thumbnail belongs to its snapshot: the hub keeps the sighting's pair instead)."""
    if isinstance(event, m.EventEnd):
        return event.model_copy(update={"snapshot_len": 0, "thumbnail_len": 0}), b""
    slim = event.model_copy(update={"snapshot_len": 0})
    return slim, body[event.snapshot_len :]


@dataclass(frozen=True, slots=True)
class _Head:
    """A spool file's header, either format."""

    size: int  # of the header itself
    kind: int
    json_len: int
    body_len: int
    crc: int


def _head(head: bytes, file_size: int) -> _Head:
    """A file's header, checked against its size."""
    if head[:8] == OLD_MAGIC and len(head) >= _OLD_HEADER.size:
        _, json_len, body_len, crc = _OLD_HEADER.unpack(head[: _OLD_HEADER.size])
        parsed = _Head(_OLD_HEADER.size, m.Event.KIND, json_len, body_len, crc)
    elif len(head) < _HEADER.size:
        raise _Corrupt(f"{file_size} bytes: shorter than a spool header")
    else:
        magic, kind, json_len, body_len, crc = _HEADER.unpack(head[: _HEADER.size])
        if magic != MAGIC:
            raise _Corrupt("not a spool file (bad magic)")
        if kind not in _KINDS:
            raise _Corrupt(f"unknown message kind {kind}")
        parsed = _Head(_HEADER.size, kind, json_len, body_len, crc)
    if json_len > _MAX_JSON or parsed.size + json_len + body_len != file_size:
        raise _Corrupt(f"header lengths {json_len} + {body_len} do not match its {file_size} bytes")
    return parsed


def _decode(raw: bytes, head: _Head) -> Spooled:
    try:
        event = m.decode(head.kind, raw)
        event.check_body(head.body_len)
    except WireError as exc:
        raise _Corrupt(f"bad message header: {exc}") from None
    if not isinstance(event, m.Event | m.EventEnd):
        raise _Corrupt("not an event")
    return event


def _parse_head(path: Path) -> tuple[Spooled, int]:
    """The message of a spool file, reading only its header and JSON; and the file's size."""
    with path.open("rb") as src:
        size = os.fstat(src.fileno()).st_size
        head = _head(src.read(_HEADER.size), size)
        src.seek(head.size)
        return _decode(src.read(head.json_len), head), size


def _parse(data: bytes) -> tuple[Spooled, bytes]:
    """A whole spool file: the message and its body, CRC checked."""
    head = _head(data[: _HEADER.size], len(data))
    payload = data[head.size : head.size + head.json_len]
    body = data[head.size + head.json_len :]
    if zlib.crc32(body, zlib.crc32(payload)) != head.crc:
        raise _Corrupt("CRC does not match: the file was damaged")
    return _decode(payload, head), body
