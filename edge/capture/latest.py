"""The newest frame of a camera, handed from its capture thread to its processing thread.

Capture runs at the camera's pace, processing at its own; keeping only the newest frame means
a slow processor works on what the camera sees now, never on a backlog. A frame replaced
before anyone took it is counted as dropped.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from edge.capture.frame import Frame


@dataclass(frozen=True, slots=True)
class LatestCounts:
    """Frames put in, frames overwritten before being taken, and frames waiting (0 or 1)."""

    frames_in: int
    dropped: int
    depth: int


class LatestFrame:
    """A one-frame mailbox: `put` replaces, `take` waits for a frame and removes it."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._frame: Frame | None = None
        self._frames_in = 0
        self._dropped = 0
        self._closed = False

    def put(self, frame: Frame) -> None:
        """Offer the newest frame; one still waiting is dropped (and counted)."""
        with self._cond:
            if self._frame is not None:
                self._dropped += 1
            self._frame = frame
            self._frames_in += 1
            self._cond.notify()

    def take(self, timeout: float | None = None) -> Frame | None:
        """The newest frame, waiting up to `timeout` seconds (None: for ever) for one.

        None when the time ran out or the holder was closed.
        """
        with self._cond:
            self._cond.wait_for(lambda: self._frame is not None or self._closed, timeout)
            frame, self._frame = self._frame, None
            return frame

    def close(self) -> None:
        """Wake every waiting `take` (they return what is waiting, or None); puts still work."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def counts(self) -> LatestCounts:
        """The counters now."""
        with self._cond:
            return LatestCounts(self._frames_in, self._dropped, int(self._frame is not None))
