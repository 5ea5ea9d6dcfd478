"""Authentication: who gets in, who does not, and what each side is told."""

from __future__ import annotations

import logging
import socket
import threading
from pathlib import Path

import pytest

from tests.wire.conftest import HubFactory, RunningHub, subscribe_round_trip, wait_for
from wire import messages as m
from wire.auth import PeerRecord, StaticDirectory, Transcript, make_proof, new_secret
from wire.client import Endpoint, connect
from wire.connection import DEFAULT_TIMING, Connection, Timing
from wire.errors import AuthError, CertificateMismatch, ErrorCode, RemoteError
from wire.handshake import ClientIdentity
from wire.roles import Role
from wire.server import Server, ServerOptions
from wire.tls import create_identity
from wire.transport import PlainTransport


@pytest.mark.parametrize("tls", [True, False], ids=["tls", "plain"])
def test_every_role_can_authenticate(start_hub: HubFactory, tls: bool) -> None:
    hub = start_hub(tls=tls)
    for name in ("edge-1", "watcher-1", "trainer-1", "admin-1"):
        conn = hub.dial(name)
        assert conn.peer is not None and conn.peer.name == "hub-test"
        assert conn.transport.channel == (hub.identity.fingerprint if hub.identity else "plain")
        conn.close("done")
    everyone = ["admin-1", "edge-1", "trainer-1", "watcher-1"]
    assert wait_for(lambda: sorted(hub.handler.sessions) == everyone)


def _refused_on_both_sides(
    hub: RunningHub,
    caplog: pytest.LogCaptureFixture,
    name: str,
    code: ErrorCode,
    words: str,
    **dial: object,
) -> None:
    with caplog.at_level(logging.INFO, logger="vigia.wire"):
        with pytest.raises(AuthError, match=words) as caught:
            hub.dial(name, **dial)  # type: ignore[arg-type]
        assert caught.value.code is code
        assert wait_for(
            lambda: any(
                words in r.getMessage() and code.value in r.getMessage() for r in caplog.records
            )
        )
    assert hub.handler.sessions == []


def test_wrong_secret(hub: RunningHub, caplog: pytest.LogCaptureFixture) -> None:
    _refused_on_both_sides(
        hub,
        caplog,
        "edge-1",
        ErrorCode.BAD_CREDENTIALS,
        "proof from 'edge-1' does not match",
        secret=new_secret(),
    )


def test_unknown_peer(hub: RunningHub, caplog: pytest.LogCaptureFixture) -> None:
    hub.peers["stranger"] = PeerRecord("stranger", Role.EDGE, new_secret())
    _refused_on_both_sides(
        hub, caplog, "stranger", ErrorCode.UNKNOWN_PEER, "no peer named 'stranger'"
    )


def test_revoked_peer(hub: RunningHub, caplog: pytest.LogCaptureFixture) -> None:
    _refused_on_both_sides(
        hub, caplog, "old-edge", ErrorCode.REVOKED, "peer 'old-edge' has been revoked"
    )


def test_a_peer_cannot_claim_another_role(
    hub: RunningHub, caplog: pytest.LogCaptureFixture
) -> None:
    _refused_on_both_sides(
        hub,
        caplog,
        "watcher-1",
        ErrorCode.ROLE_MISMATCH,
        "registered as 'watcher', not 'admin'",
        role=Role.ADMIN,
    )


def test_wrong_certificate_fingerprint(
    hub: RunningHub, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    other = create_identity(tmp_path, "impostor")
    wrong = Endpoint(*hub.server.address, other.fingerprint)
    with caplog.at_level(logging.INFO, logger="vigia.wire"):
        with pytest.raises(CertificateMismatch, match="does not match the pinned"):
            hub.dial("edge-1", endpoint=wrong)
        assert wait_for(
            lambda: any("certificate_mismatch" in r.getMessage() for r in caplog.records)
        )
    assert hub.handler.sessions == []


def test_an_impostor_hub_with_another_certificate_is_refused(
    tmp_path: Path, start_hub: HubFactory
) -> None:
    real = start_hub()
    impostor_identity = create_identity(tmp_path, "hub-test")
    record = real.peers["edge-1"]
    impostor = Server(
        ServerOptions(name="hub-test", host="127.0.0.1", port=0, identity=impostor_identity),
        StaticDirectory([record]),
        real.handler,
    )
    impostor.start()
    try:
        endpoint = Endpoint(*impostor.address, real.identity.fingerprint)  # type: ignore[union-attr]
        with pytest.raises(CertificateMismatch):
            connect(endpoint, ClientIdentity("edge-1", Role.EDGE, record.secret))
    finally:
        impostor.stop()


def _record_client_frames(hub: RunningHub, name: str) -> list[bytes]:
    """Handshake for real over plain TCP through a recording proxy; return what the client
    sent, frame by frame (hello, auth)."""
    sent: list[bytes] = []
    record = hub.peers[name]
    original = PlainTransport.send

    def recording(self: PlainTransport, *parts: bytes | bytearray | memoryview) -> None:
        sent.append(b"".join(bytes(p) for p in parts))
        original(self, *parts)

    PlainTransport.send = recording  # type: ignore[method-assign]
    try:
        conn = connect(hub.endpoint, ClientIdentity(name, record.role, record.secret))
    finally:
        PlainTransport.send = original  # type: ignore[method-assign]
    conn.close("done")
    # the server's sends pass through the same class: keep the client's hello and auth only
    return [f for f in sent if f[5] in (m.Hello.KIND, m.Auth.KIND)]


def _replay(hub: RunningHub, frames: list[bytes]) -> RemoteError:
    """Send recorded frames on a fresh socket; return the hub's refusal."""
    with socket.create_connection(hub.server.address) as sock:
        conn = Connection(PlainTransport(sock, 0.5, 8), "replayer", DEFAULT_TIMING)
        try:
            conn.transport.send(frames[0])
            conn.expect(m.Challenge)
            conn.transport.send(frames[1])
            conn.receive()
        except RemoteError as refusal:
            return refusal
    raise AssertionError("the hub accepted a replayed handshake")


def test_a_replayed_handshake_fails(start_hub: HubFactory) -> None:
    hub = start_hub(tls=False)  # plain, so the test can see and replay the bytes
    frames = _record_client_frames(hub, "edge-1")
    refusal = _replay(hub, frames)
    assert refusal.code is ErrorCode.BAD_CREDENTIALS
    assert "hello nonce already used: a replayed handshake" in str(refusal)


def test_a_replay_fails_even_on_a_hub_that_forgot_the_nonce(start_hub: HubFactory) -> None:
    hub = start_hub(tls=False)
    frames = _record_client_frames(hub, "edge-1")
    hub.server._identity.guard._seen.clear()  # as after a hub restart
    refusal = _replay(hub, frames)
    assert refusal.code is ErrorCode.BAD_CREDENTIALS
    assert "proof from 'edge-1' does not match" in str(refusal)


def test_a_replayed_hub_answer_is_refused_by_the_client(start_hub: HubFactory) -> None:
    """A fake hub that replays a real hub's challenge and welcome cannot fool a client."""
    hub = start_hub(tls=False)
    record = hub.peers["edge-1"]
    transcript = Transcript(1, "edge-1", Role.EDGE, "hub-test", "00" * 32, "11" * 32, "plain")
    old_challenge = m.Challenge(version=1, hub="hub-test", nonce="11" * 32)
    old_welcome = m.Welcome(
        proof=make_proof(record.secret, "server", transcript),
        session="old",
        keepalive_s=2,
        dead_after_s=8,
        max_body=1000,
    )
    told: list[str] = []
    with socket.create_server(("127.0.0.1", 0)) as listener:

        def fake_hub() -> None:
            sock, _ = listener.accept()
            conn = Connection(PlainTransport(sock, 0.5, 8), "fake", DEFAULT_TIMING)
            conn.expect(m.Hello)
            conn.send(old_challenge)
            conn.expect(m.Auth)
            conn.send(old_welcome)
            try:
                conn.receive()
            except RemoteError as refusal:
                told.append(str(refusal))

        thread = threading.Thread(target=fake_hub, daemon=True)
        thread.start()
        host, port = listener.getsockname()[:2]
        fake = Endpoint(host, port, None)
        with pytest.raises(AuthError, match="hub could not prove it holds our secret"):
            connect(fake, ClientIdentity("edge-1", Role.EDGE, record.secret))
        thread.join(timeout=5)
    assert told and told[0].startswith("bad_credentials: hub could not prove")


def test_version_negotiation_refuses_a_peer_with_no_common_version(start_hub: HubFactory) -> None:
    hub = start_hub(tls=False)
    with socket.create_connection(hub.server.address) as sock:
        conn = Connection(PlainTransport(sock, 0.5, 8), "future-peer", DEFAULT_TIMING)
        conn.send(
            m.Hello(
                versions=[2, 3], peer="edge-1", role=Role.EDGE, nonce="00" * 32, software="vigia/9"
            )
        )
        with pytest.raises(RemoteError, match=r"hub speaks \[1\], peer offered \[2, 3\]") as no:
            conn.receive()
    assert no.value.code is ErrorCode.VERSION_UNSUPPORTED


def test_a_silent_client_is_dropped_at_the_handshake_deadline(
    start_hub: HubFactory, caplog: pytest.LogCaptureFixture
) -> None:
    hub = start_hub(tls=False, timing=Timing(handshake_timeout_s=1.0, tick_s=0.1))
    with (
        caplog.at_level(logging.INFO, logger="vigia.wire"),
        socket.create_connection(hub.server.address) as sock,
    ):
        sock.settimeout(5)
        assert wait_for(
            lambda: any("handshake_timeout" in r.getMessage() for r in caplog.records), timeout=4
        )
        data = sock.recv(4096)  # the hub's error frame, then end of stream
        assert b"handshake not finished" in data


def test_a_working_session_after_authentication(hub: RunningHub) -> None:
    conn = hub.dial("watcher-1")
    assert subscribe_round_trip(conn, 41) == 41
    conn.close("done")
