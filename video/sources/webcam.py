"""A local webcam (V4L2 on Linux), always showing its newest frame."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import cast

import cv2

from video.sources.base import Picture, Pixels, Source, SourceError

#: How long a read waits for a camera's first frame before calling the camera broken.
FIRST_FRAME_TIMEOUT_S = 5.0


class WebcamSource(Source):
    """A webcam by index ("0") or by device path ("/dev/video0", opened with V4L2).

    A thread reads the camera all the time and keeps only the newest frame, so a stream that
    reads slower than the camera delivers shows the present rather than a backlog of old
    frames, and one that reads faster shows the same frame again. SourceError when the camera
    cannot be opened, gives no first frame within FIRST_FRAME_TIMEOUT_S, or stops delivering.

    Only the error for a missing device is tested: test machines have no camera.
    """

    def __init__(self, device: str) -> None:
        self.device = device
        if device.isdigit():
            self._capture = cv2.VideoCapture(int(device))
        elif Path(device).exists():
            self._capture = cv2.VideoCapture(device, cv2.CAP_V4L2)
        else:
            raise SourceError(f"webcam {device} does not exist")
        if not self._capture.isOpened():
            self._capture.release()
            raise SourceError(f"cannot open webcam {device} (busy, not a camera, or no access)")
        self._newest = threading.Condition()
        self._frame: Pixels | None = None
        self._broken = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._grab, name=f"webcam {device}", daemon=True)
        self._thread.start()

    def _grab(self) -> None:
        """Read frames as fast as the camera gives them, keeping the newest."""
        while not self._stop.is_set():
            ok, frame = self._capture.read()
            with self._newest:
                if not ok or frame is None:
                    self._broken = True
                else:
                    self._frame = cast(Pixels, frame)  # VideoCapture gives 8-bit BGR
                self._newest.notify_all()
            if self._broken:
                return

    def read(self, at_ms: int) -> Picture:
        """The newest frame; waits for the first one (`at_ms` is not used: it is live)."""
        with self._newest:
            self._newest.wait_for(
                lambda: self._frame is not None or self._broken, timeout=FIRST_FRAME_TIMEOUT_S
            )
            if self._broken or self._frame is None:
                raise SourceError(f"webcam {self.device} gives no frames")
            return Picture(pixels=self._frame)

    def close(self) -> None:
        """Stop reading and release the camera."""
        self._stop.set()
        # The reading thread may be inside VideoCapture.read(): let it return (at most one
        # frame interval) before the capture is released under it.
        self._thread.join(timeout=FIRST_FRAME_TIMEOUT_S)
        self._capture.release()
