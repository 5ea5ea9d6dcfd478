"""Watchers: each subscription gets the backlog from its cursor, then live entries.

The writer publishes committed entries to every subscription without ever waiting: each has a
bounded queue, and one that overflows is simply marked; its own sender thread then re-reads
from the database after its cursor. Either way entries go out in seq order, each once, so a slow
watcher never slows ingest and never sees a gap or a duplicate.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable

from hub.db import Filters, Reader, StoredEvent
from hub.images import ImageStore
from wire import messages as m
from wire.connection import Connection
from wire.errors import WireError

log = logging.getLogger("vigia.hub.feed")
PAGE = 500


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
        self.cursor = request.after_seq
        self.limit = limit
        self.reader = reader
        self.images = images
        self.statuses = statuses
        self.overflows = 0
        self._live: deque[StoredEvent] = deque()
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

    def offer(self, entries: list[StoredEvent]) -> None:
        """Called by the writer after a commit; never blocks on the watcher."""
        with self._wake:
            if self._overflowed:
                return
            wanted = [e for e in entries if self.filters.admits(e.entry)]
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
            for notice in self.statuses(None):
                self.conn.send(notice)
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
            overflowed, self._overflowed = self._overflowed, False
            batch = list(self._live)
            self._live.clear()
            dirty, self._dirty = self._dirty, set()
        if overflowed:
            log.info(
                "%s: watcher fell behind; catching up from seq %d", self.conn.label, self.cursor
            )
            self._catch_up()
        for stored in batch:
            self._send(stored)
        for notice in self.statuses(dirty) if dirty else []:
            self.conn.send(notice)
        return True

    def _catch_up(self) -> None:
        while page := self.reader.events_after(self.cursor, self.filters, PAGE):
            for stored in page:
                self._send(stored)
            if len(page) < PAGE:
                return

    def _send(self, stored: StoredEvent) -> None:
        if stored.entry.seq <= self.cursor:
            return  # already sent from the database
        self.conn.send(stored.entry, self.images.read(stored.thumbnail))
        self.cursor = stored.entry.seq


class Feed:
    """Every live subscription; the writer publishes to all of them."""

    def __init__(self) -> None:
        self._subs: dict[Connection, Subscription] = {}
        self._lock = threading.Lock()

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

    def publish(self, entries: list[StoredEvent]) -> None:
        """New committed entries, in seq order."""
        for sub in self.subscriptions():
            sub.offer(entries)

    def status_changed(self, edge: str) -> None:
        """Tell every subscription that an edge's status changed."""
        for sub in self.subscriptions():
            sub.status_changed(edge)

    def subscriptions(self) -> list[Subscription]:
        """The live subscriptions."""
        with self._lock:
            return list(self._subs.values())
