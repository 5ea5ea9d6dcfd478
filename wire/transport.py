"""Byte transports under the framing: plain TCP, and TLS over memory BIOs.

Sockets stay in blocking mode (the fastest path: a reader sleeps in the kernel until bytes
arrive) with kernel timeouts per direction: a receive gives up after one tick, so the reading
thread can run keepalive, and a send gives up when the peer has taken nothing for `stall_s`.
TLS goes through `ssl.SSLObject` and memory BIOs rather than `SSLSocket`, because OpenSSL forbids
using one SSL object from two threads at once: here every call into it holds one lock, and the
socket I/O happens outside that lock, so one thread can read while others write.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import socket
import ssl
import struct
import termios
import threading
import time
from typing import Protocol, cast

from wire.errors import ConnectionClosed, TlsFailed

Buffer = bytes | bytearray | memoryview


class Transport(Protocol):
    """A bidirectional byte stream: one reader thread, any number of writers."""

    channel: str
    """What the handshake proofs are bound to: the TLS certificate fingerprint, or 'plain'."""

    def send(self, *parts: Buffer) -> None:
        """Send all of `parts`, in order, or raise ConnectionClosed if the peer stops taking it."""

    def recv_into(self, buf: memoryview) -> int:
        """Wait up to one tick for data and read it into `buf`; 0 if none came; raise
        ConnectionClosed at end of stream."""

    def unsent(self) -> int:
        """Bytes sent but not yet acknowledged by the peer's TCP (0 when all have arrived)."""

    def close(self) -> None:
        """Shut the connection down; safe to call from any thread, more than once."""


def _timeval(seconds: float) -> bytes:
    whole = int(seconds)
    return struct.pack("ll", whole, int((seconds - whole) * 1e6))


class PlainTransport:
    """TCP without encryption (tests, and links already protected otherwise)."""

    channel = "plain"

    def __init__(self, sock: socket.socket, tick_s: float, stall_s: float) -> None:
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, _timeval(tick_s))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, _timeval(stall_s))
        self.sock = sock
        self.stall_s = stall_s
        self._closed = threading.Event()

    def send(self, *parts: Buffer) -> None:
        """Send everything in one gathered write where possible (one segment train rather than
        one per part); give up when the peer has taken nothing for `stall_s` seconds."""
        try:
            if len(parts) == 1:
                self.sock.sendall(parts[0])
                return
            views = [memoryview(p).cast("B") for p in parts if len(p)]
            while views:
                sent = self.sock.sendmsg(views)
                while views and sent >= len(views[0]):
                    sent -= len(views.pop(0))
                if views:
                    views[0] = views[0][sent:]
        except BlockingIOError:
            raise ConnectionClosed(f"peer took no data for {self.stall_s:.0f} s") from None
        except OSError as exc:
            raise ConnectionClosed(f"send failed: {exc.strerror or exc}") from None

    def recv_into(self, buf: memoryview) -> int:
        """Read what arrives within one tick; 0 if nothing did."""
        try:
            n = self.sock.recv_into(buf)
        except BlockingIOError:
            return 0
        except OSError as exc:
            raise ConnectionClosed(f"receive failed: {exc.strerror or exc}") from None
        if n == 0:
            raise ConnectionClosed("peer closed the connection")
        return n

    def unsent(self) -> int:
        """The socket's send queue (Linux SIOCOUTQ, the same number as TIOCOUTQ)."""
        if self._closed.is_set():
            return 0
        try:
            queued = fcntl.ioctl(self.sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0")
        except (OSError, ValueError):  # closed meanwhile
            return 0
        return int(struct.unpack("i", queued)[0])

    def close(self) -> None:
        """Shut down both directions (waking any blocked thread), then close the socket."""
        if self._closed.is_set():
            return
        self._closed.set()
        with contextlib.suppress(OSError):  # already reset by the peer
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


class TlsTransport:
    """TLS on top of a PlainTransport, through an SSLObject and memory BIOs."""

    def __init__(self, raw: PlainTransport, context: ssl.SSLContext, server_side: bool) -> None:
        self.raw = raw
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._tls = context.wrap_bio(self._incoming, self._outgoing, server_side=server_side)
        self._tls_lock = threading.Lock()  # every call into the SSLObject
        self._send_lock = threading.Lock()  # taken before _tls_lock, keeps records in order
        self._scratch = bytearray(256 * 1024)
        self.channel = "plain"

    def handshake(self, timeout: float, own_fingerprint: str | None = None) -> None:
        """Run the TLS handshake; raise ConnectionClosed if it fails or takes over `timeout`.

        The server passes its own certificate's fingerprint; the client reads the server's from
        the session. Either way `channel` ends up naming the same certificate on both sides.
        """
        deadline = time.monotonic() + timeout
        while True:
            try:
                with self._tls_lock:
                    self._tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._flush()
                if time.monotonic() > deadline:
                    raise ConnectionClosed(f"TLS handshake took over {timeout:.0f} s") from None
                self._pull()
            except ssl.SSLError as exc:
                self._flush_quietly()
                raise TlsFailed(f"TLS handshake failed: {exc.reason or exc}") from None
        self._flush()
        self.channel = own_fingerprint or fingerprint(self.peer_certificate())

    def peer_certificate(self) -> bytes:
        """DER of the server's certificate, as the client received it."""
        der = self._tls.getpeercert(binary_form=True)
        if der is None:
            raise ConnectionClosed("the TLS peer presented no certificate")
        return der

    def send(self, *parts: Buffer) -> None:
        """Encrypt and send all of `parts`, in order: joined first, so that many small frames
        make a few full TLS records rather than one record (and one call) each."""
        data = parts[0] if len(parts) == 1 else b"".join(parts)
        with self._send_lock:
            try:
                with self._tls_lock:
                    self._tls.write(data)
                    out = self._outgoing.read()
            except ssl.SSLError as exc:
                raise ConnectionClosed(f"TLS send failed: {exc.reason or exc}") from None
            self.raw.send(out)

    def recv_into(self, buf: memoryview) -> int:
        """Decrypted bytes into `buf`; pulls from the socket (one tick at most) when none are
        decrypted yet. 0 if no whole TLS record arrived within the tick."""
        n = self._read_plain(buf)
        if n == 0 and self._pull():
            n = self._read_plain(buf)
        if self._outgoing.pending:  # e.g. a TLS 1.3 key update answer
            self._flush()
        return n

    def unsent(self) -> int:
        return self.raw.unsent()

    def close(self) -> None:
        """Close the socket (no close_notify: the peer may be gone already)."""
        self.raw.close()

    def _read_plain(self, buf: memoryview) -> int:
        try:
            with self._tls_lock:
                # with a buffer, read() returns a count (typeshed says bytes)
                return cast(int, self._tls.read(len(buf), buf))
        except ssl.SSLWantReadError:
            return 0
        except ssl.SSLZeroReturnError:
            raise ConnectionClosed("peer closed the TLS session") from None
        except ssl.SSLError as exc:
            raise ConnectionClosed(f"TLS receive failed: {exc.reason or exc}") from None

    def _pull(self) -> bool:
        n = self.raw.recv_into(memoryview(self._scratch))
        if n:
            with self._tls_lock:
                self._incoming.write(memoryview(self._scratch)[:n])
        return n > 0

    def _flush(self) -> None:
        with self._send_lock:
            with self._tls_lock:
                out = self._outgoing.read()
            if out:
                self.raw.send(out)

    def _flush_quietly(self) -> None:
        with contextlib.suppress(ConnectionClosed):  # the alert is a courtesy; peer may be gone
            self._flush()


def fingerprint(der: bytes) -> str:
    """The pinning form of a certificate: 'sha256:' and the hex SHA-256 of its DER."""
    return "sha256:" + hashlib.sha256(der).hexdigest()
