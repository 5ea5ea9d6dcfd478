"""The desktop app for real: Tk under Xvfb against a real hub holding events. The test reads
the widgets (the table shows those events, newest first, each with its thumbnail; the panel,
the counts, the connection state), clicks a row for its snapshot, filters, and saves a
screenshot in its tmp dir (and to $VIGIA_SCREENSHOT when set: that is how docs/img/watcher.png
is made)."""

from __future__ import annotations

import os
import time
import tkinter as tk
from collections.abc import Callable
from pathlib import Path

from PIL import ImageGrab

from tests.hub.conftest import RunningHub
from tests.watcher.conftest import WAIT_S, entry, make_feed, photo_event, send
from watcher import feed as f
from watcher import i18n
from watcher.gui.table import local
from watcher.gui.window import WatcherWindow
from wire import messages as m

SCENE = [  # minutes ago, camera, class
    (58, "door", "cat"),
    (51, "yard", "horse"),
    (44, "door", "person"),
    (37, "kitchen", "cup"),
    (30, "yard", "person"),
    (23, "door", "cat"),
    (16, "kitchen", "person"),
    (9, "yard", "horse"),
    (2, "door", "cat"),
]


def _status(edge: object, *, kitchen_online: bool) -> None:
    cameras = [
        m.CameraStatus(
            camera=name,
            online=name != "kitchen" or kitchen_online,
            fps=fps,
            inference_ms=14.0,
            frames_in=100,
            processed=100,
            dropped=0,
            queue_depth=0,
        )
        for name, fps in (("door", 10.0), ("yard", 9.8), ("kitchen", 10.0))
    ]
    node = m.NodeStatus(
        sent_at=int(time.time() * 1000),
        model_version="v3",
        cpu_load=0.6,
        cpu_temp_c=51.0,
        throttled=[],
        cameras=cameras,
    )
    edge.send(m.Status(node=node))  # type: ignore[attr-defined]


def _pump(window: WatcherWindow, done: Callable[[], bool], what: str) -> None:
    """Run the Tk loop until `done` holds."""
    deadline = time.monotonic() + WAIT_S
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        window.root.update()
        time.sleep(0.01)


def _rows(window: WatcherWindow) -> list[tuple[tuple[str, ...], str]]:
    tree = window.table.tree
    return [
        (tuple(str(v) for v in tree.item(i, "values")), str(tree.item(i, "image")))
        for i in tree.get_children()
    ]


def test_the_window_shows_the_hub_s_events_with_thumbnails(
    hub: RunningHub, display: str, tmp_path: Path
) -> None:
    edge = hub.dial("edge-1")
    now = int(time.time() * 1000)
    events = []
    for n, (ago, camera, label) in enumerate(SCENE):
        event, body = photo_event(camera, label, started_at=now - ago * 60_000, n=n)
        send(edge, event, body)
        events.append(event)
    _status(edge, kitchen_online=True)
    _status(edge, kitchen_online=False)  # the hub logs camera_offline for the kitchen
    i18n.use(i18n.load("en"))
    window = WatcherWindow(make_feed(hub), root=tk.Tk(screenName=display))
    window.start()
    try:
        _pump(window, lambda: len(window.log.rows) == 10, "the backlog")
        _pump(window, lambda: sum(bool(img) for _, img in _rows(window)) == 9, "thumbnails")
        shown = _rows(window)
        sightings = [values for values, _ in shown if values[0] != "camera offline"]
        newest_first = [(label, camera) for _, camera, label in reversed(SCENE)]
        assert [(v[0], v[3]) for v in sightings] == newest_first
        assert all(v[4] == "edge-1" and v[5] == "0.90" for v in sightings)
        assert all(image for values, image in shown if values[0] != "camera offline")
        assert [(v[0], v[3], img) for v, img in shown if v[0] == "camera offline"] == [
            ("camera offline", "kitchen", "")
        ]
        assert window.thumbs.requests >= len(SCENE)  # asked for, lazily, as rows were shown
        assert "live" in window.link.cget("text")
        assert window.counts.get() == "10 rows: cat 3 · person 3 · horse 2 · cup 1"
        panel = window.panel.tree
        _pump(window, lambda: window.fleet.edges["edge-1"].model_version == "v3", "its status")
        assert panel.item("edge:edge-1", "values")[2] == "v3"
        assert panel.item("cam:edge-1/kitchen", "values")[0] == "offline"
        assert panel.item("cam:edge-1/door", "values")[:2] == ("online", "10.0")

        assert shown[0][0][0] == "camera offline"  # the newest entry: a camera change
        window.table.tree.selection_set(window.table.tree.get_children()[1])  # a click
        _pump(window, lambda: window.snapshot.image is not None, "the snapshot")
        assert window.snapshot.row is not None
        assert window.snapshot.row.event_id == events[-1].event_id
        image = window.snapshot.image
        assert image is not None and (image.width(), image.height()) == (400, 300)
        _screenshot(window, display, tmp_path)

        tree = window.table.tree
        tree.selection_set(tree.get_children()[1:3])  # two sightings: the selection to export
        window.root.update()
        exporting = window.export_to(tmp_path / "export")
        _pump(window, lambda: window.note.get().startswith("exported"), "the export")
        exporting.join(5)
        exported = (tmp_path / "export" / "sightings.csv").read_text().splitlines()
        assert len(exported) == 3 and events[-1].event_id in exported[1]
        assert len(list((tmp_path / "export" / "images").iterdir())) == 4
        assert window.note.get().startswith("exported 2 rows, 4 pictures")

        live, body = photo_event("yard", "owl", started_at=int(time.time() * 1000), n=3)
        send(edge, live, body)
        _pump(window, lambda: _rows(window)[0][0][0] == "owl", "the live row on top")
        window.filters.label.set("horse")
        window.filters.apply()
        assert [v[0] for v, _ in _rows(window)] == ["horse", "horse"]
    finally:
        window.close()


def _screenshot(window: WatcherWindow, display: str, tmp_path: Path) -> None:
    window.root.update()
    root = window.root
    box = (
        root.winfo_rootx(),
        root.winfo_rooty(),
        root.winfo_rootx() + root.winfo_width(),
        root.winfo_rooty() + root.winfo_height(),
    )
    shot = ImageGrab.grab(bbox=box, xdisplay=display)
    shot.save(tmp_path / "watcher.png")
    colours = shot.convert("RGB").getcolors(maxcolors=1 << 20) or []
    assert len(colours) > 50  # a drawn window, not a blank screen
    wanted = os.environ.get("VIGIA_SCREENSHOT")
    if wanted:
        shot.save(wanted)


def test_the_table_holds_only_the_rows_in_view(display: str, hub: RunningHub) -> None:
    """A virtual list: thousands of rows in the log, a page of them in the Treeview; scrolling
    moves through the log, newest first."""
    window = WatcherWindow(make_feed(hub), root=tk.Tk(screenName=display))  # never started
    try:
        for seq in range(1, 5001):
            window.apply(f.EntryArrived(entry(seq, started_at=seq * 1000), b""))
        window.redraw()
        window.root.update()
        table = window.table
        assert len(table.tree.get_children()) == table.rows < 20
        assert _rows(window)[0][0][2] == local(5000 * 1000).strftime("%H:%M:%S")
        table.scroll_by(10**6)  # to the end: the oldest
        assert table.offset == 5000 - table.rows
        assert table.shown[-1] == entry(1).event_id
        table._scrolled("moveto", "0.5")
        assert table.shown[0] == entry(2500).event_id
        assert len(table.tree.get_children()) == table.rows
    finally:
        window.close()
