"""Scoring the hub's sightings against the scene cameras' ground truth (demo.truth)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from demo.truth import Sighting, Visit, percentile, read_visits, score


def visit(camera: str, enter: int, leave: int, label: str = "Bag") -> Visit:
    return Visit(camera, label, f"{label}/1.png", enter, leave)


def seen(camera: str, start: int, end: int, label: str = "Bag", received: int = 0) -> Sighting:
    return Sighting(camera, label, start, end, received or start + 300)


def test_whole_visits_are_read_and_partial_ones_left_out(tmp_path: Path) -> None:
    lines = [
        {
            "camera": "cam1",
            "label": "Bag",
            "image": "Bag/3.png",
            "enter_ms": 1000,
            "leave_ms": 3000,
            "boxes": [],
            "frame": [640, 480],
            "partial": False,
        },
        {
            "camera": "cam1",
            "label": "Dress",
            "image": "Dress/9.png",
            "enter_ms": 5000,
            "leave_ms": 5500,
            "boxes": [],
            "frame": [640, 480],
            "partial": True,
        },
    ]
    (tmp_path / "cam1.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert read_visits(tmp_path) == [Visit("cam1", "Bag", "Bag/3.png", 1000, 3000)]


def test_a_sighting_matches_a_visit_of_its_camera_whose_time_overlaps() -> None:
    visits = [visit("cam1", 1000, 3000), visit("cam2", 1000, 3000), visit("cam1", 6000, 8000)]
    sightings = [seen("cam1", 1100, 2900), seen("cam2", 3300, 4000)]  # cam2: within the slack
    result = score(visits, sightings, 0, 10_000)
    assert (result.visits, result.found) == (3, 2)
    assert result.recall == pytest.approx(2 / 3)
    assert result.precision == 1.0


def test_a_sighting_of_no_visit_lowers_precision_not_recall() -> None:
    visits = [visit("cam1", 1000, 3000)]
    sightings = [seen("cam1", 1200, 2000), seen("cam1", 5000, 6000), seen("cam2", 1200, 2000)]
    result = score(visits, sightings, 0, 10_000)
    assert result.recall == 1.0
    assert result.precision == pytest.approx(1 / 3)


def test_two_sightings_of_one_visit_count_as_a_split_and_the_first_gives_label_and_latency() -> (
    None
):
    visits = [visit("cam1", 1000, 4000, "Bag")]
    sightings = [
        seen("cam1", 2500, 3900, "Dress", received=2700),
        seen("cam1", 1100, 2000, "Bag", received=1400),
    ]
    result = score(visits, sightings, 0, 10_000)
    assert result.split == 1
    assert result.label_accuracy == 1.0
    assert result.latencies_ms == [400]
    assert result.recognised_ms == [100]


def test_a_wrong_label_is_counted_and_named() -> None:
    result = score([visit("cam1", 1000, 3000, "Sandal")], [seen("cam1", 1100, 2000, "Bag")], 0, 9)
    assert result.visits == 0  # the visit is not inside the judged span
    result = score(
        [visit("cam1", 1000, 3000, "Sandal")], [seen("cam1", 1100, 2000, "Bag")], 0, 9_000
    )
    assert result.label_accuracy == 0.0
    assert result.wrong == [("Sandal/1.png", "Bag")]


def test_only_visits_and_sightings_inside_the_span_are_judged() -> None:
    visits = [visit("cam1", 500, 1500), visit("cam1", 3000, 4000), visit("cam1", 8000, 9500)]
    sightings = [seen("cam1", 600, 1400), seen("cam1", 3100, 3900), seen("cam1", 8100, 9400)]
    result = score(visits, sightings, 1000, 9000)
    assert (result.visits, result.found, result.sightings, result.true_sightings) == (1, 1, 1, 1)


def test_a_sighting_of_a_visit_begun_before_the_span_is_no_false_one() -> None:
    visits = [visit("cam1", 900, 3000)]
    result = score(visits, [seen("cam1", 1200, 2900)], 1000, 9000)
    assert (result.visits, result.sightings, result.true_sightings) == (0, 1, 1)
    assert result.precision == 1.0


def test_percentiles_are_nearest_rank_and_nan_when_empty() -> None:
    values = [float(v) for v in range(1, 21)]
    assert percentile(values, 50) == 10.0
    assert percentile(values, 95) == 19.0
    assert percentile([], 95) != percentile([], 95)  # NaN
