"""RTP payload format for JPEG (RFC 2435): parse a baseline JPEG, cut it into RTP payloads.

Only what RFC 2435 can carry is accepted: baseline (SOF0) 3-component JPEGs with 4:2:0 or 4:2:2
sampling, the first component on table 0 and both chroma components on table 1, 8-bit
quantisation tables, no restart markers, and sizes that fit the header's width/8 and height/8
bytes (at most 2040). The receiver rebuilds the JPEG headers itself from the standard Huffman
tables, so we send Q=255 with the quantisation tables in band, on the first fragment.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

MAX_SIDE = 2040
_SOI, _EOI, _SOS, _SOF0, _DQT, _DRI = 0xD8, 0xD9, 0xDA, 0xC0, 0xDB, 0xDD
# SOF markers other than baseline: progressive, lossless, arithmetic... none fit RFC 2435.
_OTHER_SOF = {0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_TYPE_BY_SAMPLING = {0x21: 0, 0x22: 1}  # luma sampling 2x1 -> type 0 (4:2:2), 2x2 -> type 1
_Q_INBAND = 255
_MAIN_HEADER = struct.Struct("!BBHBBBB")  # type-specific, offset (24 bits as B+H), type, Q, w, h
_QT_HEADER = struct.Struct("!BBH")  # MBZ, precision, length


class JpegError(ValueError):
    """The bytes are not a JPEG that RTP/JPEG (RFC 2435) can carry; the message says why."""


@dataclass(frozen=True, slots=True)
class JpegFrame:
    """The parts of a JPEG that travel in RTP/JPEG."""

    width: int
    height: int
    type: int  # RFC 2435 type: 0 = 4:2:2, 1 = 4:2:0
    qtables: bytes  # luma then chroma table, 64 bytes each, zig-zag order as in DQT
    scan: memoryview  # entropy-coded data, without the EOI marker


def parse_jpeg(data: bytes) -> JpegFrame:
    """Split `data` into what RFC 2435 sends; raise JpegError naming what does not fit."""
    if data[:2] != b"\xff\xd8":
        raise JpegError("not a JPEG: no SOI marker")
    tables: dict[int, bytes] = {}
    sof: tuple[int, int, int] | None = None
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise JpegError(f"corrupt JPEG: expected a marker at byte {pos}")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        (length,) = struct.unpack_from("!H", data, pos + 2)
        segment = data[pos + 4 : pos + 2 + length]
        if len(segment) != length - 2:
            raise JpegError("corrupt JPEG: a segment runs past the end")
        if marker == _SOS:
            return _frame(sof, tables, data, pos + 2 + length)
        _read_segment(marker, segment, tables)
        if marker == _SOF0:
            sof = _read_sof(segment)
        pos += 2 + length
    raise JpegError("corrupt JPEG: no start-of-scan marker")


def _read_segment(marker: int, segment: bytes, tables: dict[int, bytes]) -> None:
    """Check one header segment before the scan; collect quantisation tables."""
    if marker in _OTHER_SOF:
        raise JpegError(f"not a baseline JPEG (SOF marker 0x{marker:02X}); re-encode as baseline")
    if marker == _DRI and segment[:2] != b"\x00\x00":
        raise JpegError("JPEG uses restart markers, which this server does not send")
    if marker == _DQT:
        pos = 0
        while pos < len(segment):
            precision, table_id = segment[pos] >> 4, segment[pos] & 0x0F
            if precision != 0:
                raise JpegError("JPEG has 16-bit quantisation tables; RTP/JPEG needs 8-bit")
            tables[table_id] = bytes(segment[pos + 1 : pos + 65])
            pos += 65


def _read_sof(segment: bytes) -> tuple[int, int, int]:
    """(width, height, RFC 2435 type) from a baseline SOF0 segment."""
    precision, height, width, count = struct.unpack_from("!BHHB", segment)
    if precision != 8 or count != 3:
        raise JpegError(f"JPEG has {count} components of {precision} bits; need 3 of 8 (colour)")
    comps = [segment[6 + 3 * i : 9 + 3 * i] for i in range(3)]
    luma_sampling, luma_table = comps[0][1], comps[0][2]
    chroma_ok = all(c[1] == 0x11 and c[2] == 1 for c in comps[1:])
    if luma_sampling not in _TYPE_BY_SAMPLING or luma_table != 0 or not chroma_ok:
        raise JpegError("JPEG sampling is not 4:2:0 or 4:2:2 with tables 0/1/1")
    if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE) or width % 8 or height % 8:
        raise JpegError(f"JPEG is {width}x{height}; RTP/JPEG needs multiples of 8 up to 2040")
    return width, height, _TYPE_BY_SAMPLING[luma_sampling]


def _frame(
    sof: tuple[int, int, int] | None, tables: dict[int, bytes], data: bytes, scan_at: int
) -> JpegFrame:
    """Assemble the parsed parts once the scan is reached."""
    if sof is None:
        raise JpegError("corrupt JPEG: no baseline SOF0 before the scan")
    if 0 not in tables or 1 not in tables:
        raise JpegError("JPEG lacks quantisation tables 0 and 1")
    # 0xFF 0xD9 cannot occur inside entropy-coded data, so the first one after the scan's start
    # ends it; bytes some cameras pad after it are dropped.
    end = data.find(b"\xff\xd9", scan_at)
    if end < 0:
        raise JpegError("truncated JPEG: no end-of-image marker after the scan")
    width, height, kind = sof
    return JpegFrame(width, height, kind, tables[0] + tables[1], memoryview(data)[scan_at:end])


def payloads(frame: JpegFrame, max_payload: int) -> list[bytes]:
    """RTP payloads (RFC 2435 headers + scan fragments) of at most `max_payload` bytes each."""
    qt_header = _QT_HEADER.pack(0, 0, len(frame.qtables)) + frame.qtables
    room_first = max_payload - _MAIN_HEADER.size - len(qt_header)
    room = max_payload - _MAIN_HEADER.size
    if room_first <= 0:
        raise ValueError(f"payload size {max_payload} leaves no room for JPEG data")
    out: list[bytes] = []
    offset, total = 0, len(frame.scan)
    while offset < total or not out:
        take = room_first if not out else room
        chunk = frame.scan[offset : offset + take]
        header = _MAIN_HEADER.pack(
            0, offset >> 16, offset & 0xFFFF, frame.type, _Q_INBAND,
            frame.width // 8, frame.height // 8,
        )  # fmt: skip
        out.append(header + (qt_header if not out else b"") + chunk)
        offset += len(chunk)
    return out
