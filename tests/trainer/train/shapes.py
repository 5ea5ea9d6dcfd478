"""Tiny synthetic datasets: each class a coloured shape on a noisy background, drawn with Pillow."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw

from trainer.dataset.layout import Item

CLASSES = ("circle", "square", "triangle")
COLOURS = {"circle": (220, 40, 40), "square": (40, 200, 60), "triangle": (40, 70, 230)}


@dataclass(frozen=True, slots=True)
class Split:
    """Stands in for trainer.dataset.split.Split: three tuples of items."""

    train: tuple[Item, ...]
    val: tuple[Item, ...]
    test: tuple[Item, ...]


def draw(shape: str, rng: random.Random, size: int = 64) -> Image.Image:
    """One picture: a shape of random size and place, its colour slightly varied."""
    background = tuple(rng.randint(90, 160) for _ in range(3))
    image = Image.new("RGB", (size, size), background)
    pen = ImageDraw.Draw(image)
    for _ in range(30):  # speckles, so no two images are alike
        x, y = rng.randrange(size), rng.randrange(size)
        pen.point((x, y), fill=tuple(rng.randint(0, 255) for _ in range(3)))
    side = rng.randint(size // 2, size * 3 // 4)
    x0, y0 = rng.randint(0, size - side), rng.randint(0, size - side)
    colour = tuple(max(0, min(255, c + rng.randint(-25, 25))) for c in COLOURS[shape])
    box = (x0, y0, x0 + side, y0 + side)
    if shape == "circle":
        pen.ellipse(box, fill=colour)
    elif shape == "square":
        pen.rectangle(box, fill=colour)
    else:
        pen.polygon([(x0, y0 + side), (x0 + side, y0 + side), (x0 + side // 2, y0)], fill=colour)
    return image


def make_dataset(root: Path, *, per_class: int = 30, seed: int = 0) -> tuple[Item, ...]:
    """Write per_class images of each class under root/<class>/ (PNG and JPEG mixed)."""
    rng = random.Random(seed)
    items = []
    for label, shape in enumerate(CLASSES):
        folder = root / shape
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            path = folder / (f"{i:03d}.png" if i % 2 else f"{i:03d}.jpg")
            draw(shape, rng).save(path)
            items.append(Item(path, label))
    return tuple(items)


def split_items(items: tuple[Item, ...], *, val: int, test: int, seed: int = 0) -> Split:
    """Per class: `val` and `test` items held out, the rest for training; shuffled per set."""
    rng = random.Random(seed)
    train_items: list[Item] = []
    val_items: list[Item] = []
    test_items: list[Item] = []
    for label in range(len(CLASSES)):
        mine = [item for item in items if item.label == label]
        rng.shuffle(mine)
        val_items += mine[:val]
        test_items += mine[val : val + test]
        train_items += mine[val + test :]
    for part in (train_items, val_items, test_items):
        rng.shuffle(part)
    return Split(tuple(train_items), tuple(val_items), tuple(test_items))
