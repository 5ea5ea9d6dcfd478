"""Watchers: each subscription gets the backlog from its cursor, then live entries.

The writer publishes committed entries to every subscription without ever waiting: each has a
bounded queue, and one that overflows is simply marked; its own sender thread then re-reads
from the database after its cursor. Either way entries go out in seq order, each once, so a slow
watcher never slows ingest and never sees a gap or a duplicate.

Fan-out is the costly part with many watchers, so each live entry is encoded into a frame once,
with the thumbnail the edge just sent, and every watcher gets those same bytes; a sender wakes
at most every COALESCE_S and writes all it has in one gathered send.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable

from hub.db import Filters, Reader, StoredEvent
from hub.images import ImageStore
from wire import messages as m
from wire.connection import Connection, encode_frame
from wire.errors import WireError

log = logging.getLogger("vigia.hub.feed")
PAGE = 500
COALESCE_S = 0.05  # what a watcher's latency pays for sending in batches
PUBLISH_COALESCE_S = 0.01  # and for offering entries to watchers a few commits at a time

Item = tuple[StoredEvent, bytes]  # an entry and its encoded frame


class Subscription:
    """One watcher's subscription, served by its own sender thread."""

    def __init__(
        self,
        conn: Connection,
        request: m.Subscribe,
        limit: int,
        *,
        reader: Reader,
        images: ImageStore,
        statuses: Callable[[set[str] | None], list[m.StatusNotice]],
    ) -> None:
        self.conn = conn
        self.filters = Filters.of(request)
        self.thumbnails = request.thumbnails
        self.cursor = request.after_seq
        self.limit = limit
        self.reader = reader
        self.images = images
        self.statuses = statuses
        self.overflows = 0
        self._live: deque[Item] = deque()
        self._overflowed = False
        self._dirty: set[str] = set()
        self._stopped = False
        self._wake = threading.Condition()
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"feed-{conn.label}")

    def start(self) -> None:
        """Begin sending (call after the subscription is registered for live entries)."""
        self._thread.start()

    def stop(self) -> None:
        """Stop sending; the thread ends soon after."""
        with self._wake:
            self._stopped = True
            self._wake.notify()

    def offer(self, items: list[Item]) -> None:
        """Called by the writer after a commit; never blocks on the watcher."""
        with self._wake:
            if self._overflowed:
                return
            wanted = (
                items
                if self.filters.none
                else [i for i in items if self.filters.admits(i[0].entry)]
            )
            if len(self._live) + len(wanted) > self.limit:
                self._overflowed = True  # the sender will re-read from the database
                self._live.clear()
                self.overflows += 1
            else:
                self._live.extend(wanted)
            self._wake.notify()

    def status_changed(self, edge: str) -> None:
        """An edge's status or connection changed: send its notice soon."""
        with self._wake:
            self._dirty.add(edge)
            self._wake.notify()

    def _run(self) -> None:
        try:
            self._catch_up()
            self.conn.send(m.CaughtUp(seq=self.cursor))
            self.conn.send_frames([encode_frame(n) for n in self.statuses(None)])
            while self._serve_once():
                pass
        except WireError as exc:  # the watcher is gone or stuck: it resumes from its cursor
            log.info("%s: feed stopped: %s", self.conn.label, exc)
            self.conn.close(f"feed stopped: {exc}")

    def _serve_once(self) -> bool:
        with self._wake:
            while not (self._stopped or self._overflowed or self._live or self._dirty):
                self._wake.wait()
            if self._stopped:
                return False
        time.sleep(COALESCE_S)  # let a few more commits join this batch
        with self._wake:
            overflowed, self._overflowed = self._overflowed, False
            batch = list(self._live)
            self._live.clear()
            dirty, self._dirty = self._dirty, set()
        if overflowed:
            log.info(
                "%s: watcher fell behind; catching up from seq %d", self.conn.label, self.cursor
            )
            self._catch_up()
        self._send(batch)
        if dirty:
            self.conn.send_frames([encode_frame(n) for n in self.statuses(dirty)])
        return True

    def _catch_up(self) -> None:
        while page := self.reader.events_after(self.cursor, self.filters, PAGE):
            thumb = self.images.read if self.thumbnails else _no_thumbnail
            self._send([(s, encode_frame(s.entry, thumb(s.thumbnail))) for s in page])
            if len(page) < PAGE:
                return

    def _send(self, items: list[Item]) -> None:
        """Send what is newer than the cursor (the rest went out from the database). Items
        come in seq order, so when the first is new they all are."""
        fresh = (
            items
            if items and items[0][0].entry.seq > self.cursor
            else [(s, frame) for s, frame in items if s.entry.seq > self.cursor]
        )
        if fresh:
            self.conn.send_frames([frame for _, frame in fresh])
            self.cursor = fresh[-1][0].entry.seq


class Feed:
    """Every live subscription. The writer hands it committed entries and goes straight back
    to committing; the feed's own thread encodes them and offers them to every watcher."""

    def __init__(self, images: ImageStore) -> None:
        self.images = images
        self._subs: dict[Connection, Subscription] = {}
        self._lock = threading.Lock()
        self._pending: queue.SimpleQueue[list[StoredEvent] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="hub-feed", daemon=True)

    def start(self) -> None:
        """Start the publishing thread."""
        self._thread.start()

    def stop(self) -> None:
        """Publish what is queued, then stop."""
        self._pending.put(None)
        self._thread.join(timeout=5)

    def publish(self, entries: list[StoredEvent]) -> None:
        """New committed entries, in seq order (called by the writer; never waits)."""
        self._pending.put(entries)

    def _run(self) -> None:
        """Offer what the writer committed, several commits at a time: under load that makes
        one offer per watcher every few commits rather than one per commit."""
        while (first := self._pending.get()) is not None:
            time.sleep(PUBLISH_COALESCE_S)
            batch, stop = list(first), False
            while not stop and not self._pending.empty():
                more = self._pending.get()
                stop = more is None
                batch += more or []
            try:
                self._offer(batch)
            except Exception:  # a bug here must not stop the feed for good
                log.exception("publishing %d entries failed", len(batch))
            if stop:
                return

    def add(self, sub: Subscription) -> None:
        """Register for live entries, then start its backlog (so nothing falls between)."""
        with self._lock:
            old = self._subs.pop(sub.conn, None)
            self._subs[sub.conn] = sub
        if old is not None:
            old.stop()
        sub.start()

    def remove(self, conn: Connection) -> None:
        """Forget a watcher's subscription."""
        with self._lock:
            sub = self._subs.pop(conn, None)
        if sub is not None:
            sub.stop()

    def _offer(self, entries: list[StoredEvent]) -> None:
        """Encode each entry once (with and, or, without its thumbnail, as the watchers
        asked) and offer the same bytes to every watcher."""
        subs = self.subscriptions()
        with_thumbs = (
            [(s, encode_frame(s.entry, self._thumbnail(s))) for s in entries]
            if any(sub.thumbnails for sub in subs)
            else []
        )
        without = (
            [(s, encode_frame(s.entry)) for s in entries]
            if not all(sub.thumbnails for sub in subs)
            else []
        )
        for sub in subs:
            sub.offer(with_thumbs if sub.thumbnails else without)

    def _thumbnail(self, stored: StoredEvent) -> bytes:
        if stored.thumbnail_data is not None:
            return stored.thumbnail_data
        return self.images.read(stored.thumbnail)

    def status_changed(self, edge: str) -> None:
        """Tell every subscription that an edge's status changed."""
        for sub in self.subscriptions():
            sub.status_changed(edge)

    def subscriptions(self) -> list[Subscription]:
        """The live subscriptions."""
        with self._lock:
            return list(self._subs.values())


def _no_thumbnail(path: str | None) -> bytes:
    """For watchers that ask for thumbnails one by one."""
    return b""
