"""Keepalive: a silent peer is noticed within 10 s on either side; a quiet live one is not."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time

import pytest

from tests.wire.conftest import (
    EVENT_ID,
    HubFactory,
    RunningHub,
    connection_pair,
    tcp_pair,
    wait_for,
)
from wire import messages as m
from wire.connection import Connection, PeerInfo, Received, Timing
from wire.errors import ConnectionClosed
from wire.roles import Role
from wire.transport import PlainTransport

FAST = Timing(keepalive_s=0.2, dead_after_s=1.0, handshake_timeout_s=5.0, tick_s=0.05)


def test_defaults_detect_silence_within_ten_seconds() -> None:
    timing = Timing()
    assert timing.dead_after_s + timing.tick_s < 10
    assert timing.keepalive_s * 3 <= timing.dead_after_s  # three pings may be lost first


def test_the_hub_drops_a_client_that_went_silent(
    hub: RunningHub, caplog: pytest.LogCaptureFixture
) -> None:
    """Default timing. The client authenticates, then neither reads nor writes again, as a
    Pi that lost power would."""
    with caplog.at_level(logging.INFO, logger="vigia.wire"):
        silent = hub.dial("edge-1")
        started = time.monotonic()
        assert wait_for(lambda: len(hub.server.sessions()) == 1)  # admitted after welcome
        assert wait_for(lambda: not hub.server.sessions(), timeout=12)
        noticed = time.monotonic() - started
    closes = [r.getMessage() for r in caplog.records if ": closed: " in r.getMessage()]
    assert noticed < 10.0, f"noticed after {noticed:.1f} s: {closes}"
    assert any("edge-1/edge: closed: peer silent for" in c for c in closes), closes
    del silent


def test_a_client_notices_a_hub_that_went_silent(start_hub: HubFactory) -> None:
    """Default timing. The hub's thread for this client hangs (as a frozen hub would)."""
    hub = start_hub()
    frozen = threading.Event()

    def hang(conn: Connection, got: Received) -> None:
        frozen.wait(30)

    hub.handler.on_message = hang  # type: ignore[method-assign]
    client = hub.dial("watcher-1")
    client.send(
        m.SnapshotRequest(event_id=EVENT_ID, thumbnail=False)
    )  # its thread never comes back
    started = time.monotonic()
    with pytest.raises(ConnectionClosed, match="peer silent for"):
        client.receive()
    assert time.monotonic() - started < 10.0
    frozen.set()


def test_a_quiet_but_live_connection_stays_open() -> None:
    a, b = connection_pair(timing=FAST)
    outcome: dict[str, BaseException] = {}

    def read(conn: Connection, name: str) -> None:
        try:
            conn.receive()
        except ConnectionClosed as exc:
            outcome[name] = exc

    readers = [
        threading.Thread(target=read, args=(c, n), daemon=True) for c, n in ((a, "a"), (b, "b"))
    ]
    for reader in readers:
        reader.start()
    time.sleep(FAST.dead_after_s * 4)  # nothing but pings for four dead-after periods
    assert outcome == {}
    assert a.rtt_ms is not None and b.rtt_ms is not None
    a.close("test over")
    for reader in readers:
        reader.join(timeout=5)
    assert "goodbye: test over" in str(outcome["b"])


def test_a_peer_that_only_receives_still_proves_it_is_alive() -> None:
    """One side streams for several dead-after periods; the other only reads. The reader's
    pings must reach the streamer, or the streamer would drop a perfectly live peer."""
    streamer, reader = connection_pair(timing=FAST)
    outcome: list[BaseException] = []

    def watch_for_death() -> None:
        try:
            streamer.receive()
        except ConnectionClosed as exc:
            outcome.append(exc)

    threading.Thread(target=watch_for_death, daemon=True).start()
    deadline = time.monotonic() + FAST.dead_after_s * 4
    sent = 0
    while time.monotonic() < deadline:
        streamer.send(m.CaughtUp(seq=sent))
        assert reader.receive().message == m.CaughtUp(seq=sent)
        sent += 1
    assert outcome == [], outcome
    assert sent > 100
    streamer.close("done")


def test_a_dead_link_full_of_our_bytes_is_noticed_on_time() -> None:
    """The peer stopped reading and writing with our earlier bytes still unacknowledged and
    the socket's buffers full (a Pi gone from the Wi-Fi while events streamed to it). A ping
    would block the reader for the whole send timeout (10 s here) before it could see that the
    peer is silent; it is not sent, and the peer is declared dead on time."""
    ours, theirs = tcp_pair()
    for sock, option in ((ours, socket.SO_SNDBUF), (theirs, socket.SO_RCVBUF)):
        sock.setsockopt(socket.SOL_SOCKET, option, 4096)
    conn = Connection(PlainTransport(ours, FAST.tick_s, 10.0), "a", FAST, 1 << 20, None)
    conn.authenticated(PeerInfo("peer", Role.EDGE, conn.address), 1, FAST)
    ours.setblocking(False)
    with contextlib.suppress(BlockingIOError):  # fill every buffer on the way (never read)
        while True:
            ours.send(b"x" * 4096)
    ours.setblocking(True)
    assert conn.transport.unsent() > 0
    started = time.monotonic()
    with pytest.raises(ConnectionClosed, match="peer silent for"):
        conn.receive()
    assert time.monotonic() - started < FAST.dead_after_s + 1.0
    theirs.close()
