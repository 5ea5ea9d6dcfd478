"""Pictures to JPEGs that RTP/JPEG (RFC 2435) can carry as they are.

RFC 2435 sends no JPEG headers: the receiver rebuilds them assuming baseline coding, the
standard (Annex K) Huffman tables, and a size in 8-pixel units that fits one byte. So every
frame is baseline, 4:2:0, unoptimised (optimised Huffman tables would be lost on the way),
without restart markers, and sized in whole 16x16 macroblocks up to 2040 pixels a side.
"""

from __future__ import annotations

import datetime
from typing import cast

import cv2
import numpy as np

from video.rtp.jpeg import MAX_SIDE
from video.sources.base import Pixels, SourceError

#: Smallest side we serve; the largest, MAX_SIDE, is what RFC 2435 can describe.
MIN_SIDE = 16
#: Sides are whole 4:2:0 macroblocks, so no receiver has to crop a partial one.
BLOCK = 16


def fit_size(width: int, height: int) -> tuple[int, int]:
    """Round a frame size down to whole 16-pixel macroblocks (2040 becomes 2032).

    Raises ValueError for a side under 16 or over 2040, which RTP/JPEG cannot carry.
    """
    for name, side in (("width", width), ("height", height)):
        if not MIN_SIDE <= side <= MAX_SIDE:
            raise ValueError(
                f"frame {name} {side} is out of range: RTP/JPEG needs {MIN_SIDE}..{MAX_SIDE} pixels"
            )
    return width - width % BLOCK, height - height % BLOCK


def resize(pixels: Pixels, width: int, height: int) -> Pixels:
    """`pixels` at exactly width x height: area-averaged when shrinking (no aliasing), else
    bilinear; the same array when it already has that size."""
    old_height, old_width = pixels.shape[:2]
    if (old_width, old_height) == (width, height):
        return pixels
    shrinking = width <= old_width and height <= old_height
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cast(Pixels, cv2.resize(pixels, (width, height), interpolation=interpolation))


def decode_jpeg(data: bytes) -> Pixels:
    """BGR pixels of a JPEG; SourceError when OpenCV cannot decode it."""
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if pixels is None:
        raise SourceError("a JPEG from the source does not decode")
    return cast(Pixels, pixels)


def overlay_text(camera: str, at_ms: int) -> str:
    """A frame's caption: camera name and UTC time to the second, `cam1 2026-11-30 06:12:03`."""
    when = datetime.datetime.fromtimestamp(at_ms // 1000, datetime.UTC)
    return f"{camera} {when:%Y-%m-%d %H:%M:%S}"


def draw_overlay(pixels: Pixels, text: str) -> None:
    """Write `text` top-left in white on a dark box, scaled with the frame height, in place."""
    height = pixels.shape[0]
    scale = max(0.4, 0.6 * height / 480)
    thickness = max(1, round(scale * 1.5))
    font = cv2.FONT_HERSHEY_SIMPLEX
    (text_width, text_height), baseline = cv2.getTextSize(text, font, scale, thickness)
    pad = max(3, round(6 * scale))
    box_bottom = text_height + baseline + 2 * pad
    cv2.rectangle(pixels, (0, 0), (text_width + 2 * pad, box_bottom), (16, 16, 16), cv2.FILLED)
    origin = (pad, pad + text_height)
    cv2.putText(pixels, text, origin, font, scale, (255, 255, 255), thickness, cv2.LINE_AA)


def encode_jpeg(
    pixels: Pixels, *, width: int, height: int, quality: int, overlay: str | None = None
) -> bytes:
    """Encode BGR `pixels` as an RTP-ready JPEG of exactly width x height (multiples of 16).

    The picture is resized first when needed, then `overlay` (if any) is written top-left;
    the caller's array is never changed. Raises ValueError for a size RTP/JPEG cannot carry,
    a quality outside 1..100, or pixels that are not H x W x 3.
    """
    if fit_size(width, height) != (width, height):
        raise ValueError(f"frame size {width}x{height} is not in whole 16-pixel macroblocks")
    if not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality {quality} is out of range 1..100")
    if pixels.ndim != 3 or pixels.shape[2] != 3:
        raise ValueError(f"expected H x W x 3 BGR pixels, got shape {pixels.shape}")
    frame = resize(pixels, width, height)
    if overlay:
        if frame is pixels:
            frame = pixels.copy()  # sources may hand out the same array every frame
        draw_overlay(frame, overlay)
    params = [
        cv2.IMWRITE_JPEG_QUALITY,
        quality,
        cv2.IMWRITE_JPEG_SAMPLING_FACTOR,
        cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420,
        cv2.IMWRITE_JPEG_OPTIMIZE,
        0,
        cv2.IMWRITE_JPEG_PROGRESSIVE,
        0,
    ]
    ok, buffer = cv2.imencode(".jpg", frame, params)
    if not ok:
        raise ValueError(f"OpenCV could not encode a {width}x{height} JPEG")
    return buffer.tobytes()
