"""RTSP 1.0 messages (RFC 2326): reading requests off a socket, writing responses.

A client may interleave binary RTP/RTCP packets (`$`, channel, length, data) with its requests on
the same TCP connection, so the reader hands back either a `Request` or an `Interleaved` packet.
Sizes are bounded: a header larger than `max_header` or a body larger than `max_body` is refused.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass, field
from email.utils import formatdate

from wire.cli import package_version

RTSP_VERSION = "RTSP/1.0"
SERVER_NAME = f"vigia-video/{package_version()}"
MAX_HEADER = 16 * 1024
MAX_BODY = 64 * 1024
_RECV_SIZE = 64 * 1024

REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Request Entity Too Large",
    454: "Session Not Found",
    455: "Method Not Valid in This State",
    459: "Aggregate Operation Not Allowed",
    461: "Unsupported Transport",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    505: "RTSP Version Not Supported",
    551: "Option not supported",
}


class RtspError(Exception):
    """A request that gets an error status; `close` when the connection cannot go on."""

    def __init__(
        self, status: int, detail: str, *, close: bool = False, cseq: str | None = None
    ) -> None:
        super().__init__(f"{status} {REASONS.get(status, '')}: {detail}")
        self.status = status
        self.detail = detail
        self.close = close
        self.cseq = cseq


class PeerGone(Exception):
    """The client closed the connection (or it broke)."""


@dataclass(frozen=True, slots=True)
class Headers:
    """Request headers, looked up case-insensitively; a repeated header keeps its first value."""

    items: tuple[tuple[str, str], ...] = ()

    def get(self, name: str) -> str | None:
        """The value of header `name`, or None."""
        wanted = name.lower()
        return next((value for key, value in self.items if key.lower() == wanted), None)


@dataclass(frozen=True, slots=True)
class Request:
    """One RTSP request."""

    method: str
    url: str
    headers: Headers
    body: bytes = b""

    @property
    def cseq(self) -> str | None:
        """The CSeq header, echoed on the response."""
        return self.headers.get("CSeq")


@dataclass(frozen=True, slots=True)
class Interleaved:
    """A binary packet the client sent on the RTSP connection (its RTCP receiver reports)."""

    channel: int
    data: bytes


@dataclass(frozen=True, slots=True)
class Response:
    """One RTSP response; `encode` adds CSeq (when known), Server and Date."""

    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    content_type: str | None = None

    def encode(self, cseq: str | None) -> bytes:
        """The response as bytes on the wire."""
        lines = [f"{RTSP_VERSION} {self.status} {REASONS.get(self.status, 'Unknown')}"]
        if cseq is not None:
            lines.append(f"CSeq: {cseq}")
        lines += [f"Server: {SERVER_NAME}", f"Date: {formatdate(usegmt=True)}"]
        lines += [f"{name}: {value}" for name, value in self.headers]
        if self.body:
            if self.content_type:
                lines.append(f"Content-Type: {self.content_type}")
            lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + self.body


@dataclass
class RequestReader:
    """Reads requests and interleaved packets from one connected socket."""

    sock: socket.socket
    max_header: int = MAX_HEADER
    max_body: int = MAX_BODY
    _buffer: bytearray = field(default_factory=bytearray)

    def next(self) -> Request | Interleaved:
        """Block for the next request or interleaved packet; PeerGone when the peer closes."""
        while True:
            if self._buffer[:1] == b"$":
                packet = self._interleaved()
                if packet is not None:
                    return packet
            else:
                end = self._buffer.find(b"\r\n\r\n")
                if end >= 0:
                    return self._request(end)
                if len(self._buffer) > self.max_header:
                    raise RtspError(400, f"request header over {self.max_header} bytes", close=True)
            self._fill()

    def _fill(self) -> None:
        try:
            chunk = self.sock.recv(_RECV_SIZE)
        except OSError as exc:
            raise PeerGone(str(exc)) from None
        if not chunk:
            raise PeerGone("closed by peer")
        self._buffer += chunk

    def _interleaved(self) -> Interleaved | None:
        if len(self._buffer) < 4:
            return None
        _, channel, length = struct.unpack_from("!cBH", self._buffer)
        if len(self._buffer) < 4 + length:
            return None
        data = bytes(self._buffer[4 : 4 + length])
        del self._buffer[: 4 + length]
        return Interleaved(channel, data)

    def _request(self, end: int) -> Request:
        head = bytes(self._buffer[:end])
        if len(head) > self.max_header:
            raise RtspError(400, f"request header over {self.max_header} bytes", close=True)
        del self._buffer[: end + 4]
        method, url, version, headers = parse_head(head)
        body = self._body(headers)  # read even when refused, so the next request is found
        if version != RTSP_VERSION:
            raise RtspError(505, f"{version} is not {RTSP_VERSION}", cseq=headers.get("CSeq"))
        return Request(method, url, headers, body)

    def _body(self, headers: Headers) -> bytes:
        raw = headers.get("Content-Length") or "0"
        cseq = headers.get("CSeq")
        if not (raw.isascii() and raw.isdigit()):
            raise RtspError(400, f"Content-Length {raw!r} is not a number", close=True, cseq=cseq)
        length = int(raw)
        if length > self.max_body:
            raise RtspError(
                413, f"body of {length} bytes; at most {self.max_body}", close=True, cseq=cseq
            )
        while len(self._buffer) < length:
            self._fill()
        body = bytes(self._buffer[:length])
        del self._buffer[:length]
        return body


def parse_head(head: bytes) -> tuple[str, str, str, Headers]:
    """Method, URL, version and headers of a request head; RtspError 400 when malformed (with
    the CSeq, when the headers have one, so that the client can match the answer)."""
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        raise RtspError(400, "request is not UTF-8 text", close=True) from None
    request_line, *lines = text.split("\r\n")
    items = []
    for line in lines:
        name, sep, value = line.partition(":")
        if not sep or not name.strip() or name != name.strip():
            raise RtspError(400, f"malformed header line {line[:80]!r}", close=True)
        items.append((name, value.strip()))
    headers = Headers(tuple(items))
    parts = request_line.split(" ")
    if len(parts) != 3 or not parts[0].isupper() or not parts[2].startswith("RTSP/"):
        detail = f"malformed request line {request_line[:80]!r}"
        raise RtspError(400, detail, close=True, cseq=headers.get("CSeq"))
    return parts[0], parts[1], parts[2], headers
