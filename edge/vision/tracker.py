"""From per-frame detections to visits: one per object that came into view and left.

Matching. Each frame's detections are matched to the live tracks greedily, highest IoU first,
for pairs with IoU >= `iou_threshold`; then tracks and detections still unmatched and not
overlapping at all are matched closest first when their centres are within `centre_distance`
times the larger side of the two boxes (a fast mover at a low frame rate jumps clear of its
last box). A detection left over starts a new track.

Confirmation. A frame counts for a track when its top class scores at least that class's
threshold (`thresholds`, else `default_threshold`): the object is recognised in it. After
`min_frames` such frames the track is confirmed: `update` reports it then (in
`TrackerUpdate.confirmed`, with the values so far), once. A track ends when its object has not
been recognised for `lost_after_ms` (a track never recognised: not detected for that long); a
confirmed one is reported as ended (`TrackerUpdate.ended`, final values), an unconfirmed one (a
flicker, a leaf) is forgotten. Tracks are ended *before* a frame's detections are matched: a
track whose object has been away for `lost_after_ms` by that frame is over, so a new object
seen in it (after a pause in processing, or coming in where the last one left) starts a visit
of its own instead of stretching the old one. A visit
runs from the first to the last frame its object was recognised in: unsure detections around
them (a sliver coming in at the border, an object fading into the background or the "hole" it
leaves, which motion still reports for a moment) neither stretch the visit nor keep it going,
so they cannot join it to the next object either.

Label and best view. Every counted frame adds its score to its class; the visit's label is the
class with the highest sum over the frames that saw the object whole (its box clear of the
frame's border), or over all counted frames when none did. A model judges a sliver coming in at
the border badly (a quarter cut off costs a Fashion-MNIST model 13 points of accuracy, half of
it 28), and an object crossing the view spends many frames coming in and going out. For each
class the track keeps its best view: the frame whose quality = score x size factor (the box's
share of the frame, growing up to `full_size_share`) x `edge_penalty` when the box touches the
frame's border (a cut-off object). Only those frames' pixels are kept (one per class seen,
usually one), not the track's history.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from edge.capture.frame import Pixels
from edge.vision.classify import Prediction
from edge.vision.geometry import Rect


@dataclass(frozen=True, slots=True)
class TrackerOptions:
    """Tracking settings (see the module's docstring)."""

    iou_threshold: float = 0.2
    centre_distance: float = 1.0
    min_frames: int = 2
    default_threshold: float = 0.5
    thresholds: Mapping[str, float] = field(default_factory=dict)
    lost_after_ms: int = 1500
    full_size_share: float = 0.05
    edge_penalty: float = 0.5

    def __post_init__(self) -> None:
        rules = (
            (0 < self.iou_threshold <= 1, "iou_threshold must be in (0, 1]"),
            (self.centre_distance >= 0, "centre_distance must not be negative"),
            (self.min_frames >= 1, "min_frames must be 1 or more"),
            (self.lost_after_ms > 0, "lost_after_ms must be more than 0"),
            (0 < self.full_size_share <= 1, "full_size_share must be in (0, 1]"),
            (0 <= self.edge_penalty <= 1, "edge_penalty must be in [0, 1]"),
        )
        for ok, problem in rules:
            if not ok:
                raise ValueError(f"tracker options: {problem}")

    def threshold(self, label: str) -> float:
        """The score a frame of class `label` needs to count."""
        return self.thresholds.get(label, self.default_threshold)


@dataclass(frozen=True, slots=True)
class Detection:
    """One classified region of a frame: the box followed and the model's top class."""

    box: Rect
    prediction: Prediction


@dataclass(frozen=True, slots=True, eq=False)
class View:
    """One frame of a track: when, where, what the model said, how good a picture it is, and
    the full frame (BGR) for the snapshot."""

    at_ms: int
    box: Rect
    label: str
    score: float
    quality: float
    pixels: Pixels
    model_version: str


@dataclass(frozen=True, slots=True, eq=False)
class Visit:
    """A confirmed track: as it stands at its confirmation, or as it ended."""

    track_id: int
    label: str
    started_ms: int  # first frame the object was recognised in
    ended_ms: int  # last (so far, at the confirmation)
    best: View  # the best view of `label` (the same object until a better view comes)
    frames: int  # frames it was detected in
    counted: int  # of them, frames whose top class met its threshold
    totals: Mapping[str, float]  # summed scores per class


@dataclass(slots=True, eq=False)
class _Track:
    id: int
    box: Rect
    last_ms: int  # last detected
    first_counted_ms: int | None = None  # first recognised
    last_counted_ms: int | None = None  # last recognised
    frames: int = 0
    counted: int = 0
    totals: dict[str, float] = field(default_factory=dict)
    whole: dict[str, float] = field(default_factory=dict)  # of frames clear of the border
    best: dict[str, View] = field(default_factory=dict)
    confirmed: bool = False  # reported as confirmed

    def label(self) -> str | None:
        """The class with the highest summed score over the whole views (over every counted
        frame when there is none yet), or None before any frame counted."""
        votes = self.whole or self.totals
        return max(votes, key=lambda label: votes[label]) if votes else None


@dataclass(frozen=True, slots=True)
class TrackerUpdate:
    """What one frame changed: visits confirmed in it, and visits that ended by it."""

    confirmed: list[Visit] = field(default_factory=list)
    ended: list[Visit] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class FrameContext:
    """The frame detections come from: its time, its pixels and the version of the model that
    ran on it ("" when none did: then there are no detections)."""

    at_ms: int
    pixels: Pixels
    model_version: str = ""


class Tracker:
    """Tracks of one camera (see the module's docstring). Not thread-safe."""

    def __init__(self, options: TrackerOptions | None = None) -> None:
        self.options = options or TrackerOptions()
        self._tracks: list[_Track] = []
        self._ids = itertools.count(1)

    @property
    def active(self) -> int:
        """Live tracks, confirmed or not."""
        return len(self._tracks)

    def update(self, detections: Sequence[Detection], frame: FrameContext) -> TrackerUpdate:
        """Add one frame's detections (call for every processed frame, with or without any);
        returns the visits confirmed in this frame and those that ended by it."""
        lost_after = self.options.lost_after_ms
        ended = self._end([t for t in self._tracks if frame.at_ms - _seen_ms(t) >= lost_after])
        pairs = self._match(detections)
        matched = set(pairs.values())
        touched = [self._tracks[t] for t in pairs]
        for track_index, detection_index in pairs.items():
            self._add(self._tracks[track_index], detections[detection_index], frame)
        for index, detection in enumerate(detections):
            if index not in matched:
                track = _Track(next(self._ids), detection.box, frame.at_ms)
                self._tracks.append(track)
                self._add(track, detection, frame)
                touched.append(track)
        return TrackerUpdate(confirmed=self._confirm(touched), ended=ended)

    def flush(self) -> list[Visit]:
        """End every track now (the camera stops): the confirmed ones as visits."""
        return self._end(list(self._tracks))

    def _confirm(self, tracks: list[_Track]) -> list[Visit]:
        """The tracks that reached confirmation just now, as visits so far."""
        confirmed: list[Visit] = []
        for track in tracks:
            if not track.confirmed and (visit := self._visit(track)) is not None:
                track.confirmed = True
                confirmed.append(visit)
        return confirmed

    def _end(self, tracks: list[_Track]) -> list[Visit]:
        ended = set(map(id, tracks))
        self._tracks = [t for t in self._tracks if id(t) not in ended]
        return [visit for t in tracks if t.confirmed and (visit := self._visit(t)) is not None]

    def _visit(self, track: _Track) -> Visit | None:
        label = track.label()
        first, last = track.first_counted_ms, track.last_counted_ms
        if track.counted < self.options.min_frames or label is None or first is None:
            return None
        return Visit(
            track_id=track.id,
            label=label,
            started_ms=first,
            ended_ms=last or first,
            best=track.best[label],
            frames=track.frames,
            counted=track.counted,
            totals=dict(track.totals),
        )

    def _match(self, detections: Sequence[Detection]) -> dict[int, int]:
        """Track index -> detection index, by IoU first, then by centre distance."""
        by_iou = [
            (track.box.iou(detection.box), t, d)
            for t, track in enumerate(self._tracks)
            for d, detection in enumerate(detections)
        ]
        threshold = self.options.iou_threshold
        pairs = _greedy(sorted((c for c in by_iou if c[0] >= threshold), reverse=True), {})
        close = [
            (self._tracks[t].box.centre_distance(detections[d].box), t, d)
            for iou, t, d in by_iou
            if iou == 0 and self._near(self._tracks[t].box, detections[d].box)
        ]
        return _greedy(sorted(close), pairs)

    def _near(self, track_box: Rect, box: Rect) -> bool:
        reach = self.options.centre_distance * max(track_box.w, track_box.h, box.w, box.h)
        return track_box.centre_distance(box) <= reach

    def _add(self, track: _Track, detection: Detection, frame: FrameContext) -> None:
        track.box, track.last_ms = detection.box, frame.at_ms
        track.frames += 1
        prediction = detection.prediction
        if prediction.score < self.options.threshold(prediction.label):
            return
        track.counted += 1
        if track.first_counted_ms is None:
            track.first_counted_ms = frame.at_ms
        track.last_counted_ms = frame.at_ms
        track.totals[prediction.label] = track.totals.get(prediction.label, 0.0) + prediction.score
        height, width = frame.pixels.shape[:2]
        if not detection.box.touches_edge(width, height):
            track.whole[prediction.label] = (
                track.whole.get(prediction.label, 0.0) + prediction.score
            )
        quality = self._quality(detection, frame.pixels)
        best = track.best.get(prediction.label)
        if best is None or quality > best.quality:
            track.best[prediction.label] = View(
                frame.at_ms, detection.box, prediction.label, prediction.score, quality,
                frame.pixels, frame.model_version,
            )  # fmt: skip

    def _quality(self, detection: Detection, pixels: Pixels) -> float:
        height, width = pixels.shape[:2]
        share = detection.box.area / (width * height)
        size = min(1.0, math.sqrt(share / self.options.full_size_share))
        edge = self.options.edge_penalty if detection.box.touches_edge(width, height) else 1.0
        return detection.prediction.score * size * edge


def _seen_ms(track: _Track) -> int:
    """When the track's object was last recognised (never recognised: last detected)."""
    return track.last_ms if track.last_counted_ms is None else track.last_counted_ms


def _greedy(candidates: Sequence[tuple[float, int, int]], pairs: dict[int, int]) -> dict[int, int]:
    """Take candidate (measure, track, detection) pairs in order, each track and detection once."""
    taken = set(pairs.values())
    for _, track, detection in candidates:
        if track not in pairs and detection not in taken:
            pairs[track] = detection
            taken.add(detection)
    return pairs
