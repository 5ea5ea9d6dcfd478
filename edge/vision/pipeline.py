"""One camera's vision: motion -> regions -> classify -> track -> sightings.

`CameraPipeline.process(frame)` runs the steps on one frame: motion detection on a small copy;
when something moved, the merged boxes become square crops and the current model classifies
them; the tracker turns detections into visits. Each visit is handed to `on_sighting` twice:

- when the tracker confirms it (`min_frames` recognised frames), as a `Sighting` (event id: a
  fresh UUID4; times: capture times of its first frame and of its last frame so far; pictures:
  the best view so far, its frame with the box drawn, and the object's thumbnail). This is what
  the hub and the watchers see within a fraction of a second of the object coming into view.
- when the visit ends, as a `SightingEnd` (its own UUID4 `end_id`, the sighting's `event_id`,
  the final label, score, box and last time seen), with the final best view's pictures only if
  that view is not the one the sighting carried (a better view came, or the label changed).

A visit that ends unconfirmed is never reported. The tracker never confirms and ends a track in
the same frame (a track is ended only by frames after its last recognised one), so a visit
always gives a sighting first and its end later. Ends of a frame are handed on before the
confirmations of that frame.

The model is read from its slot at most once per frame, so a new model takes effect between
two frames and a frame never mixes two models. A frame in which nothing moved while no visit is
in progress (most frames) stops after motion detection: nothing to classify, track or end.
Before any model arrives, motion and tracking still run (so a track's timing stays right) but
nothing is classified.

`CameraWorker` is the camera's processing thread: it takes the newest frame from the camera's
`LatestFrame`, at most `fps_limit` frames a second, and processes it. Each camera thus has two
threads (capture, processing); the interpreters are shared through the Classifier's pool.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from edge.capture.frame import Frame
from edge.capture.latest import LatestFrame
from edge.modelslot import Slot
from edge.sighting import Report, Sighting, SightingEnd
from edge.vision.classify import Classifier
from edge.vision.geometry import Rect
from edge.vision.motion import MotionDetector, MotionOptions
from edge.vision.regions import RegionOptions, crop_input, find_regions
from edge.vision.snapshot import SnapshotOptions, snapshot_jpeg, thumbnail_jpeg
from edge.vision.tracker import (
    Detection,
    FrameContext,
    Tracker,
    TrackerOptions,
    View,
    Visit,
)

log = logging.getLogger("vigia.edge.vision")

ClassifierSource = Slot[Classifier] | Callable[[], Classifier | None]
SightingCallback = Callable[[Report], None]


@dataclass(frozen=True, slots=True)
class PipelineOptions:
    """A camera's vision settings: processing rate limit (frames per second), each step's
    options, and the weight of the newest inference time in its moving average."""

    fps_limit: float = 10.0
    motion: MotionOptions = field(default_factory=MotionOptions)
    regions: RegionOptions = field(default_factory=RegionOptions)
    tracker: TrackerOptions = field(default_factory=TrackerOptions)
    snapshot: SnapshotOptions = field(default_factory=SnapshotOptions)
    ema_weight: float = 0.1

    def __post_init__(self) -> None:
        if self.fps_limit <= 0 or not 0 < self.ema_weight <= 1:
            raise ValueError("fps_limit must be more than 0 and ema_weight in (0, 1]")


@dataclass(frozen=True, slots=True)
class PipelineStats:
    """A camera's counters for status reports.

    frames_in: frames captured; processed: frames run through the pipeline; dropped: frames
    replaced by a newer one before processing (and, from `CameraWorker`, frames passed over to
    keep to `fps_limit`); queue_depth: frames waiting (0 or 1);
    motion_frames: processed frames with motion; crops: regions classified; inference_ms:
    moving average of one classify call (all of a frame's crops), None before the first;
    tracks: live tracks; sightings: visits reported (at their confirmation); ends: their ends
    reported.
    """

    camera: str
    frames_in: int
    processed: int
    dropped: int
    queue_depth: int
    motion_frames: int
    crops: int
    inference_ms: float | None
    tracks: int
    sightings: int
    ends: int


class CameraPipeline:
    """One camera's vision steps (see the module's docstring). Call `process` from one thread."""

    def __init__(
        self,
        camera: str,
        options: PipelineOptions,
        classifier: ClassifierSource,
        on_sighting: SightingCallback,
    ) -> None:
        self.camera = camera
        self.options = options
        self._classifier = _getter(classifier)
        self._on_sighting = on_sighting
        self._motion = MotionDetector(options.motion)
        self._tracker = Tracker(options.tracker)
        self._processed = 0
        self._motion_frames = 0
        self._crops = 0
        self._inference_ms: float | None = None
        self._sightings = 0
        self._ends = 0
        self._open: dict[int, _Open] = {}  # by track id: the confirmed visits in progress

    def process(self, frame: Frame) -> None:
        """Run every step on `frame` (frames in capture order)."""
        self._processed += 1
        motion = self._motion.detect(frame.pixels, frame.grey)
        if not motion.boxes and not self._tracker.active:
            return  # the usual frame: nothing moved and no visit to follow or end
        classifier = self._classifier()  # once per frame: a swap lands between frames
        detections: list[Detection] = []
        if motion.boxes:
            self._motion_frames += 1
            if classifier is not None:
                detections = self._classify(frame, motion.boxes, classifier)
        version = classifier.version if classifier is not None else ""
        context = FrameContext(frame.captured_ms, frame.pixels, version)
        update = self._tracker.update(detections, context)
        for visit in update.ended:
            self._report_end(visit)
        for visit in update.confirmed:
            self._report_sighting(visit)

    def _classify(
        self, frame: Frame, boxes: tuple[Rect, ...], classifier: Classifier
    ) -> list[Detection]:
        regions = find_regions(
            boxes, width=frame.width, height=frame.height, options=self.options.regions
        )
        crops = [crop_input(frame.pixels, r.crop, classifier.input_size) for r in regions]
        started = time.perf_counter()
        predictions = classifier.classify(crops)
        elapsed_ms = (time.perf_counter() - started) * 1000
        weight = self.options.ema_weight
        previous = self._inference_ms
        self._inference_ms = (
            elapsed_ms if previous is None else previous + weight * (elapsed_ms - previous)
        )
        self._crops += len(crops)
        return [Detection(r.box, p) for r, p in zip(regions, predictions, strict=True)]

    def finish(self) -> None:
        """The camera stops: end the confirmed visits still in progress."""
        for visit in self._tracker.flush():
            self._report_end(visit)

    def _report_sighting(self, visit: Visit) -> None:
        """A visit was confirmed: its sighting, with the best view so far."""
        best = visit.best
        snapshot, thumbnail = self._pictures(visit.label, best)
        sighting = Sighting(
            event_id=str(uuid.uuid4()),
            camera=self.camera,
            label=visit.label,
            score=_unit(best.score),
            started_at=visit.started_ms,
            ended_at=visit.ended_ms,
            box=best.box.to_box(),
            model_version=best.model_version,
            snapshot=snapshot,
            thumbnail=thumbnail,
        )
        self._open[visit.track_id] = _Open(sighting.event_id, best)
        self._sightings += 1
        self._hand_on(sighting)

    def _report_end(self, visit: Visit) -> None:
        """A confirmed visit ended: its final values; new pictures only for a new best view."""
        opened = self._open.pop(visit.track_id, None)
        if opened is None:  # not reported at its confirmation: nothing to end
            return
        best = visit.best
        snapshot, thumbnail = b"", b""
        if best is not opened.best:
            snapshot, thumbnail = self._pictures(visit.label, best)
        end = SightingEnd(
            end_id=str(uuid.uuid4()),
            event_id=opened.event_id,
            camera=self.camera,
            label=visit.label,
            score=_unit(best.score),
            ended_at=visit.ended_ms,
            box=best.box.to_box(),
            snapshot=snapshot,
            thumbnail=thumbnail,
        )
        self._ends += 1
        self._hand_on(end)

    def _pictures(self, label: str, best: View) -> tuple[bytes, bytes]:
        """The snapshot and thumbnail JPEGs of a view."""
        options = self.options.snapshot
        snapshot = snapshot_jpeg(
            best.pixels, best.box, label=label, score=best.score, options=options
        )
        return snapshot, thumbnail_jpeg(best.pixels, best.box, options)

    def _hand_on(self, report: Report) -> None:
        try:
            self._on_sighting(report)
        except Exception:
            log.exception(
                "%s: the sighting handler failed on %s", self.camera, type(report).__name__
            )

    def stats(self, latest: LatestFrame | None = None) -> PipelineStats:
        """The counters now; frames in, dropped and waiting come from `latest` when given."""
        counts = latest.counts() if latest is not None else None
        return PipelineStats(
            camera=self.camera,
            frames_in=counts.frames_in if counts else self._processed,
            processed=self._processed,
            dropped=counts.dropped if counts else 0,
            queue_depth=counts.depth if counts else 0,
            motion_frames=self._motion_frames,
            crops=self._crops,
            inference_ms=self._inference_ms,
            tracks=self._tracker.active,
            sightings=self._sightings,
            ends=self._ends,
        )


@dataclass(frozen=True, slots=True, eq=False)
class _Open:
    """A confirmed visit in progress: its sighting's id and the view its pictures show."""

    event_id: str
    best: View


def _unit(score: float) -> float:
    """A score clamped into 0..1 (the wire's range)."""
    return min(1.0, max(0.0, score))


def _getter(source: ClassifierSource) -> Callable[[], Classifier | None]:
    """A function giving the current classifier, from a slot or a getter."""
    if isinstance(source, Slot):
        slot: Slot[Classifier] = source
        return lambda: slot.current
    return source


class CameraWorker:
    """A camera's processing thread (see the module's docstring)."""

    def __init__(self, pipeline: CameraPipeline, latest: LatestFrame) -> None:
        self.pipeline = pipeline
        self.latest = latest
        self._stop = threading.Event()
        self._passed_over = 0  # frames taken but not processed, to keep to fps_limit
        self._thread = threading.Thread(
            target=self._run, name=f"vision {pipeline.camera}", daemon=True
        )

    def start(self) -> None:
        """Start processing."""
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the frame in hand, then end the visits in progress (`finish`)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        """The vision thread runs."""
        return self._thread.is_alive()

    def stats(self) -> PipelineStats:
        """The camera's counters now; `dropped` includes frames passed over for the rate."""
        stats = self.pipeline.stats(self.latest)
        return replace(stats, dropped=stats.dropped + self._passed_over)

    def _run(self) -> None:
        # Frames are passed over, not waited for: a timed sleep before each take would wake
        # the thread twice a frame, which cost more CPU than the motion detector's idle path.
        # A frame counts as on time up to half a period early, so a camera sending exactly
        # fps_limit frames a second, with jitter, has every frame processed; `due` advances a
        # period per processed frame, so over time no more than fps_limit are.
        period = 1.0 / self.pipeline.options.fps_limit
        slack = period / 2
        due = time.monotonic()
        while not self._stop.is_set():
            frame = self.latest.take(timeout=0.2)
            if frame is None:
                continue
            now = time.monotonic()
            if now < due - slack:
                self._passed_over += 1
                continue
            due = max(due + period, now - slack)
            try:
                self.pipeline.process(frame)
            except Exception:
                log.exception("%s: frame %d failed", self.pipeline.camera, frame.seq)
        self.pipeline.finish()
