"""Whether a JPEG file can go out as RTP/JPEG (RFC 2435) exactly as it is.

RFC 2435 carries only the quantisation tables and the entropy-coded scan; the receiver rebuilds
every other header from a few fields, assuming baseline coding, YCbCr with 4:2:0 sampling
(type 1), table 0 for Y and table 1 for Cb and Cr, and the standard Huffman tables of Annex K.
A file that differs in any of these would decode wrong on the far side, so it is re-encoded
instead of passed through.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

from video.sources.encode import encode_jpeg

SOI, EOI, SOS = 0xD8, 0xD9, 0xDA
SOF0, DHT, DQT, DRI, APP14, COM = 0xC0, 0xC4, 0xDB, 0xDD, 0xEE, 0xFE
APP0, APP15 = 0xE0, 0xEF

#: Per component of SOF0: (horizontal x vertical sampling, quantisation table) for Y, Cb, Cr.
RTP_COMPONENTS = ((0x22, 0), (0x11, 1), (0x11, 1))
#: Per component of the scan: DC table << 4 | AC table, for Y, Cb, Cr.
RTP_SCAN_TABLES = (0x00, 0x11, 0x11)


class _NotReady(Exception):
    """The file breaks an RTP/JPEG assumption, or is cut short."""


def _check(condition: bool) -> None:
    if not condition:
        raise _NotReady


def _huffman_tables(payload: bytes) -> dict[tuple[int, int], bytes]:
    """The tables of one DHT segment by (class, id): 16 code counts then the symbols."""
    tables: dict[tuple[int, int], bytes] = {}
    at = 0
    while at < len(payload):
        _check(at + 17 <= len(payload))
        end = at + 17 + sum(payload[at + 1 : at + 17])
        _check(end <= len(payload))
        tables[(payload[at] >> 4, payload[at] & 0x0F)] = payload[at + 1 : end]
        at = end
    return tables


@functools.cache
def standard_huffman_tables() -> dict[tuple[int, int], bytes]:
    """The four Annex K tables, as our own encoder writes them (it never optimises them)."""
    data = encode_jpeg(np.zeros((16, 16, 3), np.uint8), width=16, height=16, quality=50)
    tables: dict[tuple[int, int], bytes] = {}
    for marker, payload in _header_segments(data)[0]:
        if marker == DHT:
            tables.update(_huffman_tables(payload))
    return tables


def _header_segments(data: bytes) -> tuple[list[tuple[int, bytes]], int]:
    """The (marker, payload) segments from SOI to SOS included, and where the scan starts."""
    _check(data[:2] == bytes((0xFF, SOI)))
    segments: list[tuple[int, bytes]] = []
    at = 2
    while True:
        _check(at + 4 <= len(data) and data[at] == 0xFF)
        marker = data[at + 1]
        length = int.from_bytes(data[at + 2 : at + 4], "big")
        _check(length >= 2 and at + 2 + length <= len(data))
        segments.append((marker, data[at + 4 : at + 2 + length]))
        at += 2 + length
        if marker == SOS:
            return segments, at


def _quant_table_ids(payload: bytes) -> set[int]:
    """The ids of the tables of one DQT segment, all of which must have 8-bit entries."""
    ids: set[int] = set()
    at = 0
    while at < len(payload):
        _check(payload[at] >> 4 == 0)  # 16-bit entries: RFC 2435 receivers assume 8-bit ones
        ids.add(payload[at] & 0x0F)
        at += 65
    _check(at == len(payload))
    return ids


def _frame_size(sof0: bytes) -> tuple[int, int]:
    return int.from_bytes(sof0[3:5], "big"), int.from_bytes(sof0[1:3], "big")


def _check_sof0(payload: bytes) -> None:
    _check(len(payload) == 15 and payload[0] == 8 and payload[5] == 3)
    components = tuple((payload[7 + 3 * i], payload[8 + 3 * i]) for i in range(3))
    _check(components == RTP_COMPONENTS)


def _check_dht(payload: bytes) -> None:
    standard = standard_huffman_tables()
    for key, table in _huffman_tables(payload).items():
        _check(standard.get(key) == table)


def _check_dri(payload: bytes) -> None:
    _check(payload == b"\x00\x00")  # restart intervals would need RTP/JPEG types 64..127


def _check_app14(payload: bytes) -> None:
    # Adobe's transform flag 0 means the three components are RGB, not YCbCr.
    _check(not (payload[:5] == b"Adobe" and len(payload) >= 12 and payload[11] == 0))


def _check_sos(payload: bytes) -> None:
    _check(len(payload) == 10 and payload[0] == 3)
    _check(tuple(payload[2 + 2 * i] for i in range(3)) == RTP_SCAN_TABLES)
    _check(payload[7:10] == bytes((0, 63, 0)))  # baseline: one scan of all 64 coefficients


def _skip(payload: bytes) -> None:
    """APPn and COM segments are not sent: the receiver never sees them."""


def _reject(payload: bytes) -> None:
    """Any other marker (progressive or lossless frames, arithmetic coding, DNL...)."""
    raise _NotReady


_CHECKERS: dict[int, Callable[[bytes], object]] = {
    DQT: _quant_table_ids,
    SOF0: _check_sof0,
    DHT: _check_dht,
    DRI: _check_dri,
    SOS: _check_sos,
    COM: _skip,
    **{marker: _skip for marker in range(APP0, APP15 + 1)},
    APP14: _check_app14,
}


def _scan_ends_at_eoi(data: bytes, at: int) -> bool:
    """Whether the entropy-coded data runs to EOI with no marker in between (no restart
    markers, no second scan), so the one scan is the whole picture."""
    while (at := data.find(b"\xff", at)) >= 0:
        if at + 1 >= len(data):
            return False
        following = data[at + 1]
        if following == EOI:
            return True
        if following not in (0x00, 0xFF):  # 0xFF00 is a stuffed byte, 0xFFFF fill
            return False
        at += 1
    return False


def is_rtp_ready(data: bytes, width: int, height: int) -> bool:
    """Whether `data` is a JPEG that RTP/JPEG can send unchanged at width x height.

    That is: baseline (SOF0 only) 8-bit YCbCr 4:2:0 of exactly that size, 8-bit quantisation
    tables 0 (Y) and 1 (Cb, Cr), any Huffman tables it carries are the standard ones (none is
    fine: the receiver supplies them), no restart interval, and one scan ending at EOI.
    """
    try:
        segments, scan_start = _header_segments(data)
        for marker, payload in segments:
            _CHECKERS.get(marker, _reject)(payload)
        frames = [payload for marker, payload in segments if marker == SOF0]
        _check(len(frames) == 1 and _frame_size(frames[0]) == (width, height))
        tables = [_quant_table_ids(payload) for marker, payload in segments if marker == DQT]
        _check(set().union(*tables) >= {0, 1})
    except _NotReady:
        return False
    return _scan_ends_at_eoi(data, scan_start)
