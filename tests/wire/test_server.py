"""The server: roles enforced, sessions revocable, and unharmed by malformed peers."""

from __future__ import annotations

import logging
import random
import socket
import ssl
import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.wire.conftest import (
    EVENT_ID,
    HubFactory,
    RunningHub,
    frame_of,
    subscribe_round_trip,
    wait_for,
)
from tests.wire.samples import SAMPLES
from wire import messages as m
from wire.connection import Connection, Received
from wire.errors import ConnectionClosed, ErrorCode, RemoteError, WireError
from wire.frame import HEADER, MAGIC
from wire.roles import HUB_PERMISSIONS, SESSION_KINDS, Role, may_send

EVENT = m.Event(
    event_id=EVENT_ID,
    camera="door",
    label="cat",
    score=0.9,
    started_at=1,
    ended_at=2,
    box=m.Box(x=0, y=0, w=1, h=1),
    model_version="v1",
    snapshot_len=3,
    thumbnail_len=1,
)


def test_permission_table_covers_every_client_message() -> None:
    sent_by_hub = {
        "challenge",
        "welcome",
        "event_ack",
        "log_entry",
        "caught_up",
        "snapshot",
        "status_notice",
        "model_stored",
        "model_assigned",
        "model_offer",
        "model_list",
    }
    hub_kinds = {cls.NAME for cls in m.REGISTRY.values() if cls.KIND < 60}  # 60+: trainer workers
    client_kinds = hub_kinds - sent_by_hub - {"hello", "auth"}
    granted = set().union(*HUB_PERMISSIONS.values()) | SESSION_KINDS
    assert client_kinds == granted


def test_a_watcher_can_only_read() -> None:
    assert may_send(HUB_PERMISSIONS, Role.WATCHER, "subscribe")
    for name in ("event", "status", "model_upload", "model_assign", "model_report"):
        assert not may_send(HUB_PERMISSIONS, Role.WATCHER, name)


def test_a_forbidden_message_is_refused_and_the_session_goes_on(hub: RunningHub) -> None:
    watcher = hub.dial("watcher-1")
    watcher.send(EVENT, b"abcd")
    refusal = watcher.receive().message
    assert refusal == m.Error(
        code="forbidden", message="role 'watcher' may not send 'event'", ref="event", fatal=False
    )
    assert subscribe_round_trip(watcher, 5) == 5  # still connected, still served
    assert not any(isinstance(r.message, m.Event) for r in hub.handler.messages)


def test_an_edge_may_send_events(hub: RunningHub) -> None:
    edge = hub.dial("edge-1")
    edge.send(EVENT, b"abcd")
    ack = edge.expect(m.EventAck)
    assert ack.event_id == EVENT_ID
    got = hub.handler.messages[-1]
    assert got.message == EVENT and got.body == b"abcd"


def test_a_forbidden_file_body_is_not_kept(hub: RunningHub, tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.write_bytes(b"m" * 5000)
    edge = hub.dial("edge-1")
    edge.send_file(m.ModelUpload(version="v1", sha256="ab" * 32, size=5000), package)
    assert edge.receive().message.NAME == "error"
    spool = hub.server.options.spool_dir
    assert spool is not None and not list(spool.glob("wire-*.body"))


def test_revoking_a_peer_cuts_its_live_sessions(hub: RunningHub) -> None:
    edge = hub.dial("edge-1")
    watcher = hub.dial("watcher-1")
    assert wait_for(lambda: len(hub.server.sessions()) == 2)
    assert hub.server.disconnect("edge-1", "revoked by admin") == 1
    with pytest.raises(RemoteError, match="revoked: revoked by admin"):
        edge.receive()
    assert subscribe_round_trip(watcher) == 0
    # The error reaches the edge before the server's thread has dropped the session: wait.
    assert wait_for(lambda: [c.peer.name for c in hub.server.sessions() if c.peer] == ["watcher-1"])
    assert wait_for(lambda: hub.handler.closed == ["revoked: revoked by admin"])


def test_sessions_by_role(hub: RunningHub) -> None:
    kept = [hub.dial("edge-1"), hub.dial("watcher-1")]
    assert wait_for(lambda: len(hub.server.sessions()) == len(kept))
    edges = hub.server.sessions(Role.EDGE)
    assert [c.peer.name for c in edges if c.peer] == ["edge-1"]


def test_a_failing_handler_closes_only_that_session(
    start_hub: HubFactory, caplog: pytest.LogCaptureFixture
) -> None:
    hub = start_hub()
    original = hub.handler.on_message

    def broken(conn: Connection, got: Received) -> None:
        if isinstance(got.message, m.Event):
            raise ValueError("bug")
        original(conn, got)

    hub.handler.on_message = broken  # type: ignore[method-assign]
    edge, watcher = hub.dial("edge-1"), hub.dial("watcher-1")
    edge.send(EVENT, b"abcd")
    with pytest.raises(RemoteError, match="internal: internal error: ValueError"):
        edge.receive()
    assert subscribe_round_trip(watcher, 3) == 3
    assert any("handler failed" in r.getMessage() for r in caplog.records)


def test_connections_over_the_limit_are_refused(start_hub: HubFactory) -> None:
    hub = start_hub(max_connections=2)
    first, second = hub.dial("edge-1"), hub.dial("watcher-1")
    assert wait_for(lambda: len(hub.server.sessions()) == 2)
    with pytest.raises(WireError):
        hub.dial("trainer-1")
    first.close("done")
    second.close("done")
    assert wait_for(lambda: not hub.server.sessions())
    hub.dial("trainer-1").close("done")


def _malformed_payloads(rng: random.Random) -> list[bytes]:
    """What a broken or hostile peer might send in place of a handshake."""
    hello = frame_of(SAMPLES[0][0])
    return [
        rng.randbytes(rng.randint(1, 300)),
        b"GET / HTTP/1.1\r\nHost: hub\r\n\r\n",
        hello[: rng.randint(1, len(hello) - 1)],
        HEADER.pack(MAGIC, 1, 1, 0, 2**31, 0),
        HEADER.pack(MAGIC, 1, 1, 0, 2, 2**63),
        HEADER.pack(MAGIC, 1, 99, 0, 2, 0) + b"{}",
        HEADER.pack(MAGIC, 1, 1, 0, 4, 0) + b"\xff\xfe{}",
        HEADER.pack(MAGIC, 1, 1, 0, 9, 0) + b'{"x": 1}',
        frame_of(m.Auth(proof="00" * 32)),
        frame_of(m.Ping(sent_ms=1)),
    ]


def _attack(address: tuple[str, int], count: int, seed: int, failures: list[str]) -> None:
    rng = random.Random(seed)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    for i in range(count):
        payload = rng.choice(_malformed_payloads(rng))
        try:
            with socket.create_connection(address, timeout=5) as raw:
                if i % 2:  # half inside TLS (reaching the framing), half raw (hitting TLS)
                    with context.wrap_socket(raw) as tls:
                        tls.sendall(payload)
                        raw.shutdown(socket.SHUT_WR)  # a truncated frame ends here
                        while tls.recv(4096):
                            pass
                else:
                    raw.sendall(payload)
                    raw.shutdown(socket.SHUT_WR)
                    while raw.recv(4096):
                        pass
        except (OSError, ssl.SSLError):
            pass  # being cut off is the expected outcome
        except Exception as exc:
            failures.append(repr(exc))


def test_a_thousand_malformed_connections_do_not_disturb_a_good_client(
    hub: RunningHub, caplog: pytest.LogCaptureFixture
) -> None:
    good = hub.dial("watcher-1")
    failures: list[str] = []
    attackers = [
        threading.Thread(target=_attack, args=(hub.server.address, 125, seed, failures))
        for seed in range(8)
    ]
    worst, rounds = 0.0, 0
    with caplog.at_level(logging.INFO, logger="vigia.wire"):
        for attacker in attackers:
            attacker.start()
        while any(a.is_alive() for a in attackers):
            started = time.monotonic()
            assert subscribe_round_trip(good, rounds) == rounds
            worst = max(worst, time.monotonic() - started)
            rounds += 1
            if rounds % 50 == 0:  # new good sessions keep being accepted too
                hub.dial("edge-1").close("done")
        for attacker in attackers:
            attacker.join()
    assert failures == []
    assert rounds > 50
    assert worst < 2.0, f"a round trip took {worst:.2f} s during the attack"
    closes = [r for r in caplog.records if ": closed: " in r.getMessage()]
    assert len(closes) >= 1000  # every malformed connection was closed with a logged reason
    assert all(r.getMessage().split(": closed: ")[1] for r in closes)
    assert wait_for(lambda: len(hub.server.sessions()) == 1)  # the good watcher, still there


@pytest.mark.parametrize("tls", [True, False], ids=["tls", "plain"])
def test_malformed_frame_after_auth_closes_with_a_named_reason(
    start_hub: HubFactory, tls: bool, caplog: pytest.LogCaptureFixture
) -> None:
    hub = start_hub(tls=tls)
    edge = hub.dial("edge-1")
    edge.transport.send(HEADER.pack(b"JUNK", 1, 1, 0, 0, 0))
    with pytest.raises(RemoteError, match="bad_frame: wrong magic") as caught:
        edge.receive()
    assert caught.value.code is ErrorCode.BAD_FRAME
    assert wait_for(
        lambda: any(
            "closed: bad_frame: wrong magic b'JUNK'" in r.getMessage() for r in caplog.records
        )
    )
    with pytest.raises(ConnectionClosed):
        edge.receive()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(garbage=st.binary(min_size=1, max_size=512))
def test_any_bytes_after_auth_end_in_a_logged_close_of_that_connection_only(
    start_hub: HubFactory, caplog: pytest.LogCaptureFixture, garbage: bytes
) -> None:
    hub = start_hub(tls=False)
    bystander, victim = hub.dial("watcher-1"), hub.dial("edge-1")
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="vigia.wire"):
        victim.transport.send(garbage)
        victim.transport.sock.shutdown(socket.SHUT_WR)  # type: ignore[attr-defined]
        assert wait_for(
            lambda: any("edge-1/edge: closed: " in r.getMessage() for r in caplog.records)
        )
    reason = next(
        r.getMessage() for r in caplog.records if "edge-1/edge: closed: " in r.getMessage()
    ).split(": closed: ")[1]
    assert reason  # a named reason, e.g. "bad_frame: wrong magic ..." or "peer closed ..."
    assert subscribe_round_trip(bystander, 7) == 7
    assert [c.peer.name for c in hub.server.sessions() if c.peer] == ["watcher-1"]
    bystander.close("done")


def test_stop_does_not_wait_for_half_open_handshakes(start_hub: HubFactory) -> None:
    hub = start_hub()
    lurkers = [socket.create_connection(hub.server.address) for _ in range(5)]  # say nothing
    session = hub.dial("edge-1")
    assert wait_for(lambda: len(hub.server._open) == 6)
    started = time.monotonic()
    hub.server.stop()
    assert time.monotonic() - started < 2.0
    assert not hub.server._open
    with pytest.raises(ConnectionClosed, match="goodbye: server stopping"):
        session.receive()
    for lurker in lurkers:
        lurker.close()
