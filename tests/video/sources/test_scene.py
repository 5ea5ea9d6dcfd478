"""Scene cameras: one object at a time crosses a static background on a seeded schedule,
and every visit shown is logged with boxes that match the pixels."""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from tests.video.sources.conftest import CLASSES, read_image, solid, write_image
from video.sources.base import Pixels, SourceError
from video.sources.encode import resize
from video.sources.scene import SceneOptions, SceneSource, plan_visits, read_dataset
from video.sources.truth import Box, Visit, clip_box, object_box

T0 = 1_796_000_000_000
FRAME_MS = 100  # 10 frames a second


def options_for(dataset: Path, **changes: Any) -> SceneOptions:
    """Small frames and busy scenes, so a few simulated seconds show several visits."""
    base = SceneOptions(
        dataset=dataset, camera="cam1", seed=1, width=160, height=128, visits_per_min=20
    )
    return dataclasses.replace(base, **changes)


def run(source: SceneSource, seconds: float) -> dict[int, Pixels]:
    """Read the source at 10 frames a second from T0; the frames by time."""
    frames = {}
    for k in range(int(seconds * 1000 / FRAME_MS)):
        at_ms = T0 + k * FRAME_MS
        pixels = source.read(at_ms).pixels
        assert pixels is not None
        frames[at_ms] = pixels
    return frames


def truth_lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_same_seed_same_scene_other_seed_other_scene(dataset: Path) -> None:
    sources = [SceneSource(options_for(dataset, seed=seed)) for seed in (5, 5, 6)]
    frames = [run(source, 20) for source in sources]
    with_object = [t for t, f in frames[0].items() if not np.array_equal(f, sources[0].background)]
    assert len(with_object) > 50  # objects came by: the frames compared are not all empty
    assert all(np.array_equal(frames[0][t], frames[1][t]) for t in frames[0])
    assert not np.array_equal(frames[0][T0], frames[2][T0])  # other background
    options = [options_for(dataset, seed=seed) for seed in (5, 6)]
    schedules = [list(itertools.islice(plan_visits(o, read_dataset(dataset)), 5)) for o in options]
    assert schedules[0] != schedules[1]


def test_visits_are_one_at_a_time_apart_and_at_the_asked_rate(dataset: Path) -> None:
    options = options_for(dataset, visits_per_min=6, min_gap_s=1.5, visit_s=(2.0, 4.0))
    visits = list(itertools.islice(plan_visits(options, read_dataset(dataset)), 3000))
    assert visits[0].start_ms >= 1500  # the scene starts empty
    for before, after in itertools.pairwise(visits):
        assert after.start_ms - before.end_ms >= 1500
    assert all(2000 <= v.end_ms - v.start_ms <= 4000 for v in visits)
    per_minute = len(visits) / (visits[-1].end_ms / 60_000)
    assert per_minute == pytest.approx(6, rel=0.05)
    assert {v.label for v in visits} == set(CLASSES)
    assert all((dataset / v.image).parent.name == v.label for v in visits)
    assert {v.exit for v in visits} == {"left", "right", "top", "bottom", "away"}
    opposite = {"left": "right", "right": "left", "top": "bottom", "bottom": "top"}
    assert all(v.exit in (opposite[v.entry], "away") for v in visits)  # no corner cut


def test_truth_boxes_are_where_the_object_is_drawn(dataset: Path, tmp_path: Path) -> None:
    truth = tmp_path / "truth" / "scene.jsonl"
    source = SceneSource(options_for(dataset, truth_path=truth, truth_interval_ms=300))
    frames = run(source, 40)
    visits = plan_visits(source.options, source.dataset)
    lines = truth_lines(truth)
    assert len(lines) >= 5
    for line, visit in zip(lines, visits, strict=False):
        assert (line["camera"], line["label"], line["image"]) == ("cam1", visit.label, visit.image)
        assert line["partial"] is False
        image = read_image(dataset / visit.image)
        boxes = line["boxes"]
        assert isinstance(boxes, list) and len(boxes) >= 3
        times = [box[0] for box in boxes]
        assert times[0] == line["enter_ms"] and times[-1] <= line["leave_ms"]
        assert all(later - earlier >= 300 for earlier, later in itertools.pairwise(times))
        for t_ms, x, y, w, h in boxes:
            assert x >= 0 and y >= 0 and w > 0 and h > 0 and x + w <= 160 and y + h <= 128
            assert_drawn_at(frames[t_ms], source.background, Box(x, y, w, h), image)
            assert_as_computed(frames[t_ms], visit, t_ms - T0, Box(x, y, w, h), image)


def assert_as_computed(frame: Pixels, visit: Visit, t_ms: int, box: Box, image: Pixels) -> None:
    """`object_box` gives the logged box, and the frame there is the image scaled to it."""
    whole = object_box(visit, t_ms, aspect=1.0, width=160, height=128)
    assert whole is not None and clip_box(whole, 160, 128) == box
    left, top = box.x - whole.x, box.y - whole.y
    scaled = resize(image, whole.w, whole.h)[top : top + box.h, left : left + box.w]
    assert np.array_equal(frame[box.y : box.y + box.h, box.x : box.x + box.w], scaled)


def assert_drawn_at(frame: Pixels, background: Pixels, box: Box, image: Pixels) -> None:
    """Outside the box the frame is the background; inside, it is the object's image."""
    outside = np.ones(frame.shape[:2], bool)
    outside[box.y : box.y + box.h, box.x : box.x + box.w] = False
    assert np.array_equal(frame[outside], background[outside])
    inside = frame[box.y : box.y + box.h, box.x : box.x + box.w].astype(int)
    field = image[0, 0].astype(int)  # the image's flat field (the mark is in the middle)
    assert np.mean(np.abs(inside - field).sum(axis=2) < 6) >= 0.5  # shrunk to 4x4: half mark


def test_closing_logs_the_visit_in_progress_as_partial(dataset: Path, tmp_path: Path) -> None:
    truth = tmp_path / "truth.jsonl"
    source = SceneSource(options_for(dataset, truth_path=truth))
    first = next(plan_visits(source.options, source.dataset))
    middle = (first.start_ms + first.end_ms) // 2
    times = range(0, middle, FRAME_MS)
    for t_ms in times:
        source.read(T0 + t_ms)
    assert truth.read_text() == ""  # a visit is logged when it ends, or on close
    source.close()
    [line] = truth_lines(truth)
    assert line["partial"] is True and line["image"] == first.image
    assert isinstance(line["boxes"], list) and line["boxes"]
    assert line["leave_ms"] == T0 + times[-1]  # the object is in sight half-way through


def test_truth_lines_are_appended(dataset: Path, tmp_path: Path) -> None:
    truth = tmp_path / "truth.jsonl"
    truth.write_text('{"earlier": "line"}\n')
    source = SceneSource(options_for(dataset, truth_path=truth))
    run(source, 15)
    source.close()
    lines = truth_lines(truth)
    assert lines[0] == {"earlier": "line"} and len(lines) >= 3
    assert all(line["frame"] == [160, 128] for line in lines[1:])


def test_objects_come_closer_and_leave_by_a_side_or_away() -> None:
    across = Visit(
        start_ms=0,
        end_ms=10_000,
        label="coat",
        image="coat/000.png",
        entry="left",
        exit="right",
        entry_along=0.5,
        exit_along=0.5,
        size_from=0.25,
        size_to=0.5,
    )
    boxes = [
        object_box(across, t, aspect=2.0, width=640, height=480) for t in range(0, 10_000, 250)
    ]
    assert boxes[0] is None  # it starts just outside the left edge
    shown = [box for box in boxes if box is not None]
    assert shown[0].x < 0 and shown[-1].x + shown[-1].w > 640  # enters left, leaves right
    assert [box.h for box in shown] == sorted(box.h for box in shown)  # grows: comes closer
    assert all(box.w == 2 * box.h for box in shown)  # keeps its aspect
    assert shown[0].h >= 120 and shown[-1].h <= 240
    away = dataclasses.replace(across, exit="away")
    leaving = [
        object_box(away, t, aspect=2.0, width=640, height=480) for t in range(6000, 10_000, 250)
    ]
    heights = [box.h if box else 0 for box in leaving]
    assert heights[0] == 240 and heights == sorted(heights, reverse=True) and heights[-1] < 24
    assert all(box.x >= 0 and box.x + box.w <= 640 for box in leaving if box)  # stays in view


def test_backgrounds_come_from_options_or_the_dataset(dataset: Path, tmp_path: Path) -> None:
    write_image(dataset / "_background" / "street.png", solid(320, 200, (10, 200, 30)))
    source = SceneSource(options_for(dataset))
    assert np.array_equal(source.background, solid(160, 128, (10, 200, 30)))
    assert "_background" not in source.dataset.classes
    own = write_image(tmp_path / "own.jpg", solid(64, 64, (200, 200, 200)))
    source = SceneSource(options_for(dataset, background=own))
    assert np.abs(source.background.astype(int) - 200).max() <= 2


def test_generated_background_is_textured_not_flat(dataset: Path) -> None:
    background = SceneSource(options_for(dataset, width=640, height=480)).background
    assert background.shape == (480, 640, 3)
    assert background.std() > 10  # gradients and shapes
    fine = background.astype(float) - cv2.GaussianBlur(background, (0, 0), 4)
    assert fine.std() > 1.5  # and a texture over them


def test_bad_datasets_and_options_are_refused(dataset: Path, tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"nowhere does not exist"):
        SceneSource(options_for(tmp_path / "nowhere"))
    (tmp_path / "hollow" / "cats").mkdir(parents=True)
    with pytest.raises(SourceError, match=r"hollow has no class folder with images"):
        SceneSource(options_for(tmp_path / "hollow"))
    with pytest.raises(ValueError, match="visit_s"):
        options_for(dataset, visit_s=(5.0, 2.0))
    with pytest.raises(ValueError, match="size_frac"):
        options_for(dataset, size_frac=(0.5, 1.5))


def test_an_undecodable_dataset_image_is_skipped_with_a_warning(
    dataset: Path, caplog: pytest.LogCaptureFixture
) -> None:
    for png in dataset.glob("*/*.png"):
        png.write_bytes(b"not a png")
    source = SceneSource(options_for(dataset))
    with caplog.at_level(logging.WARNING):
        frames = run(source, 30)
    assert all(np.array_equal(frame, source.background) for frame in frames.values())
    assert any("not an image" in record.getMessage() for record in caplog.records)
