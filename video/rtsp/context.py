"""What every connection of one server shares: options, streams, sessions, UDP sockets."""

from __future__ import annotations

import socket
from dataclasses import dataclass

from video.rtsp.message import MAX_HEADER
from video.rtsp.session import SessionTable
from video.stream import Stream
from wire.config import Settings


class ServerOptions(Settings):
    """The RTSP server's settings (the `[server]` table of video.toml)."""

    host: str = "0.0.0.0"
    port: int = 8554
    #: First of the server's RTP/RTCP UDP port pair (even); 0 picks a free pair.
    rtp_port: int = 8000
    session_timeout_s: int = 60
    max_connections: int = 256
    max_header: int = MAX_HEADER


@dataclass
class ServerContext:
    """Shared state handed to each connection."""

    options: ServerOptions
    streams: dict[str, Stream]
    sessions: SessionTable
    rtp_sock: socket.socket
    rtcp_sock: socket.socket

    @property
    def server_ports(self) -> tuple[int, int]:
        """Our RTP and RTCP UDP ports, for SETUP answers."""
        return self.rtp_sock.getsockname()[1], self.rtcp_sock.getsockname()[1]
