"""Shared fixtures: a real server on loopback with a handful of peers, and clients for it."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from wire import messages as m
from wire.auth import PeerRecord, StaticDirectory, new_secret
from wire.client import Endpoint, connect
from wire.connection import DEFAULT_TIMING, Connection, PeerInfo, Received, Timing
from wire.errors import ConnectionClosed
from wire.frame import DEFAULT_MAX_BODY, pack_header
from wire.handshake import ClientIdentity
from wire.roles import Role
from wire.server import Server, ServerOptions
from wire.tls import Identity, client_context, create_identity, server_context
from wire.transport import PlainTransport, TlsTransport, Transport

EVENT_ID = "0b7e4c1e-7f43-4c1a-9a53-3f1f8f0c2a11"


@dataclass
class EchoHandler:
    """A tiny application: answers subscribe with caught_up, event with event_ack."""

    messages: list[Received] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)
    sessions: list[str] = field(default_factory=list)

    def on_session(self, conn: Connection) -> None:
        assert conn.peer is not None
        self.sessions.append(conn.peer.name)

    def on_message(self, conn: Connection, got: Received) -> None:
        self.messages.append(got)
        msg = got.message
        if isinstance(msg, m.Subscribe):
            conn.send(m.CaughtUp(seq=msg.after_seq))
        elif isinstance(msg, m.Event):
            conn.send(m.EventAck(event_id=msg.event_id, seq=len(self.messages), duplicate=False))
        elif isinstance(msg, m.SnapshotRequest):
            conn.send(
                m.Snapshot(event_id=msg.event_id, thumbnail=False), b"\xff\xd8" + bytes(70_000)
            )

    def on_close(self, conn: Connection, reason: str) -> None:
        self.closed.append(reason)


@dataclass
class RunningHub:
    """A started server, its peers' secrets, and a way to dial it as any of them."""

    server: Server
    handler: EchoHandler
    identity: Identity | None
    peers: dict[str, PeerRecord]

    @property
    def endpoint(self) -> Endpoint:
        host, port = self.server.address
        return Endpoint(host, port, self.identity.fingerprint if self.identity else None)

    def dial(
        self,
        name: str,
        *,
        secret: str | None = None,
        role: Role | None = None,
        timing: Timing = DEFAULT_TIMING,
        endpoint: Endpoint | None = None,
    ) -> Connection:
        record = self.peers[name]
        me = ClientIdentity(name, role or record.role, secret or record.secret)
        return connect(endpoint or self.endpoint, me, timing=timing)


def make_peers() -> dict[str, PeerRecord]:
    """One peer of every role, and a revoked one."""
    peers = [
        PeerRecord("edge-1", Role.EDGE, new_secret()),
        PeerRecord("watcher-1", Role.WATCHER, new_secret()),
        PeerRecord("trainer-1", Role.TRAINER, new_secret()),
        PeerRecord("admin-1", Role.ADMIN, new_secret()),
        PeerRecord("old-edge", Role.EDGE, new_secret(), revoked=True),
    ]
    return {p.name: p for p in peers}


@pytest.fixture(scope="session")
def identity(tmp_path_factory: pytest.TempPathFactory) -> Identity:
    """The hub's TLS identity, made once."""
    return create_identity(tmp_path_factory.mktemp("tls"), "hub-test")


HubFactory = Callable[..., RunningHub]


@pytest.fixture
def start_hub(identity: Identity, tmp_path: Path) -> Iterator[HubFactory]:
    """Start servers (TLS unless tls=False) that are stopped after the test."""
    started: list[Server] = []

    def start(
        *, tls: bool = True, timing: Timing = DEFAULT_TIMING, max_connections: int = 256
    ) -> RunningHub:
        peers = make_peers()
        handler = EchoHandler()
        opts = ServerOptions(
            name="hub-test",
            host="127.0.0.1",
            port=0,
            identity=identity if tls else None,
            timing=timing,
            max_connections=max_connections,
            spool_dir=tmp_path,
        )
        server = Server(opts, StaticDirectory(list(peers.values())), handler)
        server.start()
        started.append(server)
        return RunningHub(server, handler, identity if tls else None, peers)

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def hub(start_hub: HubFactory) -> RunningHub:
    """A TLS server with default timing."""
    return start_hub()


def subscribe_round_trip(conn: Connection, seq: int = 0) -> int:
    """Send subscribe, return the seq of the caught_up that answers it."""
    conn.send(
        m.Subscribe(
            after_seq=seq, cameras=[], labels=[], since_ms=None, until_ms=None, thumbnails=True
        )
    )
    reply = conn.expect(m.CaughtUp)
    return reply.seq


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll `predicate` until it holds or `timeout` passes."""
    done = threading.Event()
    for _ in range(int(timeout / 0.02)):
        if predicate():
            return True
        done.wait(0.02)
    return predicate()


class MemoryTransport:
    """A transport that replays fixed bytes, then reports end of stream; records what is sent."""

    channel = "plain"

    def __init__(self, data: bytes, chunk: int = 1 << 20) -> None:
        self._data = memoryview(data)
        self._chunk = chunk
        self.sent = bytearray()
        self.closed = False

    def send(self, *parts: bytes | bytearray | memoryview) -> None:
        for part in parts:
            self.sent += part

    def recv_into(self, buf: memoryview) -> int:
        if not self._data:
            raise ConnectionClosed("end of test data")
        n = min(len(buf), self._chunk, len(self._data))
        buf[:n] = self._data[:n]
        self._data = self._data[n:]
        return n

    def unsent(self) -> int:
        return 0

    def close(self) -> None:
        self.closed = True


def frame_of(msg: m.Message, body: bytes = b"", version: int = 1) -> bytes:
    """The bytes a Connection would send for `msg`."""
    payload = msg.encode()
    return pack_header(version, msg.KIND, len(payload), len(body)) + payload + body


def tcp_pair() -> tuple[socket.socket, socket.socket]:
    """A connected loopback TCP pair."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
    return client, server


def connection_pair(
    timing: Timing = DEFAULT_TIMING,
    tls: Identity | None = None,
    max_body: int = DEFAULT_MAX_BODY,
    spool_dir: Path | None = None,
) -> tuple[Connection, Connection]:
    """Two authenticated-looking Connections over loopback (no handshake), plain or TLS."""
    a, b = (PlainTransport(s, timing.tick_s, timing.dead_after_s) for s in tcp_pair())
    ta: Transport = a
    tb: Transport = b
    if tls is not None:
        ca = TlsTransport(a, client_context(), server_side=False)
        cb = TlsTransport(b, server_context(tls), server_side=True)
        server = threading.Thread(target=cb.handshake, args=(5, tls.fingerprint))
        server.start()
        ca.handshake(5)
        server.join()
        ta, tb = ca, cb
    conns = (
        Connection(ta, "a", timing, max_body, spool_dir),
        Connection(tb, "b", timing, max_body, spool_dir),
    )
    for conn in conns:
        conn.authenticated(PeerInfo("peer", Role.EDGE, conn.address), 1, timing)
    return conns
