"""Vigía on one machine, as far as it is built: today, the wire protocol end to end.

A hub-side server with a TLS identity and two registered peers; a watcher that subscribes to
the live log; an edge that reports three sightings; then what the protocol refuses: a wrong
secret, a watcher trying to write, a revoked edge. Each step prints one line.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from wire import messages as m
from wire.auth import PeerRecord, StaticDirectory, new_secret
from wire.client import Endpoint, connect
from wire.connection import Connection, Received
from wire.errors import WireError
from wire.handshake import ClientIdentity
from wire.logs import setup_logging
from wire.roles import Role
from wire.server import Server, ServerOptions
from wire.tls import create_identity

LABELS = ("cat", "person", "bicycle")


@dataclass
class MemoryLog:
    """A stand-in for the hub's store (issue 3): events in a list, live to subscribers."""

    entries: list[m.LogEntry] = field(default_factory=list)
    watchers: list[Connection] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def on_session(self, conn: Connection) -> None:
        """Nothing to do when a peer arrives."""

    def on_close(self, conn: Connection, reason: str) -> None:
        """Forget a watcher that left."""
        with self.lock:
            if conn in self.watchers:
                self.watchers.remove(conn)

    def on_message(self, conn: Connection, got: Received) -> None:
        """Store events and fan them out; answer subscriptions with the backlog."""
        msg = got.message
        if isinstance(msg, m.Event) and conn.peer is not None:
            entry = self._append(msg, conn.peer.name)
            conn.send(m.EventAck(event_id=msg.event_id, seq=entry.seq, duplicate=False))
            thumbnail = bytes(got.body[msg.snapshot_len :])
            for watcher in list(self.watchers):
                watcher.send(entry, thumbnail)
        elif isinstance(msg, m.Subscribe):
            with self.lock:
                backlog = [e for e in self.entries if e.seq > msg.after_seq]
                self.watchers.append(conn)
            for entry in backlog:
                conn.send(entry)
            conn.send(m.CaughtUp(seq=backlog[-1].seq if backlog else msg.after_seq))

    def _append(self, msg: m.Event, edge: str) -> m.LogEntry:
        with self.lock:
            entry = m.LogEntry(
                seq=len(self.entries) + 1,
                kind=m.EventKind.SIGHTING,
                event_id=msg.event_id,
                edge=edge,
                camera=msg.camera,
                label=msg.label,
                score=msg.score,
                started_at=msg.started_at,
                ended_at=msg.ended_at,
                box=msg.box,
                model_version=msg.model_version,
            )
            self.entries.append(entry)
        return entry


def step(text: str) -> None:
    """One line of progress on stdout."""
    print(f"demo: {text}", flush=True)


def watch(conn: Connection, seen: list[m.LogEntry]) -> None:
    """The watcher's reader: print every live log entry until the connection ends."""
    try:
        while True:
            msg = conn.receive().message
            if isinstance(msg, m.LogEntry):
                seen.append(msg)
                step(
                    f"watcher sees #{msg.seq} {msg.label} ({msg.score:.2f}) on "
                    f"{msg.edge}/{msg.camera}"
                )
    except WireError:
        pass


def sighting(label: str, now_ms: int) -> tuple[m.Event, bytes]:
    """A made-up sighting with placeholder image bytes (real JPEGs come with the edge)."""
    snapshot, thumbnail = b"\xff\xd8snapshot\xff\xd9", b"\xff\xd8thumb\xff\xd9"
    event = m.Event(
        event_id=str(uuid.uuid4()),
        camera="door",
        label=label,
        score=0.91,
        started_at=now_ms - 1500,
        ended_at=now_ms,
        box=m.Box(x=40, y=30, w=96, h=96),
        model_version="demo",
        snapshot_len=len(snapshot),
        thumbnail_len=len(thumbnail),
    )
    return event, snapshot + thumbnail


def refusals(endpoint: Endpoint, edge: PeerRecord, watcher: Connection, server: Server) -> None:
    """Show what the protocol turns away, each with its reason."""
    try:
        connect(endpoint, ClientIdentity(edge.name, Role.EDGE, new_secret()))
    except WireError as exc:
        step(f"a peer with the wrong secret is refused: {exc}")
    event, body = sighting("cat", int(time.time() * 1000))
    watcher.send(event, body)
    time.sleep(0.2)
    step("a watcher that tries to write an event is refused (see the hub's log line)")
    server.disconnect(edge.name, "revoked in the demo")
    step(f"the edge '{edge.name}' is revoked: its live session is cut")


def main() -> None:
    """Run the tour."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="where to keep the demo's TLS identity")
    args = parser.parse_args()
    setup_logging("demo")
    data = args.data or Path(tempfile.mkdtemp(prefix="vigia-demo-"))
    data.mkdir(parents=True, exist_ok=True)
    identity = create_identity(data, "hub.local")
    step(f"hub TLS identity in {data}, pin {identity.fingerprint[:23]}...")
    edge = PeerRecord("edge-kitchen", Role.EDGE, new_secret())
    laptop = PeerRecord("laptop", Role.WATCHER, new_secret())
    server = Server(
        ServerOptions(name="hub", host="127.0.0.1", port=0, identity=identity),
        StaticDirectory([edge, laptop]),
        MemoryLog(),
    )
    server.start()
    endpoint = Endpoint(*server.address, identity.fingerprint)
    watcher = connect(endpoint, ClientIdentity(laptop.name, Role.WATCHER, laptop.secret))
    seen: list[m.LogEntry] = []
    watcher.send(m.Subscribe(after_seq=0, cameras=[], labels=[], since_ms=None, until_ms=None))
    threading.Thread(target=watch, args=(watcher, seen), daemon=True).start()
    step("watcher 'laptop' subscribed to the live log over TLS")
    sender = connect(endpoint, ClientIdentity(edge.name, Role.EDGE, edge.secret))
    for label in LABELS:
        event, body = sighting(label, int(time.time() * 1000))
        sender.send(event, body)
        ack = sender.expect(m.EventAck)
        step(f"edge '{edge.name}' sent a {label}; hub acknowledged it as #{ack.seq}")
    time.sleep(0.3)
    refusals(endpoint, edge, watcher, server)
    time.sleep(0.3)
    server.stop()
    step(f"done: {len(seen)} of {len(LABELS)} sightings reached the watcher live")


if __name__ == "__main__":
    main()
