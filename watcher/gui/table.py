"""The table of sightings: a virtual list. The Treeview holds only the rows that fit in the
window; scrolling moves an offset into the log's view and refills them, so 100,000 sightings
cost no more to show than a hundred. Thumbnails are asked for when their row is shown."""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable
from datetime import datetime
from tkinter import ttk

from PIL import ImageTk

from watcher.gui.images import photo
from watcher.i18n import tr
from watcher.log import Kind, Log, Row
from watcher.thumbs import ThumbnailCache

THUMB_W, THUMB_H = 64, 48
ROW_HEIGHT = THUMB_H + 6
COLUMNS = ("label", "date", "time", "camera", "edge", "score")


def local(ms: int) -> datetime:
    """Epoch milliseconds as local time."""
    return datetime.fromtimestamp(ms / 1000).astimezone()


class SightingTable(ttk.Frame):
    """A page of the log's view in a Treeview, with a scrollbar over the whole view."""

    def __init__(
        self,
        master: tk.Misc,
        log: Log,
        thumbs: ThumbnailCache,
        on_select: Callable[[Row], None],
    ) -> None:
        super().__init__(master)
        self.log = log
        self.thumbs = thumbs
        self.on_select = on_select
        self.offset = 0  # rows of the view above the first one shown
        self.rows = 15  # rows that fit; updated when the widget is resized
        self.selected: set[str] = set()  # event ids, kept across pages
        self.images: dict[str, ImageTk.PhotoImage] = {}  # those of the rows shown only
        self.shown: list[str] = []
        style = ttk.Style(self)
        style.configure("Sightings.Treeview", rowheight=ROW_HEIGHT)
        self.tree = ttk.Treeview(
            self, columns=COLUMNS, style="Sightings.Treeview", selectmode="extended"
        )
        self._headings()
        self.tree.tag_configure("camera", background="#fff2cc")
        self.tree.tag_configure("ended", foreground="#1f3f7f")
        self.scroll = ttk.Scrollbar(self, orient=tk.VERTICAL, command=self._scrolled)
        self.tree.grid(row=0, column=0, sticky="nsew")
        self.scroll.grid(row=0, column=1, sticky="ns")
        self.columnconfigure(0, weight=1)
        self.rowconfigure(0, weight=1)
        self.tree.bind("<<TreeviewSelect>>", self._selected)
        self.tree.bind("<Configure>", self._resized)
        for sequence in ("<MouseWheel>", "<Button-4>", "<Button-5>"):
            self.tree.bind(sequence, self._wheel)
        self.tree.bind("<Next>", lambda _e: self.scroll_by(self.rows))
        self.tree.bind("<Prior>", lambda _e: self.scroll_by(-self.rows))

    def _headings(self) -> None:
        self.tree.heading("#0", text=tr("Photo"))
        self.tree.column("#0", width=THUMB_W + 24, stretch=False)
        names = {
            "label": tr("Class"),
            "date": tr("Date"),
            "time": tr("Time"),
            "camera": tr("Camera"),
            "edge": tr("Edge"),
            "score": tr("Score"),
        }
        widths = {"label": 130, "date": 90, "time": 80, "camera": 110, "edge": 110, "score": 60}
        for column in COLUMNS:
            self.tree.heading(column, text=names[column])
            self.tree.column(column, width=widths[column], anchor=tk.W)

    def refresh(self) -> list[str]:
        """Show the page at the offset again; returns the event ids now shown."""
        self._read_selection()  # before the rows move under it
        self.offset = max(0, min(self.offset, len(self.log) - self.rows))
        page = self.log.page(self.offset, self.rows)
        items = self.tree.get_children()
        for index, row in enumerate(page):
            values = self._values(row)
            image = self._image(row)
            tags = self._tags(row)
            if index < len(items):
                self.tree.item(items[index], text="", values=values, image=image, tags=tags)
            else:
                self.tree.insert("", tk.END, text="", values=values, image=image, tags=tags)
        if len(items) > len(page):
            self.tree.delete(*items[len(page) :])
        self.shown = [row.event_id for row in page]
        self.images = {k: v for k, v in self.images.items() if k in self.shown}
        self._select_shown()
        self._set_scrollbar()
        return self.shown

    def _values(self, row: Row) -> tuple[str, ...]:
        when = local(row.started_at)
        if row.kind is Kind.CAMERA_OFFLINE:
            label = tr("camera offline")
        elif row.kind is Kind.CAMERA_ONLINE:
            label = tr("camera online")
        else:
            label = row.label
        score = f"{row.score:.2f}" if row.is_sighting else ""
        return (
            label,
            when.strftime("%Y-%m-%d"),
            when.strftime("%H:%M:%S"),
            row.camera,
            row.edge,
            score,
        )

    @staticmethod
    def _tags(row: Row) -> tuple[str, ...]:
        if not row.is_sighting:
            return ("camera",)
        return ("ended",) if row.ended else ()

    def _image(self, row: Row) -> ImageTk.PhotoImage | str:
        made = self.images.get(row.event_id)
        if made is not None:
            return made
        jpeg = self.thumbs.get(row.event_id, row.image_ids) if row.image_ids else None
        if not jpeg:
            return ""
        image = photo(jpeg, THUMB_W, THUMB_H, master=self)
        if image is None:
            return ""
        self.images[row.event_id] = image
        return image

    def forget_image(self, event_id: str) -> None:
        """The row's picture changed: make it again next time."""
        self.images.pop(event_id, None)

    def scroll_by(self, rows: int) -> None:
        """Move the page by `rows` (positive: older)."""
        self.offset = max(0, min(self.offset + rows, len(self.log) - self.rows))
        self.refresh()

    def _scrolled(self, *args: str) -> None:
        if args[0] == "moveto":
            self.offset = int(float(args[1]) * len(self.log))
            self.refresh()
        elif args[0] == "scroll":
            step = self.rows if args[2] == "pages" else 1
            self.scroll_by(int(args[1]) * step)

    def _wheel(self, event: tk.Event[tk.Misc]) -> str:
        up = event.num == 4 or getattr(event, "delta", 0) > 0
        self.scroll_by(-3 if up else 3)
        return "break"

    def _resized(self, event: tk.Event[tk.Misc]) -> None:
        fit = max(1, (event.height - 25) // ROW_HEIGHT)
        if fit != self.rows:
            self.rows = fit
            self.refresh()

    def _set_scrollbar(self) -> None:
        total = max(1, len(self.log))
        self.scroll.set(self.offset / total, min(1.0, (self.offset + self.rows) / total))

    def _read_selection(self) -> set[str]:
        """The rows selected on this page (by event id), noted in `selected`."""
        items = self.tree.get_children()
        chosen = {
            self.shown[items.index(i)]
            for i in self.tree.selection()
            if i in items and items.index(i) < len(self.shown)
        }
        self.selected = (self.selected - set(self.shown)) | chosen
        return chosen

    def _selected(self, _event: object) -> None:
        chosen = self._read_selection()
        if len(chosen) == 1:
            row = self.log.rows.get(next(iter(chosen)))
            if row is not None:
                self.on_select(row)

    def _select_shown(self) -> None:
        items = self.tree.get_children()
        want = [items[i] for i, eid in enumerate(self.shown) if eid in self.selected]
        if set(want) != set(self.tree.selection()):
            self.tree.selection_set(want)

    def selected_rows(self) -> list[Row]:
        """The rows selected (on any page), newest first."""
        return [row for row in self.log.visible() if row.event_id in self.selected]
