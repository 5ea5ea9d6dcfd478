"""A one-item mailbox that keeps only the newest item: how frames pass between a camera's
threads.

The producer runs at its own pace (a camera), the consumer at its own (a camera's vision
thread); keeping only the newest item means a slow consumer works on what the camera sees now,
never on a backlog. An item replaced before anyone took it is counted as dropped.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Generic, TypeVar

from edge.capture.frame import Frame

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class LatestCounts:
    """Items put in, items overwritten before being taken, and items waiting (0 or 1)."""

    frames_in: int
    dropped: int
    depth: int


class Latest(Generic[T]):
    """A one-item mailbox: `put` replaces, `take` waits for an item and removes it.

    This hand-off runs for every frame of every camera, so it is built on two plain locks
    rather than a `threading.Condition`, whose wait is written in Python and cost more than
    the rest of the hand-off: `_ready` is unlocked exactly when an item is waiting or the
    mailbox is closed (a lock may be released by another thread than the one that took it).
    """

    def __init__(self) -> None:
        self._state = threading.Lock()
        self._ready = threading.Lock()
        self._ready.acquire()  # nothing waiting yet
        self._item: T | None = None
        self._frames_in = 0
        self._dropped = 0
        self._closed = False

    def put(self, item: T) -> None:
        """Offer the newest item; one still waiting is dropped (and counted)."""
        with self._state:
            if self._item is not None:
                self._dropped += 1
            elif not self._closed:
                self._ready.release()
            self._item = item
            self._frames_in += 1

    def take(self, timeout: float | None = None) -> T | None:
        """The newest item, waiting up to `timeout` seconds (None: for ever) for one.

        None when the time ran out or the mailbox was closed.
        """
        if not self._ready.acquire(timeout=-1 if timeout is None else max(0.0, timeout)):
            return None
        with self._state:
            item, self._item = self._item, None
            if self._closed:
                self._ready.release()  # stays open: every later take returns at once
            return item

    def close(self) -> None:
        """Wake every waiting `take` (they return what is waiting, or None); puts still work."""
        with self._state:
            if not self._closed and self._item is None:
                self._ready.release()
            self._closed = True

    def counts(self) -> LatestCounts:
        """The counters now."""
        with self._state:
            return LatestCounts(self._frames_in, self._dropped, int(self._item is not None))


LatestFrame = Latest[Frame]
"""The newest frame of a camera."""
