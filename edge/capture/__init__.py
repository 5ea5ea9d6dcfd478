"""Cameras for the edge: RTSP, video files, V4L2 and Pi cameras behind one interface.

Each camera has a capture thread (`Camera`) that keeps only its newest frame in a `LatestFrame`
for the camera's processing thread, reconnects with backoff when the stream is lost, and
reports going online and offline.
"""

from edge.capture.camera import Camera, CameraOptions, CaptureStats, StateCallback
from edge.capture.frame import Frame, Pixels, now_ms
from edge.capture.latest import LatestCounts, LatestFrame
from edge.capture.source import CaptureError, EndOfStream, Picture, Source, SourceOptions
from edge.capture.url import check_url, make_source

__all__ = [
    "Camera",
    "CameraOptions",
    "CaptureError",
    "CaptureStats",
    "EndOfStream",
    "Frame",
    "LatestCounts",
    "LatestFrame",
    "Picture",
    "Pixels",
    "Source",
    "SourceOptions",
    "StateCallback",
    "check_url",
    "make_source",
    "now_ms",
]
