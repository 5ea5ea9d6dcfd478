"""The panel of edges and their cameras: online or offline, fps, model version."""

from __future__ import annotations

import tkinter as tk
from tkinter import ttk

from watcher.i18n import tr
from watcher.log import Fleet

COLUMNS = ("state", "fps", "model")


class FleetPanel(ttk.Frame):
    """A tree: each edge, and under it its cameras."""

    def __init__(self, master: tk.Misc) -> None:
        super().__init__(master)
        ttk.Label(self, text=tr("Edges and cameras"), font=("TkDefaultFont", 10, "bold")).pack(
            anchor="w"
        )
        self.tree = ttk.Treeview(self, columns=COLUMNS, height=8)
        self.tree.heading("#0", text=tr("Name"))
        self.tree.column("#0", width=150)
        for column, title, width in (
            ("state", tr("State"), 70),
            ("fps", tr("fps"), 50),
            ("model", tr("Model"), 90),
        ):
            self.tree.heading(column, text=title)
            self.tree.column(column, width=width, anchor=tk.W)
        self.tree.tag_configure("offline", foreground="#b00000")
        self.tree.tag_configure("online", foreground="#006000")
        self.tree.pack(fill=tk.BOTH, expand=True)

    def refresh(self, fleet: Fleet) -> None:
        """Show the fleet as it is now."""
        for edge in sorted(fleet.edges.values(), key=lambda e: e.edge):
            iid = f"edge:{edge.edge}"
            values = (self._state(edge.online), "", edge.model_version or "")
            self._put("", iid, edge.edge, values, edge.online)
            self.tree.item(iid, open=True)
        for (edge_name, camera), state in sorted(fleet.cameras.items()):
            parent = f"edge:{edge_name}"
            if not self.tree.exists(parent):
                continue
            fps = f"{state.fps:.1f}" if state.fps is not None and state.online else ""
            values = (self._state(state.online), fps, "")
            self._put(parent, f"cam:{edge_name}/{camera}", camera, values, state.online)

    def _put(self, parent: str, iid: str, text: str, values: tuple[str, ...], up: bool) -> None:
        tags = ("online",) if up else ("offline",)
        if self.tree.exists(iid):
            self.tree.item(iid, text=text, values=values, tags=tags)
        else:
            self.tree.insert(parent, tk.END, iid=iid, text=text, values=values, tags=tags)

    @staticmethod
    def _state(online: bool) -> str:
        return tr("online") if online else tr("offline")
