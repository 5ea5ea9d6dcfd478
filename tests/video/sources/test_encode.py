"""Frames are JPEGs that RTP/JPEG carries as they are: baseline, 4:2:0, standard Huffman
tables, no restart markers, in whole macroblocks."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tests.video.sources.conftest import decode, solid, split_jpeg
from video.sources.encode import encode_jpeg, fit_size, overlay_text, resize
from video.sources.testcard import test_card

SOF0, SOF2, DRI, SOS = 0xC0, 0xC2, 0xDD, 0xDA


def test_frames_are_baseline_420_without_restart_markers() -> None:
    data = encode_jpeg(test_card(640, 480), width=640, height=480, quality=80)
    segments, _ = split_jpeg(data)
    markers = [marker for marker, _ in segments]
    assert SOF0 in markers and SOF2 not in markers
    assert DRI not in markers
    sof = dict(segments)[SOF0]
    assert sof[0] == 8  # 8-bit samples
    assert int.from_bytes(sof[1:3], "big") == 480
    assert int.from_bytes(sof[3:5], "big") == 640
    assert sof[5] == 3
    sampling = [sof[7 + 3 * i] for i in range(3)]
    assert sampling == [0x22, 0x11, 0x11]
    assert data.endswith(b"\xff\xd9")
    scan = data[data.index(b"\xff\xda") :]
    assert not any(bytes((0xFF, rst)) in scan for rst in range(0xD0, 0xD8))


def test_frames_are_resized_to_exactly_the_stream_size() -> None:
    for source_size, target in [((1000, 700), (320, 240)), ((64, 48), (640, 480))]:
        data = encode_jpeg(
            solid(*source_size, (0, 128, 255)), width=target[0], height=target[1], quality=70
        )
        decoded = decode(data)
        assert decoded.shape == (target[1], target[0], 3)


def test_resize_keeps_the_array_at_the_right_size_and_averages_when_shrinking() -> None:
    picture = solid(64, 32, (10, 20, 30))
    assert resize(picture, 64, 32) is picture
    stripes = np.zeros((32, 64, 3), np.uint8)
    stripes[:, ::2] = 200  # one-pixel stripes: area averaging gives grey, not aliasing
    assert np.all(np.abs(resize(stripes, 32, 16).astype(int) - 100) <= 1)


def test_quality_changes_size_and_bad_arguments_are_refused() -> None:
    card = test_card(320, 240)
    small = encode_jpeg(card, width=320, height=240, quality=30)
    large = encode_jpeg(card, width=320, height=240, quality=95)
    assert len(small) < len(large)
    with pytest.raises(ValueError, match="16-pixel"):
        encode_jpeg(card, width=320, height=250, quality=80)
    with pytest.raises(ValueError, match="quality"):
        encode_jpeg(card, width=320, height=240, quality=0)
    with pytest.raises(ValueError, match="H x W x 3"):
        encode_jpeg(card[:, :, 0], width=320, height=240, quality=80)


def test_overlay_is_light_text_on_a_dark_box_top_left_and_leaves_the_input_alone() -> None:
    grey = solid(640, 480, (128, 128, 128))
    before = grey.copy()
    data = encode_jpeg(grey, width=640, height=480, quality=95, overlay="cam1 2026-11-30 06:12:03")
    assert np.array_equal(grey, before)
    frame = decode(data, cv2.IMREAD_GRAYSCALE)
    corner = frame[:30, :200]
    assert np.percentile(corner, 25) < 40  # the dark box
    assert corner.max() > 220  # white text on it
    assert abs(int(np.median(frame[200:, 300:])) - 128) <= 2  # the rest untouched


def test_overlay_text_is_camera_and_utc_time() -> None:
    at_ms = 1_796_019_123_456  # 2026-11-30 06:12:03.456 UTC
    assert overlay_text("cam1", at_ms) == "cam1 2026-11-30 06:12:03"


@pytest.mark.parametrize(
    ("size", "fitted"),
    [
        ((16, 16), (16, 16)),
        ((31, 47), (16, 32)),
        ((640, 480), (640, 480)),
        ((2040, 2040), (2032, 2032)),
        ((1920, 1080), (1920, 1072)),
    ],
)
def test_fit_size_rounds_down_to_whole_macroblocks(
    size: tuple[int, int], fitted: tuple[int, int]
) -> None:
    assert fit_size(*size) == fitted


@pytest.mark.parametrize(("width", "height"), [(15, 480), (640, 0), (2041, 480), (640, 4096)])
def test_fit_size_refuses_what_rtp_jpeg_cannot_carry(width: int, height: int) -> None:
    with pytest.raises(ValueError, match=r"16\.\.2040"):
        fit_size(width, height)
