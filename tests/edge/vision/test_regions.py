"""Regions: nearby boxes merge, crops are padded squares inside the frame, resized to RGB."""

from __future__ import annotations

import numpy as np
import pytest

from edge.vision.geometry import Rect
from edge.vision.regions import (
    RegionOptions,
    crop_input,
    find_regions,
    merge_boxes,
    square_around,
)


def test_overlapping_and_nearby_boxes_merge_far_ones_do_not() -> None:
    boxes = [Rect(100, 100, 50, 50), Rect(160, 110, 40, 40), Rect(400, 300, 30, 30)]
    assert merge_boxes(boxes, gap=16) == [Rect(100, 100, 100, 50), Rect(400, 300, 30, 30)]
    assert merge_boxes(boxes, gap=5) == sorted(boxes, key=lambda b: b.area, reverse=True)
    chain = [Rect(0, 0, 10, 10), Rect(30, 0, 10, 10), Rect(15, 0, 10, 10)]  # joined by the middle
    assert merge_boxes(chain, gap=5) == [Rect(0, 0, 40, 10)]


def test_a_crop_is_the_padded_square_around_the_box() -> None:
    crop = square_around(Rect(200, 150, 100, 60), pad=0.15, min_side=32, width=640, height=480)
    assert crop == Rect(185, 115, 130, 130)  # 100 * 1.3 a side, same centre (250, 180)
    tiny = square_around(Rect(300, 300, 4, 4), pad=0.15, min_side=32, width=640, height=480)
    assert (tiny.w, tiny.h) == (32, 32)


def test_a_crop_at_the_border_moves_inside_and_never_outgrows_the_frame() -> None:
    corner = square_around(Rect(0, 0, 80, 80), pad=0.15, min_side=32, width=640, height=480)
    assert corner == Rect(0, 0, 104, 104)
    right = square_around(Rect(600, 400, 40, 80), pad=0.15, min_side=32, width=640, height=480)
    assert right == Rect(536, 376, 104, 104)
    huge = square_around(Rect(0, 0, 640, 300), pad=0.15, min_side=32, width=640, height=480)
    assert (huge.w, huge.h) == (480, 480) and huge.y == 0 and 0 <= huge.x <= 160


def test_regions_keep_the_largest_few() -> None:
    boxes = [Rect(50 * k, 0, 10 + k, 10 + k) for k in range(8)]
    regions = find_regions(
        boxes, width=640, height=480, options=RegionOptions(max_regions=3, merge_gap=0)
    )
    assert [r.box for r in regions] == [boxes[7], boxes[6], boxes[5]]
    assert all(r.crop.w == r.crop.h and r.crop.w >= 32 for r in regions)


def test_crop_input_is_rgb_at_the_models_size() -> None:
    frame = np.zeros((480, 640, 3), np.uint8)
    frame[100:200, 100:200] = (255, 0, 0)  # BGR blue
    out = crop_input(frame, Rect(100, 100, 100, 100), 96)
    assert out.shape == (96, 96, 3) and out.dtype == np.uint8
    assert tuple(out[48, 48]) == (0, 0, 255)  # RGB blue


def test_region_options_are_checked() -> None:
    with pytest.raises(ValueError, match="max_regions"):
        RegionOptions(max_regions=0)
