"""A captured frame: the pixels, when they were captured, and their place in the camera's order."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Pixels = npt.NDArray[np.uint8]
"""An 8-bit picture: H x W x 3 BGR (OpenCV's order) or H x W greyscale."""


def now_ms() -> int:
    """The wall clock in UTC milliseconds since the epoch."""
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True, eq=False)
class Frame:
    """One picture from one camera.

    `seq` counts the camera's frames from 1 and keeps counting across reconnections, so a gap
    in it is a frame the reader never took. `captured_ms` is when the capture thread got the
    picture (UTC ms), not a time the camera stamped: IP cameras' clocks are not trusted.
    `grey` is a small greyscale copy when the source makes one for free (a Pi camera's low
    resolution stream); motion detection uses it instead of shrinking `pixels` itself.
    """

    camera: str
    seq: int
    captured_ms: int
    pixels: Pixels  # H x W x 3 BGR
    grey: Pixels | None = None

    @property
    def width(self) -> int:
        """Frame width in pixels."""
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        """Frame height in pixels."""
        return int(self.pixels.shape[0])
