"""One capture thread per camera: read as fast as the camera sends, keep only the newest frame.

The thread opens the camera's source, stamps every picture with the capture time and the next
sequence number, and hands it to the camera's sink: in the edge, the camera's `CameraWorker`,
whose motion gate runs right here on the capture thread; on its own, a `LatestFrame` that
keeps the newest frame for whoever takes it. When the source fails (cannot
connect, read error, read timeout) it closes it and tries again after a jittered exponential
backoff (0.5 s doubling to 10 s by default), resetting the backoff once frames flow again.
`on_state(camera, online)` is called on every change, starting from "unknown": online at the
first frame after an open, offline when a source fails (so a camera that is down from the start
is reported offline at its first failed open) or when the thread stops while online; never
twice in a row the same.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from edge.capture.backoff import Backoff
from edge.capture.frame import Frame, now_ms
from edge.capture.latest import LatestFrame
from edge.capture.source import CaptureError, EndOfStream, Source, SourceOptions
from edge.capture.url import check_url, make_source

log = logging.getLogger("vigia.edge.capture")

StateCallback = Callable[[str, bool], None]
SourceFactory = Callable[[str, SourceOptions], Source]


class FrameSink(Protocol):
    """Where a camera's frames go, one call per frame on its capture thread."""

    def put(self, frame: Frame) -> None:
        """Take the camera's newest frame; must return quickly (the camera is waiting)."""


@dataclass(frozen=True, slots=True)
class CameraOptions:
    """A camera: its name (as in events), URL (see edge.capture.url), and how to reconnect."""

    name: str
    url: str
    source: SourceOptions = field(default_factory=SourceOptions)
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 10.0

    def __post_init__(self) -> None:
        check_url(self.url)
        if not 0 < self.backoff_initial_s <= self.backoff_max_s:
            raise ValueError("backoff needs 0 < backoff_initial_s <= backoff_max_s")


@dataclass(frozen=True, slots=True)
class CaptureStats:
    """A camera's capture counters: online now, frames read, and how many times its source
    failed."""

    online: bool
    frames_in: int
    failures: int


class Camera:
    """A camera's capture thread (see the module's docstring)."""

    def __init__(
        self,
        options: CameraOptions,
        *,
        on_state: StateCallback | None = None,
        sink: FrameSink | None = None,
        source_factory: SourceFactory = make_source,
    ) -> None:
        self.options = options
        self.sink: FrameSink = sink if sink is not None else LatestFrame()
        self._on_state = on_state
        self._source_factory = source_factory
        self._online: bool | None = None  # None: not known yet
        self._failures = 0
        self._seq = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"capture {options.name}", daemon=True
        )

    @property
    def name(self) -> str:
        """The camera's name."""
        return self.options.name

    @property
    def online(self) -> bool:
        """Frames are coming in."""
        return bool(self._online)

    def start(self) -> None:
        """Start capturing."""
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop capturing; waits up to `timeout` (default: the read timeout + 2 s) for the thread,
        which may be inside a blocking read."""
        self._stop.set()
        if self._thread.is_alive():
            wait = self.options.source.read_timeout_s + 2 if timeout is None else timeout
            self._thread.join(wait)

    @property
    def alive(self) -> bool:
        """The capture thread runs (a file played once ends by itself)."""
        return self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait up to `timeout` seconds for the thread to end (a file played once ends by
        itself); whether it has."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def stats(self) -> CaptureStats:
        """The capture counters now."""
        return CaptureStats(self.online, self._seq, self._failures)

    def _run(self) -> None:
        options = self.options
        backoff = Backoff(options.backoff_initial_s, options.backoff_max_s)
        while not self._stop.is_set():
            source = self._source_factory(options.url, options.source)
            try:
                self._stream(source, backoff)
            except EndOfStream as exc:
                log.info("%s: %s", self.name, exc)
                break
            except CaptureError as exc:
                log.warning("%s: %s", self.name, exc)
            except Exception:
                log.exception("%s: unexpected error while capturing", self.name)
            finally:
                source.close()
            if self._stop.is_set():
                break
            self._failures += 1
            self._set_online(False)
            self._stop.wait(backoff.next())
        if self._online:
            self._set_online(False)

    def _stream(self, source: Source, backoff: Backoff) -> None:
        """Open `source` and pass its frames on until it fails or the thread stops."""
        source.open()
        while not self._stop.is_set():
            picture = source.read()
            self._seq += 1
            frame = Frame(self.name, self._seq, now_ms(), picture.pixels, picture.grey)
            self.sink.put(frame)
            if not self._online:
                backoff.reset()
                self._set_online(True)

    def _set_online(self, online: bool) -> None:
        if online is self._online:
            return
        self._online = online
        log.info("%s: %s", self.name, "online" if online else "offline")
        if self._on_state is not None:
            try:
                self._on_state(self.name, online)
            except Exception:
                log.exception("%s: state callback failed", self.name)
