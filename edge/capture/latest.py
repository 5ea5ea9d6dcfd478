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
    """A one-frame mailbox: `put` replaces, `take` waits for a frame and removes it.

    This hand-off runs for every frame of every camera, so it is built on two plain locks
    rather than a `threading.Condition`, whose wait is written in Python and cost more than
    the rest of the hand-off: `_ready` is unlocked exactly when a frame is waiting or the
    mailbox is closed (a lock may be released by another thread than the one that took it).
    """

    def __init__(self) -> None:
        self._state = threading.Lock()
        self._ready = threading.Lock()
        self._ready.acquire()  # nothing waiting yet
        self._frame: Frame | None = None
        self._frames_in = 0
        self._dropped = 0
        self._closed = False

    def put(self, frame: Frame) -> None:
        """Offer the newest frame; one still waiting is dropped (and counted)."""
        with self._state:
            if self._frame is not None:
                self._dropped += 1
            elif not self._closed:
                self._ready.release()
            self._frame = frame
            self._frames_in += 1

    def take(self, timeout: float | None = None) -> Frame | None:
        """The newest frame, waiting up to `timeout` seconds (None: for ever) for one.

        None when the time ran out or the holder was closed.
        """
        if not self._ready.acquire(timeout=-1 if timeout is None else max(0.0, timeout)):
            return None
        with self._state:
            frame, self._frame = self._frame, None
            if self._closed:
                self._ready.release()  # stays open: every later take returns at once
            return frame

    def close(self) -> None:
        """Wake every waiting `take` (they return what is waiting, or None); puts still work."""
        with self._state:
            if not self._closed and self._frame is None:
                self._ready.release()
            self._closed = True

    def counts(self) -> LatestCounts:
        """The counters now."""
        with self._state:
            return LatestCounts(self._frames_in, self._dropped, int(self._frame is not None))
