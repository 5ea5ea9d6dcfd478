"""RTSP sessions: what a client set up (stream, transport) and whether it is playing.

A session over TCP lives as long as its connection. A session over UDP outlives its connection
(RFC 2326 allows controlling it from a new one) and expires when no request or RTCP report has
refreshed it within its timeout.
"""

from __future__ import annotations

import secrets
import socket
import threading
import time
from dataclasses import dataclass, field

from video.fanout import RtpFrame, Subscriber
from video.rtsp.message import RtspError
from video.rtsp.transport import Lower, Transport
from video.stream import Stream


class TcpDelivery:
    """Packets interleaved on the RTSP connection, written under its one write lock."""

    def __init__(
        self, sock: socket.socket, lock: threading.Lock, channels: tuple[int, int]
    ) -> None:
        self._sock = sock
        self._lock = lock
        self._rtp, self._rtcp = channels

    def send_frame(self, frame: RtpFrame) -> None:
        """Write the whole frame in one call."""
        data = frame.over_tcp(self._rtp)
        with self._lock:
            self._sock.sendall(data)

    def send_control(self, packet: bytes) -> None:
        """Write one RTCP packet on the control channel."""
        data = b"$" + bytes([self._rtcp]) + len(packet).to_bytes(2, "big") + packet
        with self._lock:
            self._sock.sendall(data)


class UdpDelivery:
    """Packets sent from the server's RTP/RTCP sockets to the client's port pair."""

    def __init__(
        self, rtp: socket.socket, rtcp: socket.socket, host: str, ports: tuple[int, int]
    ) -> None:
        self._rtp_sock, self._rtcp_sock = rtp, rtcp
        self._rtp_to, self._rtcp_to = (host, ports[0]), (host, ports[1])

    def send_frame(self, frame: RtpFrame) -> None:
        """One datagram per packet."""
        for packet in frame.packets:
            self._rtp_sock.sendto(packet, self._rtp_to)

    def send_control(self, packet: bytes) -> None:
        """One RTCP datagram."""
        self._rtcp_sock.sendto(packet, self._rtcp_to)


@dataclass(eq=False)
class Session:
    """One client's set-up stream."""

    id: str
    stream: Stream
    transport: Transport
    delivery: TcpDelivery | UdpDelivery
    peer: str  # "host:port" of the connection that made it, for logs
    peer_host: str
    timeout_s: float
    owner: object  # the connection that made it; a TCP session dies with it
    last_seen: float = field(default_factory=time.monotonic)
    subscriber: Subscriber | None = None

    @property
    def over_udp(self) -> bool:
        """True when RTP goes over UDP (and the session can expire)."""
        return self.transport.lower is Lower.UDP

    def touch(self) -> None:
        """The client showed it is alive."""
        self.last_seen = time.monotonic()

    def pause(self) -> None:
        """Stop sending frames; the session stays."""
        subscriber, self.subscriber = self.subscriber, None
        if subscriber is not None:
            self.stream.unsubscribe(subscriber)
            subscriber.stop()


class SessionTable:
    """Every live session, by id."""

    def __init__(self) -> None:
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def add(self, session: Session) -> None:
        """Register a new session."""
        with self._lock:
            self._sessions[session.id] = session

    def get(self, header: str | None) -> Session:
        """The session named by a Session header; RtspError 454 when unknown."""
        session_id = (header or "").split(";")[0].strip()
        with self._lock:
            session = self._sessions.get(session_id)
        if session is None:
            raise RtspError(454, f"no session {session_id!r}")
        return session

    def remove(self, session: Session) -> bool:
        """Forget a session and stop its frames; False when it was already gone."""
        with self._lock:
            gone = self._sessions.pop(session.id, None) is not None
        session.pause()
        return gone

    def owned_by(self, owner: object) -> list[Session]:
        """Sessions made by one connection."""
        with self._lock:
            return [s for s in self._sessions.values() if s.owner is owner]

    def every(self) -> list[Session]:
        """Every session."""
        with self._lock:
            return list(self._sessions.values())

    def expired(self, now: float) -> list[Session]:
        """UDP sessions not refreshed within their timeout."""
        with self._lock:
            return [
                s for s in self._sessions.values() if s.over_udp and now - s.last_seen > s.timeout_s
            ]

    def by_rtcp_source(self, host: str, port: int) -> Session | None:
        """The UDP session whose client sends RTCP from (host, port)."""
        with self._lock:
            for session in self._sessions.values():
                ports = session.transport.client_ports
                if session.over_udp and ports and ports[1] == port and session.peer_host == host:
                    return session
        return None

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)


def new_session_id() -> str:
    """An unguessable session id."""
    return secrets.token_hex(8)
