"""A sighting: one object of one class that came into a camera's view and left.

The vision pipeline makes two records per visit: a `Sighting` as soon as the tracker confirms
the visit (with the best view so far and the last time seen so far), and a `SightingEnd` when
the visit ends (its final values, and the final best view's pictures only if that view changed
since). The spool keeps both on disk until the hub acknowledges them; the uplink sends them as
`event` and `event_end` messages (docs/protocol.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from wire import messages as m


@dataclass(frozen=True, slots=True)
class Sighting:
    """Everything an event carries, with its two pictures."""

    event_id: str  # a UUID made by the edge: the idempotency key at the hub
    camera: str
    label: str
    score: float  # the model's confidence at the best view, 0..1
    started_at: int  # UTC ms of the first frame the object was seen in
    ended_at: int  # UTC ms of the last (so far: the visit goes on after its confirmation)
    box: m.Box  # the best view's box, in full-frame pixels
    model_version: str  # the model that recognised it
    snapshot: bytes  # full frame, JPEG, box drawn
    thumbnail: bytes  # small JPEG of the object

    @property
    def key(self) -> str:
        """What the hub acknowledges it by."""
        return self.event_id

    def to_event(self) -> tuple[m.Event, bytes]:
        """The wire message and its body (snapshot then thumbnail)."""
        event = m.Event(
            event_id=self.event_id,
            camera=self.camera,
            label=self.label,
            score=self.score,
            started_at=self.started_at,
            ended_at=self.ended_at,
            box=self.box,
            model_version=self.model_version,
            snapshot_len=len(self.snapshot),
            thumbnail_len=len(self.thumbnail),
        )
        return event, self.snapshot + self.thumbnail


@dataclass(frozen=True, slots=True)
class SightingEnd:
    """The end of the visit of sighting `event_id`: its final values. The pictures are empty
    when the best view is the one the sighting already carried."""

    end_id: str  # a UUID of its own: the idempotency key at the hub
    event_id: str  # the sighting it ends
    camera: str
    label: str
    score: float
    ended_at: int  # UTC ms of the last frame the object was recognised in
    box: m.Box
    snapshot: bytes = b""
    thumbnail: bytes = b""

    @property
    def key(self) -> str:
        """What the hub acknowledges it by."""
        return self.end_id

    def to_message(self) -> tuple[m.EventEnd, bytes]:
        """The wire message and its body (snapshot then thumbnail, or nothing)."""
        end = m.EventEnd(
            end_id=self.end_id,
            event_id=self.event_id,
            camera=self.camera,
            label=self.label,
            score=self.score,
            ended_at=self.ended_at,
            box=self.box,
            snapshot_len=len(self.snapshot),
            thumbnail_len=len(self.thumbnail),
        )
        return end, self.snapshot + self.thumbnail


Report = Sighting | SightingEnd
"""What the pipeline hands on: a confirmed visit, or the end of one."""
