"""The RTSP server: accepts connections, owns the UDP port pair, expires idle UDP sessions."""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import threading
import time

from video.fanout import Subscriber
from video.rtsp.connection import RtspConnection
from video.rtsp.context import ServerContext, ServerOptions
from video.rtsp.message import Response
from video.rtsp.session import SessionTable
from video.stream import Stream

log = logging.getLogger("vigia.video.rtsp")

_REAP_EVERY_S = 1.0
_PAIR_ATTEMPTS = 64


class RtspServer:
    """Serves every stream at rtsp://HOST:PORT/NAME."""

    def __init__(self, options: ServerOptions, streams: list[Stream]) -> None:
        rtp, rtcp = _udp_pair(options.host, options.rtp_port)
        self.context = ServerContext(
            options, {s.name: s for s in streams}, SessionTable(), rtp, rtcp
        )
        self._listener = socket.create_server((options.host, options.port), backlog=128)
        self._connections: set[RtspConnection] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        # Written to on stop, so the UDP thread's select returns at once rather than at timeout.
        self._wake_reader, self._wake = socket.socketpair()
        self._threads = [
            threading.Thread(target=self._accept, name="rtsp accept", daemon=True),
            threading.Thread(target=self._drain_udp, name="rtsp udp", daemon=True),
            threading.Thread(target=self._reap, name="rtsp reaper", daemon=True),
        ]

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) the server listens on."""
        host, port = self._listener.getsockname()[:2]
        return host, port

    def start(self) -> None:
        """Start the streams and the server's threads."""
        for stream in self.context.streams.values():
            stream.start()
        for thread in self._threads:
            thread.start()
        rtp, rtcp = self.context.server_ports
        log.info("serving %d camera(s) on rtsp port %d (udp %d-%d)",
                 len(self.context.streams), self.address[1], rtp, rtcp)  # fmt: skip

    def stop(self) -> None:
        """Close every connection and stream, then the sockets."""
        self._stop.set()
        with contextlib.suppress(OSError):  # closed: stopped before
            self._wake.send(b"\0")
        with contextlib.suppress(OSError):  # wakes the accept thread; close alone does not
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            conn.shutdown()
        for stream in self.context.streams.values():
            stream.stop()
        for thread in self._threads:
            thread.join(timeout=5)
        for sock in (self.context.rtp_sock, self.context.rtcp_sock, self._wake_reader, self._wake):
            sock.close()

    def connection_count(self) -> int:
        """Open client connections."""
        with self._lock:
            return len(self._connections)

    def subscriber_failed(self, subscriber: Subscriber, exc: OSError) -> None:
        """A client could not take its frames: end its session (and its TCP connection)."""
        for session in self.context.sessions.every():
            if session.subscriber is subscriber:
                log.warning("%s: client %s dropped: %s", session.stream.name,
                            session.peer, exc)  # fmt: skip
                self.context.sessions.remove(session)
                if not session.over_udp and isinstance(session.owner, RtspConnection):
                    session.owner.shutdown()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                full = len(self._connections) >= self.context.options.max_connections
            if full:
                _refuse(sock)
                continue
            try:
                conn = RtspConnection(sock, self)
            except OSError as exc:  # the client reset before we got to it
                log.info("client gone before it was served: %s", exc)
                sock.close()
                continue
            with self._lock:
                self._connections.add(conn)
            threading.Thread(target=self._serve, args=(conn,), name=f"rtsp {conn.peer}",
                             daemon=True).start()  # fmt: skip

    def _serve(self, conn: RtspConnection) -> None:
        try:
            conn.serve()
        finally:
            with self._lock:
                self._connections.discard(conn)

    def _drain_udp(self) -> None:
        """Read what clients send to our UDP ports: RTCP reports keep UDP sessions alive."""
        ctx = self.context
        with selectors.DefaultSelector() as selector:
            selector.register(ctx.rtp_sock, selectors.EVENT_READ)
            selector.register(ctx.rtcp_sock, selectors.EVENT_READ)
            selector.register(self._wake_reader, selectors.EVENT_READ)
            while not self._stop.is_set():
                for key, _ in selector.select(timeout=0.5):
                    sock = key.fileobj
                    assert isinstance(sock, socket.socket)
                    if sock is self._wake_reader:
                        break
                    try:
                        _, (host, port, *_) = sock.recvfrom(2048)
                    except OSError:
                        continue
                    session = ctx.sessions.by_rtcp_source(host, port)
                    if session is not None:
                        session.touch()

    def _reap(self) -> None:
        while not self._stop.wait(_REAP_EVERY_S):
            for session in self.context.sessions.expired(time.monotonic()):
                log.info("%s: session %s of %s timed out", session.stream.name,
                         session.id, session.peer)  # fmt: skip
                self.context.sessions.remove(session)


def _refuse(sock: socket.socket) -> None:
    """Too many connections: say so and hang up."""
    with contextlib.suppress(OSError):
        sock.sendall(Response(503).encode(None))
    sock.close()


def _udp_pair(host: str, first: int) -> tuple[socket.socket, socket.socket]:
    """Bind RTP on an even port and RTCP on the next; `first` 0 finds a free pair."""
    for _ in range(_PAIR_ATTEMPTS if first == 0 else 1):
        rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rtp.bind((host, first))
        port = rtp.getsockname()[1]
        if port % 2 == 0:
            rtcp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                rtcp.bind((host, port + 1))
            except OSError:
                rtcp.close()
            else:
                return rtp, rtcp
        rtp.close()
    raise OSError(f"no free even/odd UDP port pair for RTP from {first or 'any'}")
