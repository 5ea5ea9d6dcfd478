"""Small pictures, videos and datasets made on the spot, for the source tests."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import cv2
import numpy as np
import pytest

from video.sources.base import Pixels

#: The tiny dataset's classes and their 28x28 greyscale patterns' levels (background, mark).
CLASSES = {"boot": (30, 220), "coat": (90, 250), "shirt": (160, 10)}


def solid(width: int, height: int, bgr: tuple[int, int, int]) -> Pixels:
    """A picture of one colour."""
    return np.full((height, width, 3), bgr, np.uint8)


def write_image(path: Path, pixels: Pixels) -> Path:
    """Write `pixels` in the format the suffix names; the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), pixels)
    return path


def decode(data: bytes, flags: int = cv2.IMREAD_COLOR) -> Pixels:
    """A JPEG (or PNG...) decoded by OpenCV, as BGR unless `flags` say otherwise."""
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    assert pixels is not None
    return cast(Pixels, pixels)


def read_image(path: Path) -> Pixels:
    """An image file as OpenCV reads it, in BGR."""
    return decode(path.read_bytes())


def split_jpeg(data: bytes) -> tuple[list[tuple[int, bytes]], bytes]:
    """The (marker, payload) header segments of a JPEG up to and including SOS, and the rest
    (the scan and EOI)."""
    assert data[:2] == b"\xff\xd8"
    segments = []
    at = 2
    while True:
        marker, length = data[at + 1], int.from_bytes(data[at + 2 : at + 4], "big")
        segments.append((marker, data[at + 4 : at + 2 + length]))
        at += 2 + length
        if marker == 0xDA:
            return segments, data[at:]


def join_jpeg(segments: list[tuple[int, bytes]], rest: bytes) -> bytes:
    """A JPEG from header segments and what follows them: `split_jpeg` undone."""
    header = b"".join(
        bytes((0xFF, marker)) + (len(payload) + 2).to_bytes(2, "big") + payload
        for marker, payload in segments
    )
    return b"\xff\xd8" + header + rest


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    """Three classes of three 28x28 greyscale PNGs, like a miniature Fashion-MNIST, each
    image a flat field with a bar whose place tells the images apart."""
    root = tmp_path / "dataset"
    for label, (field, mark) in CLASSES.items():
        for index in range(3):
            image = np.full((28, 28), field, np.uint8)
            image[4 + 7 * index : 10 + 7 * index, 4:24] = mark
            write_image(root / label / f"{index:03}.png", image)
    return root
