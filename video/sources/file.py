"""A video file played frame after frame, looping by default."""

from __future__ import annotations

import math
from pathlib import Path
from typing import cast

import cv2

from video.sources.base import Picture, Pixels, Source, SourceError


class FileSource(Source):
    """Replays a video file that OpenCV can decode, one frame per read, in order.

    The file's own frame rate becomes `natural_fps` (None when the container has none), so
    the streamer can play it at its speed. At the end it starts again from the first frame
    when `loop`, and raises SourceError otherwise.
    """

    def __init__(self, path: Path, *, loop: bool = True) -> None:
        self.path = path
        self.loop = loop
        if not path.is_file():
            raise SourceError(f"video file {path} does not exist")
        self._capture = self._open()
        fps = float(self._capture.get(cv2.CAP_PROP_FPS))
        self.natural_fps = fps if math.isfinite(fps) and fps > 0 else None
        # Decode one frame now, so an undecodable file fails when opened rather than mid-stream.
        self._pending: Pixels | None = self._next_frame()
        if self._pending is None:
            self._capture.release()
            raise SourceError(f"video file {path} has no frame that OpenCV can decode")

    def _open(self) -> cv2.VideoCapture:
        capture = cv2.VideoCapture(str(self.path))
        if not capture.isOpened():
            raise SourceError(f"cannot open video file {self.path}: not a format OpenCV decodes")
        return capture

    def _next_frame(self) -> Pixels | None:
        ok, frame = self._capture.read()
        # VideoCapture converts every frame to 8-bit BGR (CAP_PROP_CONVERT_RGB is on by default).
        return cast(Pixels, frame) if ok and frame is not None else None

    def _rewind(self) -> Pixels | None:
        """The first frame again: by seeking, or by reopening when the container cannot seek."""
        self._capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
        frame = self._next_frame()
        if frame is None:
            self._capture.release()
            self._capture = self._open()
            frame = self._next_frame()
        return frame

    def read(self, at_ms: int) -> Picture:
        """The next frame of the file (`at_ms` is not used: files play in order)."""
        frame, self._pending = self._pending, None
        if frame is None:
            frame = self._next_frame()
        if frame is None and self.loop:
            frame = self._rewind()
        if frame is None:
            end = "ended" if not self.loop else "could not be played again from its start"
            raise SourceError(f"video file {self.path} {end}")
        return Picture(pixels=frame)

    def close(self) -> None:
        """Release the decoder."""
        self._capture.release()
