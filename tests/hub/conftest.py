"""A real hub in this process (its own threads, TLS, SQLite, files) and peers to dial it."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hub.app import Hub
from hub.cli import main as hub_main
from hub.config import load_config
from hub.datadir import DataDir
from wire import messages as m
from wire.client import Endpoint, connect
from wire.connection import Connection
from wire.credential import Credential, load_credential

PEERS = {"edge-1": "edge", "edge-2": "edge", "watcher-1": "watcher", "trainer-1": "trainer"}


def init_data_dir(root: Path) -> DataDir:
    """`hub init` plus one peer of each kind, through the real command."""
    assert hub_main(["init", str(root), "--port", "0", "--advertise", "127.0.0.1:7700"]) == 0
    for name, role in PEERS.items():
        assert hub_main(["add-peer", name, "--role", role, "--data", str(root)]) == 0
    return DataDir(root)


@dataclass
class RunningHub:
    """A started hub and the credentials of its peers."""

    hub: Hub
    data: DataDir

    def credential(self, name: str) -> Credential:
        return load_credential(self.data.credentials / f"{name}.toml")

    def dial(self, name: str) -> Connection:
        cred = self.credential(name)
        endpoint = Endpoint("127.0.0.1", self.hub.server.address[1], cred.fingerprint)
        return connect(endpoint, cred.identity())


HubFactory = Callable[..., RunningHub]


@pytest.fixture
def start_hub(tmp_path: Path) -> Iterator[HubFactory]:
    """Start hubs on a fresh data dir (settings overridable); all stopped afterwards."""
    started: list[Hub] = []

    def start(data: DataDir | None = None, **settings: object) -> RunningHub:
        data = data or init_data_dir(tmp_path / f"hub{len(started)}")
        config = load_config(data.config, {"host": "127.0.0.1", **settings})
        hub = Hub(config)
        hub.start()
        started.append(hub)
        return RunningHub(hub, data)

    yield start
    for hub in started:
        hub.stop()


@pytest.fixture
def hub(start_hub: HubFactory) -> RunningHub:
    """A hub with default settings."""
    return start_hub()


def sighting(
    camera: str = "door", label: str = "cat", size: int = 6000, started_at: int | None = None
) -> tuple[m.Event, bytes]:
    """An event with distinct image bytes (a snapshot, then a thumbnail)."""
    start = started_at if started_at is not None else int(time.time() * 1000) - 2000
    snapshot, thumbnail = b"\xff\xd8" + os.urandom(size), b"\xff\xd8" + os.urandom(size // 10)
    event = m.Event(
        event_id=str(uuid.uuid4()),
        camera=camera,
        label=label,
        score=0.875,
        started_at=start,
        ended_at=start + 1500,
        box=m.Box(x=4, y=8, w=32, h=16),
        model_version="v1",
        snapshot_len=len(snapshot),
        thumbnail_len=len(thumbnail),
    )
    return event, snapshot + thumbnail


def send_event(conn: Connection, event: m.Event, body: bytes) -> m.EventAck:
    """Send one event and return its acknowledgement."""
    conn.send(event, body)
    return conn.expect(m.EventAck)


def subscribe(conn: Connection, after: int = 0, **filters: object) -> None:
    """Subscribe to the log."""
    fields: dict[str, object] = {
        "cameras": [],
        "labels": [],
        "since_ms": None,
        "until_ms": None,
        "thumbnails": True,
        **filters,
    }
    conn.send(m.Subscribe(after_seq=after, **fields))  # type: ignore[arg-type]


def read_until_caught_up(conn: Connection) -> tuple[list[tuple[m.LogEntry, bytes]], int]:
    """Log entries (with thumbnails) up to the caught_up marker, and its seq."""
    entries = []
    while True:
        got = conn.receive()
        if isinstance(got.message, m.LogEntry):
            entries.append((got.message, bytes(got.body)))
        elif isinstance(got.message, m.CaughtUp):
            return entries, got.message.seq
