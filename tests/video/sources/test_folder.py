"""A folder plays as a slideshow: name order, each image held for a while, looping; ready
JPEGs pass through untouched, broken files are skipped."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from tests.video.sources.conftest import solid, write_image
from video.sources.base import Picture, SourceError
from video.sources.encode import encode_jpeg
from video.sources.folder import FolderSource

T0 = 1_796_000_000_000  # any wall-clock time: the show counts from the first read
COLOURS = {"a": (255, 0, 0), "b": (0, 255, 0), "c": (0, 0, 255)}


def colour_of(picture: Picture) -> str:
    """Which of COLOURS a decoded picture is."""
    assert picture.pixels is not None and picture.pixels.shape == (48, 64, 3)
    mean = picture.pixels.reshape(-1, 3).mean(axis=0)
    return min(COLOURS, key=lambda name: float(np.abs(mean - COLOURS[name]).sum()))


def test_images_show_in_name_order_each_for_hold_seconds(tmp_path: Path) -> None:
    # Written out of order, in three formats and other sizes than the stream's.
    write_image(tmp_path / "c.bmp", solid(80, 60, COLOURS["c"]))
    write_image(tmp_path / "a.png", solid(32, 24, COLOURS["a"]))
    write_image(tmp_path / "b.JPG", solid(64, 64, COLOURS["b"]))
    (tmp_path / "notes.txt").write_text("not an image")
    source = FolderSource(tmp_path, hold_s=2.5, width=64, height=48)
    times = [0, 2499, 2500, 4999, 5000, 7499, 7500, 15_000]
    shown = [colour_of(source.read(T0 + ms)) for ms in times]
    assert shown == ["a", "a", "b", "b", "c", "c", "a", "a"]


def test_a_jpeg_ready_for_rtp_passes_through_byte_for_byte(tmp_path: Path) -> None:
    ready = encode_jpeg(solid(64, 48, COLOURS["a"]), width=64, height=48, quality=75)
    (tmp_path / "1-ready.jpg").write_bytes(ready)
    wrong_size = encode_jpeg(solid(64, 48, COLOURS["b"]), width=128, height=96, quality=75)
    (tmp_path / "2-wrong-size.jpg").write_bytes(wrong_size)
    source = FolderSource(tmp_path, hold_s=1, width=64, height=48)
    assert source.read(T0) == Picture(jpeg=ready)
    resized = source.read(T0 + 1000)
    assert resized.jpeg is None and colour_of(resized) == "b"


def test_broken_files_are_skipped_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_image(tmp_path / "1.png", solid(64, 48, COLOURS["a"]))
    (tmp_path / "2.jpg").write_bytes(b"\xff\xd8 truncated nonsense")
    write_image(tmp_path / "3.png", solid(64, 48, COLOURS["c"]))
    source = FolderSource(tmp_path, hold_s=1, width=64, height=48)
    with caplog.at_level(logging.WARNING):
        shown = [colour_of(source.read(T0 + second * 1000)) for second in range(8)]
    assert shown == ["a", "c"] * 4
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "2.jpg" in warnings[0]


def test_a_folder_without_images_is_an_error_naming_it(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no pictures here")
    with pytest.raises(SourceError, match=r"empty has no images"):
        FolderSource(empty, hold_s=1, width=64, height=48)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "x.png").write_bytes(b"not a png")
    with pytest.raises(SourceError, match=r"broken has no image that OpenCV can decode"):
        FolderSource(broken, hold_s=1, width=64, height=48)
    with pytest.raises(SourceError, match=r"missing does not exist"):
        FolderSource(tmp_path / "missing", hold_s=1, width=64, height=48)
    with pytest.raises(SourceError, match=r"hold"):
        FolderSource(empty, hold_s=0, width=64, height=48)
