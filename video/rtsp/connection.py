"""One client's RTSP connection: a thread reading requests, one lock for everything written.

Requests keep being read while frames stream over the same socket, so a client can PAUSE,
TEARDOWN or keep its session alive at any time. RTCP reports the client interleaves on the
connection count as keepalives.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from typing import TYPE_CHECKING

from video.rtsp.context import ServerContext
from video.rtsp.message import Interleaved, PeerGone, Request, RequestReader, Response, RtspError
from video.rtsp.methods import HANDLERS, PUBLIC

if TYPE_CHECKING:
    from video.rtsp.server import RtspServer

log = logging.getLogger("vigia.video.rtsp")

# A client that takes longer than this to accept our data is dead; its sends fail.
SEND_STALL_S = 10
# Kernel send buffer per client (Linux doubles it): about ten 640x480 frames. Left to
# autotuning it grows to megabytes, and a slow client would get stale frames late instead of
# losing them from its queue.
SEND_BUFFER = 256 * 1024


class RtspConnection:
    """Serves one TCP connection until the client leaves or the server stops."""

    def __init__(self, sock: socket.socket, server: RtspServer) -> None:
        self.sock = sock
        self.server = server
        self.context: ServerContext = server.context
        self.write_lock = threading.Lock()
        self.described: set[str] = set()
        self.next_channel = 0
        peer_host, peer_port = sock.getpeername()[:2]
        self.peer_host: str = peer_host
        self.peer = f"{peer_host}:{peer_port}"
        self.local_ip: str = sock.getsockname()[0]
        timeout = SEND_STALL_S.to_bytes(8, "little") + (0).to_bytes(8, "little")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
        self._reader = RequestReader(sock, max_header=self.context.options.max_header)

    def serve(self) -> None:
        """Read and answer requests until the peer goes; then end its TCP sessions."""
        log.info("client %s connected", self.peer)
        try:
            while self._serve_one():
                pass
        except PeerGone:
            pass
        finally:
            self._close()

    def _serve_one(self) -> bool:
        """Read and handle one request or packet; False when the connection must close."""
        try:
            item = self._reader.next()
        except RtspError as exc:  # a request we could not read whole, or not RTSP/1.0
            log.warning("client %s: %s", self.peer, exc)
            return self._write(Response(exc.status), exc.cseq) and not exc.close
        if isinstance(item, Interleaved):
            self._touch_tcp_sessions()
            return True
        return self._answer(item)

    def _answer(self, request: Request) -> bool:
        """Handle one request; False when the connection must close."""
        cseq = request.cseq
        try:
            if cseq is None:
                raise RtspError(400, f"{request.method} without CSeq")
            handler = HANDLERS.get(request.method)
            if handler is None:
                raise RtspError(501, f"method {request.method} is not supported")
            reply = handler(self, request)
        except RtspError as exc:
            log.warning("client %s: %s %s: %s", self.peer, request.method, request.url, exc)
            extra = (("Public", PUBLIC),) if exc.status in (405, 501) else ()
            return self._write(Response(exc.status, extra), cseq) and not exc.close
        except Exception:  # a bug of ours: answer it, keep the connection and the server
            log.exception("client %s: %s %s failed", self.peer, request.method, request.url)
            return self._write(Response(500), cseq)
        if not self._write(reply.response, cseq):
            return False
        if reply.then is not None:
            reply.then()
        return True

    def _write(self, response: Response, cseq: str | None) -> bool:
        """Send a response; False when the socket is broken."""
        try:
            with self.write_lock:
                self.sock.sendall(response.encode(cseq))
        except OSError:
            return False
        return True

    def _touch_tcp_sessions(self) -> None:
        for session in self.context.sessions.owned_by(self):
            session.touch()

    def _close(self) -> None:
        for session in self.context.sessions.owned_by(self):
            if not session.over_udp:
                self.context.sessions.remove(session)
        with contextlib.suppress(OSError):
            self.sock.close()
        log.info("client %s disconnected", self.peer)

    def shutdown(self) -> None:
        """Wake the reading thread so it ends (server stopping)."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
