"""The writer thread: group commits, one failing job fails alone, nothing after stop."""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from hub.db import StoredEvent, connect
from hub.images import StorageError
from hub.writer import Writer


@dataclass(frozen=True)
class Note:
    """A job that writes one peer row (or fails, if asked to)."""

    name: str
    fail: bool = False

    def apply(self, db: sqlite3.Connection, created: list[StoredEvent]) -> str:
        db.execute(
            "INSERT INTO peers (name, role, secret, created_ms) VALUES (?, 'edge', '00', 0)",
            (self.name,),
        )
        if self.fail:
            raise ValueError(f"{self.name} refused")
        return self.name


def _names(path: Path) -> set[str]:
    db = connect(path)
    try:
        return {r[0] for r in db.execute("SELECT name FROM peers")}
    finally:
        db.close()


def test_many_jobs_share_few_commits(tmp_path: Path) -> None:
    writer = Writer(tmp_path / "hub.db", batch=256, on_commit=lambda entries: None)
    writer.start()
    results: list[str] = []
    threads = [
        threading.Thread(target=lambda i=i: results.append(writer.call(Note(f"p{i}"))))
        for i in range(200)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    writer.stop()
    assert sorted(results) == sorted(f"p{i}" for i in range(200))
    assert _names(tmp_path / "hub.db") == set(results)
    assert writer.commits < 200  # grouped


def test_a_failing_job_fails_alone(tmp_path: Path) -> None:
    writer = Writer(tmp_path / "hub.db", batch=256, on_commit=lambda entries: None)
    writer.start()
    good, bad, after = (
        writer.submit(Note("a")),
        writer.submit(Note("b", fail=True)),
        writer.submit(Note("c")),
    )
    assert good.wait() == "a" and after.wait() == "c"
    with pytest.raises(ValueError, match="b refused"):
        bad.wait()
    writer.stop()
    assert _names(tmp_path / "hub.db") == {"a", "c"}  # b's insert was rolled back


def test_jobs_after_stop_are_refused(tmp_path: Path) -> None:
    writer = Writer(tmp_path / "hub.db", batch=8, on_commit=lambda entries: None)
    writer.start()
    writer.stop()
    with pytest.raises(StorageError, match="shutting down"):
        writer.call(Note("late"))
