"""Fan-out: one encoded, packetised frame goes to every client of a stream.

Each client has its own sender thread and a short queue. The stream only appends to queues, so a
slow client never slows the stream or other clients: when its queue is full, its oldest frame is
dropped and counted.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from video.rtp.packet import SenderCounts, interleaved, sender_report

log = logging.getLogger("vigia.video.fanout")

QUEUE_FRAMES = 3
REPORT_EVERY_S = 5.0


@dataclass(slots=True)
class RtpFrame:
    """One frame as RTP packets, made once by the stream and shared by all its clients."""

    packets: tuple[bytes, ...]
    timestamp: int
    seq: int  # sequence number of the first packet
    counts: SenderCounts  # the stream's totals once this frame is sent, for RTCP
    wall_ms: int  # the UTC instant `timestamp` stands for; RTCP reports pair the two
    _tcp: dict[int, bytes] = field(default_factory=dict)

    def over_tcp(self, channel: int) -> bytes:
        """All packets framed for RTSP interleaving on `channel`, built once per channel."""
        data = self._tcp.get(channel)
        if data is None:  # two threads may build it at once; both build the same bytes
            data = b"".join(interleaved(channel, packet) for packet in self.packets)
            self._tcp[channel] = data
        return data


class Delivery(Protocol):
    """Where a client's packets go: its TCP connection or its UDP ports."""

    def send_frame(self, frame: RtpFrame) -> None:
        """Send every packet of `frame`; raise OSError when the client is gone."""

    def send_control(self, packet: bytes) -> None:
        """Send one RTCP packet."""


class Subscriber:
    """One client of one stream: a bounded queue drained by its own sender thread."""

    def __init__(
        self, name: str, delivery: Delivery, on_failure: Callable[[Subscriber, OSError], None]
    ) -> None:
        self.name = name
        self.sent = 0
        self.dropped = 0
        self._delivery = delivery
        self._on_failure = on_failure
        self._queue: deque[RtpFrame] = deque()
        self._ready = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name=f"send {name}", daemon=True)

    def start(self) -> None:
        """Begin sending; frames offered before this wait in the queue."""
        self._thread.start()

    def offer(self, frame: RtpFrame) -> None:
        """Queue `frame`, dropping the oldest queued one when the client is behind."""
        with self._ready:
            if len(self._queue) >= QUEUE_FRAMES:
                self._queue.popleft()
                self.dropped += 1
            self._queue.append(frame)
            self._ready.notify()

    def stop(self) -> None:
        """Stop sending; frames still queued are discarded."""
        with self._ready:
            self._stopped = True
            self._queue.clear()
            self._ready.notify()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=5)

    def _next(self) -> RtpFrame | None:
        with self._ready:
            while not self._queue and not self._stopped:
                self._ready.wait()
            return None if self._stopped else self._queue.popleft()

    def _run(self) -> None:
        last_report = -math.inf  # not 0: the monotonic clock may be under 5 s (just booted)
        while (frame := self._next()) is not None:
            try:
                now = time.monotonic()
                if now - last_report >= REPORT_EVERY_S:
                    # The first report goes before the first frame, so clients can sync at once.
                    report = sender_report(frame.counts, wall_time=frame.wall_ms / 1000)
                    self._delivery.send_control(report)
                    last_report = now
                self._delivery.send_frame(frame)
                self.sent += 1
            except OSError as exc:
                self._stopped = True
                self._on_failure(self, exc)
                return
