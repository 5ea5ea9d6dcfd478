"""Watcher feed: how fast the desktop watcher absorbs and shows sightings, and how long a new
sighting takes from the hub's commit to its row being visible in the Tk table.

A fresh hub (`hub init`, one edge and one watcher credential) runs as its own process
(`hub serve`, TLS as deployed). The watcher is the real desktop app (`WatcherWindow`, Tk under
a private Xvfb display) in this process, subscribed as a laptop does (thumbnails on demand).
The edge is another process that sends events with real JPEG thumbnails (about 5 KB) and
records, on the shared monotonic clock, when each acknowledgement arrived: the hub
acknowledges only after the commit, so that is a fair stand-in for the commit (a little late,
which flatters nothing: the latency counts from it). "Visible" is the row inserted in the
Treeview and the idle tasks (the drawing) done: the window's `on_shown` hook runs right after
`update_idletasks()` in its redraw.

Phases:
  - live: the edge sends --rate events/s (open loop, 50 by default) for --seconds; the figure
    is the p95 of (row visible - ack arrived); the thumbnail's own latency is reported beside
    it (asked for when the row is shown, fetched, decoded, drawn);
  - burst: the edge sends as fast as the hub acknowledges for --seconds; the rate the window
    showed rows at is compared with the rate the hub acknowledged them;
  - backlog: a new window subscribes from seq 0 and takes the whole log (both phases); the
    figure `events_per_s` is entries applied and shown per second until it is caught up: the
    watcher's own limit, with no edge or hub rate to hide behind.

Last line: one JSON object with events_per_s, p95_visible_ms and the rest.
Goal: p95_visible_ms <= 300 at 50 events/s.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tkinter as tk
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.queues import Queue
from pathlib import Path

from PIL import Image, ImageDraw

from bench.hub_ingest import _pct, _tail, free_port, start_hub, stop_hub
from hub.cli import main as hub_cli
from hub.db import connect as db_connect
from hub.images import ImageStore
from hub.jobs import InsertEvent
from watcher import feed as f
from watcher.config import Filters
from watcher.gui.window import WatcherWindow
from wire import messages as m
from wire.client import Backoff, connect
from wire.credential import load_credential

SNAPSHOT = (640, 480)
THUMBNAIL = (160, 120)
PICTURES = 16  # distinct JPEG pairs the edge cycles through
SETUP_TIMEOUT_S = 60.0
DRAIN_S = 30.0
Ack = tuple[str, float]  # event_id, monotonic time its acknowledgement arrived


def init_hub(data: Path, port: int) -> tuple[Path, Path]:
    """`hub init` and one edge and one watcher; their credential files."""
    with contextlib.redirect_stdout(io.StringIO()):
        for argv in (
            ["init", str(data), "--port", str(port), "--advertise", f"127.0.0.1:{port}"],
            ["add-peer", "edge-bench", "--role", "edge", "--data", str(data)],
            ["add-peer", "laptop", "--role", "watcher", "--data", str(data)],
        ):
            if hub_cli(argv) != 0:
                raise RuntimeError(f"hub {' '.join(argv)} failed")
    logging.getLogger().setLevel(logging.WARNING)
    return data / "credentials" / "edge-bench.toml", data / "credentials" / "laptop.toml"


def start_xvfb() -> tuple[subprocess.Popen[bytes], str]:
    """A private X display; its process and name."""
    exe = shutil.which("Xvfb")
    if exe is None:
        raise RuntimeError("Xvfb is not installed (apt-get install xvfb)")
    read, write = os.pipe()
    argv = [exe, "-displayfd", str(write), "-screen", "0", "1280x800x24", "-nolisten", "tcp"]
    proc = subprocess.Popen(argv, pass_fds=(write,), stderr=subprocess.DEVNULL)
    os.close(write)
    with os.fdopen(read) as answer:
        number = answer.readline().strip()
    if not number:
        proc.kill()
        raise RuntimeError("Xvfb did not start")
    return proc, f":{number}"


# --- the edge (its own process) ----------------------------------------------------------------


def _jpeg(size: tuple[int, int], n: int) -> bytes:
    image = Image.new("RGB", size, (40 + 13 * n % 200, 90, 160 - 7 * n % 150))
    ImageDraw.Draw(image).ellipse((size[0] // 4, size[1] // 4, size[0] // 2, size[1] // 2))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


@dataclass(frozen=True)
class EdgeJob:
    """One phase for the edge process: `rate` events/s (None: closed loop) for `seconds`."""

    seconds: float
    rate: float | None


def _edge(cred_path: Path, jobs: Queue[EdgeJob | None], acks: Queue[list[Ack]]) -> None:
    """In the edge process: run each job it is given, send back its acknowledgements."""
    cred = load_credential(cred_path)
    pictures = [(_jpeg(SNAPSHOT, n), _jpeg(THUMBNAIL, n)) for n in range(PICTURES)]
    while (job := jobs.get()) is not None:
        conn = connect(cred.endpoint(), cred.identity())  # per job: idle, it would time out
        got: list[Ack] = []
        start = time.monotonic()
        for k in range(10**9):
            due = start + (k / job.rate if job.rate else 0.0)
            if due >= start + job.seconds or time.monotonic() >= start + job.seconds:
                break
            time.sleep(max(0.0, due - time.monotonic()))
            snapshot, thumb = pictures[k % PICTURES]
            event = _event(k, len(snapshot), len(thumb))
            conn.send(event, snapshot + thumb)
            ack = conn.expect(m.EventAck)
            got.append((ack.event_id, time.monotonic()))
        conn.close("phase done")
        acks.put(got)


def _event(k: int, snapshot_len: int, thumbnail_len: int) -> m.Event:
    now = int(time.time() * 1000)
    return m.Event(
        event_id=str(uuid.uuid4()),
        camera=f"cam-{k % 4}",
        label=("person", "cat", "dog", "car", "bicycle")[k % 5],
        score=0.8,
        started_at=now - 1000,
        ended_at=now,
        box=m.Box(x=100, y=80, w=200, h=240),
        model_version="bench-1",
        snapshot_len=snapshot_len,
        thumbnail_len=thumbnail_len,
    )


# --- the watcher (this process, Tk) ------------------------------------------------------------


@dataclass
class Seen:
    """When each row was first on screen, when its thumbnail first was, and when each entry
    was first part of a drawn table (applied, then redrawn: on screen or scrolled past)."""

    rows: dict[str, float] = field(default_factory=dict)
    thumbs: dict[str, float] = field(default_factory=dict)
    drawn: dict[str, float] = field(default_factory=dict)


def open_window(cred_path: Path, port: int, display: str) -> tuple[WatcherWindow, Seen]:
    """The desktop app, subscribed from seq 0, recording what it shows."""
    cred = load_credential(cred_path)
    endpoint = cred.endpoint()
    endpoint = type(endpoint)("127.0.0.1", port, endpoint.fingerprint)
    feed = f.HubFeed(endpoint, cred.identity(), f.Subscription(Filters()), backoff=Backoff())
    window = WatcherWindow(feed, root=tk.Tk(screenName=display))
    seen = Seen()

    def shown(ids: list[str], applied: list[str]) -> None:
        now = time.monotonic()
        for event_id in applied:
            seen.drawn.setdefault(event_id, now)
        for event_id in ids:
            seen.rows.setdefault(event_id, now)
            if event_id in window.table.images:
                seen.thumbs.setdefault(event_id, now)

    window.on_shown = shown
    window.start()
    return window, seen


@dataclass
class Stalls:
    """The longest the Tk loop was busy in one go (ms): how long a click could wait."""

    worst_ms: float = 0.0


STALLS = Stalls()


def pump_until(window: WatcherWindow, done: Callable[[], bool], limit_s: float) -> bool:
    """Run the Tk loop until `done()` holds or `limit_s` passes."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        busy = time.monotonic()
        window.root.update()
        STALLS.worst_ms = max(STALLS.worst_ms, (time.monotonic() - busy) * 1000)
        if done():
            return True
        time.sleep(0.002)
    return False


@dataclass(frozen=True)
class EdgeLink:
    """The edge process's queues: jobs to it, acknowledgements back."""

    jobs: Queue[EdgeJob | None]
    acks: Queue[list[Ack]]


def run_phase(window: WatcherWindow, seen: Seen, job: EdgeJob, edge: EdgeLink) -> list[Ack]:
    """Give the edge a job; keep the window running until every acked row was drawn."""
    jobs, acks = edge.jobs, edge.acks
    jobs.put(job)
    got: list[list[Ack]] = []

    def finished() -> bool:
        if not got and not acks.empty():
            got.append(acks.get())
        return bool(got) and all(eid in seen.drawn for eid, _ in got[0])

    if not pump_until(window, finished, job.seconds + DRAIN_S):
        raise RuntimeError(f"rows not all shown within {DRAIN_S:.0f} s of the phase's end")
    pump_until(window, lambda: False, 1.0)  # let the last thumbnails come
    return got[0]


# --- figures -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Live:
    """The live phase's latencies (ms, sorted) and how many rows never made the screen."""

    visible: list[float]
    thumbnails: list[float]
    unseen: int
    acks: int
    seconds: float


def live_figures(acks: list[Ack], seen: Seen, seconds: float) -> Live:
    """Row and thumbnail latencies from each acknowledgement."""
    visible = sorted((seen.rows[e] - t) * 1000 for e, t in acks if e in seen.rows)
    thumbs = sorted((seen.thumbs[e] - t) * 1000 for e, t in acks if e in seen.thumbs)
    return Live(visible, thumbs, len(acks) - len(visible), len(acks), seconds)


def burst_figures(acks: list[Ack], seen: Seen) -> tuple[float, float, float]:
    """Acknowledged and drawn rates over the burst (events/s), and the last row's lag (ms)."""
    first, last = acks[0][1], acks[-1][1]
    ack_rate = (len(acks) - 1) / max(last - first, 1e-9)
    drawn = sorted(seen.drawn[e] for e, _ in acks)
    drawn_rate = (len(drawn) - 1) / max(drawn[-1] - drawn[0], 1e-9)
    return ack_rate, drawn_rate, (drawn[-1] - last) * 1000


def preload(data: Path, count: int) -> None:
    """`count` sightings in the log before the hub starts, written with the hub's own code
    (rows sharing a few image files, so that making them takes seconds, not an hour)."""
    images = ImageStore(data / "images", data, min_free_bytes=0)
    db = db_connect(data / "hub.db")
    try:
        pictures = [(_jpeg(SNAPSHOT, n), _jpeg(THUMBNAIL, n)) for n in range(PICTURES)]
        files = []
        for n, (snapshot, thumb) in enumerate(pictures):
            event = _event(n, len(snapshot), len(thumb))
            files.append(images.write_event("edge-bench", event, snapshot + thumb))
        db.execute("BEGIN IMMEDIATE")
        for k in range(count):
            snapshot_path, thumb_path = files[k % PICTURES]
            event = _event(k, 1, 1)
            InsertEvent("edge-bench", event, snapshot_path, thumb_path).apply(db, [])
        db.execute("COMMIT")
    finally:
        db.close()


def catch_up(window: WatcherWindow, seen: Seen, total: int) -> float:
    """Seconds from the window's start until the whole log is applied and drawn."""
    start = time.monotonic()
    done = pump_until(
        window,
        lambda: window.caught_up_seq is not None and len(seen.drawn) >= total,
        SETUP_TIMEOUT_S + total / 500,
    )
    if not done:
        raise RuntimeError(f"backlog of {total} not shown; drew {len(seen.drawn)}")
    return time.monotonic() - start


def filter_ms(window: WatcherWindow, filters: Filters) -> float:
    """Milliseconds to apply filters to the whole log and redraw."""
    start = time.monotonic()
    window.set_filters(filters)
    return (time.monotonic() - start) * 1000


@dataclass(frozen=True)
class Results:
    """Every phase's figures."""

    backlog: int
    backlog_s: float
    backlog_stall_ms: float
    live: Live
    burst: tuple[float, float, float]
    filter_ms: tuple[float, float]  # one class, then everything again
    stall_ms: float  # the worst over the whole run


def measure(args: argparse.Namespace, root: Path) -> Results:
    """Every phase against one hub and one edge."""
    port = free_port()
    edge_cred, watcher_cred = init_hub(root / "hub", port)
    preload(root / "hub", args.backlog)
    ctx = multiprocessing.get_context("fork")  # forked before Tk exists in this process
    link = EdgeLink(ctx.Queue(), ctx.Queue())
    hub = xvfb = None
    edge = ctx.Process(target=_edge, args=(edge_cred, link.jobs, link.acks), daemon=True)
    try:
        hub = start_hub(root / "hub", port, root / "hub.log")
        edge.start()
        xvfb, display = start_xvfb()
        window, seen = open_window(watcher_cred, port, display)
        try:
            backlog_s = catch_up(window, seen, args.backlog)
            backlog_stall = STALLS.worst_ms
            live_acks = run_phase(window, seen, EdgeJob(args.seconds, args.rate), link)
            burst_acks = run_phase(window, seen, EdgeJob(args.burst_seconds, None), link)
            filters = (filter_ms(window, Filters(labels=("cat",))), filter_ms(window, Filters()))
        finally:
            window.close()
        link.jobs.put(None)
        edge.join(15)
    finally:
        if edge.is_alive():
            edge.terminate()
        stop_hub(hub)
        if xvfb is not None:
            xvfb.terminate()
            xvfb.wait(10)
    live = live_figures(live_acks, seen, args.seconds)
    burst = burst_figures(burst_acks, seen)
    return Results(args.backlog, backlog_s, backlog_stall, live, burst, filters, STALLS.worst_ms)


def report(r: Results, args: argparse.Namespace) -> dict[str, object]:
    """One line per figure; the JSON summary."""
    vis, thumbs, events_per_s = r.live.visible, r.live.thumbnails, r.backlog / r.backlog_s
    print(
        f"backlog {r.backlog} entries from seq 0: {events_per_s:.0f} events/s absorbed and "
        f"shown ({r.backlog_s:.1f} s to caught up and drawn; the Tk loop busy at most "
        f"{r.backlog_stall_ms:.0f} ms at a time)"
    )
    print(
        f"live    {args.rate:.0f} events/s for {args.seconds:.0f} s on top of it: "
        f"{r.live.acks} rows visible after the ack p50 {_pct(vis, 50):.0f} ms "
        f"p95 {_pct(vis, 95):.0f} ms p99 {_pct(vis, 99):.0f} ms max {vis[-1]:.0f} ms "
        f"(goal p95 <= 300); {r.live.unseen} never on screen"
    )
    print(
        f"        their thumbnails drawn after the ack p50 {_pct(thumbs, 50):.0f} ms "
        f"p95 {_pct(thumbs, 95):.0f} ms ({len(thumbs)} of {r.live.acks})"
    )
    print(
        f"burst   one edge, closed loop, {args.burst_seconds:.0f} s: the hub acknowledged "
        f"{r.burst[0]:.0f} events/s, the window drew {r.burst[1]:.0f} rows/s; the last row "
        f"drawn {r.burst[2]:.0f} ms after the last ack"
    )
    print(
        f"filters over {r.backlog + r.live.acks:,} rows: one class {r.filter_ms[0]:.0f} ms, "
        f"all again {r.filter_ms[1]:.0f} ms; Tk loop busy at most {r.stall_ms:.0f} ms at a time"
    )
    return {
        "events_per_s": round(events_per_s),
        "p95_visible_ms": round(_pct(vis, 95), 1),
        "p50_visible_ms": round(_pct(vis, 50), 1),
        "p99_visible_ms": round(_pct(vis, 99), 1),
        "p95_thumbnail_ms": round(_pct(thumbs, 95), 1),
        "rate": args.rate,
        "live_rows": r.live.acks,
        "never_on_screen": r.live.unseen,
        "backlog_entries": r.backlog,
        "backlog_s": round(r.backlog_s, 2),
        "burst_acked_per_s": round(r.burst[0]),
        "burst_drawn_per_s": round(r.burst[1]),
        "burst_lag_ms": round(r.burst[2], 1),
        "filter_ms": round(r.filter_ms[0], 1),
        "max_ui_stall_ms": round(r.stall_ms, 1),
        "cpus": os.cpu_count(),
    }


def main() -> None:
    """Set up a hub, an edge and Xvfb; run the phases; print the figures and the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the live phase")
    parser.add_argument("--rate", type=float, default=50.0, help="events/s of the live phase")
    parser.add_argument("--burst-seconds", type=float, default=10.0, help="length of the burst")
    parser.add_argument(
        "--backlog",
        type=int,
        default=100_000,
        help="sightings logged before the watcher starts",
    )
    parser.add_argument("--dir", type=Path, help="make the temporary folder here (its disk)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="vigia-bench-watcher-", dir=args.dir))
    try:
        summary = report(measure(args, root), args)
    except BaseException:
        print(f"hub log, last lines:\n{_tail(root / 'hub.log')}", file=sys.stderr)
        raise
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(summary))
    if summary["p95_visible_ms"] > 300:  # type: ignore[operator]
        sys.exit(1)


if __name__ == "__main__":
    main()
