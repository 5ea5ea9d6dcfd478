"""One framed, keepalive-guarded connection, used the same way by servers and clients.

One thread reads (`receive`); any thread may send. While the reader waits it wakes up every
`tick_s`: it sends a ping when this side has been quiet for `keepalive_s`, and declares the peer
dead when nothing at all has arrived for `dead_after_s`. Pings and pongs are answered here and
never reach the application.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from wire import messages as m
from wire.errors import ConnectionClosed, ErrorCode, MessageError, RemoteError, WireError
from wire.frame import DEFAULT_MAX_BODY, HEADER_SIZE, PROTOCOL_VERSIONS, pack_header, parse_header
from wire.roles import Role
from wire.transport import Transport

log = logging.getLogger("vigia.wire")

_FILE_CHUNK = 1024 * 1024
_BUFFER = 256 * 1024
M = TypeVar("M", bound=m.Message)


@dataclass(frozen=True, slots=True)
class Timing:
    """Keepalive and deadline settings; defaults detect a silent peer within 10 s."""

    keepalive_s: float = 2.0
    dead_after_s: float = 8.0
    handshake_timeout_s: float = 10.0
    tick_s: float = 0.5


DEFAULT_TIMING = Timing()


@dataclass(frozen=True, slots=True)
class PeerInfo:
    """Who is at the other end, once the handshake has said so."""

    name: str
    role: Role | None  # None: the other end is the server
    address: str


@dataclass(frozen=True, slots=True)
class Received:
    """A message as received: in-memory body bytes, or the file a FILE body was streamed to."""

    message: m.Message
    body: bytes | bytearray = b""  # bytearray for large bodies: saves a copy
    body_path: Path | None = None


@dataclass(slots=True)
class _Clock:
    last_recv: float = field(default_factory=time.monotonic)
    last_send: float = field(default_factory=time.monotonic)
    deadline: float | None = None  # the handshake's, until it completes
    rtt_ms: float | None = None


class Connection:
    """Frames over a transport, with keepalive; created by wire.server and wire.client."""

    def __init__(
        self,
        transport: Transport,
        address: str,
        timing: Timing,
        max_body: int = DEFAULT_MAX_BODY,
        spool_dir: Path | None = None,
    ) -> None:
        self.transport = transport
        self.address = address
        self.timing = timing
        self.max_body = max_body  # what we accept
        self.peer_max_body = max_body  # what the peer accepts; set by the handshake
        self.spool_dir = spool_dir or Path(tempfile.gettempdir())
        self.version = PROTOCOL_VERSIONS[0]
        self.peer: PeerInfo | None = None
        self.closed = threading.Event()
        self.close_reason = ""
        self._send_lock = threading.Lock()
        self._buf = bytearray(_BUFFER)
        self._start = self._end = 0
        self._clock = _Clock(deadline=time.monotonic() + timing.handshake_timeout_s)

    @property
    def label(self) -> str:
        """How log lines name this connection: address, and peer name/role once known."""
        if self.peer is None:
            return self.address
        role = self.peer.role.value if self.peer.role else "server"
        return f"{self.address} {self.peer.name}/{role}"

    @property
    def rtt_ms(self) -> float | None:
        """The last measured keepalive round trip."""
        return self._clock.rtt_ms

    def authenticated(self, peer: PeerInfo, version: int, timing: Timing) -> None:
        """Called by the handshake: lift the handshake deadline and start keepalive."""
        self.peer, self.version, self.timing = peer, version, timing
        self._clock.deadline = None

    # --- sending --------------------------------------------------------------------------------

    def send(self, msg: m.Message, body: bytes | bytearray | memoryview = b"") -> None:
        """Send one message with an optional in-memory body."""
        msg.check_body(len(body))
        self._check_size(msg, len(body))
        head = self._head(msg, len(body))
        with self._send_lock:
            self.transport.send(head, body)
            self._clock.last_send = time.monotonic()

    def send_file(self, msg: m.Message, path: Path) -> None:
        """Send one message whose body is the file at `path`, streamed in chunks."""
        with path.open("rb") as src:
            size = os.fstat(src.fileno()).st_size
            msg.check_body(size)
            self._check_size(msg, size)
            view = memoryview(bytearray(_FILE_CHUNK))
            with self._send_lock:
                self.transport.send(self._head(msg, size))
                left = size
                while left:
                    n = src.readinto(view[: min(left, _FILE_CHUNK)])
                    if not n:  # the frame promised `size` bytes; it cannot be finished
                        self.transport.close()
                        raise ConnectionClosed(f"{path} shrank while being sent")
                    self.transport.send(view[:n])
                    self._clock.last_send = time.monotonic()
                    left -= n

    def send_frames(self, frames: list[bytes]) -> None:
        """Send frames made by `encode_frame`, in one gathered write: how one entry encoded
        once reaches many peers, and how a batch costs one system call."""
        if not frames:
            return
        with self._send_lock:
            self.transport.send(*frames)
            self._clock.last_send = time.monotonic()

    def _head(self, msg: m.Message, body_len: int) -> bytes:
        return head_of(msg, body_len, self.version)

    def _check_size(self, msg: m.Message, body_len: int) -> None:
        if body_len > self.peer_max_body:
            raise WireError(
                f"'{msg.NAME}' body of {body_len} bytes exceeds the peer's limit "
                f"of {self.peer_max_body}",
                ErrorCode.TOO_LARGE,
            )

    # --- receiving ------------------------------------------------------------------------------

    def receive(self) -> Received:
        """The next application message; answers pings, surfaces fatal errors as RemoteError."""
        while True:
            got = self._read_frame()
            msg = got.message
            if isinstance(msg, m.Ping):
                self._try_send(m.Pong(sent_ms=msg.sent_ms))
            elif isinstance(msg, m.Pong):
                self._clock.rtt_ms = time.time() * 1000 - msg.sent_ms
            elif isinstance(msg, m.Bye):
                raise ConnectionClosed(f"peer said goodbye: {msg.reason}")
            elif isinstance(msg, m.Error) and msg.fatal:
                raise RemoteError(f"{msg.code}: {msg.message}", _code(msg.code))
            else:
                return got

    def expect(self, cls: type[M]) -> M:
        """Receive one message that must be of type `cls` (handshake steps)."""
        got = self.receive().message
        if isinstance(got, m.Error):
            raise RemoteError(f"{got.code}: {got.message}", _code(got.code))
        if not isinstance(got, cls):
            raise MessageError(f"expected '{cls.NAME}', got '{got.NAME}'", ErrorCode.UNEXPECTED)
        return got

    def _read_frame(self) -> Received:
        self._ensure(HEADER_SIZE)
        header = parse_header(
            memoryview(self._buf)[self._start : self._start + HEADER_SIZE], self.max_body
        )
        self._start += HEADER_SIZE
        msg = m.decode(header.kind, self._take(header.json_len))
        msg.check_body(header.body_len)
        if msg.BODY is m.Body.FILE:
            return Received(msg, body_path=self._take_to_file(header.body_len))
        return Received(msg, body=self._take_body(header.body_len))

    def _ensure(self, n: int) -> None:
        """Fill the buffer until it holds n unread bytes (n <= buffer size)."""
        if self._end - self._start >= n:
            return
        if len(self._buf) - self._start < n:
            self._buf[: self._end - self._start] = self._buf[self._start : self._end]
            self._end -= self._start
            self._start = 0
        while self._end - self._start < n:
            self._end += self._fill(memoryview(self._buf)[self._end :])

    def _take(self, n: int) -> bytes:
        """Exactly n bytes from the buffer, filling it as needed (n <= buffer size)."""
        self._ensure(n)
        out = bytes(self._buf[self._start : self._start + n])
        self._start += n
        return out

    def _take_body(self, n: int) -> bytes | bytearray:
        """A body of n bytes: what is buffered, then read straight into its own buffer."""
        have = min(n, self._end - self._start)
        if have == n:
            return self._take(n)
        body = bytearray(n)
        body[:have] = self._buf[self._start : self._start + have]
        self._start = self._end = 0
        view = memoryview(body)
        while have < n:
            have += self._fill(view[have:])
        return body

    def _take_to_file(self, n: int) -> Path:
        """Stream a body of n bytes into a new file in the spool directory."""
        fd, name = tempfile.mkstemp(prefix="wire-", suffix=".body", dir=self.spool_dir)
        try:
            with os.fdopen(fd, "wb") as out:
                left = n
                while left:
                    chunk = self._take(min(left, _BUFFER))
                    out.write(chunk)
                    left -= len(chunk)
        except BaseException:
            os.unlink(name)
            raise
        return Path(name)

    def _fill(self, into: memoryview) -> int:
        """Read at least one byte into `into`, running keepalive on every wake-up."""
        while True:
            n = self.transport.recv_into(into)
            now = time.monotonic()
            if n:
                self._clock.last_recv = now
            self._keepalive(now)
            if n:
                return n

    def _keepalive(self, now: float) -> None:
        """Enforce the deadlines, and ping when this side has been quiet: also while bytes
        stream in, or a peer that only receives would look dead to the one sending."""
        clock = self._clock
        if clock.deadline is not None:
            if now > clock.deadline:
                raise WireError(
                    f"handshake not finished within {self.timing.handshake_timeout_s:.0f} s",
                    ErrorCode.HANDSHAKE_TIMEOUT,
                )
            return
        if now - clock.last_recv > self.timing.dead_after_s:
            reason = f"peer silent for {now - clock.last_recv:.1f} s"
            self.abort(reason)
            raise ConnectionClosed(reason)
        # Bytes of ours still unacknowledged: the peer has yet to take what it has, and a ping
        # behind them proves nothing more; on a dead link it would block this reader instead.
        if now - clock.last_send >= self.timing.keepalive_s and not self.transport.unsent():
            self._try_send(m.Ping(sent_ms=int(time.time() * 1000)))

    def _try_send(self, msg: m.Message) -> None:
        """Send a control message unless a long send is under way (that already proves life)."""
        if self._send_lock.acquire(blocking=False):
            try:
                self.transport.send(self._head(msg, 0))
                self._clock.last_send = time.monotonic()
            finally:
                self._send_lock.release()

    # --- closing --------------------------------------------------------------------------------

    def abort(self, reason: str) -> None:
        """Close at once, telling the peer nothing: it is gone or stuck, and a send to it
        could block for `dead_after_s`. Wakes any thread blocked on the socket."""
        if self.closed.is_set():
            return
        self.close_reason = reason
        self.closed.set()
        self.transport.close()

    def close(self, reason: str, error: ErrorCode | None = None) -> None:
        """Tell the peer why (an `error` if `error` is given, else `bye`), then close."""
        if self.closed.is_set():
            return
        self.close_reason = reason if error is None else f"{error.value}: {reason}"
        note: m.Message = (
            m.Bye(reason=reason[:4096])
            if error is None
            else m.Error(code=error.value, message=reason[:4096], ref=None, fatal=True)
        )
        with contextlib.suppress(WireError):  # the peer is gone; the caller logs the reason
            self._try_send(note)
        self.closed.set()
        self.transport.close()


def head_of(msg: m.Message, body_len: int, version: int = PROTOCOL_VERSIONS[0]) -> bytes:
    """The fixed header and JSON header of a frame for `msg` with a body of `body_len`."""
    payload = msg.encode()
    return pack_header(version, msg.KIND, len(payload), body_len) + payload


def encode_frame(msg: m.Message, body: bytes = b"") -> bytes:
    """A whole frame, ready for `Connection.send_frames` (protocol version 1)."""
    msg.check_body(len(body))
    return head_of(msg, len(body)) + body


def _code(text: str) -> ErrorCode:
    try:
        return ErrorCode(text)
    except ValueError:
        return ErrorCode.INTERNAL
