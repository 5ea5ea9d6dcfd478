"""A framed connection: bodies in memory and in files, many writers, TLS, limits."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest

from tests.wire.conftest import EVENT_ID, MemoryTransport, connection_pair, frame_of
from wire import messages as m
from wire.connection import DEFAULT_TIMING, Connection
from wire.errors import ConnectionClosed, ErrorCode, RemoteError, WireError
from wire.tls import Identity


@pytest.mark.parametrize("use_tls", [False, True], ids=["plain", "tls"])
def test_messages_and_bodies_arrive_intact(use_tls: bool, identity: Identity) -> None:
    a, b = connection_pair(tls=identity if use_tls else None)
    body = bytes(range(256)) * 1000
    a.send(m.Snapshot(event_id=EVENT_ID, thumbnail=False), body)
    a.send(m.CaughtUp(seq=3))
    first, second = b.receive(), b.receive()
    assert first.message == m.Snapshot(event_id=EVENT_ID, thumbnail=False)
    assert bytes(first.body) == body
    assert second.message == m.CaughtUp(seq=3)
    assert second.body == b""


@pytest.mark.parametrize("use_tls", [False, True], ids=["plain", "tls"])
def test_file_bodies_are_streamed_to_a_file(
    use_tls: bool, identity: Identity, tmp_path: Path
) -> None:
    package = tmp_path / "model.pkg"
    package.write_bytes(bytes(range(251)) * 20_000)  # 5 MB, not a multiple of any chunk
    digest = hashlib.sha256(package.read_bytes()).hexdigest()
    spool = tmp_path / "spool"
    spool.mkdir()
    a, b = connection_pair(tls=identity if use_tls else None, spool_dir=spool)
    offer = m.ModelOffer(version="v1", sha256=digest, size=package.stat().st_size)
    sender = threading.Thread(target=a.send_file, args=(offer, package))
    sender.start()
    got = b.receive()
    sender.join()
    assert got.message == offer
    assert got.body == b""
    assert got.body_path is not None and got.body_path.parent == spool
    assert hashlib.sha256(got.body_path.read_bytes()).hexdigest() == digest


def test_a_file_body_must_match_its_declared_size(tmp_path: Path) -> None:
    package = tmp_path / "model.pkg"
    package.write_bytes(b"x" * 10)
    a, _ = connection_pair()
    with pytest.raises(WireError, match="size 11 != body 10"):
        a.send_file(m.ModelOffer(version="v1", sha256="ab" * 32, size=11), package)


def test_concurrent_writers_never_interleave_frames(identity: Identity) -> None:
    a, b = connection_pair(tls=identity)
    per_thread, threads = 200, 4

    def write(worker: int) -> None:
        for i in range(per_thread):
            a.send(
                m.Snapshot(event_id=EVENT_ID, thumbnail=False), bytes([worker]) * (1000 + i * 37)
            )

    writers = [threading.Thread(target=write, args=(w,)) for w in range(threads)]
    for w in writers:
        w.start()
    sizes: dict[int, list[int]] = {w: [] for w in range(threads)}
    for _ in range(per_thread * threads):
        got = b.receive()
        assert len(set(got.body)) == 1  # one writer's bytes only
        sizes[got.body[0]].append(len(got.body))
    for w in writers:
        w.join()
    for worker_sizes in sizes.values():
        assert worker_sizes == [1000 + i * 37 for i in range(per_thread)]


def test_a_body_over_the_peers_limit_is_refused_before_sending() -> None:
    a, _ = connection_pair()
    a.peer_max_body = 100
    with pytest.raises(WireError, match="exceeds the peer's limit of 100") as caught:
        a.send(m.Snapshot(event_id=EVENT_ID, thumbnail=False), bytes(101))
    assert caught.value.code is ErrorCode.TOO_LARGE


def test_pings_are_answered_and_never_surface() -> None:
    transport = MemoryTransport(frame_of(m.Ping(sent_ms=42)) + frame_of(m.CaughtUp(seq=1)))
    conn = Connection(transport, "t", DEFAULT_TIMING)
    assert conn.receive().message == m.CaughtUp(seq=1)
    assert bytes(transport.sent) == frame_of(m.Pong(sent_ms=42))


def test_a_fatal_error_from_the_peer_is_raised_with_its_code() -> None:
    refusal = m.Error(code="revoked", message="peer 'x' has been revoked", ref=None, fatal=True)
    conn = Connection(MemoryTransport(frame_of(refusal)), "t", DEFAULT_TIMING)
    with pytest.raises(RemoteError, match="revoked: peer 'x' has been revoked") as caught:
        conn.receive()
    assert caught.value.code is ErrorCode.REVOKED


def test_a_non_fatal_error_is_an_ordinary_message() -> None:
    note = m.Error(code="forbidden", message="no", ref="status", fatal=False)
    conn = Connection(MemoryTransport(frame_of(note)), "t", DEFAULT_TIMING)
    assert conn.receive().message == note


def test_bye_ends_the_connection_with_its_reason() -> None:
    conn = Connection(MemoryTransport(frame_of(m.Bye(reason="shutting down"))), "t", DEFAULT_TIMING)
    with pytest.raises(ConnectionClosed, match="goodbye: shutting down"):
        conn.receive()


def test_close_tells_the_peer_why() -> None:
    a, b = connection_pair()
    a.close("bad thing", ErrorCode.FORBIDDEN)
    with pytest.raises(RemoteError, match="forbidden: bad thing"):
        b.receive()
    assert a.closed.is_set()


def test_frames_split_into_single_bytes_still_decode() -> None:
    data = frame_of(m.Snapshot(event_id=EVENT_ID, thumbnail=False), b"jpeg" * 100) + frame_of(
        m.CaughtUp(seq=9)
    )
    conn = Connection(MemoryTransport(data, chunk=1), "t", DEFAULT_TIMING)
    assert bytes(conn.receive().body) == b"jpeg" * 100
    assert conn.receive().message == m.CaughtUp(seq=9)


def _pretend_size(monkeypatch: pytest.MonkeyPatch, size: int) -> None:
    """Make the next fstat report `size`: the file changed between stat and read."""
    real = os.fstat
    monkeypatch.setattr(
        os, "fstat", lambda fd: os.stat_result((*real(fd)[:6], size, *real(fd)[7:]))
    )


def test_a_file_that_grows_while_sent_sends_only_its_stated_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "model.pkg"
    package.write_bytes(b"a" * 3000 + b"b" * 100)
    a, b = connection_pair(spool_dir=tmp_path)
    _pretend_size(monkeypatch, 3000)
    a.send_file(m.ModelOffer(version="v1", sha256="ab" * 32, size=3000), package)
    monkeypatch.undo()
    a.send(m.CaughtUp(seq=1))
    got = b.receive()
    assert got.body_path is not None and got.body_path.read_bytes() == b"a" * 3000
    assert b.receive().message == m.CaughtUp(seq=1)  # the stream is still in step


def test_a_file_that_shrinks_while_sent_ends_the_connection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "model.pkg"
    package.write_bytes(b"a" * 3000)
    a, b = connection_pair(spool_dir=tmp_path)
    _pretend_size(monkeypatch, 5000)
    with pytest.raises(ConnectionClosed, match="shrank while being sent"):
        a.send_file(m.ModelOffer(version="v1", sha256="ab" * 32, size=5000), package)
    monkeypatch.undo()
    with pytest.raises(ConnectionClosed):
        b.receive()
    assert not list(tmp_path.glob("wire-*.body"))  # the half-received body is not left behind
