"""Snapshots: the full frame with the box drawn, and a thumbnail of the object."""

from __future__ import annotations

from typing import cast

import cv2
import numpy as np
import pytest

from edge.capture.frame import Pixels
from edge.vision.geometry import Rect
from edge.vision.snapshot import SnapshotOptions, snapshot_jpeg, thumbnail_jpeg


def decode(data: bytes) -> Pixels:
    assert data[:2] == b"\xff\xd8"
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert pixels is not None
    return cast(Pixels, pixels)


def frame() -> Pixels:
    pixels = np.full((480, 640, 3), 90, np.uint8)
    pixels[200:300, 300:360] = (200, 40, 40)  # the object, 60 wide and 100 high
    return pixels


def test_the_snapshot_is_the_whole_frame_with_the_box_and_caption() -> None:
    pixels = frame()
    before = pixels.copy()
    box = Rect(300, 200, 60, 100)
    shot = decode(snapshot_jpeg(pixels, box, label="cat", score=0.87, options=SnapshotOptions()))
    assert np.array_equal(pixels, before)  # the caller's frame is not drawn on
    assert shot.shape == (480, 640, 3)
    green = (0, 220, 0)
    for y, x in ((250, 300), (250, 359), (299, 330)):  # on the left, right and bottom edges
        assert np.abs(shot[y, x].astype(int) - green).max() < 40, (y, x, shot[y, x])
    band = shot[180:198, 302:340]  # the caption's band above the box
    assert np.abs(band.astype(int) - green).max(axis=2).min() < 40  # filled with the colour
    assert (band.max(axis=2) < 60).any()  # with dark text on it
    assert np.abs(shot[100, 100].astype(int) - 90).max() < 8  # elsewhere, the frame


def test_the_thumbnail_is_the_object_with_its_long_side_set() -> None:
    options = SnapshotOptions(thumbnail_side=160, thumbnail_pad=0.1)
    thumb = decode(thumbnail_jpeg(frame(), Rect(300, 200, 60, 100), options))
    assert thumb.shape[0] == 160 and thumb.shape[1] == pytest.approx(160 * 72 / 120, abs=1)
    centre = thumb[80, thumb.shape[1] // 2].astype(int)
    assert np.abs(centre - (200, 40, 40)).max() < 25
    at_edge = decode(thumbnail_jpeg(frame(), Rect(600, 440, 40, 40), options))
    assert at_edge.shape[:2] == (160, 160)  # padding cut at the frame's corner, still whole


def test_quality_changes_the_size() -> None:
    noisy = np.random.default_rng(0).integers(0, 255, (480, 640, 3), dtype=np.uint8)
    box = Rect(10, 10, 100, 100)
    sizes = [
        len(snapshot_jpeg(noisy, box, label="x", score=1, options=SnapshotOptions(quality=q)))
        for q in (30, 90)
    ]
    assert sizes[0] < sizes[1] / 2
    with pytest.raises(ValueError, match="qualities"):
        SnapshotOptions(quality=0)
