"""Which JPEG files can be sent over RTP/JPEG byte for byte, and which need re-encoding."""

from __future__ import annotations

import cv2
import numpy as np

from tests.video.sources.conftest import join_jpeg, split_jpeg
from video.sources.encode import encode_jpeg
from video.sources.jpegcheck import is_rtp_ready, standard_huffman_tables
from video.sources.testcard import test_card

CARD = test_card(64, 48)


def opencv_jpeg(*params: int, grey: bool = False) -> bytes:
    """The card encoded by OpenCV with `params` on top of quality 85."""
    pixels = cv2.cvtColor(CARD, cv2.COLOR_BGR2GRAY) if grey else CARD
    ok, data = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, 85, *params])
    assert ok
    return data.tobytes()


def with_segment(data: bytes, marker: int, payload: bytes) -> bytes:
    """`data` with one more segment right after SOI."""
    segments, rest = split_jpeg(data)
    return join_jpeg([(marker, payload), *segments], rest)


def test_our_frames_are_ready_at_their_own_size_only() -> None:
    data = encode_jpeg(CARD, width=64, height=48, quality=85)
    assert is_rtp_ready(data, 64, 48)
    assert not is_rtp_ready(data, 48, 64)
    assert not is_rtp_ready(data, 64, 32)


def test_the_standard_tables_are_those_of_annex_k() -> None:
    tables = standard_huffman_tables()
    assert sorted(tables) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    # Table K.3 (luminance DC) and K.5 (luminance AC): code counts by length, then symbols.
    assert tables[(0, 0)][:16] == bytes([0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0])
    assert tables[(0, 0)][16:] == bytes(range(12))
    assert tables[(1, 0)][:16] == bytes([0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7D])


def test_files_the_receiver_would_rebuild_wrongly_are_not_ready() -> None:
    not_ready = {
        "4:4:4": opencv_jpeg(
            cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444
        ),
        "progressive": opencv_jpeg(cv2.IMWRITE_JPEG_PROGRESSIVE, 1),
        "optimised Huffman": opencv_jpeg(cv2.IMWRITE_JPEG_OPTIMIZE, 1),
        "restart interval": opencv_jpeg(cv2.IMWRITE_JPEG_RST_INTERVAL, 1),
        "greyscale": opencv_jpeg(grey=True),
    }
    for name, data in not_ready.items():
        assert cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) is not None, name
        assert not is_rtp_ready(data, 64, 48), name


def test_broken_or_foreign_files_are_not_ready() -> None:
    data = encode_jpeg(CARD, width=64, height=48, quality=85)
    ok, png = cv2.imencode(".png", CARD)
    assert ok
    for name, broken in {
        "cut in the header": data[:100],
        "cut in the scan": data[:-50],
        "no EOI": data[:-2],
        "empty": b"",
        "PNG": png.tobytes(),
        "Adobe RGB": with_segment(data, 0xEE, b"Adobe\x00\x64\x00\x00\x00\x00\x00"),
    }.items():
        assert not is_rtp_ready(broken, 64, 48), name


def test_metadata_and_missing_huffman_tables_do_not_matter() -> None:
    data = encode_jpeg(CARD, width=64, height=48, quality=85)
    assert is_rtp_ready(with_segment(data, 0xE1, b"Exif\x00\x00" + bytes(40)), 64, 48)
    assert is_rtp_ready(with_segment(data, 0xFE, b"a comment"), 64, 48)
    assert is_rtp_ready(with_segment(data, 0xDD, b"\x00\x00"), 64, 48)  # restart interval 0: none
    assert not is_rtp_ready(with_segment(data, 0xDD, b"\x00\x04"), 64, 48)
    adobe_ycc = b"Adobe\x00\x64\x00\x00\x00\x00\x01"  # transform 1: YCbCr, as assumed
    assert is_rtp_ready(with_segment(data, 0xEE, adobe_ycc), 64, 48)
    # Motion-JPEG style: no DHT at all; the receiver supplies the standard tables.
    segments, rest = split_jpeg(data)
    without_dht = join_jpeg([(m, p) for m, p in segments if m != 0xC4], rest)
    assert is_rtp_ready(without_dht, 64, 48)
