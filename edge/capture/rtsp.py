"""IP cameras over RTSP, read with OpenCV's FFmpeg back end.

Transport. OpenCV passes FFmpeg options only through one process-wide environment variable,
`OPENCV_FFMPEG_CAPTURE_OPTIONS` ("key;value|key;value"), read while a capture opens. We set
`rtsp_transport;tcp` (or udp) there around the open and put the old value back afterwards.
Because it is process-wide:

- opens that need the same transport may run together, but one that needs another waits
  until they are done (`FfmpegOptions` counts holders; a slow open therefore delays only
  cameras that want the other transport);
- any other code of this process that opens an FFmpeg capture outside this module during an
  open here sees our setting (nothing else in the edge does);
- options the user put in the variable are kept; only `rtsp_transport` is replaced.

Timeouts. CAP_PROP_OPEN_TIMEOUT_MSEC bounds connecting (DESCRIBE, SETUP, PLAY and the first
frame), CAP_PROP_READ_TIMEOUT_MSEC every later read: a camera that stops sending makes `read`
fail after that long instead of hanging, and the camera thread reconnects.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import cast
from urllib.parse import urlsplit, urlunsplit

import cv2

from edge.capture.frame import Pixels
from edge.capture.source import CaptureError, Picture, Source, SourceOptions

log = logging.getLogger("vigia.edge.capture")

OPTIONS_VARIABLE = "OPENCV_FFMPEG_CAPTURE_OPTIONS"


def redact(url: str) -> str:
    """`url` with any password replaced by ***, for logs and errors."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    netloc = f"{parts.username}:***@{host}"
    return urlunsplit(parts._replace(netloc=netloc))


def with_transport(options: str | None, transport: str) -> str:
    """FFmpeg capture options `options` ("k;v|k;v", may be None) with rtsp_transport set."""
    kept = [
        item
        for item in (options or "").split("|")
        if item and item.split(";", 1)[0] != "rtsp_transport"
    ]
    return "|".join([f"rtsp_transport;{transport}", *kept])


class FfmpegOptions:
    """Guards OPENCV_FFMPEG_CAPTURE_OPTIONS: holders of one transport share it, the other waits."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._transport: str | None = None
        self._holders = 0
        self._saved: str | None = None

    @contextmanager
    def holding(self, transport: str) -> Iterator[None]:
        """The variable says `transport` for the duration of the block."""
        with self._cond:
            self._cond.wait_for(lambda: self._holders == 0 or self._transport == transport)
            if self._holders == 0:
                self._saved = os.environ.get(OPTIONS_VARIABLE)
                os.environ[OPTIONS_VARIABLE] = with_transport(self._saved, transport)
                self._transport = transport
            self._holders += 1
        try:
            yield
        finally:
            with self._cond:
                self._holders -= 1
                if self._holders == 0:
                    if self._saved is None:
                        os.environ.pop(OPTIONS_VARIABLE, None)
                    else:
                        os.environ[OPTIONS_VARIABLE] = self._saved
                    self._transport = None
                    self._cond.notify_all()


#: The one guard of this process's variable.
FFMPEG_OPTIONS = FfmpegOptions()


class RtspSource(Source):
    """An rtsp:// (or rtsps://) camera; tries each of `options.transports` in turn."""

    def __init__(self, url: str, options: SourceOptions) -> None:
        self.url = url
        self.options = options
        self.description = redact(url)
        self.transport: str | None = None  # the one that opened
        self._capture: cv2.VideoCapture | None = None

    def open(self) -> None:
        """Connect over the first transport that works; CaptureError when none does."""
        self.close()
        for transport in self.options.transports:
            capture = self._open_over(transport)
            if capture.isOpened():
                self._capture, self.transport = capture, transport
                log.info("%s: opened over %s", self.description, transport)
                return
            capture.release()
        tried = " or ".join(self.options.transports)
        raise CaptureError(f"{self.description}: cannot open the stream over {tried}")

    def _open_over(self, transport: str) -> cv2.VideoCapture:
        params = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
            round(self.options.open_timeout_s * 1000),
            cv2.CAP_PROP_READ_TIMEOUT_MSEC,
            round(self.options.read_timeout_s * 1000),
        ]
        with FFMPEG_OPTIONS.holding(transport):
            try:
                return cv2.VideoCapture(self.url, cv2.CAP_FFMPEG, params)
            except cv2.error as exc:
                raise CaptureError(f"{self.description}: {exc}") from exc

    def read(self) -> Picture:
        """The next decoded frame; CaptureError when the stream failed or timed out."""
        if self._capture is None:
            raise CaptureError(f"{self.description}: not open")
        ok, pixels = self._capture.read()
        if not ok or pixels is None:
            raise CaptureError(f"{self.description}: no frame (stream lost or read timed out)")
        return Picture(cast(Pixels, pixels))

    def close(self) -> None:
        """Release the capture."""
        if self._capture is not None:
            self._capture.release()
            self._capture = None
