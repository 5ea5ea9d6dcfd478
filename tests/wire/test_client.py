"""Clients: exponential backoff with jitter, and a session that outlives hub restarts."""

from __future__ import annotations

import random
import threading

import pytest

from tests.wire.conftest import HubFactory, subscribe_round_trip, wait_for
from wire.auth import StaticDirectory
from wire.client import Backoff, Endpoint, ReconnectingClient, connect
from wire.connection import Connection, Timing
from wire.errors import ConnectionClosed
from wire.handshake import ClientIdentity
from wire.roles import Role
from wire.server import Server, ServerOptions


def test_backoff_doubles_up_to_the_cap_with_jitter() -> None:
    backoff = Backoff(base_s=0.5, cap_s=8.0, rng=random.Random(1))
    delays = [backoff.next_delay() for _ in range(10)]
    ceilings = [0.5, 1, 2, 4, 8, 8, 8, 8, 8, 8]
    for delay, ceiling in zip(delays, ceilings, strict=True):
        assert ceiling / 2 <= delay <= ceiling
    assert len({round(d, 6) for d in delays[4:]}) > 1  # jittered, not lockstep


def test_backoff_reset_starts_over() -> None:
    backoff = Backoff(base_s=1.0, cap_s=60.0)
    for _ in range(5):
        backoff.next_delay()
    backoff.reset()
    assert backoff.next_delay() <= 1.0


def test_backoff_survives_very_many_failures() -> None:
    backoff = Backoff(base_s=0.5, cap_s=30.0)
    backoff.attempt = 10_000
    assert 15.0 <= backoff.next_delay() <= 30.0


def test_an_unreachable_hub_is_named() -> None:
    me = ClientIdentity("edge-1", Role.EDGE, "00" * 32)
    with pytest.raises(ConnectionClosed, match=r"cannot reach 127\.0\.0\.1:1"):
        connect(Endpoint("127.0.0.1", 1, None), me)


def test_reconnects_after_the_hub_restarts(start_hub: HubFactory) -> None:
    hub = start_hub()
    record = hub.peers["watcher-1"]
    seen: list[int] = []
    sessions = threading.Semaphore(0)

    def session(conn: Connection) -> None:
        seen.append(subscribe_round_trip(conn, len(seen)))
        sessions.release()
        conn.receive()  # until the connection drops

    client = ReconnectingClient(
        hub.endpoint,
        ClientIdentity("watcher-1", Role.WATCHER, record.secret),
        session,
        backoff=Backoff(base_s=0.05, cap_s=0.2),
    )
    client.start()
    try:
        assert sessions.acquire(timeout=5)
        port = hub.server.address[1]
        hub.server.stop()
        assert wait_for(lambda: not client.connected.is_set())
        revived = Server(
            ServerOptions(name="hub-test", host="127.0.0.1", port=port, identity=hub.identity),
            StaticDirectory(list(hub.peers.values())),
            hub.handler,
        )
        revived.start()
        try:
            assert sessions.acquire(timeout=10)
            assert seen == [0, 1]
        finally:
            revived.stop()
    finally:
        client.stop()
    assert not client.connected.is_set()


def test_a_refused_client_keeps_trying_and_says_why(start_hub: HubFactory) -> None:
    hub = start_hub()
    me = ClientIdentity("old-edge", Role.EDGE, hub.peers["old-edge"].secret)
    client = ReconnectingClient(
        hub.endpoint,
        me,
        lambda conn: None,
        backoff=Backoff(base_s=0.01, cap_s=0.05),
        timing=Timing(handshake_timeout_s=2),
    )
    client.start()
    try:
        assert wait_for(lambda: "has been revoked" in client.last_error)
        attempts = client.backoff.attempt
        assert wait_for(lambda: client.backoff.attempt > attempts + 2)
    finally:
        client.stop()
