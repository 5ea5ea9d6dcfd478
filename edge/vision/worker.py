"""A camera's processing on its two threads: the motion gate on the capture thread, the rest
on a vision thread of its own.

The camera hands every frame to `CameraWorker.put` on its capture thread, right after decoding.
There the frame is paced (at most `fps_limit` a second) and looked at for motion
(`CameraPipeline.look`); only a frame in which something moved, or one that arrives while a
visit is in progress, is put in a one-frame mailbox for the vision thread, which classifies,
tracks and reports it (`CameraPipeline.follow`). Most frames show nothing moving: they never
wake the vision thread. Handing every frame over used to cost as much CPU as the motion
detection itself (see docs/benchmarks.md, edge capacity).

Pacing. A frame counts as on time up to half a period early, so a camera sending exactly
`fps_limit` frames a second, with jitter, has every frame looked at; `due` advances a period
per frame looked at, so over time no more than `fps_limit` are. Frames passed over for the rate
and frames replaced in the mailbox before the vision thread took them are both counted as
dropped.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace

from edge.capture.frame import Frame
from edge.capture.latest import Latest
from edge.vision.pipeline import CameraPipeline, Moved, PipelineStats

log = logging.getLogger("vigia.edge.vision")


class Pace:
    """At most `fps` frames a second, each up to half a period early (see the module's
    docstring)."""

    def __init__(self, fps: float) -> None:
        self._period = 1.0 / fps
        self._slack = self._period / 2
        self._due = time.monotonic()

    def due(self, now: float) -> bool:
        """Whether a frame arriving at `now` (monotonic seconds) is taken; if so, counted."""
        if now < self._due - self._slack:
            return False
        self._due = max(self._due + self._period, now - self._slack)
        return True


class CameraWorker:
    """A camera's motion gate and vision thread (see the module's docstring)."""

    def __init__(self, pipeline: CameraPipeline) -> None:
        self.pipeline = pipeline
        self._mailbox: Latest[Moved] = Latest()
        self._pace = Pace(pipeline.options.fps_limit)
        self._passed_over = 0  # frames not looked at, to keep to fps_limit
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"vision {pipeline.camera}", daemon=True
        )

    def put(self, frame: Frame) -> None:
        """A frame from the camera (on its capture thread): pace it, look at it, and pass it
        to the vision thread if it is worth following."""
        if not self._pace.due(time.monotonic()):
            self._passed_over += 1
            return
        try:
            moved = self.pipeline.look(frame)
        except Exception:
            log.exception("%s: motion detection failed on frame %d", self.pipeline.camera,
                          frame.seq)  # fmt: skip
            return
        if moved is not None:
            self._mailbox.put(moved)

    def start(self) -> None:
        """Start the vision thread."""
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the frame in hand, then end the visits in progress (`finish`)."""
        self._stop.set()
        self._mailbox.close()
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        """The vision thread runs."""
        return self._thread.is_alive()

    def stats(self) -> PipelineStats:
        """The camera's counters now (see `PipelineStats`); every frame put is either passed
        over or looked at."""
        counts = self._mailbox.counts()
        stats = self.pipeline.stats()
        return replace(
            stats,
            frames_in=self._passed_over + stats.processed,
            dropped=self._passed_over + counts.dropped,
            queue_depth=counts.depth,
        )

    def _run(self) -> None:
        while not self._stop.is_set():
            moved = self._mailbox.take(timeout=0.5)
            if moved is None:
                continue
            try:
                self.pipeline.follow(moved)
            except Exception:
                log.exception("%s: frame %d failed", self.pipeline.camera, moved.frame.seq)
        self.pipeline.finish()
