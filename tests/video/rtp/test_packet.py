"""RTP packets, RTCP sender reports (RFC 3550) and RTSP interleaved framing (RFC 2326 10.12)."""

from __future__ import annotations

import struct
import time

import pytest

from video.rtp.packet import (
    CLOCK_RATE,
    JPEG_PAYLOAD_TYPE,
    RTP_HEADER,
    SenderCounts,
    interleaved,
    rtp_packet,
    sender_report,
)

NTP_UNIX_OFFSET = 2_208_988_800  # seconds from 1900 (NTP) to 1970 (Unix)


def test_constants() -> None:
    assert (JPEG_PAYLOAD_TYPE, CLOCK_RATE, RTP_HEADER.size) == (26, 90_000, 12)


@pytest.mark.parametrize("marker", [False, True])
def test_rtp_header_fields(marker: bool) -> None:
    packet = rtp_packet(seq=513, timestamp=90_000, ssrc=0xDEADBEEF, marker=marker, payload=b"xy")
    first, second, seq, timestamp, ssrc = struct.unpack_from("!BBHII", packet)
    assert first >> 6 == 2  # version
    assert first & 0x3F == 0  # no padding, no extension, no CSRCs
    assert bool(second & 0x80) is marker
    assert second & 0x7F == 26
    assert (seq, timestamp, ssrc) == (513, 90_000, 0xDEADBEEF)
    assert packet[12:] == b"xy"
    assert len(packet) == 14


def test_rtp_sequence_and_timestamp_wrap() -> None:
    packet = rtp_packet(seq=65536 + 7, timestamp=2**32 + 9, ssrc=1, marker=False, payload=b"")
    assert struct.unpack_from("!HI", packet, 2) == (7, 9)


SR = struct.Struct("!BBHIIIIII")


def test_sender_report_layout() -> None:
    counts = SenderCounts(ssrc=0x01020304, rtp_timestamp=123_456, packets=77, octets=99_999)
    report = sender_report(counts, wall_time=1_700_000_000.25)
    assert len(report) == SR.size == 28
    first, kind, length, ssrc, ntp_s, ntp_frac, rtp_ts, packets, octets = SR.unpack(report)
    assert first == 0x80  # version 2, no padding, no report blocks
    assert kind == 200  # SR
    assert (length + 1) * 4 == len(report)  # length in 32-bit words minus one
    assert ssrc == 0x01020304
    assert ntp_s == 1_700_000_000 + NTP_UNIX_OFFSET
    assert ntp_frac == 1 << 30  # a quarter second
    assert (rtp_ts, packets, octets) == (123_456, 77, 99_999)


def test_sender_report_counts_wrap_to_32_bits() -> None:
    counts = SenderCounts(ssrc=1, rtp_timestamp=2**32 + 1, packets=2**32 + 2, octets=2**32 + 3)
    *_, rtp_ts, packets, octets = SR.unpack(sender_report(counts, wall_time=0.0))
    assert (rtp_ts, packets, octets) == (1, 2, 3)


def test_sender_report_defaults_to_now() -> None:
    before = time.time()
    report = sender_report(SenderCounts(1, 0, 0, 0))
    after = time.time()
    _, _, _, _, ntp_s, ntp_frac, *_ = SR.unpack(report)
    when = ntp_s + ntp_frac / 2**32 - NTP_UNIX_OFFSET
    assert before - 0.001 <= when <= after + 0.001


@pytest.mark.parametrize("size", [0, 1, 1472, 65535])
def test_interleaved_framing(size: int) -> None:
    packet = bytes(range(256)) * (size // 256) + bytes(size % 256)
    framed = interleaved(3, packet)
    assert framed[:1] == b"$"
    assert framed[1] == 3
    assert struct.unpack_from("!H", framed, 2)[0] == size
    assert framed[4:] == packet
