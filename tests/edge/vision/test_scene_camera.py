"""End to end: a scene camera of our video server, read over RTSP, through the whole pipeline;
the sightings (with the final values their ends bring) must match the scene's ground truth, one
per visit with the right class."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.capture.camera import Camera, CameraOptions
from edge.capture.frame import now_ms
from edge.capture.source import SourceOptions
from edge.modelslot import ModelBundle, Slot
from edge.sighting import Report, Sighting, SightingEnd
from edge.vision.classify import Classifier
from edge.vision.pipeline import CameraPipeline, PipelineOptions
from edge.vision.tracker import TrackerOptions
from edge.vision.worker import CameraWorker
from tests.edge.vision.colour_model import BGR, LABELS
from video.rtsp.context import ServerOptions
from video.rtsp.server import RtspServer
from video.sources.scene import SceneOptions, SceneSource
from video.stream import Stream, StreamOptions

RUN_S = 20.0
#: How far a sighting's times may stray from the truth's: capture times are arrival times.
SLACK_MS = 400


@dataclass(frozen=True)
class Truth:
    label: str
    enter_ms: int
    leave_ms: int
    partial: bool


def make_dataset(root: Path) -> Path:
    """Two shades of each class's colour, and a light grey, softly textured background."""
    for label in LABELS:
        (root / label).mkdir(parents=True)
        for shade in (1.0, 0.85):
            colour = tuple(round(c * shade) for c in BGR[label])
            cv2.imwrite(str(root / label / f"{shade}.png"), np.full((32, 32, 3), colour, np.uint8))
    (root / "_background").mkdir()
    rng = np.random.default_rng(11)
    coarse = rng.integers(185, 225, (30, 40), dtype=np.uint8)
    grey = cv2.resize(coarse, (640, 480), interpolation=cv2.INTER_CUBIC)
    cv2.imwrite(str(root / "_background" / "bg.png"), grey)
    return root


@pytest.fixture
def scene_server(tmp_path: Path) -> Iterator[tuple[str, Path, RtspServer]]:
    """A 640x480, 10 fps scene camera at /yard with short, frequent visits."""
    truth = tmp_path / "truth.jsonl"
    scene = SceneSource(
        SceneOptions(
            dataset=make_dataset(tmp_path / "colours"),
            camera="yard",
            seed=7,
            visits_per_min=20,
            min_gap_s=1.0,
            visit_s=(1.2, 2.0),
            size_frac=(0.3, 0.5),
            truth_path=truth,
        )
    )
    stream = Stream(StreamOptions("yard", fps=10.0, width=640, height=480, quality=85), scene)
    server = RtspServer(ServerOptions(host="127.0.0.1", port=0, rtp_port=0), [stream])
    server.start()
    try:
        yield f"rtsp://127.0.0.1:{server.address[1]}/yard", truth, server
    finally:
        server.stop()


def read_truth(path: Path) -> list[Truth]:
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    return [Truth(r["label"], r["enter_ms"], r["leave_ms"], r["partial"]) for r in lines]


def finals(reports: list[Report]) -> list[Sighting]:
    """Each sighting with the final values of its end (each sighting has exactly one end,
    which comes after it)."""
    ends = {r.event_id: r for r in reports if isinstance(r, SightingEnd)}
    sightings = [r for r in reports if isinstance(r, Sighting)]
    assert sorted(ends) == sorted(s.event_id for s in sightings)
    for sighting in sightings:
        assert reports.index(sighting) < reports.index(ends[sighting.event_id])
    return [
        dataclasses.replace(
            s,
            label=ends[s.event_id].label,
            score=ends[s.event_id].score,
            ended_at=ends[s.event_id].ended_at,
        )
        for s in sightings
    ]


def overlaps(sighting: Sighting, truth: Truth) -> bool:
    return (
        sighting.started_at <= truth.leave_ms + SLACK_MS
        and truth.enter_ms - SLACK_MS <= sighting.ended_at
    )


def test_every_visit_is_one_sighting_of_its_class(
    scene_server: tuple[str, Path, RtspServer], colour_model: ModelBundle
) -> None:
    url, truth_path, server = scene_server
    reports: list[Report] = []
    options = PipelineOptions(fps_limit=10, tracker=TrackerOptions(lost_after_ms=700))
    pipeline = CameraPipeline("yard", options, Slot(Classifier(colour_model)), reports.append)
    worker = CameraWorker(pipeline)
    source = SourceOptions(open_timeout_s=5, read_timeout_s=3)
    camera = Camera(CameraOptions("yard", url, source), sink=worker)
    camera.start()
    deadline = time.monotonic() + 10
    while not camera.online and time.monotonic() < deadline:
        time.sleep(0.02)
    assert camera.online
    # Visits from here on are checked: motion detection warms up first (15 frames, 1.5 s).
    ready_ms = now_ms() + options.motion.warmup_frames * 100 + 300
    worker.start()
    time.sleep(RUN_S)
    last_ms = now_ms()
    camera.stop()
    worker.stop()
    stats = worker.stats()
    server.stop()  # the scene logs the visit in progress as partial
    sightings = finals(reports)

    truths = read_truth(truth_path)
    whole = [
        t for t in truths if not t.partial and t.enter_ms > ready_ms and t.leave_ms < last_ms - 300
    ]
    assert len(whole) >= 4, truths  # enough visits for the comparison to mean something
    for truth in whole:
        matching = [s for s in sightings if overlaps(s, truth)]
        assert [s.label for s in matching] == [truth.label], (truth, matching)
        (sighting,) = matching
        assert truth.enter_ms - SLACK_MS <= sighting.started_at
        assert sighting.ended_at <= truth.leave_ms + SLACK_MS
        assert sighting.score >= 0.5 and sighting.model_version == "colour-1"
    for sighting in (s for s in sightings if s.started_at > ready_ms):  # nothing made up
        assert any(overlaps(sighting, t) and sighting.label == t.label for t in truths), sighting
    assert stats.processed >= RUN_S * 10 * 0.8  # kept up with the camera
    assert stats.inference_ms is not None and stats.inference_ms < 50
