"""The watcher's in-memory log: one row per sighting (and per camera change), keyed by event
id, newest first; the filters, the counts per class, and the state of edges and cameras.

No Tk and no sockets here: the GUI and the terminal mode both apply what the feed hands them.
A `sighting_end` entry updates its sighting's row in place; one whose sighting this watcher
never had (filtered by the hub, or before its cursor) becomes that sighting's row. Entries
are de-duplicated by event id, so a reconnection never shows a row twice.
"""

from __future__ import annotations

import bisect
from collections import Counter
from dataclasses import dataclass, field
from enum import Enum

from watcher.config import Filters
from wire import messages as m

Kind = m.EventKind
Key = tuple[int, int, str]  # started_at, seq, event_id: the order of rows, oldest first


class Change(Enum):
    """What applying an entry did to the log."""

    ADDED = "added"
    UPDATED = "updated"
    DUPLICATE = "duplicate"


@dataclass(slots=True)
class Row:
    """One line of the log: a sighting with its latest values, or a camera change."""

    event_id: str  # the sighting's id (for a camera change, the entry's)
    seq: int  # the seq of the entry that made the row
    kind: Kind
    edge: str
    camera: str
    label: str
    score: float
    started_at: int
    ended_at: int
    box: m.Box | None
    model_version: str | None
    ended: bool = False  # its sighting_end arrived: these are the final values
    image_ids: tuple[str, ...] = ()  # entries whose pictures stand for it, newest first

    @property
    def key(self) -> Key:
        """Its place in the order (never changes once made)."""
        return (self.started_at, self.seq, self.event_id)

    @property
    def is_sighting(self) -> bool:
        """A sighting, not a camera change."""
        return self.kind in (Kind.SIGHTING, Kind.SIGHTING_END)

    @classmethod
    def of(cls, entry: m.LogEntry) -> Row:
        """The row an entry starts (a sighting_end without its sighting: as that sighting)."""
        ending = entry.kind is Kind.SIGHTING_END
        row_id = entry.ends if ending and entry.ends else entry.event_id
        images = (entry.event_id, row_id) if row_id != entry.event_id else (row_id,)
        return cls(
            event_id=row_id,
            seq=entry.seq,
            kind=Kind.SIGHTING if ending else entry.kind,
            edge=entry.edge,
            camera=entry.camera,
            label=entry.label,
            score=entry.score,
            started_at=entry.started_at,
            ended_at=entry.ended_at,
            box=entry.box,
            model_version=entry.model_version,
            ended=ending,
            image_ids=images if entry.kind in (Kind.SIGHTING, Kind.SIGHTING_END) else (),
        )

    def finish(self, entry: m.LogEntry) -> None:
        """Take a sighting_end's final values."""
        self.label, self.score, self.ended_at = entry.label, entry.score, entry.ended_at
        self.box = entry.box or self.box
        self.model_version = entry.model_version or self.model_version
        self.ended = True
        self.image_ids = (entry.event_id, *self.image_ids)


def admits(filters: Filters, row: Row) -> bool:
    """Whether `filters` let `row` through (a class filter keeps camera changes out)."""
    if filters.labels and row.label not in filters.labels:
        return False
    if filters.cameras and row.camera not in filters.cameras:
        return False
    if filters.since_ms is not None and row.ended_at < filters.since_ms:
        return False
    if filters.until_ms is not None and row.started_at > filters.until_ms:
        return False
    if filters.text:
        needle = filters.text.casefold()
        hay = (row.label, row.camera, row.edge, row.event_id, row.model_version or "")
        return any(needle in part.casefold() for part in hay)
    return True


class Log:
    """Every row by event id; the filtered view in order; counts per class of that view."""

    def __init__(self) -> None:
        self.rows: dict[str, Row] = {}
        self.filters = Filters()
        self.version = 0  # bumped on every change the view shows, for the GUI to redraw
        self.counts: Counter[str] = Counter()
        self._entries: set[str] = set()  # every entry's event id seen (de-duplication)
        self._owner: dict[str, str] = {}  # entry or picture id -> row id
        self._order: list[Key] = []  # every row, oldest first
        self._view: list[Key] = []  # admitted rows, oldest first

    def __len__(self) -> int:
        return len(self._view)

    def apply(self, entry: m.LogEntry) -> Change:
        """Add or update the row this entry is about."""
        if entry.event_id in self._entries:
            return Change.DUPLICATE
        self._entries.add(entry.event_id)
        target = entry.ends if entry.kind is Kind.SIGHTING_END else None
        existing = self.rows.get(target) if target else None
        if existing is not None:
            self._hide(existing)
            existing.finish(entry)
            self._owner[entry.event_id] = existing.event_id
            self._show(existing)
            self.version += 1
            return Change.UPDATED
        row = Row.of(entry)
        if row.event_id in self.rows:  # a sighting already made from its sighting_end
            return Change.DUPLICATE
        self.rows[row.event_id] = row
        bisect.insort(self._order, row.key)
        for image in (entry.event_id, *row.image_ids):
            self._owner[image] = row.event_id
        self._show(row)
        self.version += 1
        return Change.ADDED

    def owner(self, image_id: str) -> Row | None:
        """The row an entry's (or a picture's) id belongs to."""
        row_id = self._owner.get(image_id)
        return None if row_id is None else self.rows.get(row_id)

    def set_filters(self, filters: Filters) -> None:
        """Show only what `filters` admit (rebuilds the view: one pass over the rows)."""
        self.filters = filters
        rows = self.rows
        if filters.none:
            self._view = list(self._order)
        else:  # already in order: filtering keeps it, no sort needed
            self._view = [key for key in self._order if admits(filters, rows[key[2]])]
        self.counts = Counter(
            row.label for row in (rows[key[2]] for key in self._view) if row.is_sighting
        )
        self.version += 1

    def page(self, offset: int, count: int) -> list[Row]:
        """`count` rows of the view from `offset`, newest first."""
        end = max(0, len(self._view) - offset)
        start = max(0, end - count)
        return [self.rows[key[2]] for key in reversed(self._view[start:end])]

    def position(self, event_id: str) -> int | None:
        """Where a row is in the view (0: newest), or None if not shown."""
        row = self.rows.get(event_id)
        if row is None:
            return None
        index = bisect.bisect_left(self._view, row.key)
        if index < len(self._view) and self._view[index] == row.key:
            return len(self._view) - 1 - index
        return None

    def visible(self) -> list[Row]:
        """Every row of the view, newest first."""
        return self.page(0, len(self._view))

    def _show(self, row: Row) -> None:
        if admits(self.filters, row):
            bisect.insort(self._view, row.key)
            if row.is_sighting:
                self.counts[row.label] += 1

    def _hide(self, row: Row) -> None:
        index = bisect.bisect_left(self._view, row.key)
        if index < len(self._view) and self._view[index] == row.key:
            del self._view[index]
            if row.is_sighting:
                self.counts[row.label] -= 1
                if self.counts[row.label] <= 0:
                    del self.counts[row.label]


@dataclass(slots=True)
class CameraState:
    """One camera as the panel shows it."""

    edge: str
    camera: str
    online: bool
    fps: float | None = None
    inference_ms: float | None = None
    changed_ms: int | None = None  # when it last went offline or online


@dataclass(slots=True)
class EdgeState:
    """One edge as the panel shows it."""

    edge: str
    online: bool
    last_seen_ms: int
    model_version: str | None = None
    cpu_load: float | None = None
    cpu_temp_c: float | None = None


@dataclass
class Fleet:
    """Edges and their cameras, from status notices and camera change entries."""

    edges: dict[str, EdgeState] = field(default_factory=dict)
    cameras: dict[tuple[str, str], CameraState] = field(default_factory=dict)
    version: int = 0

    def apply_notice(self, notice: m.StatusNotice) -> None:
        """An edge's latest status and whether it is connected."""
        edge = EdgeState(notice.edge, notice.online, notice.last_seen_ms)
        if notice.node is not None:
            node = notice.node
            edge.model_version, edge.cpu_load = node.model_version, node.cpu_load
            edge.cpu_temp_c = node.cpu_temp_c
            for cam in node.cameras:
                state = self.cameras.setdefault(
                    (notice.edge, cam.camera), CameraState(notice.edge, cam.camera, cam.online)
                )
                state.online = cam.online and notice.online
                state.fps, state.inference_ms = cam.fps, cam.inference_ms
        self.edges[notice.edge] = edge
        self.version += 1

    def apply_entry(self, entry: m.LogEntry) -> None:
        """A camera went offline or came back (a sighting also proves its edge and camera)."""
        online = entry.kind is not Kind.CAMERA_OFFLINE
        key = (entry.edge, entry.camera)
        change = key not in self.cameras or entry.edge not in self.edges
        state = self.cameras.setdefault(key, CameraState(entry.edge, entry.camera, online))
        if entry.kind in (Kind.CAMERA_OFFLINE, Kind.CAMERA_ONLINE):
            state.online, state.changed_ms = online, entry.ended_at
            change = True
        self.edges.setdefault(entry.edge, EdgeState(entry.edge, False, entry.ended_at))
        if change:  # most entries are sightings of known cameras: nothing to redraw
            self.version += 1
