"""`watcher --cli`: the same live log as lines of text, for SSH sessions.

One line per sighting, per sighting end (`ended`, with the final values), per camera change
and per change of an edge's connection. Cameras, classes and times are filtered by the hub;
`--text` here. With `--once` it prints the backlog and stops when the hub says it is caught up.
"""

from __future__ import annotations

import logging
import queue
import threading
from datetime import datetime
from typing import TextIO

from watcher import feed as f
from watcher.config import Filters
from watcher.i18n import tr
from watcher.log import Change, Kind, Log, admits

log = logging.getLogger("vigia.watcher.terminal")
POLL_S = 0.2


def clock(ms: int) -> str:
    """Local date and time of epoch milliseconds, to the second."""
    return datetime.fromtimestamp(ms / 1000).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def entry_line(entry: f.EntryArrived, change: Change) -> str:
    """The line printed for a log entry."""
    e = entry.entry
    if e.kind in (Kind.CAMERA_OFFLINE, Kind.CAMERA_ONLINE):
        what = tr("camera offline") if e.kind is Kind.CAMERA_OFFLINE else tr("camera online")
        return f"{clock(e.ended_at)}  {what:<16} {e.camera} @ {e.edge}  #{e.seq}"
    ended = e.kind is Kind.SIGHTING_END and change is Change.UPDATED
    what = tr("ended") if ended else tr("sighting")
    row_id = e.ends if e.kind is Kind.SIGHTING_END and e.ends else e.event_id
    moment = e.ended_at if ended else e.started_at
    return (
        f"{clock(moment)}  {what:<16} {e.label:<14} {e.score:4.2f}  {e.camera} @ {e.edge}  "
        f"#{e.seq}  {row_id}"
    )


class Terminal:
    """Prints what a feed brings until stopped (or caught up, with `once`)."""

    def __init__(
        self, hub_feed: f.HubFeed, out: TextIO, *, text: str = "", once: bool = False
    ) -> None:
        self.feed = hub_feed
        self.out = out
        self.once = once
        self.log = Log()
        self.log.set_filters(Filters(text=text))
        self.online: dict[str, bool] = {}

    def run(self, stop: threading.Event) -> None:
        """Print updates as they come, until `stop` is set (or, with `once`, caught up)."""
        while not stop.is_set():
            try:
                update = self.feed.updates.get(timeout=POLL_S)
            except queue.Empty:
                continue
            if self.show(update):
                return

    def show(self, update: f.Update) -> bool:
        """Print one update; True when the run is over (`once` and caught up)."""
        if isinstance(update, f.EntryArrived):
            change = self.log.apply(update.entry)
            row = self.log.owner(update.entry.event_id)
            if change is not Change.DUPLICATE and row is not None and admits(self.log.filters, row):
                self._print(entry_line(update, change))
        elif isinstance(update, f.CaughtUp):
            self._print(tr("-- caught up at seq {seq}; live from here --").format(seq=update.seq))
            return self.once
        elif isinstance(update, f.EdgeStatus):
            self._edge(update)
        elif isinstance(update, f.LinkChanged) and update.link is f.Link.DISCONNECTED:
            self._print(tr("-- disconnected: {why}; reconnecting --").format(why=update.detail))
        return False

    def _edge(self, update: f.EdgeStatus) -> None:
        notice = update.notice
        if self.online.get(notice.edge) == notice.online:
            return
        self.online[notice.edge] = notice.online
        state = tr("online") if notice.online else tr("offline")
        model = notice.node.model_version if notice.node else None
        self._print(
            f"{clock(notice.last_seen_ms)}  {tr('edge'):<16} {notice.edge} {state}"
            + (f"  {tr('model')} {model}" if model else "")
        )

    def _print(self, line: str) -> None:
        self.out.write(line + "\n")
        self.out.flush()
