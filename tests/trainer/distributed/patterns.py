"""The synthetic dataset of the distributed tests, and how the stand-in reads it (no
TensorFlow here: NumPy and Pillow only).

Three classes of noisy 8x8 greyscale patterns; every fifth image of a class is held out for
testing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

TEST_EVERY = 5


def make_dataset(root: Path, *, per_class: int = 100, size: int = 8, seed: int = 0) -> Path:
    """Three classes of noisy greyscale patterns (rows, columns, diagonal) as PNG files:
    learnable, but not perfectly, by a small network."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 1, size)
    patterns = {
        "columns": np.tile(ramp, (size, 1)),
        "diagonal": (np.add.outer(ramp, ramp) / 2),
        "rows": np.tile(ramp[:, None], (1, size)),
    }
    for name, pattern in patterns.items():
        folder = root / name
        folder.mkdir(parents=True)
        for i in range(per_class):
            noisy = np.clip(pattern + rng.normal(0, 0.55, pattern.shape), 0, 1)
            Image.fromarray((noisy * 255).astype(np.uint8), "L").save(folder / f"{i:03d}.png")
    return root


@dataclass
class Data:
    """Flat images scaled to 0..1, labels, and the class names."""

    x: np.ndarray
    y: np.ndarray
    classes: list[str]


def load(dataset: Path, *, test: bool) -> Data:
    """The held-out images (test) or the others, in class then file order."""
    classes = sorted(p.name for p in dataset.iterdir() if p.is_dir())
    xs, ys = [], []
    for label, name in enumerate(classes):
        for i, path in enumerate(sorted((dataset / name).glob("*.png"))):
            if (i % TEST_EVERY == 0) == test:
                xs.append(np.asarray(Image.open(path).convert("L"), np.float32).ravel() / 255)
                ys.append(label)
    return Data(np.stack(xs), np.array(ys, np.int32), classes)


def accuracy(weights: list[np.ndarray], dataset: Path) -> float:
    """Accuracy on the held-out images of the network with these weights, in NumPy (no
    collective ops, no strategy)."""
    held_out = load(dataset, test=True)
    w1, b1, w2, b2 = weights
    scores = np.maximum(held_out.x @ w1 + b1, 0) @ w2 + b2
    return float(np.mean(np.argmax(scores, axis=1) == held_out.y))
