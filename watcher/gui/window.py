"""The watcher's main window. The Tk thread never waits on the network: it polls the feed's
queue every POLL_MS with `after()`, applies what came (within a time budget, so a backlog of
100,000 entries arrives over a few seconds while the window stays responsive), and redraws
only the rows that are shown."""

from __future__ import annotations

import contextlib
import gc
import logging
import queue
import threading
import time
import tkinter as tk
from collections.abc import Callable
from concurrent.futures import CancelledError
from pathlib import Path
from tkinter import filedialog, ttk

from watcher import feed as f
from watcher.config import Filters
from watcher.export import ExportResult, export
from watcher.gui.filters import FilterBar, counts_text
from watcher.gui.panel import FleetPanel
from watcher.gui.snapshot import SnapshotView
from watcher.gui.table import SightingTable
from watcher.i18n import tr
from watcher.log import Change, Fleet, Log, Row
from watcher.thumbs import ThumbnailCache

log = logging.getLogger("vigia.watcher.gui.window")
POLL_MS = 25
BUDGET_S = 0.04  # the most time one poll spends applying updates
FETCH_TIMEOUT_S = 30.0
LINK_COLOURS = {
    f.Link.CONNECTING: "#d08000",
    f.Link.CATCHING_UP: "#d08000",
    f.Link.LIVE: "#007000",
    f.Link.DISCONNECTED: "#b00000",
}
Shown = Callable[[list[str], list[str]], None]  # ids on screen, ids applied since last


class WatcherWindow:
    """The whole app: feed in, widgets out."""

    def __init__(
        self, feed: f.HubFeed, *, cache_thumbnails: int = 2000, root: tk.Tk | None = None
    ) -> None:
        self.feed = feed
        self.root = root or tk.Tk(className="vigia-watcher")
        self.root.title(tr("Vigía watcher"))
        self.root.geometry("1280x760")
        self.log = Log()
        self.fleet = Fleet()
        self.thumbs = ThumbnailCache(cache_thumbnails, self._ask_thumbnail)
        self.on_shown: Shown | None = None  # told what each redraw drew (benchmark)
        self._applied: list[str] = []
        self._timer: str | None = None  # the pending poll, cancelled on close
        self.caught_up_seq: int | None = None
        self._drawn = (-1, -1)  # log and fleet versions last drawn
        self._dirty = False
        self._snapshots: dict[str, str] = {}  # full snapshot asked: picture id -> row id
        self._labels: set[str] = set()
        self._cameras: set[str] = set()
        self._done: queue.SimpleQueue[str] = queue.SimpleQueue()  # messages from exports
        self._build()

    def _build(self) -> None:
        top = ttk.Frame(self.root)
        top.pack(fill=tk.X)
        self.filters = FilterBar(top, self.set_filters)
        self.filters.pack(side=tk.LEFT)
        ttk.Button(top, text=tr("Export…"), command=self._export_dialog).pack(side=tk.LEFT)
        self.counts = tk.StringVar(self.root)
        ttk.Label(self.root, textvariable=self.counts, padding=(8, 0)).pack(fill=tk.X)
        body = ttk.PanedWindow(self.root, orient=tk.HORIZONTAL)
        body.pack(fill=tk.BOTH, expand=True)
        self.table = SightingTable(body, self.log, self.thumbs, self._row_clicked)
        body.add(self.table, weight=3)
        side = ttk.Frame(body, padding=4)
        body.add(side, weight=1)
        self.snapshot = SnapshotView(side)
        self.snapshot.pack(fill=tk.BOTH, expand=True)
        self.panel = FleetPanel(side)
        self.panel.pack(fill=tk.BOTH, expand=True)
        bottom = ttk.Frame(self.root, relief=tk.SUNKEN)
        bottom.pack(fill=tk.X, side=tk.BOTTOM, before=body)
        self.link = tk.Label(bottom, text=tr("connecting"), fg="white", bg="#d08000", padx=8)
        self.link.pack(side=tk.LEFT)
        self.status = tk.StringVar(self.root)
        ttk.Label(bottom, textvariable=self.status, padding=(8, 1)).pack(side=tk.LEFT)
        self.note = tk.StringVar(self.root)  # what the last export did
        ttk.Label(bottom, textvariable=self.note, padding=(8, 1)).pack(side=tk.RIGHT)
        self.root.protocol("WM_DELETE_WINDOW", self.close)

    def start(self) -> None:
        """Start the feed and the polling."""
        self.feed.start()
        self._timer = self.root.after(POLL_MS, self._poll)

    def close(self) -> None:
        """Stop the feed and close the window."""
        self.feed.stop()
        with contextlib.suppress(tk.TclError):  # already gone
            if self._timer is not None:
                self.root.after_cancel(self._timer)
                self._timer = None
            self.root.destroy()

    def _poll(self) -> None:
        try:
            self.drain()
            self.redraw()
        finally:
            if self._timer is not None:  # not closed meanwhile
                self._timer = self.root.after(POLL_MS, self._poll)

    def drain(self, budget_s: float = BUDGET_S) -> int:
        """Apply what the feed brought, for at most `budget_s`; how many updates."""
        deadline, count = time.monotonic() + budget_s, 0
        while time.monotonic() < deadline:
            try:
                update = self.feed.updates.get_nowait()
            except queue.Empty:
                break
            self.apply(update)
            count += 1
        while True:
            try:
                self.note.set(self._done.get_nowait())
            except queue.Empty:
                break
        return count

    def apply(self, update: f.Update) -> None:
        """One update from the feed into the model."""
        if isinstance(update, f.EntryArrived):
            self._entry(update)
        elif isinstance(update, f.EdgeStatus):
            self.fleet.apply_notice(update.notice)
        elif isinstance(update, f.Picture):
            self._picture(update)
        elif isinstance(update, f.CaughtUp):
            self.caught_up_seq = update.seq
            self._settle()
            log.info("caught up at seq %d: %d rows", update.seq, len(self.log.rows))
        elif isinstance(update, f.LinkChanged):
            self._link(update)

    def _entry(self, arrived: f.EntryArrived) -> None:
        before = len(self.log)
        change = self.log.apply(arrived.entry)
        if change is Change.DUPLICATE:
            return
        row = self.log.owner(arrived.entry.event_id)
        if row is None:
            return
        if change is Change.UPDATED:  # a better view may have come with its end
            self.thumbs.forget(row.event_id)
            self.table.forget_image(row.event_id)
        if arrived.thumbnail:
            self.thumbs.put(row.event_id, arrived.thumbnail)
        self.fleet.apply_entry(arrived.entry)
        if row.is_sighting:
            self._labels.add(row.label)
        self._cameras.add(row.camera)
        if self.table.offset > 0:  # keep the rows being read in place as new ones arrive
            self.table.offset += len(self.log) - before
        if self.on_shown is not None:
            self._applied.append(row.event_id)

    def _picture(self, picture: f.Picture) -> None:
        if picture.thumbnail:
            row = self.log.owner(picture.image_id)
            if row is None:
                return
            if picture.jpeg:
                self.thumbs.put(row.event_id, picture.jpeg)
            else:
                self.thumbs.missing(row.event_id, picture.image_id)
            self._dirty = True
            return
        row_id = self._snapshots.pop(picture.image_id, None)
        if row_id is None:
            return
        row = self.log.rows.get(row_id)
        if not picture.jpeg and row is not None and self._next_snapshot(row, picture.image_id):
            return
        self.snapshot.picture_arrived(row_id, picture.jpeg)

    def _settle(self) -> None:
        """The backlog is in: ask for the thumbnails shown, and move the log's objects out of
        the garbage collector's way. They live as long as the window and hold no cycles, yet
        each full collection would walk all of them: with 100,000 rows, a pause of a second."""
        self.thumbs.paused = False
        self._dirty = True
        gc.freeze()
        gc.enable()

    def _link(self, changed: f.LinkChanged) -> None:
        text = {
            f.Link.CONNECTING: tr("connecting to {where}"),
            f.Link.CATCHING_UP: tr("catching up from {where}"),
            f.Link.LIVE: tr("live: {where}"),
            f.Link.DISCONNECTED: tr("disconnected ({where}); reconnecting"),
        }[changed.link].format(where=changed.detail)
        self.link.configure(text=text, bg=LINK_COLOURS[changed.link])
        if changed.link is f.Link.CATCHING_UP:  # no pauses while the backlog streams in
            self.thumbs.paused = True
            gc.disable()
        elif changed.link is f.Link.DISCONNECTED:
            gc.enable()
        log.info("hub link: %s", text)

    def redraw(self) -> None:
        """Redraw what changed; then tell `on_shown` what is on screen."""
        versions = (self.log.version, self.fleet.version)
        if versions == self._drawn and not self._dirty:
            return
        if versions[0] != self._drawn[0] or self._dirty:
            self.table.refresh()
            self.counts.set(counts_text(self.log.counts, len(self.log)))
            self.filters.choices(sorted(self._labels), sorted(self._cameras))
        if versions[1] != self._drawn[1]:
            self.panel.refresh(self.fleet)
        self._drawn, self._dirty = versions, False
        cursor = self.feed.cursor
        self.status.set(
            tr("{rows} entries in the log · cursor seq {seq}").format(
                rows=len(self.log.rows), seq=cursor
            )
        )
        self.root.update_idletasks()
        if self.on_shown is not None:
            applied, self._applied = self._applied, []
            self.on_shown(self.table.shown, applied)

    def set_filters(self, filters: Filters) -> None:
        """Show only what `filters` admit."""
        self.log.set_filters(filters)
        self.table.offset = 0
        self.redraw()

    def _ask_thumbnail(self, image_id: str) -> None:
        self.feed.request_picture(image_id, thumbnail=True)

    def _row_clicked(self, row: Row) -> None:
        if self.snapshot.row is not None and self.snapshot.row.event_id == row.event_id:
            return
        self.snapshot.show(row)
        if row.image_ids:
            self._snapshots[row.image_ids[0]] = row.event_id
            self.feed.request_picture(row.image_ids[0], thumbnail=False)
        else:
            self.snapshot.picture_arrived(row.event_id, b"")

    def _next_snapshot(self, row: Row, missing: str) -> bool:
        """Ask for the row's next older picture; False when there is none."""
        ids = row.image_ids
        if missing not in ids or ids.index(missing) + 1 >= len(ids):
            return False
        following = ids[ids.index(missing) + 1]
        self._snapshots[following] = row.event_id
        self.feed.request_picture(following, thumbnail=False)
        return True

    def _export_dialog(self) -> None:
        folder = filedialog.askdirectory(title=tr("Export the selection to a folder"))
        if folder:
            self.export_to(Path(folder))

    def export_to(self, folder: Path) -> threading.Thread:
        """Export the selected rows (or, with none selected, every row shown) in the
        background; the status bar says when it is done."""
        rows = self.table.selected_rows() or self.log.visible()
        self.note.set(tr("exporting {n} rows to {folder}…").format(n=len(rows), folder=folder))

        def work() -> None:
            try:
                result: ExportResult = export(rows, folder, self._fetch)
                self._done.put(
                    tr("exported {rows} rows, {pictures} pictures to {folder}").format(
                        rows=result.rows, pictures=result.pictures, folder=folder
                    )
                )
            except (OSError, TimeoutError, CancelledError) as exc:  # disk, hub gone, closing
                why = str(exc) or tr("no answer from the hub")
                self._done.put(tr("export failed: {why}").format(why=why))

        thread = threading.Thread(target=work, name="watcher-export", daemon=True)
        thread.start()
        return thread

    def _fetch(self, image_id: str, thumbnail: bool) -> bytes:
        return self.feed.request_picture(image_id, thumbnail=thumbnail).result(FETCH_TIMEOUT_S)
