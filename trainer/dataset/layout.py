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
- a folder without any class folder, or with a class folder without images, is a
  `DatasetError` (an empty class would get a label but nothing to learn it from; it would also
  vanish from a packed copy of the dataset and shift the labels there).

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
#: Threads for checking images (decoding big photos releases the GIL; see parallel_map).
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


def list_folder(root: Path) -> Listing:
    """List a dataset folder laid out one subfolder per class, without reading any image.

    DatasetError when `root` is not a folder, has no class folder, or a class folder without
    images (all of them named).
    """
    if not root.is_dir():
        raise DatasetError(
            f"dataset folder {root} does not exist or is not a folder; expected a folder with "
            "one subfolder per class holding .jpg/.jpeg/.png images"
        )
    folders = _subfolders(root)
    if not folders:
        raise DatasetError(
            f"dataset folder {root} has no class folder; expected one subfolder per class "
            "(the folder name is the label) holding .jpg/.jpeg/.png images"
        )
    items: list[Item] = []
    ignored: list[Path] = []
    empty: list[str] = []
    for label, name in enumerate(folders):
        folder = root / name
        count = len(items)
        for entry in _visible_entries(folder):
            path = folder / entry.name
            if os.path.splitext(entry.name)[1].lower() in IMAGE_SUFFIXES and entry.is_file():
                items.append(Item(path, label))
            else:
                ignored.append(path)
        if len(items) == count:
            empty.append(name)
    if empty:
        raise DatasetError(_empty_classes_message(root, empty, all_empty=not items))
    return Listing(root, tuple(folders), tuple(items), tuple(ignored))


def _empty_classes_message(root: Path, empty: Sequence[str], *, all_empty: bool) -> str:
    names = ", ".join(empty[:10]) + (f" and {len(empty) - 10} more" if len(empty) > 10 else "")
    where = "no image in any class folder" if all_empty else "class folders without images"
    return (
        f"dataset folder {root} has {where} ({names}); expected .jpg, .jpeg or .png files "
        "directly in each class folder (nested folders are ignored); fill or remove them"
    )


def _visible_entries(folder: Path) -> list[os.DirEntry[str]]:
    """A folder's entries that are not hidden, sorted by name (os.scandir needs no stat per
    entry on most file systems, which counts at 70,000 files)."""
    with os.scandir(folder) as entries:
        return sorted((entry for entry in entries if not entry.name.startswith(".")), key=_name)


def _name(entry: os.DirEntry[str]) -> str:
    return entry.name


def _subfolders(folder: Path) -> list[str]:
    """The names of a folder's visible subfolders, sorted."""
    return [entry.name for entry in _visible_entries(folder) if entry.is_dir()]


def list_layout(root: Path) -> tuple[Listing, Listing | None]:
    """List a dataset folder as (train, test): a kept train/test split, or (whole, None).

    The split is kept when the only (visible) subfolders of `root` are `train` and `test` and
    each holds subfolders of its own; the two halves must then have the same classes.
    """
    if root.is_dir() and _subfolders(root) == sorted((TRAIN, TEST)):
        halves = root / TRAIN, root / TEST
        if all(_subfolders(half) for half in halves):
            train, test = (list_folder(half) for half in halves)
            _same_classes(root, train.classes, test.classes)
            return train, test
    return list_folder(root), None


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


def read_file(path: Path | str) -> bytes:
    """A file's bytes (os.read: about half the time of Path.read_bytes on small files)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        chunks = [os.read(fd, max(os.fstat(fd).st_size, 0) + 1)]
        while chunks[-1]:
            chunks.append(os.read(fd, _CHUNK))
        return b"".join(chunks)
    finally:
        os.close(fd)


def file_sha256(path: Path | str) -> str:
    """SHA-256 of a file's bytes, in hex, reading big files a chunk at a time."""
    digest = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY)
    try:
        while chunk := os.read(fd, _CHUNK):
            digest.update(chunk)
    finally:
        os.close(fd)
    return digest.hexdigest()


_CHUNK = 1 << 20


def parallel_map(
    function: Callable[[_T], _R], values: Sequence[_T], *, workers: int = IO_WORKERS
) -> list[_R]:
    """`function` over `values` on a pool of threads, each taking runs of values; results in
    order. In the caller's thread for one worker or few values.

    Threads pay only when `function` spends its time outside the GIL (decoding or hashing
    big files); for tiny files they only contend for it (on Fashion-MNIST's PNGs, hashing
    alone took 0.9-1.8 s for 70,000 in one thread, 1.8-3.1 s in two to four threads).
    """
    if workers <= 1 or len(values) < 64:
        return [function(value) for value in values]
    size = -(-len(values) // (workers * 16))
    runs = [values[start : start + size] for start in range(0, len(values), size)]

    def run_of(run: Sequence[_T]) -> list[_R]:
        return [function(value) for value in run]

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return [result for results in pool.map(run_of, runs) for result in results]


def digest_of(pairs: Iterable[tuple[str, str]]) -> str:
    """SHA-256 over the sorted (relative posix path, file SHA-256 in hex) pairs.

    Each pair enters as "<relative path>\\0<64 hex digits>\\n", which reads back one way
    only: a path never holds a NUL, and the hash has a fixed length.
    """
    digest = hashlib.sha256()
    for relative, sha in sorted(pairs):
        digest.update(f"{relative}\0{sha}\n".encode(errors="surrogateescape"))
    return digest.hexdigest()


def combined_digest(train: DatasetIndex, test: DatasetIndex | None) -> str:
    """The digest of a whole dataset: the train digest alone, or SHA-256 over both halves'."""
    if test is None:
        return train.digest
    both = f"{TRAIN}\0{train.digest}\n{TEST}\0{test.digest}\n"
    return hashlib.sha256(both.encode()).hexdigest()


def relative_path(listing: Listing, item: Item) -> str:
    """An item's path relative to its listing's root, "<class>/<file name>"."""
    return f"{listing.classes[item.label]}/{item.path.name}"


def index_of(listing: Listing, hashes: Sequence[str]) -> DatasetIndex:
    """The index of a listing whose files have these SHA-256s (in item order)."""
    relative = [relative_path(listing, item) for item in listing.items]
    digest = digest_of(zip(relative, hashes, strict=True))
    return DatasetIndex(listing.root, listing.classes, listing.items, digest)


def scan(root: Path) -> DatasetIndex:
    """Index a folder laid out one subfolder per class, reading every image once for the
    digest. DatasetError when it has no class folder or no image.

    Files are hashed in one thread: see parallel_map for why.
    """
    listing = list_folder(root)
    return index_of(listing, [file_sha256(item.path) for item in listing.items])


def open_dataset(root: Path) -> Dataset:
    """Index a dataset folder, keeping its own train/test split when it has one.

    DatasetError when it has no class folder or no image, or when its train/ and test/
    halves have different classes (the message names them).
    """
    train_listing, test_listing = list_layout(root)
    train = index_of(train_listing, [file_sha256(item.path) for item in train_listing.items])
    test = None
    if test_listing is not None:
        test = index_of(test_listing, [file_sha256(item.path) for item in test_listing.items])
    return Dataset(root, train, test, combined_digest(train, test))
