"""What every picture source gives the streamer: a `Picture` when asked for one.

A stream asks its source for a picture once per frame interval, passing the wall-clock time the
frame stands for; sources that generate pictures (scenes, test cards) draw that instant, sources
that replay (files, folders) return their next picture, and live ones (webcams) their newest.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Pixels = npt.NDArray[np.uint8]


class SourceError(RuntimeError):
    """A source cannot be opened or read (missing file, no camera, empty folder...)."""


@dataclass(frozen=True, slots=True)
class Picture:
    """One picture: raw BGR pixels (H x W x 3, uint8), or a JPEG ready to send as it is."""

    pixels: Pixels | None = None
    jpeg: bytes | None = None


class Source(ABC):
    """A camera's picture source."""

    #: The source's own frame rate (a video file's), or None when it has none.
    natural_fps: float | None = None

    @abstractmethod
    def read(self, at_ms: int) -> Picture:
        """The picture to show at `at_ms` (UTC milliseconds); may block for a live camera."""

    def close(self) -> None:  # noqa: B027 - most sources hold nothing to release
        """Release files or devices."""
