"""A small threaded server: one thread accepts, one thread per connection reads.

Each connection runs TLS, then the handshake, then a loop that checks every message against the
role's permissions and hands it to the application's `SessionHandler`. Whatever a peer sends,
the worst it can do is get its own connection closed, with the reason logged.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from wire import messages as m
from wire.auth import NonceGuard, PeerDirectory
from wire.connection import DEFAULT_TIMING, Connection, Received, Timing
from wire.errors import ConnectionClosed, ErrorCode, RemoteError, TlsFailed, WireError
from wire.frame import DEFAULT_MAX_BODY
from wire.handshake import ServerIdentity, server_handshake
from wire.roles import HUB_PERMISSIONS, Role, may_send
from wire.tls import Identity, server_context
from wire.transport import PlainTransport, TlsTransport, Transport

log = logging.getLogger("vigia.wire")


class SessionHandler(Protocol):
    """What an application (the hub, a trainer worker) plugs into the server."""

    def on_session(self, conn: Connection) -> None:
        """A peer has authenticated and been welcomed; `conn.peer` says who. Runs on the
        connection's thread before its first message is read."""

    def on_message(self, conn: Connection, got: Received) -> None:
        """A permitted message arrived on `conn`. Called on that connection's thread."""

    def on_close(self, conn: Connection, reason: str) -> None:
        """An authenticated session ended, for `reason`."""


@dataclass(frozen=True)
class ServerOptions:
    """How a server listens and what it tolerates."""

    name: str
    host: str = "0.0.0.0"
    port: int = 7700
    identity: Identity | None = None  # None: plain TCP (tests, trusted links)
    permissions: dict[Role, frozenset[str]] = field(default_factory=lambda: HUB_PERMISSIONS)
    timing: Timing = DEFAULT_TIMING
    max_body: int = DEFAULT_MAX_BODY
    max_connections: int = 256
    spool_dir: Path | None = None


class Server:
    """Accepts peers, authenticates them, and feeds their messages to a SessionHandler."""

    def __init__(
        self, options: ServerOptions, directory: PeerDirectory, handler: SessionHandler
    ) -> None:
        self.options = options
        self.handler = handler
        self._identity = ServerIdentity(
            options.name, directory, NonceGuard(), options.timing, options.max_body
        )
        self._tls = server_context(options.identity) if options.identity else None
        self._listener: socket.socket | None = None
        self._sessions: set[Connection] = set()
        self._open: dict[threading.Thread, socket.socket] = {}  # every accepted connection
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    @property
    def address(self) -> tuple[str, int]:
        """The bound host and port (the port is real even when 0 was asked for)."""
        if self._listener is None:
            raise RuntimeError("server not started")
        host, port = self._listener.getsockname()[:2]
        return host, port

    def start(self) -> None:
        """Bind, listen, and accept on a background thread."""
        self._listener = socket.create_server(
            (self.options.host, self.options.port), backlog=128, reuse_port=False
        )
        thread = threading.Thread(target=self._accept_loop, name="wire-accept", daemon=True)
        thread.start()
        log.info(
            "server %s: listening on %s:%d (%s)",
            self.options.name,
            *self.address,
            "TLS" if self._tls else "plain TCP",
        )

    def stop(self) -> None:
        """Stop accepting and reading; let each handler at work finish and answer; then say
        bye to every peer and wait for the connection threads."""
        self._stopping.set()
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
        with self._lock:
            still_open = dict(self._open)
        for sock in still_open.values():  # a reader waiting for input sees its end at once
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RD)
        for thread in still_open:
            thread.join(timeout=5)

    def sessions(self, role: Role | None = None) -> list[Connection]:
        """The live authenticated connections, of one role or all."""
        with self._lock:
            return [
                c
                for c in self._sessions
                if role is None or (c.peer is not None and c.peer.role is role)
            ]

    def disconnect(self, name: str, reason: str, code: ErrorCode = ErrorCode.REVOKED) -> int:
        """Close every live session of peer `name`; returns how many there were."""
        victims = [c for c in self.sessions() if c.peer is not None and c.peer.name == name]
        for conn in victims:
            conn.close(reason, code)
        return len(victims)

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                sock, addr = self._listener.accept()
            except OSError:
                return  # the listener was closed by stop()
            with self._lock:
                busy = len(self._open) >= self.options.max_connections
                if not busy:
                    thread = threading.Thread(
                        target=self._serve,
                        args=(sock, addr),
                        name=f"wire-{addr[0]}:{addr[1]}",
                        daemon=True,
                    )
                    self._open[thread] = sock
            if busy:
                log.warning(
                    "server %s: refused %s:%d: %d connections already open",
                    self.options.name,
                    addr[0],
                    addr[1],
                    self.options.max_connections,
                )
                sock.close()
            else:
                thread.start()

    def _serve(self, sock: socket.socket, addr: tuple[str, int]) -> None:
        conn: Connection | None = None
        label = f"{addr[0]}:{addr[1]}"
        try:
            conn = Connection(
                self._transport(sock),
                label,
                self.options.timing,
                self.options.max_body,
                self.options.spool_dir,
            )
            self._run(conn)
        except ConnectionClosed as exc:  # in the TLS handshake: bad TLS, or a mere port probe
            log.log(
                logging.WARNING if isinstance(exc, TlsFailed) else logging.INFO,
                "%s: closed: %s",
                label,
                exc,
            )
        finally:
            with self._lock:
                self._open.pop(threading.current_thread(), None)
            if conn is None:
                sock.close()

    def _transport(self, sock: socket.socket) -> Transport:
        raw = PlainTransport(sock, self.options.timing.tick_s, self.options.timing.dead_after_s)
        if self._tls is None or self.options.identity is None:
            return raw
        tls = TlsTransport(raw, self._tls, server_side=True)
        tls.handshake(self.options.timing.handshake_timeout_s, self.options.identity.fingerprint)
        return tls

    def _run(self, conn: Connection) -> None:
        """Handshake, then the message loop; every way out closes `conn` with a logged reason."""
        reason, code, level = "session ended", None, logging.INFO
        announced = False
        try:
            server_handshake(conn, self._identity, self._admit)
            announced = True
            self.handler.on_session(conn)  # after the welcome: the peer may be sent to now
            self._loop(conn)
        except RemoteError as exc:
            reason = f"peer reported {exc}"
        except ConnectionClosed as exc:
            reason = str(exc)
        except WireError as exc:  # malformed input, refused handshake: the peer's fault
            reason, code, level = f"{exc.code.value}: {exc}", exc.code, logging.WARNING
        except Exception as exc:  # a bug in a handler must not take the server down
            log.exception("%s: handler failed", conn.label)
            reason, code = f"internal error: {type(exc).__name__}", ErrorCode.INTERNAL
        finally:
            if conn.closed.is_set() and conn.close_reason:  # closed by us: a revocation
                reason = conn.close_reason
            elif self._stopping.is_set():
                reason, code = "server stopping", None
            conn.close(reason, code)
            self._retire(conn, reason, level, announced)

    def _admit(self, conn: Connection) -> None:
        with self._lock:
            self._sessions.add(conn)
        log.info(
            "%s: authenticated (protocol v%d, %s)",
            conn.label,
            conn.version,
            "TLS" if self._tls else "plain TCP",
        )

    def _retire(self, conn: Connection, reason: str, level: int, announced: bool) -> None:
        with self._lock:
            self._sessions.discard(conn)
        log.log(level, "%s: closed: %s", conn.label, reason)
        if announced:
            self.handler.on_close(conn, reason)

    def _loop(self, conn: Connection) -> None:
        assert conn.peer is not None and conn.peer.role is not None
        role = conn.peer.role
        for got in _messages(conn):
            name = got.message.NAME
            if may_send(self.options.permissions, role, name):
                self.handler.on_message(conn, got)
                continue
            if got.body_path is not None:
                got.body_path.unlink(missing_ok=True)
            log.warning("%s: refused '%s': not allowed for role '%s'", conn.label, name, role)
            conn.send(
                m.Error(
                    code=ErrorCode.FORBIDDEN.value,
                    ref=name,
                    fatal=False,
                    message=f"role '{role.value}' may not send '{name}'",
                )
            )


def _messages(conn: Connection) -> Iterator[Received]:
    while True:
        yield conn.receive()
