"""Where a scene's object is at any moment, and the ground-truth log of what was shown.

`object_box` is a pure function of a visit and a time: the scene draws with it, and tests (or
anyone checking a recogniser) can recompute it. `TruthLog` appends one JSON line per visit.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, NamedTuple

Side = Literal["left", "right", "top", "bottom"]
Exit = Literal["left", "right", "top", "bottom", "away"]
SIDES: tuple[Side, ...] = ("left", "right", "top", "bottom")

#: Object heights are whole multiples of this many pixels, so the scene resizes an object
#: once per step rather than once per frame.
SIZE_STEP = 4
#: A visit that leaves "away" spends this share of its time coming in and closer, the rest
#: shrinking where it stopped, as if walking off from the camera.
APPROACH_SHARE = 0.6
#: Where (as a fraction of the frame height) an object that leaves "away" stops.
AWAY_Y = 0.55


class Box(NamedTuple):
    """A rectangle in frame pixels: left, top, width, height."""

    x: int
    y: int
    w: int
    h: int


@dataclass(frozen=True, slots=True)
class Visit:
    """One object's pass through a scene; times in ms from the scene's start.

    It comes in from `entry` at `entry_along` (a fraction of that side), crosses while its
    height grows from `size_from` to `size_to` of the frame height, and leaves by the `exit`
    side at `exit_along`, or ("away") stops at `exit_along` of the width and shrinks to nothing.
    """

    start_ms: int
    end_ms: int
    label: str
    image: str  # relative to the dataset folder, with "/" separators
    entry: Side
    exit: Exit
    entry_along: float
    exit_along: float
    size_from: float
    size_to: float


def _lerp(a: float, b: float, share: float) -> float:
    return a + (b - a) * share


def _height(size: float, frame_height: int) -> int:
    return round(size * frame_height / SIZE_STEP) * SIZE_STEP


def _width(height: int, aspect: float) -> int:
    return max(1, round(height * aspect))


def _outside(
    side: Side, along: float, size: tuple[int, int], frame: tuple[int, int]
) -> tuple[float, float]:
    """The centre of a box of `size` just outside the frame's `side`, `along` that side."""
    (w, h), (width, height) = size, frame
    if side == "left":
        return -w / 2, along * height
    if side == "right":
        return width + w / 2, along * height
    if side == "top":
        return along * width, -h / 2
    return along * width, height + h / 2


def _path(visit: Visit, share: float) -> tuple[float, float]:
    """How far along the way (0..1) and the size (fraction of the frame height) at `share`
    of the visit."""
    if visit.exit != "away":
        return share, _lerp(visit.size_from, visit.size_to, share)
    if share < APPROACH_SHARE:
        leg = share / APPROACH_SHARE
        return leg, _lerp(visit.size_from, visit.size_to, leg)
    return 1.0, visit.size_to * (1 - share) / (1 - APPROACH_SHARE)


def object_box(visit: Visit, t_ms: int, *, aspect: float, width: int, height: int) -> Box | None:
    """Where the object of `visit` is `t_ms` into the scene (unclipped), or None when no pixel
    of it is in the width x height frame. `aspect` is its image's width / height."""
    if not visit.start_ms <= t_ms < visit.end_ms:
        return None
    frame = (width, height)
    leg, size = _path(visit, (t_ms - visit.start_ms) / (visit.end_ms - visit.start_ms))
    h = _height(size, height)
    if h <= 0:
        return None
    h_from, h_to = _height(visit.size_from, height), _height(visit.size_to, height)
    x0, y0 = _outside(visit.entry, visit.entry_along, (_width(h_from, aspect), h_from), frame)
    if visit.exit == "away":
        x1, y1 = visit.exit_along * width, AWAY_Y * height
    else:
        x1, y1 = _outside(visit.exit, visit.exit_along, (_width(h_to, aspect), h_to), frame)
    w = _width(h, aspect)
    box = Box(round(_lerp(x0, x1, leg) - w / 2), round(_lerp(y0, y1, leg) - h / 2), w, h)
    return box if clip_box(box, width, height) is not None else None


def clip_box(box: Box, width: int, height: int) -> Box | None:
    """The part of `box` inside a width x height frame, or None when there is none."""
    left, top = max(box.x, 0), max(box.y, 0)
    right, bottom = min(box.x + box.w, width), min(box.y + box.h, height)
    if left >= right or top >= bottom:
        return None
    return Box(left, top, right - left, bottom - top)


@dataclass(slots=True)
class VisitTruth:
    """What was shown of one visit: first and last frame showing the object, and its clipped
    box every `interval_ms` or so, all at frame times (UTC ms)."""

    camera: str
    label: str
    image: str
    frame: tuple[int, int]
    interval_ms: int
    enter_ms: int
    leave_ms: int = 0
    boxes: list[tuple[int, int, int, int, int]] = field(default_factory=list)

    def seen(self, at_ms: int, box: Box) -> None:
        """The object was drawn at `box` (clipped) in the frame for `at_ms`."""
        self.leave_ms = at_ms
        if not self.boxes or at_ms - self.boxes[-1][0] >= self.interval_ms:
            self.boxes.append((at_ms, *box))

    def line(self, *, partial: bool) -> str:
        """The JSON line of the visit; `partial` when the scene closed before it ended."""
        record = {
            "camera": self.camera,
            "label": self.label,
            "image": self.image,
            "enter_ms": self.enter_ms,
            "leave_ms": self.leave_ms,
            "boxes": self.boxes,
            "frame": self.frame,
            "partial": partial,
        }
        return json.dumps(record, separators=(",", ":")) + "\n"


class TruthLog:
    """A JSON Lines file of visits, appended to a line at a time.

    Each line goes out in one unbuffered append, so it is on disk (in the page cache) as soon
    as it is written and lines of several cameras sharing a file never interleave.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def write(self, line: str) -> None:
        """Append one line (ending in a newline)."""
        data = line.encode()
        while data:
            data = data[os.write(self._fd, data) :]

    def close(self) -> None:
        """Close the file; later writes fail."""
        os.close(self._fd)
