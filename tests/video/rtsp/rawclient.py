"""A small blocking RTSP 1.0 client on a raw socket, for tests that pin the server's protocol.

It writes exactly the bytes a test asks for (any headers, any CSeq, or none) and reads one
response at a time, or one interleaved `$` packet at a time. Packets that arrive while a response
is awaited are kept, in order, for `read_packet`, so a test sees everything the server sent.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

_RECV_SIZE = 64 * 1024
_RTP_HEADER = struct.Struct("!BBHII")
_UDP_PAIR_ATTEMPTS = 64


class ServerClosed(ConnectionError):
    """The server closed (or reset) the connection."""


@dataclass(frozen=True, slots=True)
class RtspResponse:
    """One response: status line, headers in order, body."""

    version: str
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        """The first header called `name` (any case), or None."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)

    def all(self, name: str) -> list[str]:
        """Every value of header `name` (any case)."""
        wanted = name.lower()
        return [value for key, value in self.headers if key.lower() == wanted]

    @property
    def session(self) -> str | None:
        """The session id of the Session header, without its `;timeout=`."""
        value = self.header("Session")
        return None if value is None else value.split(";")[0].strip()


@dataclass(frozen=True, slots=True)
class Packet:
    """One interleaved packet: its channel and data."""

    channel: int
    data: bytes


@dataclass(frozen=True, slots=True)
class Rtp:
    """The fields of an RTP header (RFC 3550 section 5.1) and the payload after it."""

    version: int
    padding: bool
    extension: bool
    csrc_count: int
    marker: bool
    payload_type: int
    seq: int
    timestamp: int
    ssrc: int
    payload: bytes


def parse_rtp(data: bytes) -> Rtp:
    """Split an RTP packet into header fields and payload; ValueError when too short."""
    if len(data) < _RTP_HEADER.size:
        raise ValueError(f"{len(data)} bytes is too short for an RTP header")
    first, second, seq, timestamp, ssrc = _RTP_HEADER.unpack_from(data)
    csrc_count = first & 0x0F
    start = _RTP_HEADER.size + 4 * csrc_count
    return Rtp(
        version=first >> 6,
        padding=bool(first & 0x20),
        extension=bool(first & 0x10),
        csrc_count=csrc_count,
        marker=bool(second & 0x80),
        payload_type=second & 0x7F,
        seq=seq,
        timestamp=timestamp,
        ssrc=ssrc,
        payload=data[start:],
    )


def is_rtcp(data: bytes) -> bool:
    """Whether a packet is RTCP (packet types 200..204) rather than RTP."""
    return len(data) >= 2 and 200 <= data[1] <= 204


class RawClient:
    """One TCP connection to an RTSP server, driven request by request."""

    def __init__(
        self, host: str, port: int, *, timeout: float = 5.0, rcvbuf: int | None = None
    ) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:  # before connecting, so the window is small from the start
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        self.cseq = 0
        self.pending: deque[Packet] = deque()
        self._buffer = bytearray()

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection."""
        with contextlib.suppress(OSError):
            self.sock.close()

    # Writing

    def send(
        self,
        method: str,
        url: str,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
        *,
        cseq: bool = True,
    ) -> int:
        """Write one request; adds `CSeq` (next number, returned) unless `cseq` is False, and
        Content-Length when there is a body."""
        lines = [f"{method} {url} RTSP/1.0"]
        if cseq:
            self.cseq += 1
            lines.append(f"CSeq: {self.cseq}")
        lines += [f"{name}: {value}" for name, value in headers]
        if body:
            lines.append(f"Content-Length: {len(body)}")
        self.send_raw(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        return self.cseq

    def send_raw(self, data: bytes) -> None:
        """Write bytes as they are."""
        self.sock.sendall(data)

    def send_interleaved(self, channel: int, data: bytes) -> None:
        """Write one `$` packet (an RTCP report, say) on the connection."""
        self.send_raw(struct.pack("!cBH", b"$", channel, len(data)) + data)

    def request(
        self,
        method: str,
        url: str,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
    ) -> RtspResponse:
        """Send a request and read its response (keeping packets that come first)."""
        self.send(method, url, headers, body)
        return self.read_response()

    # Reading

    def read_response(self) -> RtspResponse:
        """The next response; interleaved packets before it go to `pending`."""
        while True:
            item = self._next_item()
            if isinstance(item, RtspResponse):
                return item
            self.pending.append(item)

    def read_packet(self) -> Packet:
        """The next interleaved packet; AssertionError when a response comes instead."""
        if self.pending:
            return self.pending.popleft()
        item = self._next_item()
        if isinstance(item, RtspResponse):
            raise AssertionError(f"expected a packet, got response {item.status} {item.reason}")
        return item

    def read_item(self) -> RtspResponse | Packet:
        """Whatever comes next (pending packets first)."""
        return self.pending.popleft() if self.pending else self._next_item()

    def packets_for(self, seconds: float) -> list[Packet]:
        """Every packet received within `seconds`, reading continuously (pending ones first)."""
        packets = list(self.pending)
        self.pending.clear()
        timeout = self.sock.gettimeout()
        deadline = time.monotonic() + seconds
        try:
            while (left := deadline - time.monotonic()) > 0:
                self.sock.settimeout(left)
                packets.append(self.read_packet())
        except TimeoutError:
            pass
        finally:
            self.sock.settimeout(timeout)
        return packets

    def wait_closed(self, timeout: float = 3.0) -> bool:
        """Whether the server closes the connection within `timeout` (data before it is
        discarded)."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                if not self.sock.recv(_RECV_SIZE):
                    return True
            except TimeoutError:
                return False
            except OSError:  # reset
                return True
        return False

    def _next_item(self) -> RtspResponse | Packet:
        while True:
            if self._buffer[:1] == b"$":
                if len(self._buffer) >= 4:
                    _, channel, length = struct.unpack_from("!cBH", self._buffer)
                    if len(self._buffer) >= 4 + length:
                        data = bytes(self._buffer[4 : 4 + length])
                        del self._buffer[: 4 + length]
                        return Packet(channel, data)
            elif (end := self._buffer.find(b"\r\n\r\n")) >= 0:
                response = self._response(end)
                if response is not None:
                    return response
            self._fill()

    def _response(self, end: int) -> RtspResponse | None:
        """The response whose head ends at `end`, once its whole body is buffered."""
        head = bytes(self._buffer[:end]).decode()
        status_line, *lines = head.split("\r\n")
        headers = tuple(
            (name.strip(), value.strip())
            for name, _, value in (line.partition(":") for line in lines)
        )
        length = int(next((v for k, v in headers if k.lower() == "content-length"), "0"))
        if len(self._buffer) < end + 4 + length:
            return None
        body = bytes(self._buffer[end + 4 : end + 4 + length])
        del self._buffer[: end + 4 + length]
        version, status, reason = status_line.split(" ", 2)
        return RtspResponse(version, int(status), reason, headers, body)

    def _fill(self) -> None:
        try:
            chunk = self.sock.recv(_RECV_SIZE)
        except TimeoutError:
            raise
        except OSError as exc:
            raise ServerClosed(str(exc)) from exc
        if not chunk:
            raise ServerClosed("closed by the server")
        self._buffer += chunk


class UdpPair:
    """A client's RTP/RTCP UDP sockets on an even/odd port pair of 127.0.0.1."""

    def __init__(self, *, timeout: float = 5.0) -> None:
        self.rtp, self.rtcp = _bind_pair()
        for sock in (self.rtp, self.rtcp):
            sock.settimeout(timeout)

    @property
    def ports(self) -> tuple[int, int]:
        """(RTP port, RTCP port)."""
        return self.rtp.getsockname()[1], self.rtcp.getsockname()[1]

    def close(self) -> None:
        """Close both sockets."""
        self.rtp.close()
        self.rtcp.close()

    def __enter__(self) -> UdpPair:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _bind_pair() -> tuple[socket.socket, socket.socket]:
    for _ in range(_UDP_PAIR_ATTEMPTS):
        rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rtp.bind(("127.0.0.1", 0))
        port = rtp.getsockname()[1]
        if port % 2 == 0:
            rtcp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                rtcp.bind(("127.0.0.1", port + 1))
            except OSError:
                rtcp.close()
            else:
                return rtp, rtcp
        rtp.close()
    raise OSError("no free even/odd UDP port pair")
