"""The snapshot view: the full picture of the row clicked, with its details."""

from __future__ import annotations

import tkinter as tk
from tkinter import ttk

from PIL import ImageTk

from watcher.gui.images import photo
from watcher.gui.table import local
from watcher.i18n import tr
from watcher.log import Row

VIEW_W, VIEW_H = 400, 300


class SnapshotView(ttk.Frame):
    """The picture (when it has come) above its details."""

    def __init__(self, master: tk.Misc) -> None:
        super().__init__(master)
        self.row: Row | None = None
        self.image: ImageTk.PhotoImage | None = None
        self.picture = ttk.Label(self, text=tr("Click a row to see its snapshot"), anchor="center")
        self.picture.pack(fill=tk.BOTH, expand=True)
        self.details = tk.StringVar(self)
        ttk.Label(self, textvariable=self.details, justify=tk.LEFT).pack(anchor="w")

    def show(self, row: Row) -> None:
        """Show this row's details; its picture follows with `picture`."""
        self.row, self.image = row, None
        self.picture.configure(image="", text=tr("Loading the snapshot…"))
        when = local(row.started_at).strftime("%Y-%m-%d %H:%M:%S")
        box = f"{row.box.x},{row.box.y} {row.box.w}x{row.box.h}" if row.box else "—"
        state = tr("ended") if row.ended else tr("seen")
        self.details.set(
            f"{row.label}  {row.score:.2f}  ({state})\n{when}\n"
            f"{tr('Camera')}: {row.camera}   {tr('Edge')}: {row.edge}\n"
            f"{tr('Model')}: {row.model_version or '—'}   {tr('Box')}: {box}\n{row.event_id}"
        )

    def picture_arrived(self, row_id: str, jpeg: bytes) -> None:
        """The full snapshot of a row (empty: the hub has none)."""
        if self.row is None or self.row.event_id != row_id:
            return
        image = photo(jpeg, VIEW_W, VIEW_H, master=self) if jpeg else None
        if image is None:
            self.picture.configure(image="", text=tr("No snapshot for this sighting"))
            return
        self.image = image
        self.picture.configure(image=image, text="")
