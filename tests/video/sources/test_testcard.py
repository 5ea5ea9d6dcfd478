"""The test card survives JPEG at quality 90 closely enough to recognise a decoded frame."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.video.sources.conftest import decode
from video.sources.encode import encode_jpeg
from video.sources.testcard import TestCardSource, psnr, test_card


@pytest.mark.parametrize(("width", "height"), [(640, 480), (320, 240), (176, 144), (1280, 720)])
def test_card_through_jpeg_at_quality_90_keeps_38_db(width: int, height: int) -> None:
    card = test_card(width, height)
    data = encode_jpeg(card, width=width, height=height, quality=90)
    decoded = decode(data)
    assert psnr(card, decoded) >= 38


def test_card_is_the_same_every_time_and_has_content() -> None:
    card = test_card(320, 240)
    assert card.shape == (240, 320, 3) and card.dtype == np.uint8
    assert np.array_equal(card, test_card(320, 240))
    assert card.std() > 40  # bars, ramps and checks, not a flat field
    # Not symmetric: a mirrored or upside-down decode is far from the card.
    assert psnr(card, card[:, ::-1]) < 20
    assert psnr(card, card[::-1]) < 20


def test_psnr_measures_the_error() -> None:
    a = np.full((10, 10, 3), 100, np.uint8)
    assert psnr(a, a) == math.inf
    off_by_one = a + 1
    assert psnr(a, off_by_one) == pytest.approx(20 * math.log10(255))  # MSE 1
    with pytest.raises(ValueError, match="shapes"):
        psnr(a, a[:5])


def test_source_gives_the_card_at_every_read() -> None:
    source = TestCardSource(320, 240)
    first, later = source.read(0), source.read(10_000)
    assert first.pixels is not None and first.jpeg is None
    assert np.array_equal(first.pixels, test_card(320, 240))
    assert later.pixels is first.pixels
    assert source.natural_fps is None
