"""The camera worker: the motion gate on the capture thread keeps to the rate and passes on
only frames worth following; the vision thread follows them and ends the visit at a stop."""

from __future__ import annotations

import dataclasses
import itertools
import time

import pytest

from edge.capture.frame import Frame
from edge.modelslot import ModelBundle, Slot
from edge.sighting import Report, Sighting, SightingEnd
from edge.vision.classify import Classifier
from edge.vision.pipeline import CameraPipeline
from edge.vision.tracker import TrackerOptions
from edge.vision.worker import CameraWorker, Pace
from tests.edge.vision.colour_model import BGR
from tests.edge.vision.test_pipeline import OPTIONS, T0, background, frames_of_a_visit, only


def test_pace_takes_at_most_its_rate_from_a_faster_camera() -> None:
    pace = Pace(10)
    start = time.monotonic()
    taken = [pace.due(start + 0.02 * k) for k in range(100)]  # 2 s at 50 frames a second
    assert 19 <= sum(taken) <= 21
    indices = [k for k, due in enumerate(taken) if due]
    gaps = {b - a for a, b in itertools.pairwise(indices[1:])}
    assert gaps == {5}  # evenly spread: every fifth frame


def test_pace_takes_every_frame_of_a_camera_at_its_rate_despite_jitter() -> None:
    pace = Pace(10)
    start = time.monotonic()
    jitter = [0.0, 0.04, -0.03, 0.02, -0.04, 0.03, 0.0, -0.02]
    assert all(pace.due(start + 0.1 * k + jitter[k % 8]) for k in range(80))


def test_frames_in_which_nothing_moves_never_reach_the_vision_thread(
    colour_model: ModelBundle,
) -> None:
    options = dataclasses.replace(OPTIONS, fps_limit=1000)
    pipeline = CameraPipeline("gate", options, Slot(Classifier(colour_model)), lambda r: None)
    worker = CameraWorker(pipeline)  # its vision thread not started: the mailbox fills
    frames = frames_of_a_visit("red")
    for frame in frames[:1] + frames[-10:]:  # the warm-up frame, then 10 empty ones
        worker.put(frame)
        time.sleep(0.002)  # under the rate limit
    assert (worker.stats().processed, worker.stats().queue_depth) == (11, 0)
    worker.put(frames[1])  # the square comes in
    time.sleep(0.002)
    worker.put(frames[2])  # replaces the waiting one: the vision thread was too slow
    stats = worker.stats()
    assert (stats.frames_in, stats.processed, stats.motion_frames) == (13, 13, 2)
    assert (stats.queue_depth, stats.dropped) == (1, 1)


def test_a_frame_that_breaks_motion_detection_is_logged_and_the_next_is_looked_at(
    colour_model: ModelBundle, caplog: pytest.LogCaptureFixture
) -> None:
    options = dataclasses.replace(OPTIONS, fps_limit=1000)
    pipeline = CameraPipeline("gate", options, Slot(Classifier(colour_model)), lambda r: None)
    worker = CameraWorker(pipeline)
    worker.put(Frame("gate", 1, T0, background()[:, :, :2]))  # two channels: not a picture
    time.sleep(0.002)
    worker.put(frames_of_a_visit("red")[0])
    assert "motion detection failed on frame 1" in caplog.text
    assert worker.stats().processed == 2


def test_the_worker_keeps_to_its_rate_and_finishes_the_visit_in_progress(
    colour_model: ModelBundle,
) -> None:
    reports: list[Report] = []
    options = dataclasses.replace(
        OPTIONS, fps_limit=5, tracker=TrackerOptions(lost_after_ms=60_000)
    )
    pipeline = CameraPipeline("gate", options, Slot(Classifier(colour_model)), reports.append)
    worker = CameraWorker(pipeline)
    worker.start()
    still = background()
    started = time.monotonic()
    for k in range(60):  # 1.2 s at 50 frames a second: empty, then a square at 200 px/s
        pixels = still.copy()
        if k >= 10:
            pixels[180:300, 4 * k : 120 + 4 * k] = BGR["green"]
        worker.put(Frame("gate", k + 1, T0 + 20 * k, pixels))
        time.sleep(max(0.0, started + 0.02 * (k + 1) - time.monotonic()))
    worker.stop()
    stats = worker.stats()
    assert 4 <= stats.processed <= 9  # about 5 a second for 1.2 s
    assert stats.frames_in == 60
    assert stats.dropped + stats.processed == 60
    (sighting,) = only(Sighting, reports)
    (end,) = only(SightingEnd, reports)  # ended at stop, still in progress
    assert (sighting.label, end.label, end.event_id) == ("green", "green", sighting.event_id)
    assert reports == [sighting, end]
