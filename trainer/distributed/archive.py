"""Tar files: a dataset by digest, a task's backup directory; and the worker's dataset cache.

Tars are uncompressed (images are compressed already) and unpacked with the standard
library's `data` filter: no absolute paths, no `..`, no links out, no devices. A dataset is
checked after unpacking: its digest must be the one it was sent under, or it is refused.
"""

from __future__ import annotations

import hashlib
import shutil
import tarfile
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from trainer.dataset.layout import Dataset, open_dataset

_CHUNK = 1024 * 1024


class DatasetMismatch(ValueError):
    """An unpacked dataset does not have the digest it was sent under."""


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as src:
        while chunk := src.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def dataset_digest(root: Path) -> str:
    """The dataset's digest, as `trainer.dataset` defines it."""
    return open_dataset(root).digest


def dataset_files(dataset: Dataset) -> list[Path]:
    """The files a dataset's digest covers: its images."""
    return [item.path for _, half in dataset.halves for item in half.items]


def pack_dataset(dataset: Dataset, out: Path) -> None:
    """Write the dataset's images (only what its digest covers) into the tar `out`, with
    paths relative to its root."""
    root = dataset.root
    members = ((path, path.relative_to(root).as_posix()) for path in dataset_files(dataset))
    _write_tar(out, members)


def pack_dir(root: Path, out: Path, *, skip: Callable[[Path], bool] = lambda _: False) -> None:
    """Write every file under `root` (but those `skip` names) into the tar `out`."""
    files = sorted(p for p in root.rglob("*") if p.is_file() and not skip(p.relative_to(root)))
    _write_tar(out, ((path, path.relative_to(root).as_posix()) for path in files))


def _write_tar(out: Path, members: Iterable[tuple[Path, str]]) -> None:
    partial = out.with_name(out.name + ".partial")
    with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as tar:
        for path, name in members:
            tar.add(path, arcname=name, recursive=False)
    partial.replace(out)


def unpack(tar_path: Path, dest: Path) -> None:
    """Unpack the tar into `dest` (created), refusing members that would land outside it."""
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(tar_path, "r:") as tar:
            tar.extractall(dest, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise ValueError(f"cannot unpack {tar_path.name}: {exc}") from exc


class DatasetCache:
    """Datasets unpacked and verified, one folder per digest; written by rename only, so a
    folder named by a digest always holds exactly that dataset."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, digest: str) -> Path:
        """Where the dataset with this digest is (or would be)."""
        return self.root / digest

    def has(self, digest: str) -> bool:
        """Whether the dataset is cached."""
        return self.path(digest).is_dir()

    def digests(self) -> list[str]:
        """Every cached dataset's digest."""
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and len(p.name) == 64)

    def store(self, tar_path: Path, digest: str) -> Path:
        """Unpack a dataset tar, check its digest, and keep it under that digest.

        DatasetMismatch (nothing kept) when the unpacked dataset has another digest."""
        work = Path(tempfile.mkdtemp(prefix=f".{digest[:12]}-", dir=self.root))
        try:
            unpack(tar_path, work)
            found = dataset_digest(work)
            if found != digest:
                raise DatasetMismatch(
                    f"dataset sent as {digest} unpacks to digest {found}; refused"
                )
            if not self.has(digest):
                work.replace(self.path(digest))
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return self.path(digest)
