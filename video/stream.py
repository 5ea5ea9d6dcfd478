"""One camera path: a source paced at the stream's frame rate, encoded once, fanned out.

The stream's thread asks its source for a picture every 1/fps seconds, encodes it as an RTP-ready
JPEG (or takes the source's JPEG as it is), cuts it into RTP packets once, and offers those to
every subscriber. Sequence numbers and timestamps belong to the stream, so a client that joins
mid-way is told (in PLAY's RTP-Info) which sequence number it starts at.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass

from video.fanout import RtpFrame, Subscriber
from video.rtp.jpeg import JpegError, parse_jpeg, payloads
from video.rtp.packet import CLOCK_RATE, RTP_HEADER, SenderCounts, rtp_packet
from video.sources.base import Picture, Source, SourceError
from video.sources.encode import decode_jpeg, encode_jpeg, overlay_text

log = logging.getLogger("vigia.video.stream")

# IPv4 (20) + UDP (8) headers; RTP packets must fit one Ethernet frame unfragmented.
_IP_UDP_OVERHEAD = 28


@dataclass(frozen=True, slots=True)
class StreamOptions:
    """How a camera path streams."""

    name: str
    fps: float = 10.0
    width: int = 640
    height: int = 480
    quality: int = 80
    overlay: bool = False
    mtu: int = 1500


@dataclass(frozen=True, slots=True)
class StreamStats:
    """Counters of one stream since it started."""

    frames: int
    late: int
    skipped: int
    clients: int


class Stream:
    """A paced, encoded-once RTP/JPEG stream with any number of subscribers."""

    def __init__(self, options: StreamOptions, source: Source) -> None:
        self.options = options
        self.ssrc = random.getrandbits(32)
        self._source = source
        self._seq = random.getrandbits(16)
        self._timestamp_base = random.getrandbits(32)  # random first values, as RFC 3550 asks
        self._packets = 0
        self._octets = 0
        self._frames = 0
        self._late = 0
        self._skipped = 0
        self._subscribers: list[Subscriber] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"stream {options.name}", daemon=True
        )
        self._max_payload = options.mtu - _IP_UDP_OVERHEAD - RTP_HEADER.size

    @property
    def name(self) -> str:
        """The camera path, as in rtsp://host:port/NAME."""
        return self.options.name

    def start(self) -> None:
        """Start producing frames."""
        self._thread.start()

    def stop(self) -> None:
        """Stop producing, stop every subscriber, close the source."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        with self._lock:
            subscribers, self._subscribers = self._subscribers, []
        for subscriber in subscribers:
            subscriber.stop()
        self._source.close()

    def subscribe(self, subscriber: Subscriber) -> int:
        """Add a client; returns the sequence number of the first packet it will get."""
        with self._lock:
            self._subscribers.append(subscriber)
            return self._seq & 0xFFFF

    def unsubscribe(self, subscriber: Subscriber) -> None:
        """Remove a client (it may already be gone)."""
        with self._lock:
            if subscriber in self._subscribers:
                self._subscribers.remove(subscriber)

    def stats(self) -> StreamStats:
        """Frames made, late and skipped so far, and the number of clients."""
        with self._lock:
            return StreamStats(self._frames, self._late, self._skipped, len(self._subscribers))

    def _run(self) -> None:
        # Frames keep a fixed cadence on the monotonic clock: slot n is due at start + n/fps,
        # stands for wall time start + n/fps, and has RTP time base + n * 90000/fps. So RTP
        # timestamps step evenly (a late frame shows as late, not as a shorter interval) and a
        # step of the wall clock does not disturb the stream.
        fps = self.options.fps
        start_mono, start_wall = time.monotonic(), time.time()
        slot = 0
        while not self._stop.is_set():
            wall_ms = int((start_wall + slot / fps) * 1000)
            timestamp = self._timestamp_base + round(slot * CLOCK_RATE / fps)
            try:
                self._publish(self._picture(wall_ms), wall_ms, timestamp & 0xFFFFFFFF)
            except (SourceError, JpegError) as exc:
                log.warning("%s: frame skipped: %s", self.name, exc)
                self._skipped += 1
            slot += 1
            behind = int((time.monotonic() - start_mono) * fps) - slot
            if behind >= 1:
                # Too far behind to catch up frame by frame: count the misses and move on.
                self._late += behind
                slot += behind
            self._stop.wait(max(0.0, start_mono + slot / fps - time.monotonic()))

    def _picture(self, wall_ms: int) -> bytes:
        """The JPEG for the frame at `wall_ms`."""
        picture: Picture = self._source.read(wall_ms)
        if picture.jpeg is not None and not self.options.overlay:
            return picture.jpeg
        pixels = picture.pixels
        if pixels is None and picture.jpeg is not None:  # the overlay needs pixels to draw on
            pixels = decode_jpeg(picture.jpeg)
        if pixels is None:
            raise SourceError("source gave neither pixels nor a JPEG")
        options = self.options
        return encode_jpeg(
            pixels,
            width=options.width,
            height=options.height,
            quality=options.quality,
            overlay=overlay_text(options.name, wall_ms) if options.overlay else None,
        )

    def _publish(self, jpeg: bytes, wall_ms: int, timestamp: int) -> None:
        """Packetise one JPEG and offer it to every subscriber."""
        parts = payloads(parse_jpeg(jpeg), self._max_payload)
        with self._lock:
            first = self._seq
            packets = tuple(
                rtp_packet(
                    seq=first + i, timestamp=timestamp, ssrc=self.ssrc,
                    marker=i == len(parts) - 1, payload=part,
                )
                for i, part in enumerate(parts)
            )  # fmt: skip
            self._seq = (first + len(packets)) & 0xFFFF
            self._packets += len(packets)
            self._octets += sum(len(p) for p in parts)
            self._frames += 1
            counts = SenderCounts(self.ssrc, timestamp, self._packets, self._octets)
            frame = RtpFrame(packets, timestamp, first & 0xFFFF, counts, wall_ms)
            subscribers = list(self._subscribers)
        for subscriber in subscribers:
            subscriber.offer(frame)
