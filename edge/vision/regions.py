"""From motion boxes to the square crops the model takes.

Boxes that overlap or lie within `merge_gap` pixels of each other are merged (one object often
moves as several blobs). Each merged box becomes a square around its centre, its side the box's
longer side plus `pad` (15 %) on each side, at least `min_side`, and never larger than the
frame's shorter side; a square that would stick out of the frame is moved inside it rather
than cut, so crops stay square and undistorted. At most `max_regions` (the largest) are kept
per frame, which bounds the model's work on a busy frame.

Crops are resized to the model's input size with bilinear interpolation (OpenCV INTER_LINEAR,
no antialiasing): the trainer prepares its images the same way (trainer/train/images.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import cv2

from edge.capture.frame import Pixels
from edge.vision.geometry import Rect


@dataclass(frozen=True, slots=True)
class RegionOptions:
    """How motion boxes become crops (pixels are full-frame pixels)."""

    merge_gap: int = 16
    pad: float = 0.15
    min_side: int = 32
    max_regions: int = 4

    def __post_init__(self) -> None:
        if self.merge_gap < 0 or self.pad < 0 or self.min_side < 1 or self.max_regions < 1:
            raise ValueError("region options: merge_gap, pad >= 0; min_side, max_regions >= 1")


@dataclass(frozen=True, slots=True)
class Region:
    """A merged motion box (what the tracker follows) and the square crop around it (what the
    model sees)."""

    box: Rect
    crop: Rect


def merge_boxes(boxes: Sequence[Rect], gap: int) -> list[Rect]:
    """Merge boxes closer than or at `gap` pixels, until no two are; largest first."""
    merged = list(boxes)
    changed = True
    while changed:
        changed = False
        for i in range(len(merged)):
            for j in range(i + 1, len(merged)):
                if merged[i].gap(merged[j]) <= gap:
                    merged[i] = merged[i].union(merged.pop(j))
                    changed = True
                    break
            if changed:
                break
    return sorted(merged, key=lambda box: box.area, reverse=True)


def square_around(box: Rect, *, pad: float, min_side: int, width: int, height: int) -> Rect:
    """The padded square crop for `box` in a width x height frame (see the module's docstring)."""
    side = round(max(box.w, box.h) * (1 + 2 * pad))
    side = min(max(side, min_side), width, height)
    cx, cy = box.centre
    x = min(max(round(cx - side / 2), 0), width - side)
    y = min(max(round(cy - side / 2), 0), height - side)
    return Rect(x, y, side, side)


def find_regions(
    boxes: Sequence[Rect], *, width: int, height: int, options: RegionOptions
) -> list[Region]:
    """The regions to classify in a width x height frame, largest first."""
    merged = merge_boxes(boxes, options.merge_gap)[: options.max_regions]
    return [
        Region(
            box,
            square_around(
                box, pad=options.pad, min_side=options.min_side, width=width, height=height
            ),
        )
        for box in merged
    ]


def crop_input(pixels: Pixels, rect: Rect, size: int) -> Pixels:
    """The model's input for `rect` of BGR `pixels`: size x size x 3 RGB uint8."""
    crop = pixels[rect.y : rect.bottom, rect.x : rect.right]
    resized = cv2.resize(crop, (size, size), interpolation=cv2.INTER_LINEAR)
    return cast(Pixels, cv2.cvtColor(resized, cv2.COLOR_BGR2RGB))
