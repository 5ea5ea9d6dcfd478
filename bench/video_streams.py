"""Video streams: how many 640x480, 10 fps streams one `video serve` serves on time, and its CPU
per streamed frame against GStreamer's RTSP server re-streaming the same JPEG files.

Before the clock starts, 30 distinct 640x480 frames of a moving pattern are encoded once
(`encode_jpeg`, quality 80: RTP-ready, so our folder source passes them through as they are)
into a temporary folder that both servers stream from, frame after frame, at 10 fps:
  - ours: `video serve --config video.toml` in its own process, K cameras `cam1..camK`, each
    `folder:FRAMES?hold=0.1` (a new image every frame);
  - GStreamer: bench/gst_rtsp_server.py under Debian's /usr/bin/python3 (which has the gi
    bindings), one shared media per path, `multifilesrc ! jpegparse ! identity datarate=... !
    identity sync=true ! rtpjpegpay`: the files are timestamped, paced and packetised, never
    decoded. For `identity datarate` to stamp them at exactly 10 fps, every file is padded to
    the same length with a JPEG comment, which RTP/JPEG does not carry: both servers send the
    bytes `encode_jpeg` made, and our server still passes them through.
Each stream has one reader: our own light RTSP client (OPTIONS, DESCRIBE, SETUP with RTP
interleaved on the TCP connection, PLAY; then it only walks the `$` framing and reads each RTP
header, and sends GET_PARAMETER every 20 s). The readers are spread over a few processes run at
nice 10: in use they are other machines, so here they get the CPU the server leaves.

A frame ends with the RTP marker bit; it arrives when the read that holds its last packet
returns. Its due time is (RTP timestamp - first timestamp) / 90 kHz after the stream's best
delivery (the smallest arrival - timestamp offset of the connection, so a slow first frame
cannot excuse every later one); it is late when it arrives more than one interval (100 ms)
after that. Frames that never come count as late too: a timestamp gap of n intervals misses
n - 1 frames, and frames due before the window's end that did not arrive by then are missing.
The late fraction is (late + missing) / (received + missing), over all streams of a level,
counting frames that arrive in the measured window, after a warm-up.

Phases, all in this one run:
  - capacity ramp: our server with K = 8, 16, 32, 48, 64 streams (a fresh server per level),
    stopping at the first level with 5% or more late frames; `streams` is the largest K under
    5%. Each level prints frames received, late %, and the server's CPU (all its threads and
    child processes, from /proc);
  - CPU per frame: at one K (16), ours and GStreamer's in turn, in alternating order, for
    --rounds rounds: server CPU seconds over the window / frames the readers received in it.
    `cpu_per_frame_ratio_vs_gstreamer` (ours / GStreamer's) is the median of the per-round
    ratios: the phases of a round ran back to back, so a noisy neighbour weighs on both.

Last line: one JSON object with streams, cpu_per_frame_ratio_vs_gstreamer and the rest.
Goals: streams >= 32 on the 2-core machine; cpu_per_frame_ratio_vs_gstreamer <= 1.0.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import multiprocessing
import os
import queue
import selectors
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from multiprocessing.context import ForkContext, ForkProcess
from multiprocessing.queues import Queue
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event
from pathlib import Path

import cv2
import numpy as np

from video.sources.encode import encode_jpeg
from video.sources.jpegcheck import is_rtp_ready

WIDTH, HEIGHT, FPS, QUALITY = 640, 480, 10, 80
INTERVAL_S = 1.0 / FPS
CLOCK_RATE = 90_000  # RTP/JPEG timestamps
DISTINCT_FRAMES = 30
LATE_AFTER_S = INTERVAL_S  # a frame is late one interval after its due time
LATE_LIMIT = 0.05  # a level passes with fewer late frames than this
KEEPALIVE_S = 20.0
READER_NICE = 10
SETUP_TIMEOUT_S = 30.0
PHASE_LIMIT_S = 600.0  # a reader waiting longer for the parent's go gives up
GST_PYTHON = "/usr/bin/python3"  # Debian's, with python3-gi and GstRtspServer
GST_SCRIPT = Path(__file__).with_name("gst_rtsp_server.py")
HOST = "127.0.0.1"
LEVELS = (8, 16, 32, 64, 96, 128, 160, 192)
QUICK_LEVELS = (8, 32)

Message = tuple[str, object]


# --- the frames both servers stream ------------------------------------------------------------


def make_frames(folder: Path, count: int = DISTINCT_FRAMES) -> tuple[float, int]:
    """`count` RTP-ready JPEGs of a moving pattern as frame000.jpg...: their mean size as
    encoded, and the size of every file, each padded to the same length with a comment (COM)
    segment after SOI. RTP/JPEG carries no comment, so what is sent is as encoded; equal files
    let GStreamer's `identity datarate` timestamp them at exactly FPS (see gst_rtsp_server.py).
    """
    folder.mkdir(parents=True, exist_ok=True)
    ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    jpegs = []
    for i in range(count):
        phase = 2 * math.pi * i / count
        blue = 128 + 100 * np.sin(xs / 40 + phase)
        green = 128 + 100 * np.cos(ys / 30 - phase)
        red = (xs + ys + i * 17) % 256
        pixels = np.stack([blue, green, red], axis=2).astype(np.uint8)
        centre = (int(320 + 200 * math.cos(phase)), int(240 + 150 * math.sin(phase)))
        cv2.circle(pixels, centre, 60, (255, 255, 255), cv2.FILLED, cv2.LINE_AA)
        jpegs.append(encode_jpeg(pixels, width=WIDTH, height=HEIGHT, quality=QUALITY))
    size = max(len(j) for j in jpegs) + 4  # the smallest comment segment is 4 bytes
    for i, jpeg in enumerate(jpegs):
        pad = size - len(jpeg)
        padded = jpeg[:2] + b"\xff\xfe" + (pad - 2).to_bytes(2, "big") + bytes(pad - 4) + jpeg[2:]
        if not is_rtp_ready(padded, WIDTH, HEIGHT):
            raise RuntimeError("encode_jpeg made a JPEG that RTP/JPEG cannot carry as it is")
        (folder / f"frame{i:03d}.jpg").write_bytes(padded)
    return statistics.mean(len(j) for j in jpegs), size


# --- the servers under test --------------------------------------------------------------------


@dataclass
class Server:
    """A server under test in its own process, listening on `port`."""

    name: str  # "ours" or "gstreamer"
    proc: subprocess.Popen[bytes]
    port: int
    log: Path


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def our_config(frames: Path, streams: int, port: int) -> str:
    """video.toml: `streams` cameras cam1..camN, each the frames folder, a new image a frame."""
    source = json.dumps(f"folder:{frames}?hold={INTERVAL_S:g}")  # a TOML basic string
    lines = [
        "[server]",
        f'host = "{HOST}"',
        f"port = {port}",
        "rtp_port = 0",
        "",
        "[defaults]",
        f"fps = {FPS}",
        f"width = {WIDTH}",
        f"height = {HEIGHT}",
        f"quality = {QUALITY}",
    ]
    for i in range(1, streams + 1):
        lines += ["", "[[camera]]", f'name = "cam{i}"', f"source = {source}"]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Frames:
    """The folder both servers stream, its files' size, and the JPEGs' mean size unpadded."""

    folder: Path
    file_bytes: int
    jpeg_bytes: float


def start_server(kind: str, root: Path, frames: Frames, streams: int) -> Server:
    """Ours (`video serve`) or GStreamer's, serving cam1..camN; returns once its port accepts."""
    port = free_port()
    log = root / f"{kind}.log"
    if kind == "ours":
        config = root / "video.toml"
        config.write_text(our_config(frames.folder, streams, port))
        argv = [str(Path(sys.executable).parent / "video"), "serve", "--config", str(config)]
    else:
        argv = [GST_PYTHON, str(GST_SCRIPT), "--host", HOST, "--port", str(port)]
        argv += ["--frames", str(frames.folder), "--frame-bytes", str(frames.file_bytes)]
        argv += ["--streams", str(streams), "--fps", str(FPS)]
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    server = Server(kind, proc, port, log)
    deadline = time.monotonic() + SETUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{kind} server exited with {proc.returncode}:\n{_tail(log)}")
        try:
            socket.create_connection((HOST, port), 0.5).close()
            return server
        except OSError:
            time.sleep(0.05)
    stop_server(server)
    raise RuntimeError(f"{kind} server did not listen within {SETUP_TIMEOUT_S:.0f} s")


def stop_server(server: Server | None) -> None:
    """SIGTERM (a clean stop), then SIGKILL if it lingers."""
    if server is None or server.proc.poll() is not None:
        return
    server.proc.send_signal(signal.SIGTERM)
    try:
        server.proc.wait(15)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait()


def log_warnings(log: Path) -> int:
    """Lines of a server's log that warn or report an error (ours: WARNING/ERROR; GStreamer's
    debug log and Python: WARN, ERROR, CRITICAL, Traceback)."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return 0
    words = ("WARN", "ERROR", "CRITICAL", "Traceback")
    return sum(any(w in line for w in words) for line in text.splitlines())


def _tail(log: Path, lines: int = 20) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def tree_cpu_s(root: int) -> float:
    """CPU seconds used so far by process `root`, all its threads and its live descendants."""
    parents: dict[int, int] = {}
    used: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        pid = int(entry.name)
        parents[pid] = int(fields[1])
        used[pid] = (int(fields[11]) + int(fields[12])) / tick
    total = 0.0
    for pid, cpu in used.items():
        ancestor = pid
        while ancestor > 1 and ancestor != root:
            ancestor = parents.get(ancestor, 0)
        if ancestor == root:
            total += cpu
    return total


# --- the reader: a light RTSP client -----------------------------------------------------------


class ProtocolError(RuntimeError):
    """The server answered something we did not expect."""


@dataclass(frozen=True)
class Response:
    """One RTSP response."""

    status: int
    headers: dict[str, str]  # names in lower case
    body: bytes


def parse_response(buf: bytearray, pos: int) -> tuple[Response, int] | None:
    """The RTSP response starting at `pos`, and where it ends; None while incomplete."""
    if len(buf) - pos >= 5 and not buf.startswith(b"RTSP/", pos):
        raise ProtocolError(f"expected a response or '$', got {bytes(buf[pos : pos + 16])!r}")
    head_end = buf.find(b"\r\n\r\n", pos)
    if head_end < 0:
        return None
    lines = buf[pos:head_end].decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    body_start = head_end + 4
    body_end = body_start + int(headers.get("content-length", "0"))
    if body_end > len(buf):
        return None
    status = int(lines[0].split()[1])
    return Response(status, headers, bytes(buf[body_start:body_end])), body_end


def media_control(sdp: bytes) -> str:
    """The `a=control` of the SDP's first media section."""
    in_media = False
    for line in sdp.decode("latin-1").splitlines():
        in_media = in_media or line.startswith("m=")
        if in_media and line.startswith("a=control:"):
            return line.removeprefix("a=control:").strip()
    raise ProtocolError("the SDP names no media control URL")


@dataclass
class Client:
    """One reader: a TCP connection to one stream with RTP interleaved on it."""

    url: str
    sock: socket.socket
    buf: bytearray = field(default_factory=bytearray)
    cseq: int = 0
    session: str = ""
    channel: int = 0
    playing: bool = False
    keepalive_at: float = 0.0
    arrivals: list[float] = field(default_factory=list)
    stamps: list[int] = field(default_factory=list)  # RTP timestamps, unwrapped
    last_stamp: int = -1  # as on the wire, 32 bits
    payload_bytes: int = 0

    @classmethod
    def connect(cls, port: int, path: str) -> Client:
        """Connected, not yet set up."""
        sock = socket.create_connection((HOST, port), timeout=SETUP_TIMEOUT_S)
        return cls(f"rtsp://{HOST}:{port}/{path}", sock)

    def send(self, method: str, url: str, headers: Iterable[tuple[str, str]] = ()) -> None:
        """Write one request."""
        self.cseq += 1
        lines = [f"{method} {url} RTSP/1.0", f"CSeq: {self.cseq}", "User-Agent: vigia-bench"]
        if self.session:
            lines.append(f"Session: {self.session}")
        lines += [f"{name}: {value}" for name, value in headers]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())

    def exchange(self, method: str, url: str, headers: Iterable[tuple[str, str]] = ()) -> Response:
        """A request and its response, before any RTP flows (blocking)."""
        self.send(method, url, headers)
        while (got := parse_response(self.buf, 0)) is None:
            data = self.sock.recv(65536)
            if not data:
                raise ProtocolError(f"{self.url}: the server hung up after {method}")
            self.buf += data
        response, end = got
        del self.buf[:end]
        if response.status != 200:
            raise ProtocolError(f"{self.url}: {method} answered {response.status}")
        return response

    def start(self) -> None:
        """OPTIONS, DESCRIBE, SETUP (TCP interleaved), then PLAY sent, its answer not awaited."""
        self.exchange("OPTIONS", self.url)
        described = self.exchange("DESCRIBE", self.url, [("Accept", "application/sdp")])
        base = described.headers.get("content-base", self.url).rstrip("/") + "/"
        control = media_control(described.body)
        track = control if control.startswith("rtsp://") else base + control
        transport = "RTP/AVP/TCP;unicast;interleaved=0-1"
        set_up = self.exchange("SETUP", track, [("Transport", transport)])
        self.session = set_up.headers.get("session", "").split(";")[0]
        for param in set_up.headers.get("transport", "").split(";"):
            key, _, value = param.partition("=")
            if key.strip() == "interleaved":
                self.channel = int(value.split("-")[0])
        self.send("PLAY", base.rstrip("/"), [("Range", "npt=0.000-")])
        self.sock.setblocking(False)

    def feed(self, data: bytes, now: float) -> None:
        """Take what arrived at `now`: note each frame's end, answer nothing, keep the rest."""
        buf = self.buf
        buf += data
        pos, end = 0, len(buf)
        while pos < end:
            if buf[pos] == 0x24:  # '$': one interleaved packet
                if pos + 4 > end:
                    break
                stop = pos + 4 + (buf[pos + 2] << 8 | buf[pos + 3])
                if stop > end:
                    break
                if buf[pos + 1] == self.channel and stop - pos >= 16:
                    self.payload_bytes += stop - pos - 16
                    if buf[pos + 5] & 0x80:  # the marker: the frame's last packet
                        self._frame_end(int.from_bytes(buf[pos + 8 : pos + 12], "big"), now)
                pos = stop
            else:
                got = parse_response(buf, pos)
                if got is None:
                    break
                response, pos = got
                if response.status != 200:
                    raise ProtocolError(f"{self.url}: a request answered {response.status}")
                self.playing = True
        del buf[:pos]

    def _frame_end(self, stamp: int, now: float) -> None:
        if self.last_stamp < 0:
            self.stamps.append(stamp)
        else:
            step = (stamp - self.last_stamp) & 0xFFFFFFFF
            self.stamps.append(self.stamps[-1] + (step - (1 << 32) if step >= 1 << 31 else step))
        self.last_stamp = stamp
        self.arrivals.append(now)

    def keep_alive(self, now: float) -> None:
        """GET_PARAMETER every KEEPALIVE_S (the first goes KEEPALIVE_S after PLAY)."""
        if not self.keepalive_at:
            self.keepalive_at = now + KEEPALIVE_S
        elif now >= self.keepalive_at:
            self.keepalive_at = now + KEEPALIVE_S
            with contextlib.suppress(BlockingIOError):  # a full send buffer: the next read
                self.send("GET_PARAMETER", self.url)


@dataclass(frozen=True)
class Tally:
    """Frames of the measured window, summed over connections."""

    received: int = 0
    late: int = 0
    missing: int = 0
    payload_bytes: int = 0  # over the whole run, to check the frames' size
    frames_total: int = 0  # over the whole run
    slowest: int = sys.maxsize  # fewest frames one connection received in the window
    errors: tuple[str, ...] = ()
    cpu_s: float = 0.0  # reader processes, during the window

    def __add__(self, other: Tally) -> Tally:
        return Tally(
            self.received + other.received,
            self.late + other.late,
            self.missing + other.missing,
            self.payload_bytes + other.payload_bytes,
            self.frames_total + other.frames_total,
            min(self.slowest, other.slowest),
            self.errors + other.errors,
            self.cpu_s + other.cpu_s,
        )

    def late_fraction(self) -> float:
        """(late + missing) / (received + missing); 1.0 when nothing was due."""
        due = self.received + self.missing
        return (self.late + self.missing) / due if due else 1.0


def lateness(arrivals: list[float], stamps: list[int], t0: float, t1: float) -> Tally:
    """One connection's received, late and missing frames in the window [t0, t1)."""
    window = t1 - t0
    if not arrivals:
        return Tally(missing=int(window / INTERVAL_S), slowest=0)
    times = [s / CLOCK_RATE for s in stamps]
    best = min(a - s for a, s in zip(arrivals, times, strict=True))
    received = late = missing = 0
    previous: float | None = None  # timestamp of the frame before, in seconds
    for arrival, stamp in zip(arrivals, times, strict=True):
        if arrival >= t1:
            break
        if arrival >= t0:
            received += 1
            late += arrival - stamp - best > LATE_AFTER_S
            if previous is None:  # nothing before the window: frames due since t0 missed
                missing += max(0, int((arrival - t0 - LATE_AFTER_S) / INTERVAL_S))
            else:
                missing += max(0, round((stamp - previous) / INTERVAL_S) - 1)
        previous = stamp
    if previous is None:
        missing += int(window / INTERVAL_S)
    else:  # frames due (and late) before t1 after the last one that came
        missing += max(0, int((t1 - LATE_AFTER_S - (best + previous)) / INTERVAL_S))
    return Tally(received, late, missing, slowest=received, frames_total=len(arrivals))


# --- reader processes --------------------------------------------------------------------------


@dataclass(frozen=True)
class Sync:
    """The parent's line to its readers: they report on `inbox`; `go` releases them, with
    `start` holding the monotonic time the measured window starts."""

    inbox: Queue[Message]
    go: Event
    start: Synchronized[float]


def _read_until(clients: list[Client], sync: Sync, seconds: float) -> tuple[float, float, float]:
    """Read every connection until the window (told by the parent) ends: (t0, t1, CPU s)."""
    with selectors.DefaultSelector() as selector:
        for client in clients:
            selector.register(client.sock, selectors.EVENT_READ, client)
        give_up = time.monotonic() + PHASE_LIMIT_S
        t0 = t1 = math.inf
        cpu0 = cpu1 = 0.0
        while (now := time.monotonic()) < t1:
            if now > give_up:
                raise TimeoutError("the parent never said go")
            if t1 == math.inf and sync.go.is_set():
                t0 = sync.start.value
                t1 = t0 + seconds
            if now >= t0 and not cpu0:
                cpu0 = time.process_time()
            for key, _ in selector.select(timeout=0.2):
                reading: Client = key.data
                data = reading.sock.recv(1 << 18)
                if not data:
                    raise ProtocolError(f"{reading.url}: the server hung up")
                reading.feed(data, time.monotonic())
            for client in clients:
                client.keep_alive(now)
        cpu1 = time.process_time()
    return t0, t1, cpu1 - cpu0


def _reader(port: int, paths: list[str], seconds: float, sync: Sync) -> Tally:
    """In a reader process: set every stream up and play it, say ready, read, then count."""
    os.nice(READER_NICE)
    clients = [Client.connect(port, path) for path in paths]
    try:
        for client in clients:
            client.start()
        sync.inbox.put(("ready", None))
        t0, t1, cpu = _read_until(clients, sync, seconds)
    finally:
        for client in clients:
            client.sock.close()
    tally = Tally(cpu_s=cpu)
    for client in clients:
        one = lateness(client.arrivals, client.stamps, t0, t1)
        tally += dataclasses.replace(one, payload_bytes=client.payload_bytes)
        if not client.playing:
            tally += Tally(errors=(f"{client.url}: PLAY never answered",))
    return tally


def _child(sync: Sync, work: Callable[[], object]) -> None:
    """A child's whole life: its result, or its failure, goes to the parent."""
    try:
        sync.inbox.put(("done", work()))
    except Exception as exc:
        sync.inbox.put(("error", f"{type(exc).__name__}: {exc}"))


def collect(sync: Sync, children: list[ForkProcess], tag: str, timeout: float) -> list[object]:
    """One `tag` message from each child; raise on a child's error, death or silence."""
    got: list[object] = []
    deadline = time.monotonic() + timeout
    while len(got) < len(children):
        try:
            kind, payload = sync.inbox.get(timeout=0.5)
        except queue.Empty:
            dead = [c.exitcode for c in children if c.exitcode not in (None, 0)]
            if dead or time.monotonic() > deadline:
                raise RuntimeError(
                    f"readers silent (exit codes {dead}) waiting for {tag}"
                ) from None
            continue
        if kind != tag:
            raise RuntimeError(f"a reader failed: {payload}")
        got.append(payload)
    return got


def reap(children: list[ForkProcess]) -> None:
    """Join every child; terminate what does not end on its own."""
    for child in children:
        child.join(timeout=10)
        if child.is_alive():
            child.terminate()
            child.join()


# --- one measured level ------------------------------------------------------------------------


@dataclass(frozen=True)
class Level:
    """One server with K streams, each read by one client, over one measured window."""

    server: str
    streams: int
    seconds: float
    tally: Tally
    server_cpu_s: float
    warnings: int  # lines of the server's log that warn or report an error

    def ms_per_frame(self) -> float:
        """Server CPU milliseconds per frame the readers received."""
        return 1000 * self.server_cpu_s / max(1, self.tally.received)

    def describe(self) -> str:
        """One line: frames, lateness, CPU."""
        t = self.tally
        per_stream = t.received / self.streams / self.seconds
        return (
            f"{self.server:9} {self.streams:3d} streams  {t.received:6d} frames "
            f"({per_stream:5.2f}/s a stream, slowest {t.slowest / self.seconds:5.2f}/s)  "
            f"late {100 * t.late_fraction():5.1f}% ({t.late} late, {t.missing} missing)  "
            f"server CPU {100 * self.server_cpu_s / self.seconds:5.1f}% "
            f"({self.ms_per_frame():.3f} ms/frame)  readers {t.cpu_s / self.seconds:.2f} cores"
            + (f"  LOG: {self.warnings} warnings" if self.warnings else "")
        )


def _fork_sync() -> tuple[Sync, ForkContext]:
    ctx = multiprocessing.get_context("fork")
    return Sync(ctx.Queue(), ctx.Event(), ctx.Value("d", 0.0)), ctx


def _sleep_until(when: float) -> None:
    delay = when - time.monotonic()
    if delay > 0:
        time.sleep(delay)


def measure(kind: str, streams: int, args: argparse.Namespace, frames: Frames) -> Level:
    """Start a server with `streams` streams, read each once, measure one window, stop it."""
    root = Path(tempfile.mkdtemp(prefix=f"{kind}-", dir=args.root))
    server: Server | None = None
    children: list[ForkProcess] = []
    try:
        server = start_server(kind, root, frames, streams)
        sync, ctx = _fork_sync()
        paths = [f"cam{i}" for i in range(1, streams + 1)]
        procs = max(1, min(args.reader_procs, streams))
        children = [
            ctx.Process(
                target=_child,
                args=(sync, partial(_reader, server.port, paths[i::procs], args.seconds, sync)),
            )
            for i in range(procs)
        ]
        for child in children:
            child.start()
        collect(sync, children, "ready", SETUP_TIMEOUT_S + 5 * streams)
        t0 = time.monotonic() + args.warmup
        sync.start.value = t0
        sync.go.set()
        _sleep_until(t0)
        cpu0 = tree_cpu_s(server.proc.pid)
        _sleep_until(t0 + args.seconds)
        cpu1 = tree_cpu_s(server.proc.pid)
        if server.proc.poll() is not None:
            raise RuntimeError(f"{kind} server died:\n{_tail(server.log)}")
        tallies = collect(sync, children, "done", SETUP_TIMEOUT_S)
        reap(children)
        stop_server(server)
        warnings = log_warnings(root / f"{kind}.log")
    except BaseException:
        print(f"{kind} server log, last lines:\n{_tail(root / f'{kind}.log')}", file=sys.stderr)
        raise
    finally:
        reap(children)
        stop_server(server)
        shutil.rmtree(root, ignore_errors=True)
    total = Tally()
    for tally in tallies:
        assert isinstance(tally, Tally)
        total += tally
    if total.errors:
        raise RuntimeError(f"{kind} with {streams} streams: {'; '.join(total.errors[:3])}")
    return Level(kind, streams, args.seconds, total, cpu1 - cpu0, warnings)


# --- the phases --------------------------------------------------------------------------------


def ramp(args: argparse.Namespace, frames: Frames) -> list[Level]:
    """Our server at each level in turn, until one has LATE_LIMIT or more late frames."""
    levels = []
    for streams in args.levels:
        level = measure("ours", streams, args, frames)
        levels.append(level)
        print(level.describe(), flush=True)
        if level.tally.late_fraction() >= LATE_LIMIT:
            break
    return levels


def ratio_rounds(args: argparse.Namespace, frames: Frames) -> list[tuple[Level, Level]]:
    """(ours, GStreamer's) at --ratio-streams, each round in the other order than the last."""
    rounds = []
    for n in range(args.rounds):
        order = ("ours", "gstreamer") if n % 2 == 0 else ("gstreamer", "ours")
        got = {}
        for kind in order:
            got[kind] = measure(kind, args.ratio_streams, args, frames)
            print(got[kind].describe(), flush=True)
        ours, gst = got["ours"], got["gstreamer"]
        ours_ms, gst_ms = ours.ms_per_frame(), gst.ms_per_frame()
        print(
            f"round {n + 1}: ours {ours_ms:.3f} ms/frame, GStreamer {gst_ms:.3f} ms/frame, "
            f"ratio {ours_ms / gst_ms:.3f}",
            file=sys.stderr,
            flush=True,
        )
        rounds.append((ours, gst))
    return rounds


def report(
    levels: list[Level], rounds: list[tuple[Level, Level]], frames: Frames, elapsed: float
) -> dict[str, object]:
    """The summary lines; answer the JSON summary."""
    passing = [lv.streams for lv in levels if lv.tally.late_fraction() < LATE_LIMIT]
    streams = max(passing, default=0)
    lower_bound = len(passing) == len(levels)  # no level failed: the limit is higher
    ratios = [ours.ms_per_frame() / gst.ms_per_frame() for ours, gst in rounds]
    ours_ms = statistics.median(o.ms_per_frame() for o, _ in rounds)
    gst_ms = statistics.median(g.ms_per_frame() for _, g in rounds)
    ratio = statistics.median(ratios)
    print(
        f"capacity          {streams} streams with < {100 * LATE_LIMIT:.0f}% late frames "
        f"(levels {', '.join(str(lv.streams) for lv in levels)}"
        f"{'; every level passed, so at least that' if lower_bound else ''}; goal 32)"
    )
    print(
        f"CPU per frame     ours {ours_ms:.3f} ms, GStreamer {gst_ms:.3f} ms at "
        f"{rounds[0][0].streams} streams; cpu_per_frame_ratio_vs_gstreamer {ratio:.3f} "
        f"(rounds {', '.join(f'{r:.3f}' for r in ratios)}; goal 1.0)"
    )
    for name, pick in (("ours", 0), ("gstreamer", 1)):
        sent = [r[pick].tally for r in rounds]
        per_frame = sum(t.payload_bytes for t in sent) / max(1, sum(t.frames_total for t in sent))
        print(
            f"{name:9} frames: {per_frame:.0f} RTP/JPEG payload bytes a frame "
            f"(JPEGs {frames.jpeg_bytes:.0f} bytes), late "
            f"{', '.join(f'{100 * t.late_fraction():.1f}%' for t in sent)}"
        )
    return {
        "streams": streams,
        "streams_is_lower_bound": lower_bound,
        "cpu_per_frame_ratio_vs_gstreamer": round(ratio, 3),
        "our_cpu_ms_per_frame": round(ours_ms, 4),
        "gst_cpu_ms_per_frame": round(gst_ms, 4),
        "late_fraction_by_streams": {
            str(lv.streams): round(lv.tally.late_fraction(), 4) for lv in levels
        },
        "server_cores_by_streams": {
            str(lv.streams): round(lv.server_cpu_s / lv.seconds, 3) for lv in levels
        },
        "ratio_rounds": [round(r, 3) for r in ratios],
        "ratio_streams": rounds[0][0].streams,
        "our_late_fraction_at_ratio": [round(o.tally.late_fraction(), 4) for o, _ in rounds],
        "gst_late_fraction_at_ratio": [round(g.tally.late_fraction(), 4) for _, g in rounds],
        "jpeg_bytes": round(frames.jpeg_bytes),
        "server_log_warnings": sum(lv.warnings for lv in levels)
        + sum(o.warnings + g.warnings for o, g in rounds),
        "seconds": levels[0].seconds,
        "cpus": os.cpu_count(),
        "run_s": round(elapsed, 1),
    }


def parse_args() -> argparse.Namespace:
    """Options; --quick sets shorter windows and fewer levels unless they are given."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="levels 8 and 32, 5 s, 2 rounds")
    parser.add_argument("--levels", type=int, nargs="+", help=f"streams per level {LEVELS}")
    parser.add_argument("--seconds", type=float, help="measured window per level (15)")
    parser.add_argument("--warmup", type=float, help="seconds read before the window (3)")
    parser.add_argument("--rounds", type=int, help="rounds of ours against GStreamer (3)")
    parser.add_argument("--ratio-streams", type=int, default=16, help="streams for CPU/frame")
    parser.add_argument("--reader-procs", type=int, default=2, help="processes for the readers")
    parser.add_argument("--root", type=Path, help="make the temporary folder here")
    args = parser.parse_args()
    quick = {"levels": QUICK_LEVELS, "seconds": 5.0, "warmup": 2.0, "rounds": 2}
    full = {"levels": LEVELS, "seconds": 15.0, "warmup": 3.0, "rounds": 3}
    for name, value in (quick if args.quick else full).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.rounds < 1 or args.seconds <= 0 or args.warmup < 0 or min(args.levels) < 1:
        parser.error("--rounds, --seconds and --levels must be positive, --warmup not negative")
    args.levels = sorted(args.levels)
    return args


def main() -> None:
    """Make the frames, ramp our server up, compare it with GStreamer, print the summary."""
    args = parse_args()
    started = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="vigia-bench-video-", dir=args.root))
    args.root = root
    try:
        jpeg_bytes, file_bytes = make_frames(root / "frames")
        frames = Frames(root / "frames", file_bytes, jpeg_bytes)
        levels = ramp(args, frames)
        rounds = ratio_rounds(args, frames)
        summary = report(levels, rounds, frames, time.monotonic() - started)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
