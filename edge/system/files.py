"""Durable file writes: a file under its final name is always complete, even after a crash.

Every write goes to `NAME.part` beside the final name, is fsynced, renamed over the final name,
and the directory is fsynced so that the rename itself survives a power cut. A `.part` file
found later was left by a crash and is never read.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

PART = ".part"
_CHUNK = 1 << 20


def part_of(path: Path) -> Path:
    """Where `path` is written before it is renamed into place."""
    return path.with_name(path.name + PART)


def fsync_dir(directory: Path) -> None:
    """Make the entries of `directory` (new names, renames) durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, parts: Iterable[bytes | bytearray | memoryview]) -> int:
    """Write `parts` to `path` durably and atomically; returns the bytes written."""
    partial = part_of(path)
    written = 0
    try:
        with partial.open("wb") as out:
            for part in parts:
                written += out.write(part)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, path)
    except BaseException:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise
    fsync_dir(path.parent)
    return written


def copy_atomic(source: Path, path: Path) -> None:
    """Copy `source` to `path` durably and atomically."""
    partial = part_of(path)
    try:
        with source.open("rb") as src, partial.open("wb") as out:
            shutil.copyfileobj(src, out, _CHUNK)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, path)
    except BaseException:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise
    fsync_dir(path.parent)


def remove_partials(directory: Path) -> list[Path]:
    """Delete the `.part` files a crash left in `directory`; returns them."""
    found = sorted(directory.glob(f"*{PART}"))
    for partial in found:
        partial.unlink(missing_ok=True)
    return found
