"""The camera pipeline: frames in; per visit a sighting at its confirmation, then its end; the
model read per frame."""

from __future__ import annotations

import dataclasses
import uuid
from typing import TypeVar

import cv2
import numpy as np
import pytest

from edge.capture.frame import Frame, Pixels
from edge.modelslot import ModelBundle, Slot
from edge.sighting import Report, Sighting, SightingEnd
from edge.vision.classify import Classifier
from edge.vision.motion import MotionOptions
from edge.vision.pipeline import CameraPipeline, PipelineOptions
from edge.vision.tracker import TrackerOptions
from tests.edge.vision.colour_model import BGR

T0 = 1_800_000_000_000
WIDTH, HEIGHT = 640, 480


def background() -> Pixels:
    rng = np.random.default_rng(5)
    coarse = rng.integers(170, 230, (HEIGHT // 16, WIDTH // 16), dtype=np.uint8)
    grey = cv2.resize(coarse, (WIDTH, HEIGHT), interpolation=cv2.INTER_CUBIC)
    return np.ascontiguousarray(np.repeat(grey[:, :, None], 3, axis=2))


def frames_of_a_visit(label: str, *, start_seq: int = 1, steps: int = 8) -> list[Frame]:
    """An empty frame, a square of `label`'s colour crossing in `steps` frames, then 15 empty
    frames; 100 ms apart from T0 + 100 * (start_seq - 1)."""
    still = background()
    pictures = [still]
    for k in range(steps):
        pixels = still.copy()
        x = 80 + 50 * k
        pixels[180:300, x : x + 120] = BGR[label]
        pictures.append(pixels)
    pictures += [still] * 15
    return [
        Frame("gate", start_seq + i, T0 + 100 * (start_seq - 1 + i), pixels)
        for i, pixels in enumerate(pictures)
    ]


#: One warm-up frame: these tests start with one empty frame.
OPTIONS = PipelineOptions(
    motion=MotionOptions(warmup_frames=1),
    tracker=TrackerOptions(min_frames=3, lost_after_ms=800),
)


def decoded(jpeg: bytes) -> np.ndarray:
    picture = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert picture is not None
    return picture


T = TypeVar("T", Sighting, SightingEnd)


def only(kind: type[T], reports: list[Report]) -> list[T]:
    return [r for r in reports if isinstance(r, kind)]


def test_a_square_crossing_is_one_sighting_at_confirmation_then_its_end(
    colour_model: ModelBundle,
) -> None:
    reports: list[Report] = []
    pipeline = CameraPipeline("gate", OPTIONS, Slot(Classifier(colour_model)), reports.append)
    seen_at_confirmation = 0
    for frame in frames_of_a_visit("blue"):
        pipeline.process(frame)
        if not seen_at_confirmation and reports:
            seen_at_confirmation = frame.captured_ms
    sighting, end = reports
    assert isinstance(sighting, Sighting) and isinstance(end, SightingEnd)
    assert seen_at_confirmation == T0 + 300  # the third frame recognised: min_frames
    assert (sighting.camera, sighting.label, sighting.model_version) == ("gate", "blue", "colour-1")
    assert uuid.UUID(sighting.event_id).version == 4
    assert (sighting.started_at, sighting.ended_at) == (T0 + 100, T0 + 300)  # so far
    assert 0.5 < sighting.score <= 1
    box = sighting.box
    assert 120 - 8 <= box.h <= 120 + 8 and 180 - 8 <= box.y <= 180 + 4
    snapshot, thumbnail = decoded(sighting.snapshot), decoded(sighting.thumbnail)
    assert snapshot.shape == (HEIGHT, WIDTH, 3) and max(thumbnail.shape[:2]) == 160
    event, body = sighting.to_event()  # a valid wire message
    assert event.label == "blue" and body == sighting.snapshot + sighting.thumbnail
    assert end.event_id == sighting.event_id and uuid.UUID(end.end_id).version == 4
    assert (end.camera, end.label, end.ended_at) == ("gate", "blue", T0 + 800)
    assert 0.5 < end.score <= 1 and 120 - 8 <= end.box.h <= 120 + 8
    message, body = end.to_message()  # a valid wire message: new pictures, or none
    assert message.event_id == sighting.event_id and body == end.snapshot + end.thumbnail
    if end.snapshot:
        assert decoded(end.snapshot).shape == (HEIGHT, WIDTH, 3)
    stats = pipeline.stats()
    assert (stats.processed, stats.motion_frames, stats.sightings, stats.ends) == (24, 8, 1, 1)
    assert stats.crops == 8 and stats.inference_ms is not None and stats.tracks == 0


def test_an_end_brings_pictures_only_when_a_better_view_came(colour_model: ModelBundle) -> None:
    """A square that grows after its confirmation: the end carries the larger view's pictures
    and box; the sighting keeps the small one's."""
    still = background()
    pictures = [still]
    for k, side in enumerate((60, 60, 60, 60, 90, 120, 150, 150)):
        pixels = still.copy()
        x = 100 + 10 * k
        pixels[200 : 200 + side, x : x + side] = BGR["green"]
        pictures.append(pixels)
    pictures += [still] * 12
    reports: list[Report] = []
    pipeline = CameraPipeline("gate", OPTIONS, Slot(Classifier(colour_model)), reports.append)
    for i, pixels in enumerate(pictures):
        pipeline.process(Frame("gate", i + 1, T0 + 100 * i, pixels))
    (sighting,), (end,) = only(Sighting, reports), only(SightingEnd, reports)
    assert sighting.box.w < 80 and end.box.w > 120
    assert end.snapshot and end.thumbnail and end.snapshot != sighting.snapshot
    thumbnail = decoded(end.thumbnail)
    assert max(thumbnail.shape[:2]) == 160
    assert int(np.argmax(thumbnail.reshape(-1, 3).mean(axis=0))) == int(np.argmax(BGR["green"]))


def test_the_model_is_read_at_most_once_per_frame_and_a_swap_lands_between_frames(
    colour_model: ModelBundle,
) -> None:
    first = Classifier(colour_model)
    second = Classifier(dataclasses.replace(colour_model, version="colour-2"))
    reads: list[int] = []
    current: list[Classifier | None] = [None]

    def getter() -> Classifier | None:
        reads.append(1)
        return current[0]

    reports: list[Report] = []
    pipeline = CameraPipeline("gate", OPTIONS, getter, reports.append)
    frames = frames_of_a_visit("red") + frames_of_a_visit("green", start_seq=25)
    for index, frame in enumerate(frames):
        if index == 3:
            current[0] = first  # arrives mid-visit: the rest of the visit is classified
        if index == 24:  # between the visits
            current[0] = second
        before = len(reads)
        pipeline.process(frame)
        assert len(reads) - before <= 1
    assert 0 < len(reads) < len(frames)  # not read in frames where nothing moved or was tracked
    sightings = only(Sighting, reports)
    assert [(s.label, s.model_version) for s in sightings] == [
        ("red", "colour-1"),
        ("green", "colour-2"),
    ]
    assert sightings[0].started_at == T0 + 300  # frames before the model were not classified
    assert pipeline.stats().crops == 6 + 8


def test_no_model_no_sightings_and_a_failing_handler_is_survived(
    colour_model: ModelBundle,
) -> None:
    quiet = CameraPipeline("gate", OPTIONS, Slot[Classifier](), lambda s: None)
    for frame in frames_of_a_visit("red"):
        quiet.process(frame)
    stats = quiet.stats()
    assert (stats.motion_frames, stats.crops, stats.sightings) == (8, 0, 0)

    def broken(_: Report) -> None:
        raise RuntimeError("spool full")

    pipeline = CameraPipeline("gate", OPTIONS, Slot(Classifier(colour_model)), broken)
    for frame in frames_of_a_visit("red") + frames_of_a_visit("blue", start_seq=25):
        pipeline.process(frame)
    assert (pipeline.stats().sightings, pipeline.stats().ends) == (2, 2)


def test_look_passes_on_frames_with_motion_and_every_frame_while_a_visit_is_followed(
    colour_model: ModelBundle,
) -> None:
    reports: list[Report] = []
    pipeline = CameraPipeline("gate", OPTIONS, Slot(Classifier(colour_model)), reports.append)
    passed: list[str] = []
    for frame in frames_of_a_visit("red"):
        moved = pipeline.look(frame)
        if moved is None:
            passed.append("-")
            continue
        passed.append("moving" if moved.motion.boxes else "quiet")
        pipeline.follow(moved)
    # the warm-up frame; 8 with the square; quiet ones while the visit lasts (until 800 ms
    # after the square's last frame, when one of them ends it); then nothing to follow
    assert passed == ["-"] + ["moving"] * 8 + ["quiet"] * 8 + ["-"] * 7
    assert [type(r) for r in reports] == [Sighting, SightingEnd]
    stats = pipeline.stats()
    assert (stats.processed, stats.motion_frames, stats.tracks) == (24, 8, 0)


@pytest.mark.parametrize("rate", [0.0, -1.0])
def test_options_are_checked(rate: float) -> None:
    with pytest.raises(ValueError, match="fps_limit"):
        PipelineOptions(fps_limit=rate)
