"""Video files as cameras: paced at their frame rate, looped, or ended."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import numpy as np
import pytest

from edge.capture.camera import Camera, CameraOptions
from edge.capture.file import FileSource
from edge.capture.frame import Pixels
from edge.capture.latest import LatestFrame
from edge.capture.source import CaptureError, EndOfStream, SourceOptions
from tests.edge.capture.conftest import MakeVideo


def level(pixels: Pixels) -> int:
    """The grey level a test video's frame was filled with (JPEG keeps it within a step)."""
    return round(float(np.mean(pixels)) / 10) * 10


def test_frames_come_at_the_files_rate_in_order_and_loop(make_video: MakeVideo) -> None:
    source = FileSource(make_video(frames=5, fps=20.0), SourceOptions())
    source.open()
    try:
        assert source.fps == pytest.approx(20.0)
        started = time.monotonic()
        levels = [level(source.read().pixels) for _ in range(12)]
        elapsed = time.monotonic() - started
    finally:
        source.close()
    assert levels == [10, 20, 30, 40, 50] * 2 + [10, 20]
    assert 11 / 20 - 0.03 <= elapsed <= 11 / 20 + 0.3  # 11 intervals of 50 ms


def test_the_options_fps_overrides_the_files(make_video: MakeVideo) -> None:
    source = FileSource(make_video(frames=3, fps=20.0), SourceOptions(fps=50.0))
    source.open()
    try:
        started = time.monotonic()
        for _ in range(6):
            source.read()
        elapsed = time.monotonic() - started
    finally:
        source.close()
    assert elapsed == pytest.approx(5 / 50, abs=0.05)


def test_without_loop_the_file_ends_and_the_camera_stops(make_video: MakeVideo) -> None:
    path = make_video(frames=3, fps=100.0)
    source = FileSource(path, SourceOptions(loop=False))
    source.open()
    assert [level(source.read().pixels) for _ in range(3)] == [10, 20, 30]
    with pytest.raises(EndOfStream):
        source.read()
    source.close()

    states: list[bool] = []
    camera = Camera(
        CameraOptions("film", f"file:{path}", SourceOptions(loop=False)),
        on_state=lambda _, online: states.append(online),
    )
    camera.start()
    assert camera.wait(5)  # ended by itself, no reconnection
    assert camera.stats().frames_in == 3 and states == [True, False]


def test_a_missing_or_broken_file_does_not_open(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match="no such file"):
        FileSource(tmp_path / "absent.avi", SourceOptions()).open()
    broken = tmp_path / "broken.avi"
    broken.write_bytes(b"not a video" * 100)
    with pytest.raises(CaptureError, match="not a video"):
        FileSource(broken, SourceOptions()).open()


def test_a_camera_on_a_file_numbers_its_frames(make_video: MakeVideo) -> None:
    latest = LatestFrame()
    camera = Camera(CameraOptions("film", f"file:{make_video(frames=4, fps=50.0)}"), sink=latest)
    camera.start()
    try:
        seqs = []
        for _ in itertools.repeat(None, 6):
            frame = latest.take(timeout=2)
            assert frame is not None
            seqs.append(frame.seq)
    finally:
        camera.stop()
    assert seqs == sorted(seqs) and len(set(seqs)) == 6 and seqs[0] >= 1
