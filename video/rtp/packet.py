"""RTP packets (RFC 3550) and the RTCP sender report that goes with them."""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass

RTP_VERSION = 2
JPEG_PAYLOAD_TYPE = 26  # static payload type for JPEG (RFC 3551)
CLOCK_RATE = 90_000
RTP_HEADER = struct.Struct("!BBHII")
_SR = struct.Struct("!BBHIIIIII")
_SR_TYPE = 200
_NTP_EPOCH_OFFSET = 2_208_988_800  # seconds from 1900-01-01 to 1970-01-01


def rtp_packet(*, seq: int, timestamp: int, ssrc: int, marker: bool, payload: bytes) -> bytes:
    """One RTP packet: version 2, no padding, extension or CSRCs, payload type 26 (JPEG)."""
    second = (0x80 if marker else 0) | JPEG_PAYLOAD_TYPE
    head = RTP_HEADER.pack(RTP_VERSION << 6, second, seq & 0xFFFF, timestamp & 0xFFFFFFFF, ssrc)
    return head + payload


@dataclass(frozen=True, slots=True)
class SenderCounts:
    """What an RTCP sender report states about the stream so far."""

    ssrc: int
    rtp_timestamp: int
    packets: int
    octets: int


def sender_report(counts: SenderCounts, wall_time: float | None = None) -> bytes:
    """An RTCP SR with no report blocks, tying `counts.rtp_timestamp` to the wall clock."""
    now = time.time() if wall_time is None else wall_time
    ntp = now + _NTP_EPOCH_OFFSET
    seconds = int(ntp)
    fraction = int((ntp - seconds) * (1 << 32)) & 0xFFFFFFFF
    return _SR.pack(
        RTP_VERSION << 6, _SR_TYPE, 6, counts.ssrc, seconds & 0xFFFFFFFF, fraction,
        counts.rtp_timestamp & 0xFFFFFFFF, counts.packets & 0xFFFFFFFF,
        counts.octets & 0xFFFFFFFF,
    )  # fmt: skip


def interleaved(channel: int, packet: bytes) -> bytes:
    """Frame a packet for RTP over the RTSP TCP connection (RFC 2326 section 10.12)."""
    return struct.pack("!cBH", b"$", channel, len(packet)) + packet
