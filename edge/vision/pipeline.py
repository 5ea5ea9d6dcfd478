"""One camera's vision: motion -> regions -> classify -> track -> sightings.

`CameraPipeline.process(frame)` runs the steps on one frame: motion detection on a small copy;
when something moved, the merged boxes become square crops and the current model classifies
them; the tracker turns detections into visits; each visit that ends becomes a `Sighting`
(event id: a fresh UUID4; times: capture times of its first and last frame; pictures: the best
view's frame with the box drawn, and the object's thumbnail) handed to `on_sighting`.

The model is read from its slot once per frame, so a new model takes effect between two frames
and a frame never mixes two models. Before any model arrives, motion and tracking still run
(so a track's timing stays right) but nothing is classified.

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
from dataclasses import dataclass, field

from edge.capture.frame import Frame
from edge.capture.latest import LatestFrame
from edge.modelslot import Slot
from edge.sighting import Sighting
from edge.vision.classify import Classifier
from edge.vision.geometry import Rect
from edge.vision.motion import MotionDetector, MotionOptions
from edge.vision.regions import RegionOptions, crop_input, find_regions
from edge.vision.snapshot import SnapshotOptions, snapshot_jpeg, thumbnail_jpeg
from edge.vision.tracker import Detection, FrameContext, Tracker, TrackerOptions, Visit

log = logging.getLogger("vigia.edge.vision")

ClassifierSource = Slot[Classifier] | Callable[[], Classifier | None]
SightingCallback = Callable[[Sighting], None]


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
    replaced by a newer one before processing; queue_depth: frames waiting (0 or 1);
    motion_frames: processed frames with motion; crops: regions classified; inference_ms:
    moving average of one classify call (all of a frame's crops), None before the first;
    tracks: live tracks; sightings: visits reported.
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

    def process(self, frame: Frame) -> None:
        """Run every step on `frame` (frames in capture order)."""
        self._processed += 1
        motion = self._motion.detect(frame.pixels, frame.grey)
        classifier = self._classifier()  # once per frame: a swap lands between frames
        detections: list[Detection] = []
        if motion.boxes:
            self._motion_frames += 1
            if classifier is not None:
                detections = self._classify(frame, motion.boxes, classifier)
        version = classifier.version if classifier is not None else ""
        context = FrameContext(frame.captured_ms, frame.pixels, version)
        for visit in self._tracker.update(detections, context):
            self._report(visit)

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
        """The camera stops: report the confirmed visits still in progress."""
        for visit in self._tracker.flush():
            self._report(visit)

    def _report(self, visit: Visit) -> None:
        best, options = visit.best, self.options.snapshot
        sighting = Sighting(
            event_id=str(uuid.uuid4()),
            camera=self.camera,
            label=visit.label,
            score=min(1.0, max(0.0, best.score)),
            started_at=visit.started_ms,
            ended_at=visit.ended_ms,
            box=best.box.to_box(),
            model_version=best.model_version,
            snapshot=snapshot_jpeg(
                best.pixels, best.box, label=visit.label, score=best.score, options=options
            ),
            thumbnail=thumbnail_jpeg(best.pixels, best.box, options),
        )
        self._sightings += 1
        try:
            self._on_sighting(sighting)
        except Exception:
            log.exception("%s: the sighting handler failed", self.camera)

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
        )


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
        self._thread = threading.Thread(
            target=self._run, name=f"vision {pipeline.camera}", daemon=True
        )

    def start(self) -> None:
        """Start processing."""
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the frame in hand, then report the visits in progress (`finish`)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        """The vision thread runs."""
        return self._thread.is_alive()

    def stats(self) -> PipelineStats:
        """The camera's counters now."""
        return self.pipeline.stats(self.latest)

    def _run(self) -> None:
        period = 1.0 / self.pipeline.options.fps_limit
        due = time.monotonic()
        while not self._stop.is_set():
            delay = due - time.monotonic()
            if delay > 0 and self._stop.wait(delay):
                break
            frame = self.latest.take(timeout=0.2)
            if frame is None:
                continue
            due = max(due + period, time.monotonic())
            try:
                self.pipeline.process(frame)
            except Exception:
                log.exception("%s: frame %d failed", self.pipeline.camera, frame.seq)
        self.pipeline.finish()
