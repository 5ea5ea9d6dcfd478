"""Event images as files in a date/edge/camera tree, durable before their row is committed.

Files are written by the thread that received the event (so 16 edges fsync in parallel), and
only then is the row handed to the writer thread. A file whose row never commits is harmless:
the edge resends the event and the same file name is written again, atomically (by rename).

A sighting's files are named by its `event_id` (in the folder of its start day); an
`event_end` that brings a better view, by its `end_id` (in the folder of its end day). Rows may
share files: a sighting_end row names the pictures its sighting shows, so a file is deleted only
when no row names it any more (hub.jobs).
"""

from __future__ import annotations

import datetime
import os
import secrets
import shutil
import threading
from pathlib import Path

from hub.datadir import fsync_dir
from wire.errors import ErrorCode, WireError
from wire.messages import Event, EventEnd


class StorageError(WireError):
    """The hub could not make something durable (disk full, I/O error); nothing was acked."""

    code = ErrorCode.STORAGE_FAILED


class ImageStore:
    """Writes, finds and removes the snapshot and thumbnail files of events."""

    def __init__(self, root: Path, data_root: Path, min_free_bytes: int) -> None:
        self.root = root
        self.data_root = data_root
        self.min_free_bytes = min_free_bytes
        self._made: set[Path] = set()
        self._lock = threading.Lock()

    def write_event(
        self, edge: str, event: Event, body: bytes | bytearray | memoryview
    ) -> tuple[str, str]:
        """Write both images durably; return their paths relative to the data directory.
        Images already there (a resent event) are kept as they are."""
        folder = self._folder(edge, event.camera, event.started_at)
        return self._write_pair(folder, event.event_id, event.snapshot_len, body)

    def write_end(
        self, edge: str, end: EventEnd, body: bytes | bytearray | memoryview
    ) -> tuple[str, str]:
        """Write the better view an `event_end` brings (it must bring one), like write_event."""
        folder = self._folder(edge, end.camera, end.ended_at)
        return self._write_pair(folder, end.end_id, end.snapshot_len, body)

    def _folder(self, edge: str, camera: str, at_ms: int) -> Path:
        day = datetime.datetime.fromtimestamp(at_ms / 1000, datetime.UTC)
        return self.root / day.strftime("%Y-%m-%d") / edge / camera

    def _write_pair(
        self, folder: Path, name: str, snapshot_len: int, body: bytes | bytearray | memoryview
    ) -> tuple[str, str]:
        snapshot = folder / f"{name}.jpg"
        thumbnail = folder / f"{name}.thumb.jpg"
        view = memoryview(body)
        try:
            if not (snapshot.exists() and thumbnail.exists()):
                self._check_space()
                self._make_dirs(folder)
                _write_synced([(snapshot, view[:snapshot_len]), (thumbnail, view[snapshot_len:])])
            fsync_dir(folder)  # also for a resend: its first writer may not have got here yet
        except OSError as exc:
            raise StorageError(f"cannot store images of {name}: {exc}") from None
        return (
            str(snapshot.relative_to(self.data_root)),
            str(thumbnail.relative_to(self.data_root)),
        )

    def sweep_partials(self) -> int:
        """Remove half-written files a crash left behind (call before anyone writes)."""
        partials = list(self.root.rglob(".*.part"))
        for partial in partials:
            partial.unlink(missing_ok=True)
        return len(partials)

    def read(self, relative: str | None) -> bytes:
        """An image's bytes, or b"" if it is gone (retention, a missing disk)."""
        if not relative:
            return b""
        try:
            return (self.data_root / relative).read_bytes()
        except OSError:
            return b""

    def remove(self, relatives: list[str]) -> None:
        """Delete image files (after their rows are gone and no other row names them)."""
        for relative in relatives:
            (self.data_root / relative).unlink(missing_ok=True)

    def _check_space(self) -> None:
        free = shutil.disk_usage(self.data_root).free
        if free < self.min_free_bytes:
            raise StorageError(
                f"disk nearly full: {free // 2**20} MiB free, the hub keeps "
                f"{self.min_free_bytes // 2**20} MiB free; retry later"
            )

    def _make_dirs(self, folder: Path) -> None:
        """Create missing folders, making each new entry durable in its parent."""
        with self._lock:
            if folder in self._made:
                return
            missing = [p for p in (folder, *folder.parents) if not p.exists()]
            for path in reversed(missing):
                path.mkdir(exist_ok=True)
                fsync_dir(path.parent)
            self._made.add(folder)


def _write_synced(files: list[tuple[Path, memoryview]]) -> None:
    """Write each file beside its final name, fsync them all, then rename them over their
    names: a file under its final name is always complete, even while a resent event writes
    the same names again. All are written before the first fsync, so one journal commit
    usually carries them all (ext4, data=ordered) and the later fsyncs cost little."""
    partials = [p.with_name(f".{p.name}.{secrets.token_hex(4)}.part") for p, _ in files]
    fds: list[int] = []
    try:
        for partial, (_, data) in zip(partials, files, strict=True):
            fds.append(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640))
            view = data
            while view:
                view = view[os.write(fds[-1], view) :]
        for fd in fds:
            os.fsync(fd)
    except BaseException:
        for partial in partials:
            partial.unlink(missing_ok=True)
        raise
    finally:
        for fd in fds:
            os.close(fd)
    for partial, (path, _) in zip(partials, files, strict=True):
        os.replace(partial, path)
