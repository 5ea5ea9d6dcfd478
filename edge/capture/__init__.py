"""Cameras for the edge: RTSP, video files, V4L2 and Pi cameras behind one interface.

Each camera has a capture thread (`Camera`) that hands every frame to its sink as it is
decoded (the edge's motion gate; or a `LatestFrame`, a mailbox keeping only the newest frame),
reconnects with backoff when the stream is lost, and reports going online and offline.
"""

from edge.capture.camera import Camera, CameraOptions, CaptureStats, FrameSink, StateCallback
from edge.capture.frame import Frame, Pixels, now_ms
from edge.capture.latest import Latest, LatestCounts, LatestFrame
from edge.capture.source import CaptureError, EndOfStream, Picture, Source, SourceOptions
from edge.capture.url import check_url, make_source

__all__ = [
    "Camera",
    "CameraOptions",
    "CaptureError",
    "CaptureStats",
    "EndOfStream",
    "Frame",
    "FrameSink",
    "Latest",
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
