"""A video server in the test process, serving the test card, for clients to play."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from video.rtsp.context import ServerOptions
from video.rtsp.server import RtspServer
from video.sources.testcard import TestCardSource
from video.stream import Stream, StreamOptions

WIDTH, HEIGHT = 320, 240


@dataclass
class RunningServer:
    """A started server and how to reach it."""

    server: RtspServer
    host: str
    port: int

    def url(self, name: str = "card") -> str:
        """rtsp://127.0.0.1:PORT/NAME"""
        return f"rtsp://{self.host}:{self.port}/{name}"


StartServer = Callable[..., RunningServer]


@pytest.fixture
def start_server() -> Iterator[StartServer]:
    """Start a server on free ports with test-card cameras; stopped after the test."""
    started: list[RtspServer] = []

    def start(
        *names: str, fps: float = 10.0, session_timeout_s: int = 60, quality: int = 90
    ) -> RunningServer:
        streams = [
            Stream(
                StreamOptions(name, fps=fps, width=WIDTH, height=HEIGHT, quality=quality),
                TestCardSource(WIDTH, HEIGHT),
            )
            for name in names or ("card",)
        ]
        options = ServerOptions(
            host="127.0.0.1", port=0, rtp_port=0, session_timeout_s=session_timeout_s
        )
        server = RtspServer(options, streams)
        server.start()
        started.append(server)
        host, port = server.address
        return RunningServer(server, host, port)

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def card_server(start_server: StartServer) -> RunningServer:
    """One test-card camera at /card, 320x240 at 10 fps."""
    return start_server()
