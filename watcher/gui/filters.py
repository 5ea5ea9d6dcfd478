"""The filter bar: class, camera, date range and text; and the counts per class beside it."""

from __future__ import annotations

import tkinter as tk
from collections import Counter
from collections.abc import Callable
from tkinter import ttk

from watcher.config import Filters, TimeError, parse_when
from watcher.i18n import tr

ANY = ""
COUNTS_SHOWN = 10


class FilterBar(ttk.Frame):
    """Entry fields that make a `Filters`; `on_change` gets each new one."""

    def __init__(self, master: tk.Misc, on_change: Callable[[Filters], None]) -> None:
        super().__init__(master, padding=(4, 4))
        self.on_change = on_change
        self.label = tk.StringVar(self, ANY)
        self.camera = tk.StringVar(self, ANY)
        self.since = tk.StringVar(self)
        self.until = tk.StringVar(self)
        self.text = tk.StringVar(self)
        self.problem = tk.StringVar(self)
        self.labels_box = self._combo(tr("Class"), self.label, 0)
        self.cameras_box = self._combo(tr("Camera"), self.camera, 2)
        self._entry(tr("From"), self.since, 4, 16)
        self._entry(tr("To"), self.until, 6, 16)
        self._entry(tr("Text"), self.text, 8, 16)
        ttk.Button(self, text=tr("Apply"), command=self.apply).grid(row=0, column=10, padx=2)
        ttk.Button(self, text=tr("Clear"), command=self.clear).grid(row=0, column=11, padx=2)
        ttk.Label(self, textvariable=self.problem, foreground="#b00000").grid(
            row=1, column=0, columnspan=12, sticky="w"
        )

    def _combo(self, title: str, var: tk.StringVar, column: int) -> ttk.Combobox:
        ttk.Label(self, text=title).grid(row=0, column=column, padx=(6, 2))
        box = ttk.Combobox(self, textvariable=var, width=14, values=[ANY])
        box.grid(row=0, column=column + 1)
        box.bind("<<ComboboxSelected>>", lambda _e: self.apply())
        box.bind("<Return>", lambda _e: self.apply())
        return box

    def _entry(self, title: str, var: tk.StringVar, column: int, width: int) -> None:
        ttk.Label(self, text=title).grid(row=0, column=column, padx=(6, 2))
        entry = ttk.Entry(self, textvariable=var, width=width)
        entry.grid(row=0, column=column + 1)
        entry.bind("<Return>", lambda _e: self.apply())

    def choices(self, labels: list[str], cameras: list[str]) -> None:
        """The classes and cameras seen so far, offered in the drop-downs."""
        self.labels_box.configure(values=[ANY, *labels])
        self.cameras_box.configure(values=[ANY, *cameras])

    def read(self) -> Filters:
        """The filters as typed; TimeError names a date that cannot be read."""
        label, camera = self.label.get().strip(), self.camera.get().strip()
        since, until = self.since.get().strip(), self.until.get().strip()
        return Filters(
            labels=(label,) if label else (),
            cameras=(camera,) if camera else (),
            since_ms=parse_when(since) if since else None,
            until_ms=parse_when(until) if until else None,
            text=self.text.get().strip(),
        )

    def apply(self) -> None:
        """Hand the filters on, or say what is wrong with them."""
        try:
            filters = self.read()
        except TimeError as exc:
            self.problem.set(str(exc))
            return
        self.problem.set("")
        self.on_change(filters)

    def clear(self) -> None:
        """Show everything again."""
        for var in (self.label, self.camera, self.since, self.until, self.text):
            var.set("")
        self.apply()


def counts_text(counts: Counter[str], total: int) -> str:
    """`12 sightings: cat 7 · dog 5`, the most frequent classes first."""
    parts = [f"{label} {n}" for label, n in counts.most_common(COUNTS_SHOWN)]
    more = len(counts) - COUNTS_SHOWN
    if more > 0:
        parts.append(tr("+{n} more").format(n=more))
    head = tr("{n} rows").format(n=total)
    return f"{head}: " + " · ".join(parts) if parts else head
