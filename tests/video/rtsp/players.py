"""Players for the RTSP tests: a small raw RTSP client (TCP interleaved or UDP) and ffmpeg.

`RawPlayer` speaks just enough RTSP 1.0 to DESCRIBE, SETUP, PLAY, keep a session alive and
TEARDOWN, and counts the RTP/JPEG frames it receives (one per packet with the marker bit) with
their arrival times. It checks every packet is RTP version 2, payload type 26. `FfmpegPlayer`
runs a real ffmpeg for as long as needed, decoding to raw BGR frames, and timestamps each frame.
"""

from __future__ import annotations

import itertools
import queue
import shutil
import socket
import struct
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import IO, Literal

import numpy as np

from tests.video.rtsp.conftest import HEIGHT, WIDTH
from video.sources.base import Pixels

Lower = Literal["tcp", "udp"]

FRAME_BYTES = WIDTH * HEIGHT * 3  # one decoded BGR frame
RESPONSE_TIMEOUT_S = 5.0
_POLL_S = 0.2  # how often reading threads look at their stop flag
_RTP_HEADER = struct.Struct("!BBHII")
_JPEG_PAYLOAD_TYPE = 26


class PlayerError(Exception):
    """The server answered wrongly, or not in time."""


def frames_of(raw: bytes, width: int = WIDTH, height: int = HEIGHT) -> list[Pixels]:
    """Raw BGR24 frames, back to back, as pictures; ValueError when the size is not whole."""
    size = width * height * 3
    if len(raw) % size:
        raise ValueError(f"{len(raw)} bytes is not a whole number of {width}x{height} frames")
    pictures = np.frombuffer(raw, np.uint8).reshape(-1, height, width, 3)
    return list(pictures)


@dataclass
class Frames:
    """What a player received: arrival time of each whole frame, packets, malformed packets."""

    times: list[float] = field(default_factory=list)
    packets: int = 0
    bad: int = 0

    def rtp(self, packet: bytes) -> None:
        """Count one RTP packet; its marker bit ends a frame."""
        if len(packet) < _RTP_HEADER.size:
            self.bad += 1
            return
        first, second, *_ = _RTP_HEADER.unpack_from(packet)
        if first >> 6 != 2 or second & 0x7F != _JPEG_PAYLOAD_TYPE:
            self.bad += 1
            return
        self.packets += 1
        if second & 0x80:
            self.times.append(time.monotonic())

    def frame(self) -> None:
        """Count one whole frame (a decoder's output)."""
        self.times.append(time.monotonic())


def max_gap(times: list[float], start: float, end: float) -> float:
    """The longest time without a frame between `start` and `end`."""
    points = [start, *(t for t in times if start <= t <= end), end]
    return max(later - earlier for earlier, later in itertools.pairwise(points))


def rate(times: list[float], start: float, end: float) -> float:
    """Frames per second received between `start` and `end`."""
    return sum(1 for t in times if start <= t <= end) / (end - start)


@dataclass(frozen=True, slots=True)
class Response:
    """An RTSP response; header names lower-cased."""

    status: int
    headers: dict[str, str]
    body: bytes


def _udp_pair() -> tuple[socket.socket, socket.socket]:
    """Two UDP sockets on 127.0.0.1, RTP on an even port and RTCP on the next."""
    for _ in range(64):
        rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rtp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
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


class RawPlayer:
    """One RTSP connection playing one camera over TCP (interleaved 0-1) or UDP."""

    def __init__(self, host: str, port: int, path: str, lower: Lower) -> None:
        self.url = f"rtsp://{host}:{port}/{path}"
        self.lower: Lower = lower
        self.frames = Frames()
        self.session = ""
        self.timeout_s = 0
        self.played_at = 0.0
        #: Set when the server closed the connection; what went wrong reading it.
        self.closed_by_server = threading.Event()
        self.errors: list[str] = []
        self._cseq = 0
        self._responses: queue.Queue[Response] = queue.Queue()
        self._request_lock = threading.Lock()
        self._stop = threading.Event()
        self._sock = socket.create_connection((host, port), timeout=RESPONSE_TIMEOUT_S)
        self._sock.settimeout(_POLL_S)
        self._udp = _udp_pair() if lower == "udp" else None
        self._threads = [threading.Thread(target=self._read_rtsp, daemon=True)]
        if self._udp is not None:
            self._threads.append(threading.Thread(target=self._read_udp, daemon=True))
        for thread in self._threads:
            thread.start()

    def request(
        self, method: str, url: str | None = None, headers: tuple[tuple[str, str], ...] = ()
    ) -> Response:
        """Send one request (with the session, once there is one) and wait for its answer."""
        with self._request_lock:
            self._cseq += 1
            lines = [f"{method} {url or self.url} RTSP/1.0", f"CSeq: {self._cseq}"]
            lines.append("User-Agent: vigia-test-player")
            if self.session:
                lines.append(f"Session: {self.session}")
            lines += [f"{name}: {value}" for name, value in headers]
            self._sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
            try:
                response = self._responses.get(timeout=RESPONSE_TIMEOUT_S)
            except queue.Empty:
                raise PlayerError(f"{method} {self.url}: no answer") from None
            if response.headers.get("cseq") != str(self._cseq):
                raise PlayerError(f"{method}: answer has CSeq {response.headers.get('cseq')}")
            return response

    def play(self) -> None:
        """OPTIONS, DESCRIBE, SETUP and PLAY; PlayerError unless each is answered 200."""
        _expect_ok("OPTIONS", self.request("OPTIONS"))
        described = _expect_ok(
            "DESCRIBE", self.request("DESCRIBE", None, (("Accept", "application/sdp"),))
        )
        if b"a=rtpmap:26 JPEG/90000" not in described.body:
            raise PlayerError(f"DESCRIBE: no JPEG track in {described.body!r}")
        base = described.headers.get("content-base", self.url + "/")
        if self._udp is None:
            transport = "RTP/AVP/TCP;unicast;interleaved=0-1"
        else:
            rtp_port = self._udp[0].getsockname()[1]
            transport = f"RTP/AVP;unicast;client_port={rtp_port}-{rtp_port + 1}"
        setup = _expect_ok(
            "SETUP", self.request("SETUP", base + "trackID=0", (("Transport", transport),))
        )
        session, _, timeout = setup.headers.get("session", "").partition(";timeout=")
        self.session, self.timeout_s = session.strip(), int(timeout or 60)
        _expect_ok("PLAY", self.request("PLAY", None, (("Range", "npt=now-"),)))
        self.played_at = time.monotonic()

    def keepalive(self, method: str = "GET_PARAMETER") -> int:
        """GET_PARAMETER (empty body) or OPTIONS with the session, to keep it alive; the status."""
        return self.request(method).status

    def teardown(self) -> int:
        """TEARDOWN, then close; the status of the TEARDOWN."""
        try:
            return self.request("TEARDOWN").status
        finally:
            self.close()

    def close(self, *, reset: bool = False) -> None:
        """Hang up without TEARDOWN; `reset` sends a TCP RST rather than a FIN."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=2)
        if reset:
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self._sock.close()
        for sock in self._udp or ():
            sock.close()

    def _read_rtsp(self) -> None:
        buffer = bytearray()
        while not self._stop.is_set():
            try:
                chunk = self._sock.recv(64 * 1024)
            except TimeoutError:
                continue
            except OSError as exc:
                self.errors.append(f"reading: {exc}")
                break
            if not chunk:
                break
            buffer += chunk
            try:
                self._parse(buffer)
            except PlayerError as exc:
                self.errors.append(str(exc))
                break
        if not self._stop.is_set():
            self.closed_by_server.set()

    def _parse(self, buffer: bytearray) -> None:
        """Take every whole interleaved packet and response off the front of `buffer`."""
        while buffer:
            if buffer[0] == ord("$"):
                if len(buffer) < 4 or len(buffer) < 4 + int.from_bytes(buffer[2:4], "big"):
                    return
                channel, length = buffer[1], int.from_bytes(buffer[2:4], "big")
                if channel == 0:
                    self.frames.rtp(bytes(buffer[4 : 4 + length]))
                del buffer[: 4 + length]
                continue
            if not b"RTSP/1.0 ".startswith(bytes(buffer[:9])):
                raise PlayerError(f"neither a response nor a packet: {bytes(buffer[:40])!r}")
            response = _response(buffer)
            if response is None:
                return
            self._responses.put(response)

    def _read_udp(self) -> None:
        assert self._udp is not None
        rtp = self._udp[0]
        rtp.settimeout(_POLL_S)
        while not self._stop.is_set():
            try:
                packet = rtp.recv(64 * 1024)
            except TimeoutError:
                continue
            except OSError as exc:
                self.errors.append(f"reading RTP: {exc}")
                return
            self.frames.rtp(packet)


def _response(buffer: bytearray) -> Response | None:
    """The whole response at the front of `buffer`, taken off it; None while incomplete."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    status_line, *lines = bytes(buffer[:end]).decode().split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    if len(buffer) < end + 4 + length:
        return None
    body = bytes(buffer[end + 4 : end + 4 + length])
    del buffer[: end + 4 + length]
    return Response(int(status_line.split(" ")[1]), headers, body)


def _expect_ok(method: str, response: Response) -> Response:
    if response.status != 200:
        raise PlayerError(f"{method} answered {response.status}")
    return response


class FfmpegPlayer:
    """A real ffmpeg playing a URL until stopped, decoding every frame to BGR."""

    def __init__(self, url: str, lower: Lower, *, keep_every: int = 100) -> None:
        ffmpeg = shutil.which("ffmpeg")
        if ffmpeg is None:
            raise FileNotFoundError("ffmpeg")
        command = [
            ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "warning", "-rtsp_transport", lower,
            "-i", url, "-f", "rawvideo", "-pix_fmt", "bgr24", "-flush_packets", "1", "-",
        ]  # fmt: skip
        self.frames = Frames()
        #: Every `keep_every`-th decoded frame, from the first, to compare with the card.
        self.kept: list[Pixels] = []
        self.log: list[str] = []
        self._keep_every = keep_every
        self._process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
        )
        assert self._process.stdout is not None and self._process.stderr is not None
        self._threads = [
            threading.Thread(target=self._read_frames, args=(self._process.stdout,), daemon=True),
            threading.Thread(target=self._read_log, args=(self._process.stderr,), daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def running(self) -> bool:
        """Whether ffmpeg is still running."""
        return self._process.poll() is None

    def stop(self) -> int | None:
        """Ask ffmpeg to quit (SIGTERM: it tears down its session); its exit code."""
        if self._process.poll() is None:
            self._process.terminate()
        try:
            code = self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            code = self._process.wait(timeout=10)
        for thread in self._threads:
            thread.join(timeout=5)
        return code

    def _read_frames(self, stdout: IO[bytes]) -> None:
        while len(data := stdout.read(FRAME_BYTES)) == FRAME_BYTES:
            self.frames.frame()
            if (len(self.frames.times) - 1) % self._keep_every == 0:
                self.kept.append(frames_of(data)[0])

    def _read_log(self, stderr: IO[bytes]) -> None:
        for line in stderr:
            self.log.append(line.decode(errors="replace").rstrip())
