"""A video server in the test process for the RTSP source to read, and small video files."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pytest

from video.rtsp.context import ServerOptions
from video.rtsp.server import RtspServer
from video.sources.testcard import TestCardSource
from video.stream import Stream, StreamOptions

WIDTH, HEIGHT = 320, 240


@dataclass
class CardServer:
    """A test-card server on 127.0.0.1 that can be stopped and started again on its port."""

    fps: float = 10.0
    port: int = 0
    server: RtspServer | None = None
    started: list[RtspServer] = field(default_factory=list)

    def start(self) -> None:
        stream = Stream(
            StreamOptions("card", fps=self.fps, width=WIDTH, height=HEIGHT),
            TestCardSource(WIDTH, HEIGHT),
        )
        options = ServerOptions(host="127.0.0.1", port=self.port, rtp_port=0)
        self.server = RtspServer(options, [stream])
        self.server.start()
        self.started.append(self.server)
        self.port = self.server.address[1]

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def url(self, name: str = "card") -> str:
        return f"rtsp://127.0.0.1:{self.port}/{name}"


@pytest.fixture
def card_server() -> Iterator[CardServer]:
    """A started test-card server (320x240, 10 fps), stopped after the test."""
    server = CardServer()
    server.start()
    yield server
    for running in server.started:
        running.stop()


MakeVideo = Callable[..., Path]


@pytest.fixture
def make_video(tmp_path: Path) -> MakeVideo:
    """Write an MJPEG AVI whose frame k is filled with grey level 10 * (k + 1)."""

    def make(frames: int = 5, fps: float = 20.0, size: tuple[int, int] = (64, 48)) -> Path:
        path = tmp_path / f"video-{frames}-{fps}.avi"
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, size)
        assert writer.isOpened()
        for k in range(frames):
            writer.write(np.full((size[1], size[0], 3), 10 * (k + 1), np.uint8))
        writer.release()
        return path

    return make
