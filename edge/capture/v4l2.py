"""USB and other V4L2 cameras (`v4l2:/dev/videoN`), read with OpenCV's V4L2 back end.

Size and frame rate are asked for when given; the driver may pick the nearest it supports.
Only the failure paths can be tested here (no camera device on CI machines).
"""

from __future__ import annotations

import logging
from typing import cast

import cv2

from edge.capture.frame import Pixels
from edge.capture.source import CaptureError, Picture, Source, SourceOptions

log = logging.getLogger("vigia.edge.capture")


class V4l2Source(Source):
    """A V4L2 device such as /dev/video0."""

    def __init__(self, device: str, options: SourceOptions) -> None:
        self.device = device
        self.options = options
        self.description = f"v4l2:{device}"
        self._capture: cv2.VideoCapture | None = None

    def open(self) -> None:
        """Open the device and ask for the size and rate; CaptureError when it cannot open."""
        self.close()
        try:
            capture = cv2.VideoCapture(self.device, cv2.CAP_V4L2)
        except cv2.error as exc:
            raise CaptureError(f"{self.description}: {exc}") from exc
        if not capture.isOpened():
            capture.release()
            raise CaptureError(f"{self.description}: cannot open the device")
        options = self.options
        wanted: list[tuple[int, float]] = []
        if options.size is not None:
            wanted += [(cv2.CAP_PROP_FRAME_WIDTH, options.size[0])]
            wanted += [(cv2.CAP_PROP_FRAME_HEIGHT, options.size[1])]
        if options.fps is not None:
            wanted.append((cv2.CAP_PROP_FPS, options.fps))
        # Not every OpenCV build's V4L2 back end has a read timeout; its own select() then
        # gives up after 10 s.
        wanted.append((cv2.CAP_PROP_READ_TIMEOUT_MSEC, options.read_timeout_s * 1000))
        for prop, value in wanted:
            if not capture.set(prop, value):
                log.debug("%s: property %d=%s not taken", self.description, prop, value)
        self._capture = capture

    def read(self) -> Picture:
        """The next frame; CaptureError when the device stops giving frames."""
        if self._capture is None:
            raise CaptureError(f"{self.description}: not open")
        ok, pixels = self._capture.read()
        if not ok or pixels is None:
            raise CaptureError(f"{self.description}: no frame (device gone or timed out)")
        return Picture(cast(Pixels, pixels))

    def close(self) -> None:
        """Release the device."""
        if self._capture is not None:
            self._capture.release()
            self._capture = None
