"""systemd notifications reach a real AF_UNIX datagram socket (a path, or the abstract
namespace); the watchdog pings at half its interval only while the node is healthy."""

from __future__ import annotations

import os
import socket
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.system.notify import Notifier, start_watchdog, watchdog_interval_s


@pytest.fixture
def notify_socket() -> Iterator[tuple[socket.socket, str]]:
    """A datagram socket bound where systemd's would be (a short path: AF_UNIX has ~108)."""
    folder = Path(tempfile.mkdtemp(prefix="sdn-"))
    path = folder / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(2)
    yield sock, str(path)
    sock.close()
    path.unlink()
    folder.rmdir()


def test_ready_watchdog_status_and_stopping_arrive(
    notify_socket: tuple[socket.socket, str],
) -> None:
    sock, path = notify_socket
    notifier = Notifier({"NOTIFY_SOCKET": path})
    assert notifier.enabled
    assert notifier.ready()
    assert sock.recv(4096) == b"READY=1"
    assert notifier.watchdog()
    assert sock.recv(4096) == b"WATCHDOG=1"
    assert notifier.status("3 cameras\nhub connected")
    assert sock.recv(4096) == b"STATUS=3 cameras hub connected"
    assert notifier.stopping()
    assert sock.recv(4096) == b"STOPPING=1"


def test_the_abstract_namespace_is_used_for_an_at_sign() -> None:
    name = f"vigia-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(2)
        assert Notifier({"NOTIFY_SOCKET": "@" + name}).ready()
        assert sock.recv(4096) == b"READY=1"


def test_without_notify_socket_nothing_happens() -> None:
    notifier = Notifier({})
    assert not notifier.enabled
    assert not notifier.ready() and not notifier.watchdog()


def test_a_socket_nobody_listens_on_is_reported_not_raised(tmp_path: Path) -> None:
    assert not Notifier({"NOTIFY_SOCKET": str(tmp_path / "gone")}).ready()


def test_the_watchdog_interval_comes_from_systemd() -> None:
    assert watchdog_interval_s({"WATCHDOG_USEC": "20000000"}) == 20.0
    mine = {"WATCHDOG_USEC": "5000000", "WATCHDOG_PID": str(os.getpid())}
    assert watchdog_interval_s(mine) == 5.0
    assert watchdog_interval_s({"WATCHDOG_USEC": "5000000", "WATCHDOG_PID": "1"}) is None
    assert watchdog_interval_s({}) is None


def test_the_watchdog_pings_while_healthy_and_stops_when_not(
    notify_socket: tuple[socket.socket, str],
) -> None:
    sock, path = notify_socket
    healthy = threading.Event()
    healthy.set()
    env = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "200000"}  # pings every 0.1 s
    dog = start_watchdog(Notifier(env), healthy.is_set, env)
    assert dog is not None
    try:
        assert [sock.recv(64) for _ in range(3)] == [b"WATCHDOG=1"] * 3
        healthy.clear()
        sock.settimeout(0.15)
        while True:  # drain a ping already on its way
            try:
                sock.recv(64)
            except TimeoutError:
                break
        sock.settimeout(0.5)
        with pytest.raises(TimeoutError):
            sock.recv(64)  # an unhealthy node is left to systemd's restart
        healthy.set()
        sock.settimeout(2)
        assert sock.recv(64) == b"WATCHDOG=1"
    finally:
        dog.stop()
    assert start_watchdog(Notifier(env), healthy.is_set, {"NOTIFY_SOCKET": path}) is None
