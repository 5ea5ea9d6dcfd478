"""The connection to the hub, on its own thread: subscribe from the cursor, hand every entry
to the UI as a typed update through a queue, reconnect with backoff and resume with no gap and
no duplicate, and ask for pictures. No Tk here: the UI polls `updates`.

The cursor is the seq of the last entry received; a new session subscribes after it, and an
entry at or below it (there should be none) is dropped, so nothing is shown twice. Picture
requests made while disconnected, or lost with a connection, are sent again on the next one.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from enum import Enum

from watcher.config import Filters
from wire import messages as m
from wire.client import Backoff, Endpoint, ReconnectingClient
from wire.connection import Connection, Received
from wire.errors import WireError
from wire.handshake import ClientIdentity

log = logging.getLogger("vigia.watcher.feed")
PictureKey = tuple[str, bool]  # picture id, thumbnail?


class Link(Enum):
    """The state of the connection to the hub, as the UI shows it."""

    CONNECTING = "connecting"
    CATCHING_UP = "catching_up"
    LIVE = "live"
    DISCONNECTED = "disconnected"


@dataclass(frozen=True, slots=True)
class EntryArrived:
    """A log entry, with its thumbnail if the hub pushed one."""

    entry: m.LogEntry
    thumbnail: bytes


@dataclass(frozen=True, slots=True)
class CaughtUp:
    """The backlog is in up to `seq`; what follows is live."""

    seq: int


@dataclass(frozen=True, slots=True)
class EdgeStatus:
    """An edge's latest status."""

    notice: m.StatusNotice


@dataclass(frozen=True, slots=True)
class Picture:
    """A picture asked for: a thumbnail or a full snapshot (`jpeg` empty: the hub has none)."""

    image_id: str
    thumbnail: bool
    jpeg: bytes


@dataclass(frozen=True, slots=True)
class LinkChanged:
    """The connection's state changed; `detail` says why (an error, the hub's address)."""

    link: Link
    detail: str


Update = EntryArrived | CaughtUp | EdgeStatus | Picture | LinkChanged


@dataclass(frozen=True, slots=True)
class Subscription:
    """What to ask the hub for: the filters it applies, and whether to push thumbnails."""

    filters: Filters = field(default_factory=Filters)
    thumbnails: bool = False

    def request(self, after_seq: int) -> m.Subscribe:
        """The subscribe message from this cursor."""
        return m.Subscribe(
            after_seq=after_seq,
            cameras=list(self.filters.cameras),
            labels=list(self.filters.labels),
            since_ms=self.filters.since_ms,
            until_ms=self.filters.until_ms,
            thumbnails=self.thumbnails,
        )


class HubFeed:
    """One watcher's live feed from the hub. `updates` is read by the UI thread."""

    def __init__(
        self,
        endpoint: Endpoint,
        me: ClientIdentity,
        subscription: Subscription,
        *,
        after_seq: int = 0,
        backoff: Backoff | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.subscription = subscription
        self.cursor = after_seq  # written by the feed thread only
        self.updates: queue.SimpleQueue[Update] = queue.SimpleQueue()
        self.link = Link.CONNECTING
        self._lock = threading.Lock()
        self._wanted: dict[PictureKey, list[Future[bytes]]] = {}
        self._in_flight: deque[PictureKey] = deque()  # asked on this connection, in order
        backoff = backoff or Backoff(base_s=0.5, cap_s=10.0)
        self.client = ReconnectingClient(
            endpoint, me, self._session, backoff=backoff, stable_after_s=5.0
        )

    def start(self) -> None:
        """Connect on a background thread, and keep connecting."""
        self._post(LinkChanged(Link.CONNECTING, str(self.endpoint)))
        self.client.start()

    def stop(self) -> None:
        """Close the connection and stop reconnecting."""
        self.client.stop()
        with self._lock:
            waiting, self._wanted = self._wanted, {}
        for futures in waiting.values():
            for future in futures:
                future.cancel()

    def request_picture(self, image_id: str, *, thumbnail: bool) -> Future[bytes]:
        """Ask for a picture; it comes as a `Picture` update and completes the future (with
        empty bytes when the hub has none). Asked again after a reconnection if need be."""
        future: Future[bytes] = Future()
        key = (image_id, thumbnail)
        with self._lock:
            first = key not in self._wanted
            self._wanted.setdefault(key, []).append(future)
        conn = self.client.connection
        if first and conn is not None:
            self._ask(conn, key)
        return future

    def _ask(self, conn: Connection, key: PictureKey) -> None:
        with self._lock:
            self._in_flight.append(key)
        try:
            conn.send(m.SnapshotRequest(event_id=key[0], thumbnail=key[1]))
        except WireError as exc:  # the session ends too; the next one asks again
            log.info("hub %s: picture request for %s not sent: %s", self.endpoint, key[0], exc)

    def _session(self, conn: Connection) -> None:
        self._post(LinkChanged(Link.CATCHING_UP, str(self.endpoint)))
        log.info("hub %s: subscribing after seq %d", self.endpoint, self.cursor)
        try:
            conn.send(self.subscription.request(self.cursor))
            with self._lock:
                self._in_flight.clear()  # the old connection's questions died with it
                pending = list(self._wanted)
            for key in pending:
                self._ask(conn, key)
            while True:
                self._handle(conn.receive())
        except Exception as exc:  # the client logs it and reconnects; the UI must know
            self._post(LinkChanged(Link.DISCONNECTED, str(exc)))
            raise

    def _handle(self, got: Received) -> None:
        msg = got.message
        if isinstance(msg, m.LogEntry):
            if msg.seq <= self.cursor:
                log.debug("hub %s: dropped entry seq %d again", self.endpoint, msg.seq)
                return
            self.cursor = msg.seq
            self._post(EntryArrived(msg, bytes(got.body)))
        elif isinstance(msg, m.CaughtUp):
            self.cursor = max(self.cursor, msg.seq)
            self._post(LinkChanged(Link.LIVE, str(self.endpoint)))
            self._post(CaughtUp(msg.seq))
        elif isinstance(msg, m.StatusNotice):
            self._post(EdgeStatus(msg))
        elif isinstance(msg, m.Snapshot):
            self._deliver((msg.event_id, msg.thumbnail), bytes(got.body))
        elif isinstance(msg, m.Error):
            self._refused(msg)

    def _refused(self, error: m.Error) -> None:
        """A non-fatal refusal: a picture the hub does not have. `ref` names the id, not
        whether a thumbnail was asked; the hub answers in order, so it is the oldest question
        in flight about that id."""
        log.info("hub %s: %s: %s", self.endpoint, error.code, error.message)
        if error.code == "not_found" and error.ref:
            with self._lock:
                key = next((k for k in self._in_flight if k[0] == error.ref), None)
            if key is not None:
                self._deliver(key, b"")

    def _deliver(self, key: PictureKey, jpeg: bytes) -> None:
        with self._lock:
            if key in self._in_flight:
                self._in_flight.remove(key)
            futures = self._wanted.pop(key, None)
        if futures is None:
            return
        self._post(Picture(key[0], key[1], jpeg))
        for future in futures:
            if not future.done():
                future.set_result(jpeg)

    def _post(self, update: Update) -> None:
        if isinstance(update, LinkChanged):
            self.link = update.link
        self.updates.put(update)
