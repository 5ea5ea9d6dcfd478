"""Sightings and their ends with distinct picture bytes, as the vision pipeline makes them."""

from __future__ import annotations

import os
import time
import uuid

from edge.sighting import Sighting, SightingEnd
from wire import messages as m


def sighting(camera: str = "door", snapshot: int = 20_000, thumbnail: int = 2_000) -> Sighting:
    """A sighting whose snapshot and thumbnail are random bytes of these sizes (+ JPEG SOI)."""
    start = int(time.time() * 1000) - 2000
    return Sighting(
        event_id=str(uuid.uuid4()),
        camera=camera,
        label="cat",
        score=0.875,
        started_at=start,
        ended_at=start + 1500,
        box=m.Box(x=4, y=8, w=32, h=16),
        model_version="v1",
        snapshot=b"\xff\xd8" + os.urandom(snapshot),
        thumbnail=b"\xff\xd8" + os.urandom(thumbnail),
    )


def end(of: Sighting, *, pictures: bool = False, label: str = "cat") -> SightingEnd:
    """The end of sighting `of`, with a new picture pair or none."""
    return SightingEnd(
        end_id=str(uuid.uuid4()),
        event_id=of.event_id,
        camera=of.camera,
        label=label,
        score=0.9,
        ended_at=of.ended_at + 700,
        box=m.Box(x=6, y=8, w=40, h=20),
        snapshot=b"\xff\xd8" + os.urandom(15_000) if pictures else b"",
        thumbnail=b"\xff\xd8" + os.urandom(1_500) if pictures else b"",
    )
