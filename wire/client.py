"""Dialling the hub: one connection, or a supervised one that reconnects with backoff.

Edges, watchers and the trainer all use `ReconnectingClient`: it connects, runs the part's
session function until the connection fails, waits an exponentially growing, jittered delay,
and tries again, for as long as the part runs.
"""

from __future__ import annotations

import logging
import random
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from wire.connection import DEFAULT_TIMING, Connection, Timing
from wire.errors import CertificateMismatch, ConnectionClosed, WireError
from wire.frame import DEFAULT_MAX_BODY
from wire.handshake import ClientIdentity, client_handshake
from wire.tls import check_pin, client_context
from wire.transport import PlainTransport, TlsTransport, Transport

log = logging.getLogger("vigia.wire")


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where the server is, and the fingerprint its certificate must have (None: plain TCP)."""

    host: str
    port: int
    fingerprint: str | None

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def connect(
    endpoint: Endpoint,
    me: ClientIdentity,
    *,
    timing: Timing = DEFAULT_TIMING,
    max_body: int = DEFAULT_MAX_BODY,
    spool_dir: Path | None = None,
    connect_timeout_s: float = 5.0,
) -> Connection:
    """Open a connection, check the pinned certificate, and run the handshake."""
    try:
        sock = socket.create_connection((endpoint.host, endpoint.port), connect_timeout_s)
    except OSError as exc:
        raise ConnectionClosed(f"cannot reach {endpoint}: {exc.strerror or exc}") from None
    raw = PlainTransport(sock, timing.tick_s, timing.dead_after_s)
    try:
        transport: Transport = raw
        if endpoint.fingerprint is not None:
            transport = TlsTransport(raw, client_context(), server_side=False)
            transport.handshake(timing.handshake_timeout_s)
        conn = Connection(transport, str(endpoint), timing, max_body, spool_dir)
        if endpoint.fingerprint is not None:
            _check_certificate(conn, endpoint.fingerprint)
        client_handshake(conn, me)
    except BaseException:
        raw.close()
        raise
    return conn


def _check_certificate(conn: Connection, pinned: str) -> None:
    """Refuse a hub whose certificate is not the pinned one, and tell it why: the message holds
    only public fingerprints, and a re-initialised hub's operator learns what to re-issue."""
    try:
        check_pin(conn.transport.channel, pinned)
    except CertificateMismatch as exc:
        conn.close(str(exc), exc.code)
        raise


@dataclass
class Backoff:
    """Exponential backoff with jitter: each delay is random in [d/2, d], d doubling to `cap_s`.

    The jitter keeps a fleet of edges from reconnecting in lockstep after a hub restart.
    """

    base_s: float = 0.5
    cap_s: float = 30.0
    rng: random.Random = field(default_factory=random.Random)
    attempt: int = 0

    def next_delay(self) -> float:
        """The delay before the next attempt; each call counts one more failure."""
        ceiling = min(self.cap_s, self.base_s * 2 ** min(self.attempt, 32))
        self.attempt += 1
        return self.rng.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        """Back to the shortest delay, after a connection that lasted."""
        self.attempt = 0


Session = Callable[[Connection], None]


class ReconnectingClient:
    """Keeps one session to the server alive: connect, run `session`, back off, repeat."""

    def __init__(
        self,
        endpoint: Endpoint,
        me: ClientIdentity,
        session: Session,
        *,
        timing: Timing = DEFAULT_TIMING,
        backoff: Backoff | None = None,
        stable_after_s: float = 10.0,
        spool_dir: Path | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.me = me
        self.session = session
        self.timing = timing
        self.backoff = backoff or Backoff()
        self.stable_after_s = stable_after_s
        self.spool_dir = spool_dir
        self.connection: Connection | None = None
        self.connected = threading.Event()
        self.last_error = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Run on a background thread."""
        self._thread = threading.Thread(target=self.run, name=f"client-{self.me.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop reconnecting and close the current connection."""
        self._stop.set()
        conn = self.connection
        if conn is not None:
            conn.close("client stopping")
        if self._thread is not None:
            self._thread.join(timeout=10)

    def run(self) -> None:
        """Connect and run sessions until stop() is called."""
        while not self._stop.is_set():
            started = time.monotonic()
            self._one_session()
            if time.monotonic() - started >= self.stable_after_s:
                self.backoff.reset()
            delay = self.backoff.next_delay()
            if not self._stop.is_set():
                log.info(
                    "client %s: reconnecting to %s in %.1f s", self.me.name, self.endpoint, delay
                )
            self._stop.wait(delay)

    def _one_session(self) -> None:
        try:
            conn = connect(self.endpoint, self.me, timing=self.timing, spool_dir=self.spool_dir)
        except WireError as exc:
            self.last_error = str(exc)
            log.warning("client %s: cannot connect to %s: %s", self.me.name, self.endpoint, exc)
            return
        self.connection = conn
        self.connected.set()
        log.info("client %s: connected to %s", self.me.name, self.endpoint)
        try:
            self.session(conn)
            reason = "session finished"
        except WireError as exc:
            reason = str(exc)
        except Exception as exc:  # a bug in the part's session: log it, keep the node alive
            log.exception("client %s: session failed", self.me.name)
            reason = f"session failed: {type(exc).__name__}: {exc}"
        finally:
            self.connected.clear()
            self.connection = None
        conn.close(reason)
        self.last_error = reason
        log.info("client %s: disconnected from %s: %s", self.me.name, self.endpoint, reason)
