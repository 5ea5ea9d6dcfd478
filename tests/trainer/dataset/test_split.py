"""Splits are stratified per class, deterministic for a seed, disjoint and complete."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest

from tests.trainer.dataset.images import make_dataset
from trainer.dataset.layout import DatasetIndex, Item, open_dataset, scan
from trainer.dataset.split import (
    Split,
    limit_per_class,
    print_split,
    shares,
    split,
    split_dataset,
)

COUNTS = {"big": 40, "mid": 10, "three": 3, "two": 2, "one": 1}


def fake_index(counts: dict[str, int], root: Path = Path("/data")) -> DatasetIndex:
    """An index of files that need not exist (the split reads names only)."""
    classes = tuple(sorted(counts))
    items = tuple(
        Item(root / name / f"{number:04d}.png", label)
        for label, name in enumerate(classes)
        for number in range(counts[name])
    )
    return DatasetIndex(root, classes, items, "0" * 64)


def parts(result: Split) -> tuple[set[Item], set[Item], set[Item]]:
    return set(result.train), set(result.val), set(result.test)


def test_each_class_contributes_its_share_and_at_least_one_from_three_images() -> None:
    result = split(fake_index(COUNTS), seed=1, val_frac=0.2, test_frac=0.1)
    by_class = dict(zip(result.classes, result.counts(), strict=True))
    assert by_class == {
        "big": (28, 8, 4),
        "mid": (7, 2, 1),
        "three": (1, 1, 1),
        "two": (2, 0, 0),
        "one": (1, 0, 0),
    }


def test_parts_are_disjoint_and_cover_every_item_in_dataset_order() -> None:
    index = fake_index(COUNTS)
    result = split(index, seed=3, val_frac=0.15, test_frac=0.15)
    train, val, test = parts(result)
    assert not (train & val or train & test or val & test)
    assert train | val | test == set(index.items)
    assert len(result.train) + len(result.val) + len(result.test) == len(index.items)
    for part in (result.train, result.val, result.test):
        assert list(part) == [item for item in index.items if item in set(part)]


def test_the_same_seed_gives_the_same_split_and_another_seed_another() -> None:
    index = fake_index(COUNTS)
    first = split(index, seed=7, val_frac=0.2, test_frac=0.2)
    assert split(index, seed=7, val_frac=0.2, test_frac=0.2) == first
    other = split(index, seed=8, val_frac=0.2, test_frac=0.2)
    assert set(other.test) != set(first.test)
    assert other.counts() == first.counts()


def test_the_split_depends_on_names_not_on_where_the_dataset_lies(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "here", {"cat": 12, "dog": 9})
    copy = shutil.copytree(root, tmp_path / "there" / "copy")
    names = [
        [
            tuple(item.path.relative_to(index.root).as_posix() for item in part)
            for part in (result.train, result.val, result.test)
        ]
        for index in (scan(root), scan(copy))
        for result in [split(index, seed=2, val_frac=0.25, test_frac=0.25)]
    ]
    assert names[0] == names[1]


def test_removing_one_image_moves_few_others() -> None:
    full = fake_index({"cat": 60})
    fewer = DatasetIndex(full.root, full.classes, full.items[1:], full.digest)
    before = split(full, seed=5, val_frac=0.2, test_frac=0.2)
    after = split(fewer, seed=5, val_frac=0.2, test_frac=0.2)

    def part_of(result: Split) -> dict[Item, str]:
        named = {"train": result.train, "val": result.val, "test": result.test}
        return {item: name for name, items in named.items() for item in items}

    old, new = part_of(before), part_of(after)
    moved = [item for item in new if new[item] != old[item]]
    assert len(moved) <= 2


def test_no_test_fraction_carves_no_test_part() -> None:
    result = split(fake_index(COUNTS), seed=1, val_frac=0.2, test_frac=None)
    assert result.test == ()
    assert [counts[1] for counts in result.counts()] == [8, 2, 0, 1, 0]


def test_fractions_are_validated() -> None:
    index = fake_index(COUNTS)
    for val_frac, test_frac in ((-0.1, 0.1), (1.0, None), (0.1, 1.2), (0.5, 0.5)):
        with pytest.raises(ValueError, match="frac"):
            split(index, seed=1, val_frac=val_frac, test_frac=test_frac)


@pytest.mark.parametrize(
    ("n", "val_frac", "test_frac", "expected"),
    [
        (2, 0.4, 0.4, (0, 0)),
        (3, 0.01, 0.01, (1, 1)),
        (3, 0.0, 0.3, (0, 1)),
        (4, 0.45, 0.45, (1, 2)),
        (10, 0.25, 0.25, (3, 3)),  # 2.5 rounds up, not to even
        (100, 0.1, 0.0, (10, 0)),
    ],
)
def test_shares(n: int, val_frac: float, test_frac: float, expected: tuple[int, int]) -> None:
    assert shares(n, val_frac=val_frac, test_frac=test_frac) == expected
    assert n - sum(expected) >= 1


def test_a_given_test_half_is_the_test_part_and_val_comes_from_train(tmp_path: Path) -> None:
    root = tmp_path / "d"
    make_dataset(root / "train", {"cat": 10, "dog": 20})
    make_dataset(root / "test", {"cat": 3, "dog": 4}, first_seed=100)
    dataset = open_dataset(root)
    assert dataset.test is not None
    result = split_dataset(dataset, seed=1, val_frac=0.1, test_frac=0.3)
    assert result.test == dataset.test.items
    assert set(result.train) | set(result.val) == set(dataset.train.items)
    assert not set(result.train) & set(result.val)
    assert result.counts() == ((9, 1, 3), (18, 2, 4))


def test_a_plain_dataset_is_split_three_ways(tmp_path: Path) -> None:
    dataset = open_dataset(make_dataset(tmp_path / "d", {"cat": 10, "dog": 20}))
    result = split_dataset(dataset, seed=1, val_frac=0.1, test_frac=0.2)
    assert result == split(dataset.train, seed=1, val_frac=0.1, test_frac=0.2)
    assert result.counts() == ((7, 1, 2), (14, 2, 4))


def test_limit_per_class_subsamples_each_class_deterministically() -> None:
    items = fake_index(COUNTS).items
    assert limit_per_class(items, 0, seed=1) == items
    limited = limit_per_class(items, 4, seed=1)
    assert limited == limit_per_class(items, 4, seed=1)
    assert set(limited) <= set(items)
    assert list(limited) == [item for item in items if item in set(limited)]
    per_class = [sum(item.label == label for item in limited) for label in range(len(COUNTS))]
    assert sorted(per_class) == [1, 2, 3, 4, 4]
    assert set(limit_per_class(items, 4, seed=2)) != set(limited)
    with pytest.raises(ValueError, match="limit"):
        limit_per_class(items, -1, seed=1)


def test_print_split_shows_each_class_and_totals() -> None:
    out = io.StringIO()
    print_split(split(fake_index(COUNTS), seed=1, val_frac=0.2, test_frac=0.1), out)
    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["class", "train", "val", "test"]
    assert lines[1].split() == ["big", "28", "8", "4"]
    assert lines[-1].split() == ["total", "39", "11", "6"]
