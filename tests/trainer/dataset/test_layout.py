"""A dataset folder lists as classes and labelled images; its digest names its contents."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.trainer.dataset.images import image_bytes, make_dataset, write_file
from trainer.dataset.layout import BACKGROUND, DatasetError, open_dataset, scan


def test_classes_are_the_sorted_subfolders_and_labels_their_places(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "d", {"zebra": 2, BACKGROUND: 1, "Ant": 3})
    index = scan(root)
    assert index.classes == ("Ant", BACKGROUND, "zebra")
    assert index.root == root
    labels = {(item.path.parent.name, item.label) for item in index.items}
    assert labels == {("Ant", 0), (BACKGROUND, 1), ("zebra", 2)}
    assert [item.path for item in index.items] == sorted(
        (item.path for item in index.items), key=lambda p: (p.parent.name, p.name)
    )


def test_images_by_suffix_in_any_case_and_hidden_or_other_entries_ignored(
    tmp_path: Path,
) -> None:
    root = tmp_path / "d"
    for name in ("a.jpg", "b.JPEG", "c.Png", "d.jpeg"):
        write_file(root / "cat" / name, image_bytes(len(name) + ord(name[0])))
    write_file(root / "cat" / "notes.txt", b"not an image")
    write_file(root / "cat" / "e.gif", image_bytes(9, fmt="GIF"))
    write_file(root / "cat" / ".hidden.png", image_bytes(10))
    write_file(root / "cat" / "nested" / "f.png", image_bytes(11))
    write_file(root / ".cache" / "g.png", image_bytes(12))
    write_file(root / "README.png", image_bytes(13))
    index = scan(root)
    assert index.classes == ("cat",)
    assert sorted(item.path.name for item in index.items) == ["a.jpg", "b.JPEG", "c.Png", "d.jpeg"]


def test_digest_is_stable_and_independent_of_where_the_folder_lies(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "d", {"cat": 3, "dog": 2})
    first = scan(root).digest
    assert len(first) == 64 and int(first, 16) >= 0
    assert scan(root).digest == first
    copy = shutil.copytree(root, tmp_path / "elsewhere" / "copy")
    assert scan(copy).digest == first


def test_digest_changes_with_one_byte_a_name_or_a_class(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "d", {"cat": 3, "dog": 2})
    digests = {scan(root).digest}
    victim = root / "cat" / "001.png"
    data = bytearray(victim.read_bytes())
    data[-1] ^= 1
    victim.write_bytes(bytes(data))
    digests.add(scan(root).digest)
    victim.rename(root / "cat" / "009.png")
    digests.add(scan(root).digest)
    (root / "cat" / "009.png").rename(root / "dog" / "009.png")
    digests.add(scan(root).digest)
    assert len(digests) == 4


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (lambda root: root.mkdir(), "no class folder"),
        (lambda root: write_file(root / "a.png", image_bytes(0)), "no class folder"),
        (lambda root: (root / "cat").mkdir(parents=True), "no image in any class folder"),
        (lambda root: write_file(root / "cat" / "a.txt", b"x"), "no image in any class folder"),
        (lambda root: None, "does not exist"),
    ],
)
def test_a_folder_without_classes_or_images_is_refused_saying_what_is_expected(
    tmp_path: Path, build: Callable[[Path], object], expected: str
) -> None:
    root = tmp_path / "d"
    build(root)
    with pytest.raises(DatasetError) as raised:
        scan(root)
    message = str(raised.value)
    assert str(root) in message and expected in message
    assert ".jpg" in message and "class" in message
    assert isinstance(raised.value, ValueError)


def test_a_class_folder_without_images_is_refused_by_name(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "d", {"cat": 2, "dog": 2})
    (root / "empty_one").mkdir()
    write_file(root / "nested_only" / "deeper" / "x.png", image_bytes(1))
    with pytest.raises(DatasetError, match=r"without images \(empty_one, nested_only\)"):
        scan(root)


def test_train_and_test_halves_are_kept(tmp_path: Path) -> None:
    root = tmp_path / "d"
    make_dataset(root / "train", {"cat": 4, "dog": 3})
    make_dataset(root / "test", {"cat": 1, "dog": 2}, first_seed=100)
    write_file(root / "README.txt", b"about this dataset")
    dataset = open_dataset(root)
    assert dataset.test is not None
    assert dataset.classes == dataset.train.classes == dataset.test.classes == ("cat", "dog")
    assert (len(dataset.train.items), len(dataset.test.items)) == (7, 3)
    assert all(item.path.is_relative_to(root / "test") for item in dataset.test.items)
    assert dataset.train.digest == scan(root / "train").digest
    assert dataset.digest not in (dataset.train.digest, dataset.test.digest)
    assert [name for name, _ in dataset.halves] == ["train", "test"]
    assert open_dataset(shutil.copytree(root, tmp_path / "copy")).digest == dataset.digest


def test_a_plain_folder_is_all_train_with_no_test_half(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "d", {"cat": 2, "dog": 2})
    dataset = open_dataset(root)
    assert dataset.test is None
    assert dataset.digest == dataset.train.digest == scan(root).digest
    assert [name for name, _ in dataset.halves] == ["train"]


def test_train_and_test_folders_of_images_are_just_two_classes(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "d", {"train": 2, "test": 1})
    dataset = open_dataset(root)
    assert dataset.test is None
    assert dataset.classes == ("test", "train")


def test_train_and_test_halves_with_other_classes_are_refused_naming_them(
    tmp_path: Path,
) -> None:
    root = tmp_path / "d"
    make_dataset(root / "train", {"cat": 2, "dog": 2, "owl": 1})
    make_dataset(root / "test", {"cat": 1, "bird": 1}, first_seed=100)
    with pytest.raises(DatasetError) as raised:
        open_dataset(root)
    message = str(raised.value)
    assert "only in train/: dog, owl" in message
    assert "only in test/: bird" in message
