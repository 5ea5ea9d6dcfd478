"""Raspberry Pi camera modules (`picamera2:N`) through picamera2 (libcamera).

Two streams are configured from one sensor readout: `main` (BGR, `options.size`, default
1280x720) for snapshots and crops, and a small `lores` YUV420 stream (`options.analysis_size`)
whose Y plane is handed along as the frame's greyscale copy, so motion detection does not shrink
the full frame on the Pi's CPU. (picamera2's "RGB888" is B, G, R bytes in memory: OpenCV's
order.) Each read takes one completed request, copies both arrays out and releases it at once,
so the camera never runs out of buffers.

picamera2 ships with Raspberry Pi OS (python3-picamera2, not on PyPI for every platform): it is
imported only when a Pi camera is opened, so everything else runs where it cannot be installed.
Only the calls made to it are tested, against a fake module; real Pi cameras cannot be tested
on the machines that run the test suite.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from edge.capture.source import CaptureError, Picture, Source, SourceOptions

log = logging.getLogger("vigia.edge.capture")

DEFAULT_SIZE = (1280, 720)
INSTALL_HINT = (
    "picamera2 is not installed: on Raspberry Pi OS, `apt install python3-picamera2` and make "
    "the edge's virtual environment with --system-site-packages"
)


class PicameraSource(Source):
    """Pi camera number `index` (0 for the first, as libcamera lists them)."""

    def __init__(self, index: int, options: SourceOptions) -> None:
        self.index = index
        self.options = options
        self.description = f"picamera2:{index}"
        self._camera: Any = None

    def open(self) -> None:
        """Open, configure (main + lores) and start the camera; CaptureError when it fails."""
        self.close()
        try:
            from picamera2 import (  # type: ignore[import-not-found,import-untyped,unused-ignore]  # noqa: PLC0415
                Picamera2,
            )
        except ImportError as exc:
            raise CaptureError(f"{self.description}: {INSTALL_HINT}") from exc
        options = self.options
        controls = {"FrameRate": options.fps} if options.fps is not None else {}
        try:
            camera = Picamera2(self.index)
            self._camera = camera
            config = camera.create_video_configuration(
                main={"size": options.size or DEFAULT_SIZE, "format": "RGB888"},
                lores={"size": options.analysis_size, "format": "YUV420"},
                controls=controls,
            )
            camera.configure(config)
            camera.start()
        except (RuntimeError, OSError, ValueError, IndexError) as exc:
            self.close()
            raise CaptureError(f"{self.description}: cannot start the camera: {exc}") from exc

    def read(self) -> Picture:
        """The next frame: main as BGR pixels, the lores Y plane as its greyscale copy."""
        camera = self._camera
        if camera is None:
            raise CaptureError(f"{self.description}: not open")
        try:
            job = camera.capture_request(wait=False)
            request = camera.wait(job, timeout=self.options.read_timeout_s)
        except TimeoutError as exc:
            raise CaptureError(f"{self.description}: no frame in time") from exc
        except RuntimeError as exc:
            raise CaptureError(f"{self.description}: {exc}") from exc
        try:
            main = np.asarray(request.make_array("main"), dtype=np.uint8)
            lores = np.asarray(request.make_array("lores"), dtype=np.uint8)
        finally:
            request.release()
        width, height = self.options.analysis_size
        # YUV420 comes as (height * 3/2) rows of `stride` bytes: Y is the first `height` rows.
        grey = np.ascontiguousarray(lores[:height, :width])
        return Picture(main[:, :, :3], grey)

    def close(self) -> None:
        """Stop and close the camera (errors while doing so are only logged)."""
        camera, self._camera = self._camera, None
        if camera is None:
            return
        for step in ("stop", "close"):
            try:
                getattr(camera, step)()
            except (RuntimeError, OSError) as exc:
                log.debug("%s: %s failed: %s", self.description, step, exc)
