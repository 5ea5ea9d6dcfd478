"""The watcher's tests: a real hub in this process (the hub's fixtures), real JPEGs, entries
made as the hub makes them, and a feed dialled as the `watcher-1` peer."""

from __future__ import annotations

import io
import os
import queue
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
from PIL import Image, ImageDraw, ImageOps

from tests.hub.conftest import RunningHub, hub, start_hub
from watcher import feed as f
from watcher.config import Filters
from wire import messages as m
from wire.client import Backoff, Endpoint
from wire.connection import Connection

__all__ = ["hub", "start_hub"]

WAIT_S = 15.0
COLOURS = ["#c0392b", "#2980b9", "#27ae60", "#8e44ad", "#d35400", "#16a085"]


def jpeg(width: int, height: int, colour: str, text: str = "") -> bytes:
    """A real JPEG: a coloured picture with a box and a caption."""
    image = Image.new("RGB", (width, height), colour)
    draw = ImageDraw.Draw(image)
    draw.rectangle((width // 4, height // 4, width * 3 // 4, height * 3 // 4), outline="white")
    draw.text((4, 4), text, fill="white")
    out = io.BytesIO()
    image.save(out, "JPEG", quality=80)
    return out.getvalue()


def _photo(label: str, n: int) -> Image.Image | None:
    """A real photo for some classes, from scikit-image's bundled ones (installed with the
    trainer), so the screenshot looks like the real thing; None without it."""
    try:
        from skimage import data  # noqa: PLC0415 - optional: only for nicer pictures
    except ImportError:
        return None
    makers = {
        "cat": [data.chelsea],
        "person": [data.astronaut, data.camera],
        "cup": [data.coffee],
        "horse": [data.horse],
    }.get(label)
    if not makers:
        return None
    pixels = makers[n // 2 % len(makers)]()  # type: ignore[no-untyped-call]
    if pixels.dtype == bool:
        pixels = (~pixels).astype("uint8") * 200 + 30  # a dark horse on a light field
    return ImageOps.fit(Image.fromarray(pixels).convert("RGB"), (640, 480))


def pictures(label: str, n: int) -> tuple[bytes, bytes]:
    """A snapshot (640x480) and its thumbnail (160x120), as JPEG."""
    photo = _photo(label, n)
    if photo is None:
        colour = COLOURS[n % len(COLOURS)]
        return jpeg(640, 480, colour, label), jpeg(160, 120, colour, label)
    out, small = io.BytesIO(), io.BytesIO()
    photo.save(out, "JPEG", quality=85)
    photo.resize((160, 120)).save(small, "JPEG", quality=85)
    return out.getvalue(), small.getvalue()


def photo_event(
    camera: str = "door", label: str = "cat", *, started_at: int | None = None, n: int = 0
) -> tuple[m.Event, bytes]:
    """An event whose snapshot and thumbnail are real JPEGs."""
    start = started_at if started_at is not None else int(time.time() * 1000) - 2000
    snapshot, thumbnail = pictures(label, n)
    event = m.Event(
        event_id=str(uuid.uuid4()),
        camera=camera,
        label=label,
        score=0.9,
        started_at=start,
        ended_at=start + 1500,
        box=m.Box(x=160, y=120, w=320, h=240),
        model_version="v1",
        snapshot_len=len(snapshot),
        thumbnail_len=len(thumbnail),
    )
    return event, snapshot + thumbnail


def send(conn: Connection, event: m.Event, body: bytes) -> int:
    """Send an event as an edge; its seq."""
    conn.send(event, body)
    return conn.expect(m.EventAck).seq


def entry(
    seq: int,
    *,
    kind: m.EventKind = m.EventKind.SIGHTING,
    label: str = "cat",
    camera: str = "door",
    started_at: int = 1_700_000_000_000,
    ends: str | None = None,
    event_id: str | None = None,
) -> m.LogEntry:
    """A log entry as the hub sends it."""
    return m.LogEntry(
        seq=seq,
        kind=kind,
        event_id=event_id or str(uuid.UUID(int=seq)),
        edge="edge-1",
        camera=camera,
        label=label,
        score=0.5 + seq % 5 / 10,
        started_at=started_at,
        ended_at=started_at + 1000,
        box=m.Box(x=1, y=2, w=3, h=4),
        model_version="v1",
        ends=ends,
    )


def make_feed(
    running: RunningHub, filters: Filters | None = None, *, port: int | None = None
) -> f.HubFeed:
    """A feed to the running hub as `watcher-1` (fast backoff, for tests)."""
    cred = running.credential("watcher-1")
    endpoint = Endpoint("127.0.0.1", port or running.hub.server.address[1], cred.fingerprint)
    return f.HubFeed(
        endpoint,
        cred.identity(),
        f.Subscription(filters or Filters()),
        backoff=Backoff(base_s=0.1, cap_s=0.5),
    )


def until(
    feed: f.HubFeed, done: Callable[[list[f.Update]], bool], into: list[f.Update]
) -> list[f.Update]:
    """Collect the feed's updates into `into` until `done(into)` holds (or fail)."""
    deadline = time.monotonic() + WAIT_S
    while not done(into):
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"timed out; got {into[-5:]}")
        try:
            into.append(feed.updates.get(timeout=min(left, 0.2)))
        except queue.Empty:
            continue
    return into


def seqs(updates: list[f.Update]) -> list[int]:
    """The seqs of the entries among updates, in arrival order."""
    return [u.entry.seq for u in updates if isinstance(u, f.EntryArrived)]


@pytest.fixture
def feeds() -> Iterator[list[f.HubFeed]]:
    """Feeds to stop after the test."""
    started: list[f.HubFeed] = []
    yield started
    for feed in started:
        feed.stop()


@pytest.fixture(scope="session")
def display() -> Iterator[str]:
    """A private X display (Xvfb) for the GUI; the test is skipped only if Xvfb is missing.
    It lives as long as the test process: Tk keeps its display connection after a window is
    destroyed, and Xlib ends the process if that display goes away."""
    exe = shutil.which("Xvfb")
    if exe is None:
        pytest.skip("Xvfb is not installed (apt-get install xvfb): the GUI test needs a display")
    read, write = os.pipe()
    argv = [exe, "-displayfd", str(write), "-screen", "0", "1280x800x24", "-nolisten", "tcp"]
    proc = subprocess.Popen(argv, pass_fds=(write,), stderr=subprocess.DEVNULL)
    os.close(write)
    with os.fdopen(read) as answer:
        number = answer.readline().strip()  # Xvfb writes the display it took once it is ready
    if not number:
        proc.kill()
        raise RuntimeError("Xvfb did not start")
    yield f":{number}"
    proc.terminate()
    proc.wait(10)
