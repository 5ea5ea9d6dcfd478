"""Import Fashion-MNIST from Debian's `dataset-fashion-mnist` package into a dataset folder.

The package installs the four IDX files of Zalando's Fashion-MNIST (MIT licence) in
/usr/share/datasets/fashion-mnist. The import writes each 28x28 greyscale image as a PNG,
keeping the official split:

    dest/train/<class>/<index:05d>.png    60,000 images
    dest/test/<class>/<index:05d>.png     10,000 images

where <index> is the image's place in its IDX file, so any PNG can be traced back. Class folder
names are the official names made folder-safe ("/" and " " become "_"):

    label  official name  folder
    0      T-shirt/top    T-shirt_top
    1      Trouser        Trouser
    2      Pullover       Pullover
    3      Dress          Dress
    4      Coat           Coat
    5      Sandal         Sandal
    6      Shirt          Shirt
    7      Sneaker        Sneaker
    8      Bag            Bag
    9      Ankle boot     Ankle_boot

Mind that a dataset's class indices follow the sorted folder names (Ankle_boot is 0, Bag 1,
...), not Fashion-MNIST's label numbers.

IDX format: a big-endian header of a magic number (two zero bytes, the element type 0x08 for
unsigned bytes, the number of dimensions) and one uint32 per dimension, then the data, row
major: images are 0x00000803 (count, rows, columns), labels 0x00000801 (count).
"""

from __future__ import annotations

import gzip
import shutil
import struct
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np
import numpy.typing as npt

from trainer.dataset.layout import TEST, TRAIN, DatasetError, parallel_map

DEFAULT_SOURCE = Path("/usr/share/datasets/fashion-mnist")
DEBIAN_PACKAGE = "dataset-fashion-mnist"
#: Fashion-MNIST's names for labels 0..9, and the folder-safe forms the import writes.
OFFICIAL_NAMES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
CLASSES = tuple(name.replace("/", "_").replace(" ", "_") for name in OFFICIAL_NAMES)
#: The IDX files of each half (also read without the .gz when only that is there).
FILES = {
    TRAIN: ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    TEST: ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801
PROGRESS_EVERY = 5000
PARTIAL_SUFFIX = ".partial"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Threads writing files. One: file creation is system time and encoding holds the GIL; on
#: the 2-CPU VM measured, two or four threads made the import slower (16-33 s against 9-16).
WRITE_WORKERS = 1

Progress = Callable[[int, int], None]
U8Array = npt.NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class ImportSummary:
    """What an import wrote: images per class (in label order) of each half, and its time."""

    dest: Path
    classes: tuple[str, ...]  # folder names in Fashion-MNIST label order (CLASSES)
    train_counts: tuple[int, ...]
    test_counts: tuple[int, ...]
    seconds: float

    @property
    def images(self) -> int:
        """All images written."""
        return sum(self.train_counts) + sum(self.test_counts)


def read_idx(path: Path, *, magic: int) -> U8Array:
    """An IDX file of unsigned bytes (gzipped when its name ends in .gz) as an array shaped
    as its header says; DatasetError naming the file when it is not one with this magic."""
    data = _read_bytes(path)
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DatasetError(f"{path}: {len(data)} bytes, too short for an IDX header")
    (found,) = struct.unpack(">I", data[:4])
    if found != magic:
        raise DatasetError(
            f"{path}: IDX magic number 0x{found:08x}, expected 0x{magic:08x} "
            f"({ndim}-dimensional unsigned bytes); is it the right file?"
        )
    shape = struct.unpack(f">{ndim}I", data[4:header])
    size = int(np.prod(shape, dtype=np.int64))
    if len(data) - header != size:
        dims = "x".join(str(dim) for dim in shape)
        raise DatasetError(
            f"{path}: the IDX header says {dims} = {size} bytes of data but the file holds "
            f"{len(data) - header}; the file is damaged or truncated"
        )
    return np.frombuffer(data, np.uint8, offset=header).reshape(shape)


def _read_bytes(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as file:
                return file.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as error:
        raise DatasetError(f"{path}: cannot be read ({error})") from error


def read_half(source: Path, half: str) -> tuple[U8Array, U8Array]:
    """The images (n, 28, 28) and labels (n,) of one half ("train" or "test"), checked."""
    images_path, labels_path = (_find(source, name) for name in FILES[half])
    images = read_idx(images_path, magic=IMAGES_MAGIC)
    labels = read_idx(labels_path, magic=LABELS_MAGIC)
    if images.shape[0] != labels.shape[0]:
        raise DatasetError(
            f"{images_path} holds {images.shape[0]} images but {labels_path} holds "
            f"{labels.shape[0]} labels; they must be of the same release"
        )
    if labels.size and int(labels.max()) >= len(CLASSES):
        where = int(np.argmax(labels >= len(CLASSES)))
        raise DatasetError(
            f"{labels_path}: label {int(labels[where])} at index {where} is outside "
            f"0..{len(CLASSES) - 1}"
        )
    return images, labels


def _find(source: Path, name: str) -> Path:
    path = source / name
    plain = path.with_suffix("")
    return plain if not path.exists() and plain.exists() else path


def check_source(source: Path) -> None:
    """DatasetError naming the Debian package when any of the four files is missing."""
    missing = [
        name for names in FILES.values() for name in names if not _find(source, name).is_file()
    ]
    if missing:
        raise DatasetError(
            f"Fashion-MNIST not found in {source}: missing {', '.join(missing)}. Install "
            f"Debian's package with `sudo apt-get install {DEBIAN_PACKAGE}` (it puts the files "
            f"in {DEFAULT_SOURCE}), or give the folder that holds them"
        )


def import_fashion_mnist(
    dest: Path,
    *,
    source: Path = DEFAULT_SOURCE,
    progress: Progress | None = None,
    overwrite: bool = False,
    limit: int | None = None,
    workers: int = WRITE_WORKERS,
) -> ImportSummary:
    """Write Fashion-MNIST as PNGs under dest/train/<class>/ and dest/test/<class>/.

    Everything is written into "<dest>.partial" (a leftover one from an interrupted import is
    removed first) and renamed to `dest` at the end, so an interrupted import never looks
    complete. `dest` must be new or empty; with `overwrite`, it may also hold an earlier
    import (only train/ and test/), which is replaced, and only once the new one is complete.
    `limit` keeps at most the first `limit` images of each class in each half (for quick runs;
    None: all). `progress(done, total)` is called in the caller's thread every PROGRESS_EVERY
    images and at the end.

    DatasetError when the files are missing (naming the Debian package) or malformed, or
    when `dest` is not new or empty.
    """
    started = time.perf_counter()
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be 1 or more (None: all images), not {limit}")
    check_source(source)
    target = dest.absolute()
    _check_dest(target, overwrite=overwrite)
    halves = {half: read_half(source, half) for half in (TRAIN, TEST)}
    chosen = {half: _chosen(labels, limit) for half, (_, labels) in halves.items()}
    partial = target.with_name(target.name + PARTIAL_SUFFIX)
    if partial.exists():
        shutil.rmtree(partial)
    try:
        _write(partial, halves, chosen, progress=progress, workers=workers)
        _replace(target, partial)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    counts = {
        half: tuple(int(n) for n in np.bincount(labels[chosen[half]], minlength=len(CLASSES)))
        for half, (_, labels) in halves.items()
    }
    return ImportSummary(dest, CLASSES, counts[TRAIN], counts[TEST], time.perf_counter() - started)


def _check_dest(dest: Path, *, overwrite: bool) -> None:
    if dest.exists() and not dest.is_dir():
        raise DatasetError(f"{dest} exists and is not a folder; give a new or empty folder")
    entries = {entry.name for entry in dest.iterdir()} if dest.exists() else set()
    if not entries:
        return
    if not overwrite:
        raise DatasetError(
            f"{dest} is not empty; give a new or empty folder, or overwrite an earlier import"
        )
    if not entries <= {TRAIN, TEST}:
        others = ", ".join(sorted(entries - {TRAIN, TEST})[:5])
        raise DatasetError(
            f"will not overwrite {dest}: it holds more than an earlier import's train/ and "
            f"test/ ({others}); remove it yourself or give another folder"
        )


def _chosen(labels: U8Array, limit: int | None) -> npt.NDArray[np.intp]:
    """The indices of the images to write: all, or the first `limit` of each class."""
    if limit is None:
        return np.arange(len(labels))
    firsts = [np.flatnonzero(labels == label)[:limit] for label in range(len(CLASSES))]
    return np.sort(np.concatenate(firsts))


def _write(
    root: Path,
    halves: dict[str, tuple[U8Array, U8Array]],
    chosen: dict[str, npt.NDArray[np.intp]],
    *,
    progress: Progress | None,
    workers: int,
) -> None:
    """Write the chosen images of each half as root/<half>/<class>/<index>.png, making
    folders only for the classes that have images."""
    jobs: list[tuple[Path, U8Array]] = []
    for half, (images, labels) in halves.items():
        indices = chosen[half].tolist()
        for label in sorted({int(labels[index]) for index in indices}):
            (root / half / CLASSES[label]).mkdir(parents=True)
        jobs.extend(
            (root / half / CLASSES[labels[index]] / f"{index:05d}.png", images[index])
            for index in indices
        )
    for start in range(0, len(jobs), PROGRESS_EVERY):
        batch = jobs[start : start + PROGRESS_EVERY]
        parallel_map(
            _write_png, [(path, encode_png(pixels)) for path, pixels in batch], workers=workers
        )
        if progress is not None:
            progress(start + len(batch), len(jobs))


def _write_png(job: tuple[Path, bytes]) -> None:
    path, png = job
    with path.open("xb") as file:
        file.write(png)


def encode_png(pixels: U8Array) -> bytes:
    """A greyscale PNG of 8-bit pixels (rows, columns): filter type 0 (none) on every row,
    zlib level 6.

    Written here rather than with Pillow, which spends ~180 µs per 28x28 image in Python
    against ~50 µs here: 12 s of an import instead of 3.5.
    """
    rows, columns = pixels.shape
    filtered = np.zeros((rows, columns + 1), np.uint8)
    filtered[:, 1:] = pixels
    data = zlib.compress(filtered.tobytes(), 6)
    header = struct.pack(">IIBBBBB", columns, rows, 8, 0, 0, 0, 0)
    return b"".join((PNG_SIGNATURE, _chunk(b"IHDR", header), _chunk(b"IDAT", data), _IEND))


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(data, zlib.crc32(kind))
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


_IEND = _chunk(b"IEND", b"")


def _replace(dest: Path, partial: Path) -> None:
    """Put the finished import in place of `dest` (absent, empty or an earlier import)."""
    if not dest.exists():
        dest.parent.mkdir(parents=True, exist_ok=True)
        partial.rename(dest)
        return
    if not any(dest.iterdir()):
        dest.rmdir()
        partial.rename(dest)
        return
    old = dest.with_name(dest.name + ".old")
    if old.exists():
        shutil.rmtree(old)
    dest.rename(old)
    try:
        partial.rename(dest)
    except BaseException:
        old.rename(dest)  # the earlier import stays as it was
        raise
    shutil.rmtree(old)


def print_import_summary(summary: ImportSummary, out: TextIO) -> None:
    """A table of the images written per class and half, and the total and time."""
    width = max(len(name) for name in summary.classes)
    out.write(f"{'class':<{width}}  {'train':>6}  {'test':>6}\n")
    for name, train, test in zip(
        summary.classes, summary.train_counts, summary.test_counts, strict=True
    ):
        out.write(f"{name:<{width}}  {train:>6}  {test:>6}\n")
    out.write(f"{summary.images} images written to {summary.dest} in {summary.seconds:.1f} s\n")
