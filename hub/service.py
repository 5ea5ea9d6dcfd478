"""What the hub does with each message: the SessionHandler plugged into the wire server."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from hub.db import Reader
from hub.feed import Feed, Subscription
from hub.images import ImageStore, StorageError
from hub.jobs import (
    InsertEnd,
    InsertEvent,
    ModelConflict,
    SaveStatus,
    TouchPeer,
    UnknownModel,
)
from hub.registry import Registry, model_list
from hub.status import StatusBoard
from hub.writer import Writer
from wire import messages as m
from wire.connection import Connection, PeerInfo, Received
from wire.errors import ErrorCode, MessageError
from wire.roles import Role
from wire.server import Server

log = logging.getLogger("vigia.hub")


@dataclass
class HubService:
    """Routes every permitted message to the part of the hub that handles it."""

    reader: Reader
    writer: Writer
    images: ImageStore
    feed: Feed
    board: StatusBoard
    registry: Registry
    watcher_queue: int
    server: Server | None = None  # set once the server exists (it needs this handler first)

    def on_session(self, conn: Connection) -> None:
        """Note the peer; an edge goes online and gets its assigned model."""
        peer = _peer(conn)
        self.writer.submit(TouchPeer(peer.name))
        if peer.role is Role.EDGE:
            self.board.connected(peer.name, True)
            self.feed.status_changed(peer.name)
            self.registry.offer(conn)

    def on_close(self, conn: Connection, reason: str) -> None:
        """Note the peer; an edge goes offline; a watcher's subscription ends."""
        peer = _peer(conn)
        self.writer.submit(TouchPeer(peer.name))
        self.feed.remove(conn)
        if peer.role is Role.EDGE:
            self.board.connected(peer.name, False)
            self.feed.status_changed(peer.name)

    def on_message(self, conn: Connection, got: Received) -> None:
        """Dispatch by kind (the server has already checked the role may send it)."""
        msg = got.message
        if isinstance(msg, m.Event):
            self._event(conn, msg, got.body)
        elif isinstance(msg, m.EventEnd):
            self._event_end(conn, msg, got.body)
        elif isinstance(msg, m.Status):
            self._status(conn, msg)
        elif isinstance(msg, m.Subscribe):
            self.feed.add(
                Subscription(
                    conn,
                    msg,
                    self.watcher_queue,
                    reader=self.reader,
                    images=self.images,
                    statuses=self.board.notices,
                )
            )
        elif isinstance(msg, m.SnapshotRequest):
            self._snapshot(conn, msg)
        elif isinstance(msg, m.ModelUpload) and got.body_path is not None:
            path = got.body_path
            self._guarded(
                conn,
                msg.version,
                lambda: conn.send(self.registry.upload(_peer(conn).name, msg, path)),
            )
        elif isinstance(msg, m.ModelAssign):
            edges = self.server.sessions(Role.EDGE) if self.server else []
            self._guarded(conn, msg.version, lambda: conn.send(self.registry.assign(msg, edges)))
        elif isinstance(msg, m.ModelReport):
            self.registry.report(_peer(conn).name, msg)
        elif isinstance(msg, m.ModelListRequest):
            conn.send(model_list(self.reader, msg.limit))

    def _event(self, conn: Connection, event: m.Event, body: bytes | bytearray) -> None:
        """Images durable, then the row committed, then (only then) the acknowledgement."""
        edge = _peer(conn).name
        try:  # a resend finds its files and its row already there, and changes nothing
            snapshot, thumbnail = self.images.write_event(edge, event, body)
            thumb = bytes(memoryview(body)[event.snapshot_len :])  # one copy, not two
            done = self.writer.call(InsertEvent(edge, event, snapshot, thumbnail, thumb))
        except StorageError as exc:
            log.warning("%s: event %s refused: %s", conn.label, event.event_id, exc)
            conn.send(
                m.Error(code=exc.code.value, message=str(exc), ref=event.event_id, fatal=False)
            )
            return
        conn.send(m.EventAck(event_id=event.event_id, seq=done.seq, duplicate=done.duplicate))

    def _event_end(self, conn: Connection, end: m.EventEnd, body: bytes | bytearray) -> None:
        """A sighting's end, like an event: its images (if any) durable, then its row and the
        sighting's update committed together, then the acknowledgement (by its end_id)."""
        edge = _peer(conn).name
        snapshot = thumbnail = thumb = None
        try:
            if end.snapshot_len:
                snapshot, thumbnail = self.images.write_end(edge, end, body)
                thumb = bytes(memoryview(body)[end.snapshot_len :])
            done = self.writer.call(InsertEnd(edge, end, snapshot, thumbnail, thumb))
        except StorageError as exc:
            log.warning("%s: event_end %s refused: %s", conn.label, end.end_id, exc)
            conn.send(m.Error(code=exc.code.value, message=str(exc), ref=end.end_id, fatal=False))
            return
        self.images.remove(done.unnamed)  # the sighting's pictures the better view replaced
        if not done.sighting_found:
            log.warning(
                "%s: event_end %s of camera %s ends sighting %s, which this hub does not have "
                "from this edge (removed by retention?); stored as its own entry",
                conn.label, end.end_id, end.camera, end.event_id,
            )  # fmt: skip
        conn.send(m.EventAck(event_id=end.end_id, seq=done.seq, duplicate=done.duplicate))

    def _status(self, conn: Connection, msg: m.Status) -> None:
        edge = _peer(conn).name
        self.writer.submit(SaveStatus(edge, msg.node))
        self.board.reported(edge, msg.node)
        self.feed.status_changed(edge)

    def _snapshot(self, conn: Connection, msg: m.SnapshotRequest) -> None:
        """Send an event's full snapshot, or its thumbnail, as asked."""
        stored = self.reader.event(msg.event_id)
        path = None if stored is None else stored.thumbnail if msg.thumbnail else stored.snapshot
        image = self.images.read(path)
        if not image:
            conn.send(
                m.Error(
                    code=ErrorCode.NOT_FOUND.value,
                    ref=msg.event_id,
                    fatal=False,
                    message=f"no picture for event {msg.event_id}",
                )
            )
            return
        conn.send(m.Snapshot(event_id=msg.event_id, thumbnail=msg.thumbnail), image)

    def _guarded(self, conn: Connection, ref: str, action: Callable[[], None]) -> None:
        """Run a registry action; its refusals go back as non-fatal errors naming `ref`."""
        try:
            action()
        except (MessageError, ModelConflict, UnknownModel, StorageError) as exc:
            code = {
                MessageError: ErrorCode.BAD_MESSAGE,
                ModelConflict: ErrorCode.CONFLICT,
                UnknownModel: ErrorCode.NOT_FOUND,
            }.get(type(exc), ErrorCode.STORAGE_FAILED)
            text = exc.args[0] if exc.args else str(exc)
            log.warning("%s: refused %s: %s", conn.label, ref, text)
            conn.send(m.Error(code=code.value, message=str(text), ref=ref, fatal=False))


def _peer(conn: Connection) -> PeerInfo:
    """Who is on an authenticated connection."""
    assert conn.peer is not None
    return conn.peer
