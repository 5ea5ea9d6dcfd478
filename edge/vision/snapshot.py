"""A sighting's two pictures: the full frame with the box drawn, and a thumbnail of the object.

Both are JPEGs. The snapshot is the frame at its own size with the box and "label 0.87" drawn
(line and text scaled with the frame); the thumbnail is the box's pixels (a little padding
around, inside the frame) resized so its long side is `thumbnail_side`. The caller's frame is
never drawn on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import cv2

from edge.capture.frame import Pixels
from edge.vision.geometry import Rect


@dataclass(frozen=True, slots=True)
class SnapshotOptions:
    """JPEG qualities (1..100), thumbnail long side and padding, box colour (BGR)."""

    quality: int = 85
    thumbnail_side: int = 160
    thumbnail_quality: int = 80
    thumbnail_pad: float = 0.1
    colour: tuple[int, int, int] = (0, 220, 0)

    def __post_init__(self) -> None:
        if not (1 <= self.quality <= 100 and 1 <= self.thumbnail_quality <= 100):
            raise ValueError("JPEG qualities must be in 1..100")
        if self.thumbnail_side < 8 or self.thumbnail_pad < 0:
            raise ValueError("thumbnail_side must be 8 or more and thumbnail_pad not negative")


def encode_jpeg(pixels: Pixels, quality: int) -> bytes:
    """BGR (or grey) pixels as a baseline JPEG."""
    ok, buffer = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"OpenCV could not encode a picture of shape {pixels.shape} as JPEG")
    return buffer.tobytes()


def draw_box(pixels: Pixels, box: Rect, caption: str, colour: tuple[int, int, int]) -> Pixels:
    """A copy of `pixels` with `box` outlined and `caption` on a filled band at its top
    (above the box when there is room, else inside it)."""
    frame = pixels.copy()
    height = frame.shape[0]
    scale = max(0.4, 0.6 * height / 480)
    thickness = max(1, round(2 * height / 480))
    cv2.rectangle(frame, (box.x, box.y), (box.right - 1, box.bottom - 1), colour, thickness)
    font = cv2.FONT_HERSHEY_SIMPLEX
    (text_w, text_h), baseline = cv2.getTextSize(caption, font, scale, thickness)
    band = text_h + baseline + 4
    top = box.y - band if box.y >= band else box.y
    cv2.rectangle(frame, (box.x, top), (box.x + text_w + 4, top + band), colour, cv2.FILLED)
    origin = (box.x + 2, top + text_h + 2)
    cv2.putText(frame, caption, origin, font, scale, (0, 0, 0), thickness, cv2.LINE_AA)
    return frame


def snapshot_jpeg(
    pixels: Pixels, box: Rect, *, label: str, score: float, options: SnapshotOptions
) -> bytes:
    """The full frame as JPEG with the box and "label score" drawn."""
    drawn = draw_box(pixels, box, f"{label} {score:.2f}", options.colour)
    return encode_jpeg(drawn, options.quality)


def thumbnail_jpeg(pixels: Pixels, box: Rect, options: SnapshotOptions) -> bytes:
    """The object (box plus padding, inside the frame), long side `thumbnail_side`, as JPEG."""
    height, width = pixels.shape[:2]
    pad_x, pad_y = round(box.w * options.thumbnail_pad), round(box.h * options.thumbnail_pad)
    left, top = max(0, box.x - pad_x), max(0, box.y - pad_y)
    right, bottom = min(width, box.right + pad_x), min(height, box.bottom + pad_y)
    crop = pixels[top:bottom, left:right]
    factor = options.thumbnail_side / max(crop.shape[0], crop.shape[1])
    size = (max(1, round(crop.shape[1] * factor)), max(1, round(crop.shape[0] * factor)))
    interpolation = cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR
    small = cast(Pixels, cv2.resize(crop, size, interpolation=interpolation))
    return encode_jpeg(small, options.thumbnail_quality)
