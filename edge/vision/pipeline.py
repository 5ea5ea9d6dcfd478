"""One camera's vision: motion -> regions -> classify -> track -> sightings.

A frame goes through two halves, which may run on two threads:

- `look(frame)`: motion detection on a small copy. It returns the frame with its motion boxes
  (a `Moved`) when something moved or a visit is in progress, else None: most frames show
  nothing moving while nothing is followed, and for them this is all the work there is.
- `follow(moved)`: the merged boxes become square crops and the current model classifies them;
  the tracker turns detections into visits.

`process(frame)` runs both, for callers with one thread. Each visit is handed to `on_sighting`
twice:

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
two frames and a frame never mixes two models. Before any model arrives, motion and tracking
still run (so a track's timing stays right) but nothing is classified.

Threads: `look` and `follow` share no state but one flag. `look` reads whether a visit is in
progress as `follow` last left it; when `look` runs on another thread, a quiet frame right
after the first moving one may be judged before `follow` has started the track and not be
passed on. That costs nothing: the tracker ends tracks by time, not by counting frames.
`CameraWorker` (edge.vision.worker) runs `look` on the camera's capture thread and `follow` on
its vision thread.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from edge.capture.frame import Frame
from edge.modelslot import Slot
from edge.sighting import Report, Sighting, SightingEnd
from edge.vision.classify import Classifier
from edge.vision.geometry import Rect
from edge.vision.motion import Motion, MotionDetector, MotionOptions
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

    frames_in: frames captured; processed: frames looked at (motion detection); dropped:
    frames captured but not looked at (passed over to keep to `fps_limit`) or not followed
    (replaced by a newer one while the vision thread was busy); queue_depth: frames waiting
    for the vision thread (0 or 1); motion_frames: processed frames with motion; crops:
    regions classified; inference_ms: moving average of one classify call (all of a frame's
    crops), None before the first; tracks: live tracks; sightings: visits reported (at their
    confirmation); ends: their ends reported.
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
        self._following = False  # the tracker has live tracks: `look` passes every frame on

    def process(self, frame: Frame) -> None:
        """Run every step on `frame` (frames in capture order)."""
        moved = self.look(frame)
        if moved is not None:
            self.follow(moved)

    def look(self, frame: Frame) -> Moved | None:
        """Motion detection on `frame` (frames in capture order): the frame and its motion when
        something moved or a visit is in progress (`follow` it), else None."""
        self._processed += 1
        motion = self._motion.detect(frame.pixels, frame.grey)
        if motion.boxes:
            self._motion_frames += 1
        elif not self._following:
            return None  # the usual frame: nothing moved and no visit to follow or end
        return Moved(frame, motion)

    def follow(self, moved: Moved) -> None:
        """Classify what moved and track it (frames in the order `look` returned them)."""
        frame, boxes = moved.frame, moved.motion.boxes
        classifier = self._classifier()  # once per frame: a swap lands between frames
        detections: list[Detection] = []
        if boxes and classifier is not None:
            detections = self._classify(frame, boxes, classifier)
        version = classifier.version if classifier is not None else ""
        context = FrameContext(frame.captured_ms, frame.pixels, version)
        update = self._tracker.update(detections, context)
        self._following = self._tracker.active > 0
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
        self._following = False

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

    def stats(self) -> PipelineStats:
        """The counters now, as if every frame came to `process` (`CameraWorker.stats` has the
        frames in, dropped and waiting of a camera)."""
        return PipelineStats(
            camera=self.camera,
            frames_in=self._processed,
            processed=self._processed,
            dropped=0,
            queue_depth=0,
            motion_frames=self._motion_frames,
            crops=self._crops,
            inference_ms=self._inference_ms,
            tracks=self._tracker.active,
            sightings=self._sightings,
            ends=self._ends,
        )


@dataclass(frozen=True, slots=True, eq=False)
class Moved:
    """A frame worth following, with what moved in it (no boxes: a quiet frame while a visit
    is in progress, which may end it)."""

    frame: Frame
    motion: Motion


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
