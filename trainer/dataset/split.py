"""Split a dataset into train, validation and test parts, stratified per class.

Each class contributes its share to each part: round(n * fraction) images, at least 1 to each
part whose fraction is above 0 when the class has 3 images or more (a class of 1 or 2 images
goes wholly to train), and always at least 1 to train.

Which images go where depends only on the seed, the class name and the file name: each image
gets a key, SHA-256 of "<salt>:<seed>:<class>/<file name>", and a class's images in key order
fill test first, then val, then train. So the split is the same wherever the dataset lies (on
every worker), a class's split ignores the other classes, and adding or removing a few images
moves only a few others between parts.
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TextIO

from trainer.dataset.layout import Dataset, DatasetIndex, Item


@dataclass(frozen=True, slots=True)
class Split:
    """The parts of a dataset, each in dataset order (by class, then file name)."""

    classes: tuple[str, ...]
    train: tuple[Item, ...]
    val: tuple[Item, ...]
    test: tuple[Item, ...]

    def counts(self) -> tuple[tuple[int, int, int], ...]:
        """(train, val, test) images of each class, in class order."""
        parts = [_per_class(part, len(self.classes)) for part in (self.train, self.val, self.test)]
        return tuple(zip(*parts, strict=True))


def _per_class(items: Iterable[Item], classes: int) -> list[int]:
    counts = [0] * classes
    for item in items:
        counts[item.label] += 1
    return counts


def split(index: DatasetIndex, *, seed: int, val_frac: float, test_frac: float | None) -> Split:
    """Split an index into train/val/test, stratified per class; `test_frac=None` (or 0)
    carves out no test part. ValueError for fractions outside [0, 1) or summing to 1 or more.
    """
    test_share = 0.0 if test_frac is None else test_frac
    _check_fractions(val_frac, test_share)
    by_label: dict[int, list[Item]] = defaultdict(list)
    for item in index.items:
        by_label[item.label].append(item)
    val: set[Item] = set()
    test: set[Item] = set()
    for items in by_label.values():
        ordered = sorted(items, key=lambda item: _key("split", seed, item))
        n_val, n_test = shares(len(ordered), val_frac=val_frac, test_frac=test_share)
        test.update(ordered[:n_test])
        val.update(ordered[n_test : n_test + n_val])
    return Split(
        classes=index.classes,
        train=tuple(item for item in index.items if item not in val and item not in test),
        val=tuple(item for item in index.items if item in val),
        test=tuple(item for item in index.items if item in test),
    )


def split_dataset(
    dataset: Dataset, *, seed: int, val_frac: float, test_frac: float | None
) -> Split:
    """Split a dataset: when it has its own test half, that is the test part and val is
    carved from its train half (`test_frac` is then ignored); else as `split`."""
    if dataset.test is None:
        return split(dataset.train, seed=seed, val_frac=val_frac, test_frac=test_frac)
    carved = split(dataset.train, seed=seed, val_frac=val_frac, test_frac=None)
    return Split(dataset.classes, carved.train, carved.val, dataset.test.items)


def shares(n: int, *, val_frac: float, test_frac: float) -> tuple[int, int]:
    """How many of a class's `n` images go to val and to test (the rest go to train)."""
    if n < 3:
        return 0, 0
    n_val = _share(n, val_frac)
    n_test = _share(n, test_frac)
    while n_val + n_test > n - 1:  # train keeps at least one; both parts keep one if asked
        if n_val >= n_test and n_val > 1:
            n_val -= 1
        else:
            n_test -= 1
    return n_val, n_test


def _share(n: int, fraction: float) -> int:
    if fraction <= 0:
        return 0
    return max(1, math.floor(n * fraction + 0.5))


def _check_fractions(val_frac: float, test_frac: float) -> None:
    for name, value in (("val_frac", val_frac), ("test_frac", test_frac)):
        if not 0 <= value < 1:
            raise ValueError(f"{name} must be at least 0 and below 1, not {value}")
    if val_frac + test_frac >= 1:
        raise ValueError(
            f"val_frac + test_frac must be below 1 (train needs images), not {val_frac + test_frac}"
        )


def limit_per_class(items: Sequence[Item], n: int, seed: int) -> tuple[Item, ...]:
    """At most `n` items of each class (0: all), drawn by the seed, in their given order."""
    if n < 0:
        raise ValueError(f"the limit per class must be 0 (all) or more, not {n}")
    if n == 0:
        return tuple(items)
    by_label: dict[int, list[Item]] = defaultdict(list)
    for item in items:
        by_label[item.label].append(item)
    kept: set[Item] = set()
    for members in by_label.values():
        kept.update(sorted(members, key=lambda item: _key("limit", seed, item))[:n])
    return tuple(item for item in items if item in kept)


def _key(salt: str, seed: int, item: Item) -> bytes:
    name = f"{salt}:{seed}:{item.path.parent.name}/{item.path.name}"
    return hashlib.sha256(name.encode(errors="surrogateescape")).digest()


def print_split(result: Split, out: TextIO) -> None:
    """A table of train/val/test images per class, with totals."""
    width = max(len("class"), len("total"), *(len(name) for name in result.classes))
    out.write(f"{'class':<{width}}  {'train':>7}  {'val':>7}  {'test':>7}\n")
    for name, (train, val, test) in zip(result.classes, result.counts(), strict=True):
        out.write(f"{name:<{width}}  {train:>7}  {val:>7}  {test:>7}\n")
    totals = (len(result.train), len(result.val), len(result.test))
    out.write(f"{'total':<{width}}  {totals[0]:>7}  {totals[1]:>7}  {totals[2]:>7}\n")
