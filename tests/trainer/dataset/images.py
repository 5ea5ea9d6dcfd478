"""Tiny image files and dataset folders made on the spot, for the dataset tests."""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from PIL import Image


def image_bytes(seed: int, *, size: tuple[int, int] = (40, 40), fmt: str = "PNG") -> bytes:
    """An image of random pixels (different for every seed) encoded as `fmt`."""
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format=fmt)
    return out.getvalue()


def write_file(path: Path, data: bytes) -> Path:
    """Write `data` to `path`, making its folder; the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def make_dataset(root: Path, counts: Mapping[str, int], *, first_seed: int = 0) -> Path:
    """A folder with one subfolder per class holding that many distinct PNGs; the root."""
    seed = first_seed
    for name, count in counts.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for number in range(count):
            write_file(root / name / f"{number:03d}.png", image_bytes(seed, size=(8, 8)))
            seed += 1
    return root
