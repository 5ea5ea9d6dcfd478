"""A video file plays frame after frame at its own rate, and loops."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.video.sources.conftest import solid
from video.sources.base import SourceError
from video.sources.file import FileSource

LEVELS = (20, 80, 140, 200, 250)  # frame i is a flat grey at LEVELS[i]


def make_video(path: Path, fps: float = 12.5) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (64, 48))
    assert writer.isOpened()
    for level in LEVELS:
        writer.write(solid(64, 48, (level, level, level)))
    writer.release()
    return path


def level(source: FileSource) -> int:
    """Which grey the next frame is, as an index into LEVELS."""
    pixels = source.read(0).pixels
    assert pixels is not None and pixels.shape == (48, 64, 3)
    return int(np.argmin([abs(float(pixels.mean()) - grey) for grey in LEVELS]))


def test_frames_come_in_order_and_loop(tmp_path: Path) -> None:
    source = FileSource(make_video(tmp_path / "clip.avi"))
    try:
        assert [level(source) for _ in range(12)] == [0, 1, 2, 3, 4] * 2 + [0, 1]
    finally:
        source.close()


def test_natural_fps_is_the_files(tmp_path: Path) -> None:
    source = FileSource(make_video(tmp_path / "clip.avi", fps=12.5))
    assert source.natural_fps == pytest.approx(12.5)
    source.close()


def test_without_loop_the_end_is_an_error(tmp_path: Path) -> None:
    source = FileSource(make_video(tmp_path / "clip.avi"), loop=False)
    assert [level(source) for _ in range(5)] == [0, 1, 2, 3, 4]
    with pytest.raises(SourceError, match=r"clip\.avi ended"):
        source.read(0)
    source.close()


def test_missing_and_undecodable_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"nothing\.avi does not exist"):
        FileSource(tmp_path / "nothing.avi")
    junk = tmp_path / "junk.avi"
    junk.write_bytes(b"this is not a video" * 100)
    with pytest.raises(SourceError, match=r"junk\.avi"):
        FileSource(junk)
