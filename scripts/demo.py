"""Vigía on one machine, as far as it is built: a real hub, and stand-ins for its peers.

Starts `hub serve` on a fresh data directory, subscribes a watcher to the live log, lets an edge
report sightings (JPEGs drawn here until the real edge lands) and its cameras' status, shows what
the hub refuses, revokes the edge, exports the log, and stops the hub with SIGTERM.
"""

from __future__ import annotations

import argparse
import io
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from PIL import Image, ImageDraw

from hub.cli import main as hub
from wire import messages as m
from wire.client import connect
from wire.connection import Connection
from wire.credential import load_credential
from wire.errors import WireError

LABELS = ("cat", "person", "bicycle", "dog")


def step(text: str) -> None:
    """One line of progress on stdout."""
    print(f"demo: {text}", flush=True)


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_hub(data: Path) -> subprocess.Popen[bytes]:
    """Run `hub serve` and wait until it accepts connections."""
    port = load_credential(data / "credentials" / "admin.toml").endpoint().port
    process = subprocess.Popen([Path(sys.executable).parent / "hub", "serve", "--data", data])
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return process
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("the hub did not start")


def jpeg(label: str, size: tuple[int, int]) -> bytes:
    """A picture of a labelled box, as JPEG."""
    image = Image.new("RGB", size, (40, 60, 80))
    draw = ImageDraw.Draw(image)
    draw.rectangle(
        (size[0] // 4, size[1] // 4, size[0] * 3 // 4, size[1] * 3 // 4),
        outline=(255, 200, 0),
        width=3,
    )
    draw.text((size[0] // 4 + 6, size[1] // 4 + 6), label, fill=(255, 255, 255))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def sighting(label: str) -> tuple[m.Event, bytes]:
    """A sighting on the door camera, with its snapshot and thumbnail."""
    snapshot, thumbnail = jpeg(label, (640, 480)), jpeg(label, (160, 120))
    now = int(time.time() * 1000)
    event = m.Event(
        event_id=str(uuid.uuid4()),
        camera="door",
        label=label,
        score=0.91,
        started_at=now - 1500,
        ended_at=now,
        box=m.Box(x=160, y=120, w=320, h=240),
        model_version="demo",
        snapshot_len=len(snapshot),
        thumbnail_len=len(thumbnail),
    )
    return event, snapshot + thumbnail


def watch(conn: Connection) -> None:
    """The watcher's reader: one line per log entry and status notice."""
    try:
        while True:
            got = conn.receive()
            msg = got.message
            if isinstance(msg, m.LogEntry):
                step(
                    f"watcher sees #{msg.seq} {msg.kind.value} {msg.label} on "
                    f"{msg.edge}/{msg.camera} (thumbnail {len(got.body)} bytes)"
                )
            elif isinstance(msg, m.StatusNotice):
                state = "online" if msg.online else "offline"
                step(f"watcher sees edge {msg.edge} {state}")
    except WireError:
        pass


def run_edge(data: Path) -> None:
    """Report sightings and a camera that drops, then show what the hub refuses."""
    cred = load_credential(data / "credentials" / "edge-kitchen.toml")
    edge = connect(cred.endpoint(), cred.identity())
    for label in LABELS:
        event, body = sighting(label)
        edge.send(event, body)
        ack = edge.expect(m.EventAck)
        step(f"edge sent a {label} ({len(body)} bytes of JPEG); hub made it durable as #{ack.seq}")
    camera = m.CameraStatus(
        camera="door",
        online=False,
        fps=0,
        inference_ms=0,
        frames_in=0,
        processed=0,
        dropped=0,
        queue_depth=0,
    )
    edge.send(
        m.Status(
            node=m.NodeStatus(
                sent_at=int(time.time() * 1000),
                model_version="demo",
                cpu_load=0.3,
                cpu_temp_c=None,
                throttled=[],
                cameras=[camera],
            )
        )
    )
    step("edge reports its door camera offline")
    time.sleep(0.5)
    step("revoking the edge with `hub revoke edge-kitchen`")
    hub(["revoke", "edge-kitchen", "--data", str(data)])
    try:
        edge.receive()
    except WireError as exc:
        step(f"the edge's live session was cut: {exc}")


def main() -> None:
    """Run the tour."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="hub data directory to create (default: temp)")
    args = parser.parse_args()
    data = args.data or Path(tempfile.mkdtemp(prefix="vigia-demo-")) / "hub"
    port = free_port()
    hub(["init", str(data), "--port", str(port), "--advertise", f"127.0.0.1:{port}"])
    for name, role in (("edge-kitchen", "edge"), ("laptop", "watcher")):
        hub(["add-peer", name, "--role", role, "--data", str(data)])
    process = start_hub(data)
    try:
        cred = load_credential(data / "credentials" / "laptop.toml")
        watcher = connect(cred.endpoint(), cred.identity())
        watcher.send(
            m.Subscribe(
                after_seq=0, cameras=[], labels=[], since_ms=None, until_ms=None, thumbnails=True
            )
        )
        threading.Thread(target=watch, args=(watcher,), daemon=True).start()
        step("watcher 'laptop' subscribed to the live log over TLS")
        run_edge(data)
        time.sleep(0.5)
        hub(
            [
                "export",
                "--data",
                str(data),
                "--out",
                str(data / "log.csv"),
                "--images",
                str(data / "photos"),
            ]
        )
        step(f"log exported to {data / 'log.csv'}, photos in {data / 'photos'}")
    finally:
        process.send_signal(signal.SIGTERM)
        step(f"hub stopped cleanly (exit code {process.wait(timeout=30)}); data in {data}")


if __name__ == "__main__":
    main()
