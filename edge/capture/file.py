"""A video file as a camera: played at its frame rate, looped, for tests and demonstrations."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import cast

import cv2

from edge.capture.frame import Pixels
from edge.capture.source import CaptureError, EndOfStream, Picture, Source, SourceOptions

#: The pace of a file whose container states no frame rate.
DEFAULT_FPS = 10.0


class FileSource(Source):
    """`file:PATH`: any file OpenCV decodes, one frame per read, paced like a live camera.

    Reads return frames 1/fps apart on the monotonic clock (fps: `options.fps`, else the
    file's own, else DEFAULT_FPS). A reader that falls behind is not sent a burst to catch up:
    the pace starts again from now. At the end the file starts over when `options.loop`;
    otherwise `read` raises EndOfStream.
    """

    def __init__(self, path: Path, options: SourceOptions) -> None:
        self.path = path
        self.options = options
        self.description = f"file:{path}"
        self.fps = options.fps or DEFAULT_FPS
        self._capture: cv2.VideoCapture | None = None
        self._due = 0.0

    def open(self) -> None:
        """Open the file; CaptureError when it is missing or not a video OpenCV decodes."""
        self.close()
        if not self.path.is_file():
            raise CaptureError(f"{self.description}: no such file")
        capture = cv2.VideoCapture(str(self.path))
        if not capture.isOpened():
            capture.release()
            raise CaptureError(f"{self.description}: not a video OpenCV can decode")
        self._capture = capture
        if self.options.fps is None:
            fps = float(capture.get(cv2.CAP_PROP_FPS))
            self.fps = fps if math.isfinite(fps) and 0 < fps <= 1000 else DEFAULT_FPS
        self._due = time.monotonic()

    def read(self) -> Picture:
        """The next frame, at its time."""
        capture = self._capture
        if capture is None:
            raise CaptureError(f"{self.description}: not open")
        ok, pixels = capture.read()
        if (not ok or pixels is None) and self.options.loop:
            capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, pixels = capture.read()
        if not ok or pixels is None:
            if self.options.loop:
                raise CaptureError(f"{self.description}: cannot play it again from its start")
            raise EndOfStream(f"{self.description}: ended")
        self._pace()
        return Picture(cast(Pixels, pixels))

    def _pace(self) -> None:
        """Sleep until this frame is due; the next one is due 1/fps later."""
        now = time.monotonic()
        period = 1.0 / self.fps
        if now - self._due > period:  # far behind: no burst, start the pace again from now
            self._due = now
        elif self._due > now:
            time.sleep(self._due - now)
        self._due += period

    def close(self) -> None:
        """Release the decoder."""
        if self._capture is not None:
            self._capture.release()
            self._capture = None
