"""What a dataset folder holds: classes, labelled images, and a digest of it all.

A dataset is a folder with one subfolder per class (the folder name is the label), holding
JPEG or PNG images of any size. An optional `_background` class stands for "nothing of
interest". A dataset may instead hold `train/` and `test/` folders, each laid out that way with
the same classes: then that split is kept (Fashion-MNIST's import writes it so).

Rules of the layout, the same everywhere (`scan`, `open_dataset`, the check):

- classes are the subfolders, sorted by name (code point order); a class's index is its place;
- images are the files directly in a class folder whose suffix is .jpg, .jpeg or .png in any
  case; other files and nested folders are ignored (the check counts them);
- names starting with "." (hidden files and folders) are ignored at every level, as are files
  lying directly in the dataset folder (a README, say);
- a class folder without images is still a class (the check reports it as an error); a folder
  without any class folder, or whose class folders hold no image at all, is a `DatasetError`.

The digest is SHA-256 over the sorted (relative path, SHA-256 of the file's bytes) pairs, so
it changes when any byte, name or class changes and never depends on the listing order.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

BACKGROUND = "_background"
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png"})
#: The halves of a dataset that keeps its own split.
TRAIN, TEST = "train", "test"
#: Worker threads for reading files (I/O and hashing release the GIL for part of the time).
IO_WORKERS = min(8, (os.cpu_count() or 1) + 2)

_T = TypeVar("_T")
_R = TypeVar("_R")


class DatasetError(ValueError):
    """A dataset folder that cannot be used as it is; the message says what to change."""


@dataclass(frozen=True, slots=True)
class Item:
    """One labelled image: its file and its class index."""

    path: Path
    label: int


@dataclass(frozen=True, slots=True)
class DatasetIndex:
    """Every image of a dataset folder (or of one of its train/test halves)."""

    root: Path
    classes: tuple[str, ...]  # sorted; the class index is the position here
    items: tuple[Item, ...]
    digest: str  # SHA-256 over relative paths and file contents: the dataset's identity


@dataclass(frozen=True, slots=True)
class Dataset:
    """A dataset folder: the whole of it as `train`, or its own train/test halves."""

    root: Path
    train: DatasetIndex
    test: DatasetIndex | None  # None: no test half given; carve one out (see split.py)
    #: The train digest alone when there is no test half; otherwise SHA-256 over both.
    digest: str

    @property
    def classes(self) -> tuple[str, ...]:
        """The class names (the same in both halves), sorted."""
        return self.train.classes

    @property
    def halves(self) -> tuple[tuple[str, DatasetIndex], ...]:
        """("train", index) and ("test", index) when split, else just ("train", index)."""
        if self.test is None:
            return ((TRAIN, self.train),)
        return ((TRAIN, self.train), (TEST, self.test))


@dataclass(frozen=True, slots=True)
class Listing:
    """A dataset folder listed but not read: classes, labelled image files, ignored files."""

    root: Path
    classes: tuple[str, ...]
    items: tuple[Item, ...]  # sorted by class, then file name
    ignored: tuple[Path, ...]  # files and folders inside class folders that are not images


def is_hidden(path: Path) -> bool:
    """Whether a file or folder is hidden by name (starts with ".")."""
    return path.name.startswith(".")


def is_image_name(path: Path) -> bool:
    """Whether a file name has one of the image suffixes (any case)."""
    return path.suffix.lower() in IMAGE_SUFFIXES


def list_folder(root: Path) -> Listing:
    """List a dataset folder laid out one subfolder per class, without reading any image.

    DatasetError when `root` is not a folder, has no class folder, or no image in them.
    """
    if not root.is_dir():
        raise DatasetError(
            f"dataset folder {root} does not exist or is not a folder; expected a folder with "
            "one subfolder per class holding .jpg/.jpeg/.png images"
        )
    folders = sorted(
        (entry for entry in root.iterdir() if entry.is_dir() and not is_hidden(entry)),
        key=lambda entry: entry.name,
    )
    if not folders:
        raise DatasetError(
            f"dataset folder {root} has no class folder; expected one subfolder per class "
            "(the folder name is the label) holding .jpg/.jpeg/.png images"
        )
    items: list[Item] = []
    ignored: list[Path] = []
    for label, folder in enumerate(folders):
        for entry in sorted(folder.iterdir(), key=lambda entry: entry.name):
            if is_hidden(entry):
                continue
            if is_image_name(entry) and entry.is_file():
                items.append(Item(entry, label))
            else:
                ignored.append(entry)
    if not items:
        names = ", ".join(folder.name for folder in folders[:5])
        more = ", ..." if len(folders) > 5 else ""
        raise DatasetError(
            f"dataset folder {root} has class folders ({names}{more}) but no image in them; "
            "expected .jpg, .jpeg or .png files directly in each class folder"
        )
    return Listing(root, tuple(folder.name for folder in folders), tuple(items), tuple(ignored))


def list_layout(root: Path) -> tuple[Listing, Listing | None]:
    """List a dataset folder as (train, test): a kept train/test split, or (whole, None).

    The split is kept when the only (visible) subfolders of `root` are `train` and `test` and
    each holds subfolders of its own; the two halves must then have the same classes.
    """
    if root.is_dir():
        folders = {
            entry.name for entry in root.iterdir() if entry.is_dir() and not is_hidden(entry)
        }
        if folders == {TRAIN, TEST} and all(_has_subfolder(root / name) for name in folders):
            train, test = list_folder(root / TRAIN), list_folder(root / TEST)
            _same_classes(root, train.classes, test.classes)
            return train, test
    return list_folder(root), None


def _has_subfolder(folder: Path) -> bool:
    return any(entry.is_dir() and not is_hidden(entry) for entry in folder.iterdir())


def _same_classes(root: Path, train: Sequence[str], test: Sequence[str]) -> None:
    only_train, only_test = sorted(set(train) - set(test)), sorted(set(test) - set(train))
    if only_train or only_test:
        parts = []
        if only_train:
            parts.append(f"only in train/: {', '.join(only_train)}")
        if only_test:
            parts.append(f"only in test/: {', '.join(only_test)}")
        raise DatasetError(
            f"dataset folder {root} has train/ and test/ halves with different classes "
            f"({'; '.join(parts)}); give both halves the same class folders"
        )


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, in hex."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def parallel_map(
    function: Callable[[_T], _R], values: Sequence[_T], *, workers: int = IO_WORKERS
) -> list[_R]:
    """`function` over `values` on a thread pool, results in order; in the caller's thread
    when there are few values."""
    if workers <= 1 or len(values) < 64:
        return [function(value) for value in values]
    chunk = max(1, min(256, len(values) // (workers * 8)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(function, values, chunksize=chunk))


def digest_of(root: Path, files: Iterable[tuple[Path, str]]) -> str:
    """SHA-256 over the sorted (path relative to `root`, file SHA-256) pairs.

    Each pair enters as "<relative posix path>\\0<64 hex digits>\\n", which reads back one way
    only: a path never holds a NUL, and the hash has a fixed length.
    """
    pairs = sorted((path.relative_to(root).as_posix(), sha) for path, sha in files)
    digest = hashlib.sha256()
    for relative, sha in pairs:
        digest.update(f"{relative}\0{sha}\n".encode(errors="surrogateescape"))
    return digest.hexdigest()


def combined_digest(train: DatasetIndex, test: DatasetIndex | None) -> str:
    """The digest of a whole dataset: the train digest alone, or SHA-256 over both halves'."""
    if test is None:
        return train.digest
    return hashlib.sha256(f"{TRAIN}\0{train.digest}\n{TEST}\0{test.digest}\n".encode()).hexdigest()


def index_of(listing: Listing, hashes: Sequence[str]) -> DatasetIndex:
    """The index of a listing whose files have these SHA-256s (in item order)."""
    if len(hashes) != len(listing.items):
        raise ValueError(f"{len(hashes)} hashes for {len(listing.items)} files")
    digest = digest_of(
        listing.root, zip((item.path for item in listing.items), hashes, strict=True)
    )
    return DatasetIndex(listing.root, listing.classes, listing.items, digest)


def scan(root: Path) -> DatasetIndex:
    """Index a folder laid out one subfolder per class, reading every image once for the
    digest. DatasetError when it has no class folder or no image."""
    listing = list_folder(root)
    return index_of(listing, parallel_map(file_sha256, [item.path for item in listing.items]))


def open_dataset(root: Path) -> Dataset:
    """Index a dataset folder, keeping its own train/test split when it has one.

    DatasetError when it has no class folder or no image, or when its train/ and test/
    halves have different classes (the message names them).
    """
    train_listing, test_listing = list_layout(root)
    listings = [train_listing] if test_listing is None else [train_listing, test_listing]
    paths = [item.path for listing in listings for item in listing.items]
    hashes = parallel_map(file_sha256, paths)
    train = index_of(train_listing, hashes[: len(train_listing.items)])
    test = None if test_listing is None else index_of(test_listing, hashes[len(train.items) :])
    return Dataset(root, train, test, combined_digest(train, test))
