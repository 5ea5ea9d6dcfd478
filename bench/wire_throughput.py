"""Wire protocol throughput over loopback, as ratios to raw `sendall` of the same bytes.

For each transport (plain TCP, TLS) it measures, in this one run:
  - raw: a sender process `sendall`s pre-encoded frames, the receiver `recv_into`s them into
    one 1 MiB buffer and parses nothing;
  - wire: a sender process `Connection.send`s messages, the receiver `Connection.receive`s and
    decodes them.
Both move the very same bytes. The sender is a separate process, as a peer is in real use: two
threads of one interpreter would measure the GIL, not the protocol. Each figure is the best of
several rounds, alternating raw and wire, so that a noisy neighbour hurts both alike. The TLS
ratio's baseline is `sendall` on a stdlib `ssl.SSLSocket`, so it measures our protocol's cost,
not the cipher's.

Last line: one JSON object with plain_64k_ratio, tls_64k_ratio, small_msgs_per_s and the rest.
Goals (issue 2): plain_64k_ratio >= 0.7, tls_64k_ratio >= 0.5.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import socket
import ssl
import tempfile
import time
import uuid
from dataclasses import dataclass
from multiprocessing.synchronize import Event
from pathlib import Path

from wire import messages as m
from wire.connection import Connection, PeerInfo, Timing
from wire.frame import pack_header
from wire.roles import Role
from wire.tls import Identity, client_context, create_identity, server_context
from wire.transport import PlainTransport, TlsTransport, Transport

BODY_64K = bytes(range(256)) * 256
EVENT_ID = str(uuid.UUID(int=7))


@dataclass(frozen=True)
class Case:
    """One workload: a message, its body, and how many to send per round."""

    name: str
    message: m.Message
    body: bytes
    count: int

    def frame(self) -> bytes:
        """The exact bytes the protocol puts on the wire for one message."""
        payload = self.message.encode()
        return pack_header(1, self.message.KIND, len(payload), len(self.body)) + payload + self.body


def _wrap(sock: socket.socket, tls: Identity | None, server_side: bool, mode: str) -> Sender:
    """The sending or receiving end of one round, as raw sockets or protocol connections."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if mode == "raw":
        if tls is None:
            return sock
        if server_side:
            return server_context(tls).wrap_socket(sock, server_side=True)
        return client_context().wrap_socket(sock)
    plain = PlainTransport(sock, 0.5, 10)
    transport: Transport = plain
    if tls is not None:
        wrapped = TlsTransport(
            plain,
            server_context(tls) if server_side else client_context(),
            server_side=server_side,
        )
        wrapped.handshake(10, tls.fingerprint if server_side else None)
        transport = wrapped
    conn = Connection(transport, "bench", Timing())
    conn.authenticated(PeerInfo("bench", Role.EDGE, "bench"), 1, Timing())
    return conn


Sender = socket.socket | Connection


def _send_all(end: Sender, case: Case, go: Event) -> None:
    go.wait()
    if isinstance(end, Connection):
        for _ in range(case.count):
            end.send(case.message, case.body)
    else:
        frame = case.frame()
        for _ in range(case.count):
            end.sendall(frame)


@dataclass(frozen=True)
class Round:
    """One measured transfer: which workload, over what, and the events that pace it."""

    case: Case
    tls: Identity | None
    mode: str  # "raw" or "wire"
    go: Event
    done: Event


def _sender_process(port: int, rnd: Round) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        end = _wrap(sock, rnd.tls, server_side=False, mode=rnd.mode)
        _send_all(end, rnd.case, rnd.go)
        rnd.done.wait()  # closing earlier could cut off bytes still in flight


def _receive_all(end: Sender, case: Case) -> None:
    if isinstance(end, Connection):
        for _ in range(case.count):
            end.receive()
        return
    sink = memoryview(bytearray(1 << 20))
    total, got = len(case.frame()) * case.count, 0
    while got < total:
        got += end.recv_into(sink)


def one_round(case: Case, tls: Identity | None, mode: str) -> float:
    """Seconds for the receiver to take in `count` messages from a sender in another process
    (as peers are: a hub never shares an interpreter with the edge that sends to it)."""
    ctx = multiprocessing.get_context("fork")
    rnd = Round(case, tls, mode, ctx.Event(), ctx.Event())
    with socket.create_server(("127.0.0.1", 0)) as listener:
        child = ctx.Process(target=_sender_process, args=(listener.getsockname()[1], rnd))
        child.start()
        sock, _ = listener.accept()
    end = _wrap(sock, tls, server_side=True, mode=mode)
    start = time.perf_counter()
    rnd.go.set()
    _receive_all(end, case)
    elapsed = time.perf_counter() - start
    rnd.done.set()
    sock.close()
    child.join()
    return elapsed


def measure(case: Case, tls: Identity | None, rounds: int) -> dict[str, float]:
    """Best-of-`rounds` rates for raw and wire, and their ratio."""
    raw_best = wire_best = float("inf")
    for _ in range(rounds):
        raw_best = min(raw_best, one_round(case, tls, "raw"))
        wire_best = min(wire_best, one_round(case, tls, "wire"))
    size = len(case.frame()) * case.count / 1e6
    return {
        "raw_mb_s": size / raw_best,
        "wire_mb_s": size / wire_best,
        "raw_msgs_s": case.count / raw_best,
        "wire_msgs_s": case.count / wire_best,
        "ratio": raw_best / wire_best,
    }


def main() -> None:
    """Run every case, print one line per case, then the JSON summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="rounds per figure (best wins)")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply message counts")
    args = parser.parse_args()
    small = Case(
        "small",
        m.EventAck(event_id=EVENT_ID, seq=123456, duplicate=False),
        b"",
        int(50_000 * args.scale),
    )
    big = Case(
        "64k", m.Snapshot(event_id=EVENT_ID, thumbnail=False), BODY_64K, int(4_000 * args.scale)
    )
    tls = create_identity(Path(tempfile.mkdtemp(prefix="vigia-bench-")), "bench")
    results: dict[str, dict[str, float]] = {}
    for case in (small, big):
        for label, identity in (("plain", None), ("tls", tls)):
            key = f"{label}_{case.name}"
            results[key] = r = measure(case, identity, args.rounds)
            print(
                f"{key:10s} frame {len(case.frame()):6d} B  raw {r['raw_mb_s']:9.1f} MB/s "
                f"{r['raw_msgs_s']:10.0f} msg/s  wire {r['wire_mb_s']:9.1f} MB/s "
                f"{r['wire_msgs_s']:10.0f} msg/s  ratio {r['ratio']:.3f}",
                flush=True,
            )
    summary = {
        "small_frame_bytes": len(small.frame()),
        "small_msgs_per_s": round(results["plain_small"]["wire_msgs_s"]),
        "small_msgs_ratio": round(results["plain_small"]["ratio"], 3),
        "tls_small_msgs_per_s": round(results["tls_small"]["wire_msgs_s"]),
        "plain_64k_mb_s": round(results["plain_64k"]["wire_mb_s"], 1),
        "plain_64k_ratio": round(results["plain_64k"]["ratio"], 3),
        "tls_64k_mb_s": round(results["tls_64k"]["wire_mb_s"], 1),
        "tls_64k_ratio": round(results["tls_64k"]["ratio"], 3),
        "ssl_version": ssl.OPENSSL_VERSION,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
