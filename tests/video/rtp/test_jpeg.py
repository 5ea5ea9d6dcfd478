"""RTP/JPEG (RFC 2435): which JPEGs the server can send, and the payloads it cuts them into.

The strongest check is the receiver's: a JPEG rebuilt only from the payloads, the way RFC 2435
appendices A and B do it (headers from the type, size and in-band tables, the standard Huffman
tables of JPEG Annex K), decodes to exactly the picture the original decodes to.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable

import cv2
import numpy as np
import pytest
from PIL import Image

from video.rtp.jpeg import MAX_SIDE, JpegError, JpegFrame, parse_jpeg, payloads
from video.sources.base import Pixels

_MAIN = struct.Struct("!BBHBBBB")  # type-specific, offset (8 + 16 bits), type, Q, width/8, height/8
_QT = struct.Struct("!BBH")  # MBZ, precision, length
_SOI, _EOI = b"\xff\xd8", b"\xff\xd9"
_DQT, _SOF0, _DHT, _SOS = 0xDB, 0xC0, 0xC4, 0xDA


# --- JPEGs to parse -------------------------------------------------------------------------


def picture(width: int = 320, height: int = 240, *, channels: int = 3) -> Pixels:
    """A smooth colourful picture with some detail, the same every call."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    blue = 128 + 100 * np.sin(xs / 17) * np.cos(ys / 23)
    green = 255 * xs / max(1, width - 1)
    red = 255 * ys / max(1, height - 1)
    rgb = np.stack([blue, green, red], axis=2).clip(0, 255).astype(np.uint8)
    if channels == 1:
        grey: Pixels = rgb[:, :, 1].copy()
        return grey
    return rgb


def encode(pixels: Pixels, *params: int) -> bytes:
    """`pixels` as a JPEG from OpenCV (baseline 4:2:0 at quality 90 unless `params` differ)."""
    ok, buffer = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, 90, *params])
    assert ok
    return buffer.tobytes()


def jpeg_420(width: int = 320, height: int = 240) -> bytes:
    """A baseline 4:2:0 JPEG (RFC 2435 type 1)."""
    return encode(
        picture(width, height),
        cv2.IMWRITE_JPEG_SAMPLING_FACTOR,
        cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420,
    )


def jpeg_422(width: int = 320, height: int = 240) -> bytes:
    """A baseline 4:2:2 JPEG (RFC 2435 type 0)."""
    return encode(
        picture(width, height),
        cv2.IMWRITE_JPEG_SAMPLING_FACTOR,
        cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422,
    )


def segments(data: bytes) -> list[tuple[int, bytes, int]]:
    """(marker, payload, end offset) of each header segment up to and including SOS."""
    found = []
    pos = 2
    while True:
        marker = data[pos + 1]
        (length,) = struct.unpack_from("!H", data, pos + 2)
        found.append((marker, data[pos + 4 : pos + 2 + length], pos + 2 + length))
        pos += 2 + length
        if marker == _SOS:
            return found


def quant_tables(data: bytes) -> dict[int, bytes]:
    """The 8-bit quantisation tables of a JPEG by id, as its DQT segments store them."""
    tables = {}
    for marker, payload, _ in segments(data):
        for at in range(0, len(payload) if marker == _DQT else 0, 65):
            tables[payload[at] & 0x0F] = payload[at + 1 : at + 65]
    return tables


def scan_of(data: bytes) -> bytes:
    """The entropy-coded data: after the SOS segment, before EOI."""
    assert data.endswith(_EOI)
    return data[segments(data)[-1][2] : -2]


def sixteen_bit_tables() -> bytes:
    """A JPEG whose quantisation tables have 16-bit entries (Pillow writes them for values
    over 255)."""
    out = io.BytesIO()
    Image.fromarray(picture(64, 64)).save(out, "JPEG", qtables=[[300] * 64, [400] * 64])
    data = out.getvalue()
    assert data[data.find(b"\xff\xdb") + 4] >> 4 == 1  # precision 1: 16-bit entries
    return data


# --- What parse_jpeg accepts ----------------------------------------------------------------


@pytest.mark.parametrize(("make", "kind"), [(jpeg_420, 1), (jpeg_422, 0)])
def test_parse_takes_size_type_tables_and_scan(make: Callable[[], bytes], kind: int) -> None:
    data = make()
    frame = parse_jpeg(data)
    assert (frame.width, frame.height, frame.type) == (320, 240, kind)
    tables = quant_tables(data)
    assert frame.qtables == tables[0] + tables[1]
    assert bytes(frame.scan) == scan_of(data)


def test_parse_drops_bytes_padded_after_the_end_marker() -> None:
    data = jpeg_420()
    assert bytes(parse_jpeg(data + bytes(100)).scan) == scan_of(data)


def test_parse_takes_the_largest_size_rtp_jpeg_can_describe() -> None:
    frame = parse_jpeg(jpeg_420(MAX_SIDE, 16))
    assert (frame.width, frame.height) == (2040, 16)


def _corrupt_sof(data: bytes) -> bytes:
    """A valid JPEG whose SOF0 says it is 100 pixels wide."""
    at = data.find(b"\xff\xc0")
    return data[: at + 7] + struct.pack("!H", 100) + data[at + 9 :]


REFUSALS: list[tuple[str, Callable[[], bytes], str]] = [
    (
        "progressive",
        lambda: encode(picture(), cv2.IMWRITE_JPEG_PROGRESSIVE, 1),
        r"not a baseline JPEG \(SOF marker 0xC2\)",
    ),
    ("grayscale", lambda: encode(picture(channels=1)), "1 components of 8 bits; need 3"),
    (
        "4:4:4",
        lambda: encode(
            picture(), cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444
        ),
        "sampling is not 4:2:0 or 4:2:2",
    ),
    (
        "restart markers",
        lambda: encode(picture(), cv2.IMWRITE_JPEG_RST_INTERVAL, 4),
        "restart markers",
    ),
    ("16-bit tables", sixteen_bit_tables, "16-bit quantisation tables"),
    ("wider than 2040", lambda: jpeg_420(2048, 16), "2048x16; RTP/JPEG needs .* up to 2040"),
    ("width not a multiple of 8", lambda: _corrupt_sof(jpeg_420()), "100x240"),
    ("not a JPEG", lambda: b"GIF89a" + bytes(100), "not a JPEG: no SOI marker"),
    ("empty", lambda: b"", "not a JPEG"),
    ("cut in its headers", lambda: jpeg_420()[:300], "corrupt JPEG"),
    ("cut in its scan", lambda: jpeg_420()[:-500], "truncated JPEG: no end-of-image marker"),
]


@pytest.mark.parametrize(
    ("make", "message"), [(make, msg) for _, make, msg in REFUSALS], ids=[r[0] for r in REFUSALS]
)
def test_parse_refuses_what_rtp_jpeg_cannot_carry(make: Callable[[], bytes], message: str) -> None:
    with pytest.raises(JpegError, match=message):
        parse_jpeg(make())


def test_refusals_are_value_errors() -> None:
    assert issubclass(JpegError, ValueError)


# --- Payloads --------------------------------------------------------------------------------


@pytest.fixture(params=[jpeg_420, jpeg_422], ids=["420", "422"])
def original(request: pytest.FixtureRequest) -> bytes:
    make: Callable[[], bytes] = request.param
    return make()


@pytest.mark.parametrize("max_payload", [141, 600, 1460])
def test_every_payload_fits(original: bytes, max_payload: int) -> None:
    parts = payloads(parse_jpeg(original), max_payload)
    assert len(parts) > 1
    assert all(len(part) <= max_payload for part in parts)
    assert all(len(part) == max_payload for part in parts[:-1])  # no wasted packets


def test_main_headers_and_continuous_offsets(original: bytes) -> None:
    frame = parse_jpeg(original)
    parts = payloads(frame, 1000)
    offset = 0
    for index, part in enumerate(parts):
        specific, high, low, kind, q, width8, height8 = _MAIN.unpack_from(part)
        assert (specific, kind, q) == (0, frame.type, 255)
        assert (width8 * 8, height8 * 8) == (320, 240)
        assert (high << 16 | low) == offset
        data = part[_MAIN.size :]
        if index == 0:
            data = data[_QT.size + 128 :]
        offset += len(data)
    assert offset == len(frame.scan)


def test_only_the_first_payload_carries_the_tables(original: bytes) -> None:
    frame = parse_jpeg(original)
    parts = payloads(frame, 1000)
    mbz, precision, length = _QT.unpack_from(parts[0], _MAIN.size)
    assert (mbz, precision, length) == (0, 0, 128)
    start = _MAIN.size + _QT.size
    assert parts[0][start : start + 128] == frame.qtables
    scan, first = bytes(frame.scan), 1000 - start - 128
    assert parts[0][start + 128 :] == scan[:first]
    assert parts[1][_MAIN.size :] == scan[first : first + 1000 - _MAIN.size]  # no tables


def test_a_small_scan_goes_in_one_payload() -> None:
    frame = JpegFrame(16, 16, 1, bytes(128), memoryview(b"\x12\x34"))
    (part,) = payloads(frame, 1460)
    assert part == _MAIN.pack(0, 0, 0, 1, 255, 2, 2) + _QT.pack(0, 0, 128) + bytes(128) + b"\x124"


def test_a_payload_size_without_room_for_data_is_refused() -> None:
    with pytest.raises(ValueError, match="no room"):
        payloads(parse_jpeg(jpeg_420()), _MAIN.size + _QT.size + 128)


@pytest.mark.parametrize("max_payload", [141, 1460])
def test_a_receiver_rebuilds_the_same_picture(original: bytes, max_payload: int) -> None:
    rebuilt = rebuild(payloads(parse_jpeg(original), max_payload))
    assert rebuilt != original  # really rebuilt, not copied: OpenCV writes a JFIF APP0 segment
    decoded = cv2.imdecode(np.frombuffer(rebuilt, np.uint8), cv2.IMREAD_COLOR)
    expected = cv2.imdecode(np.frombuffer(original, np.uint8), cv2.IMREAD_COLOR)
    assert decoded is not None
    assert expected is not None
    assert np.array_equal(decoded, expected)


def test_opencv_writes_the_standard_huffman_tables() -> None:
    """What makes the rebuilt picture match: receivers assume these tables."""
    tables = b"".join(payload for marker, payload, _ in segments(jpeg_420()) if marker == _DHT)
    assert tables == b"".join(_huffman_tables())


# --- An RFC 2435 receiver ----------------------------------------------------------------------


def rebuild(parts: list[bytes]) -> bytes:
    """The JPEG a receiver makes from one frame's payloads (RFC 2435 appendices A and B)."""
    scan = bytearray()
    tables = b""
    kind = width = height = -1
    for part in parts:
        _, high, low, kind, q, width8, height8 = _MAIN.unpack_from(part)
        assert (high << 16 | low) == len(scan), "fragments out of order or missing"
        width, height = width8 * 8, height8 * 8
        data = part[_MAIN.size :]
        if not scan:
            assert q >= 128  # tables in band
            _, _, length = _QT.unpack_from(data)
            tables, data = data[_QT.size : _QT.size + length], data[_QT.size + length :]
        scan += data
    return _headers(kind, width, height, tables) + bytes(scan) + _EOI


def _segment(marker: int, payload: bytes) -> bytes:
    return bytes((0xFF, marker)) + struct.pack("!H", len(payload) + 2) + payload


def _headers(kind: int, width: int, height: int, tables: bytes) -> bytes:
    """SOI, DQT, SOF0, DHT and SOS as appendix B's MakeHeaders writes them."""
    luma_sampling = {0: 0x21, 1: 0x22}[kind]
    frame = struct.pack("!BHHB", 8, height, width, 3)
    frame += bytes((1, luma_sampling, 0, 2, 0x11, 1, 3, 0x11, 1))
    scan = bytes((3, 1, 0x00, 2, 0x11, 3, 0x11, 0, 63, 0))
    return (
        _SOI
        + _segment(_DQT, b"\x00" + tables[:64] + b"\x01" + tables[64:128])
        + _segment(_SOF0, frame)
        + _segment(_DHT, b"".join(_huffman_tables()))
        + _segment(_SOS, scan)
    )


def _ac_symbols(first: list[int]) -> bytes:
    """An Annex K AC table's symbols: an irregular head, then every other run/size in order."""
    every = [0x00, 0xF0] + [run << 4 | size for run in range(16) for size in range(1, 11)]
    return bytes(first + sorted(set(every) - set(first)))


_LUMA_AC_HEAD = [
    0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51,
    0x61, 0x07, 0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xA1, 0x08, 0x23, 0x42, 0xB1, 0xC1,
    0x15, 0x52, 0xD1, 0xF0, 0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0A, 0x16,
]  # fmt: skip
_CHROMA_AC_HEAD = [
    0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07,
    0x61, 0x71, 0x13, 0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xA1, 0xB1, 0xC1, 0x09,
    0x23, 0x33, 0x52, 0xF0, 0x15, 0x62, 0x72, 0xD1, 0x0A, 0x16, 0x24, 0x34, 0xE1, 0x25,
    0xF1,
]  # fmt: skip


def _huffman_tables() -> list[bytes]:
    """Annex K's four tables as DHT entries: class/id, 16 code counts, symbols."""
    return [
        b"\x00" + bytes((0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0)) + bytes(range(12)),
        b"\x10" + bytes((0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7D))
        + _ac_symbols(_LUMA_AC_HEAD),
        b"\x01" + bytes((0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0)) + bytes(range(12)),
        b"\x11" + bytes((0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77))
        + _ac_symbols(_CHROMA_AC_HEAD),
    ]  # fmt: skip
