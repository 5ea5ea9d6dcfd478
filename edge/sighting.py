"""A sighting: one object of one class that came into a camera's view and left.

The vision pipeline makes them; the spool keeps them on disk until the hub acknowledges them;
the uplink sends them as `event` messages (docs/protocol.md).
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
    ended_at: int  # UTC ms of the last
    box: m.Box  # the best view's box, in full-frame pixels
    model_version: str  # the model that recognised it
    snapshot: bytes  # full frame, JPEG, box drawn
    thumbnail: bytes  # small JPEG of the object

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
