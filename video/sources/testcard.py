"""A test card whose decoded frames can be checked against the original, by PSNR.

Everything on it is soft (blurred a few pixels): colour bars, grey and hue ramps, a mid-size
checkerboard and a ring. JPEG at quality 90 with 4:2:0 chroma then loses little, and what a
decoder's chroma upsampling smears at colour edges stays small, so a frame that made it through
RTP and any decoder is recognisably the card (PSNR well above 35 dB) and a broken one is not.
"""

from __future__ import annotations

import math
from typing import cast

import cv2
import numpy as np

from video.sources.base import Picture, Pixels, Source

#: The 75 % bars of a classic card, in BGR: white, yellow, cyan, green, magenta, red, blue, black.
BARS = (
    (191, 191, 191),
    (0, 191, 191),
    (191, 191, 0),
    (0, 191, 0),
    (191, 0, 191),
    (0, 0, 191),
    (191, 0, 0),
    (16, 16, 16),
)
#: Blur (Gaussian sigma, pixels) that keeps every edge a few pixels wide, so JPEG has little
#: fine detail to lose; colour is blurred more, as 4:2:0 keeps only half of it each way and
#: decoders upsample it back in different ways (ffmpeg's and GStreamer's less gently).
LUMA_SIGMA = 2.0
CHROMA_SIGMA = 6.0


def _bars(width: int, height: int) -> Pixels:
    columns = np.minimum(np.arange(width) * len(BARS) // width, len(BARS) - 1)
    row = np.array(BARS, np.uint8)[columns]
    return np.repeat(row[np.newaxis], height, axis=0)


def _ramps(width: int, height: int) -> Pixels:
    """A grey ramp above a full hue sweep, both left to right."""
    ramp = np.linspace(0, 255, width).astype(np.uint8)
    grey = np.repeat(np.repeat(ramp[np.newaxis, :, np.newaxis], 3, axis=2), height // 2, axis=0)
    hue = np.linspace(0, 179, width).astype(np.uint8)  # OpenCV's 8-bit hue goes to 179
    hsv = np.stack([hue, np.full(width, 160, np.uint8), np.full(width, 200, np.uint8)], axis=1)
    sweep = cv2.cvtColor(hsv[np.newaxis], cv2.COLOR_HSV2BGR)
    sweep = np.repeat(sweep, height - height // 2, axis=0)
    return np.concatenate([grey, sweep], axis=0)


def _checker(width: int, height: int, square: int) -> Pixels:
    ys, xs = np.indices((height, width))
    dark = ((ys // square + xs // square) % 2).astype(bool)
    cells = np.where(dark, 40, 215).astype(np.uint8)
    return np.repeat(cells[:, :, np.newaxis], 3, axis=2)


def test_card(width: int, height: int) -> Pixels:
    """The test card at width x height (BGR): the same pixels every call, on every machine."""
    bars_height = height * 9 // 20
    ramps_height = height * 5 // 20
    card = np.concatenate(
        [
            _bars(width, bars_height),
            _ramps(width, ramps_height),
            _checker(width, height - bars_height - ramps_height, max(8, height // 12)),
        ],
        axis=0,
    )
    centre = (width // 2, height // 2)
    radius = max(4, min(width, height) * 3 // 10)
    cv2.circle(card, centre, radius, (235, 235, 235), max(2, radius // 10), cv2.LINE_AA)
    cv2.circle(card, centre, max(1, radius // 8), (40, 40, 200), cv2.FILLED, cv2.LINE_AA)
    return _soften(card)


def _soften(card: Pixels) -> Pixels:
    ycrcb = cv2.cvtColor(card, cv2.COLOR_BGR2YCrCb)  # the JPEG colour space (BT.601, full range)
    ycrcb[:, :, 0] = cv2.GaussianBlur(ycrcb[:, :, 0], (0, 0), LUMA_SIGMA)
    ycrcb[:, :, 1:] = cv2.GaussianBlur(ycrcb[:, :, 1:], (0, 0), CHROMA_SIGMA)
    return cast(Pixels, cv2.cvtColor(ycrcb, cv2.COLOR_YCrCb2BGR))


def psnr(a: Pixels, b: Pixels) -> float:
    """Peak signal-to-noise ratio of two same-shape 8-bit pictures in dB (inf when equal)."""
    if a.shape != b.shape:
        raise ValueError(f"cannot compare pictures of shapes {a.shape} and {b.shape}")
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)


class TestCardSource(Source):
    """The test card, the same pixels at every read."""

    __test__ = False  # a source, not a pytest test class, despite its name

    def __init__(self, width: int, height: int) -> None:
        pixels = test_card(width, height)
        pixels.flags.writeable = False  # handed out at every read: nobody may draw on it
        self._picture = Picture(pixels=pixels)

    def read(self, at_ms: int) -> Picture:
        """The card."""
        return self._picture


test_card.__test__ = False  # type: ignore[attr-defined]  # not a pytest test, when imported
