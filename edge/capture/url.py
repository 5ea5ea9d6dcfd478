"""Camera URLs: which kind of source each one names.

- `rtsp://[user:password@]host[:port]/path` (or rtsps://): an IP camera or our video server;
- `file:PATH`: a video file, paced and looped;
- `v4l2:/dev/videoN`: a USB or other V4L2 camera;
- `picamera2:N`: Pi camera number N (`picamera2:` alone is camera 0).
"""

from __future__ import annotations

from pathlib import Path

from edge.capture.file import FileSource
from edge.capture.picamera import PicameraSource
from edge.capture.rtsp import RtspSource
from edge.capture.source import Source, SourceOptions
from edge.capture.v4l2 import V4l2Source

SCHEMES = ("rtsp://", "rtsps://", "file:", "v4l2:", "picamera2:")


def check_url(url: str) -> None:
    """ValueError unless `url` names a source this edge can read (nothing is opened)."""
    if not url.startswith(SCHEMES):
        raise ValueError(f"camera URL {url!r} must start with one of {', '.join(SCHEMES)}")
    kind, _, rest = url.partition(":")
    if kind in ("file", "v4l2") and not rest:
        raise ValueError(f"camera URL {url!r} names no {'file' if kind == 'file' else 'device'}")
    if kind == "picamera2" and rest and not rest.isdigit():
        raise ValueError(f"camera URL {url!r}: a Pi camera is a number, as in picamera2:0")


def make_source(url: str, options: SourceOptions) -> Source:
    """The (unopened) source for `url`; ValueError for a URL of no known kind."""
    check_url(url)
    kind, _, rest = url.partition(":")
    if kind == "file":
        return FileSource(Path(rest), options)
    if kind == "v4l2":
        return V4l2Source(rest, options)
    if kind == "picamera2":
        return PicameraSource(int(rest or 0), options)
    return RtspSource(url, options)
