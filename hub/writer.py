"""The one thread that writes the hub's database, committing jobs in groups.

Threads hand it jobs and wait; it takes every job that is waiting (up to `batch`), applies each
in its own savepoint (so one failing job fails alone), commits once, and only then answers them
all and publishes the new log entries to watchers. One commit (one WAL fsync) thus serves many
events, which is where the hub's ingest rate comes from.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, Protocol, TypeVar

from hub.db import StoredEvent, connect
from hub.images import StorageError

log = logging.getLogger("vigia.hub.writer")
T_co = TypeVar("T_co", covariant=True)
R = TypeVar("R")


class Job(Protocol[T_co]):
    """A unit of work for the writer; `created` collects new log entries for watchers."""

    def apply(self, db: sqlite3.Connection, created: list[StoredEvent]) -> T_co:
        """Do the writes (inside the writer's transaction) and return the job's answer."""


@dataclass
class Pending(Generic[R]):
    """A submitted job: wait() for its answer once its batch has committed."""

    job: Job[R]
    done: threading.Event = field(default_factory=threading.Event)
    result: R | None = None
    error: BaseException | None = None

    def wait(self, timeout: float = 5.0) -> R:
        """The job's answer; raises what the job (or the commit) raised."""
        if not self.done.wait(timeout):
            raise StorageError(f"the database did not answer within {timeout:.0f} s")
        if self.error is not None:
            raise self.error
        return self.result  # type: ignore[return-value]  # set whenever error is None


class Writer:
    """Owns the read-write connection; runs jobs in groups on its own thread."""

    def __init__(
        self, database: Path, batch: int, on_commit: Callable[[list[StoredEvent]], None]
    ) -> None:
        self.database = database
        self.batch = batch
        self.on_commit = on_commit
        self._queue: queue.Queue[Pending[object] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="hub-writer", daemon=True)
        self._stopped = threading.Event()
        self._gate = threading.Lock()  # no job slips in after the final drain
        self.commits = 0

    def start(self) -> None:
        """Open the database and start taking jobs."""
        self._db = connect(self.database)
        self._thread.start()

    def stop(self) -> None:
        """Finish every job already submitted, commit, close."""
        self._queue.put(None)
        self._thread.join()

    def submit(self, job: Job[R]) -> Pending[R]:
        """Queue a job; the caller may wait() on the answer."""
        pending: Pending[R] = Pending(job)
        with self._gate:
            if self._stopped.is_set():
                pending.error = StorageError("the hub is shutting down; retry later")
                pending.done.set()
            else:
                self._queue.put(pending)  # type: ignore[arg-type]
        return pending

    def call(self, job: Job[R]) -> R:
        """Submit a job and wait for its committed answer."""
        return self.submit(job).wait()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            batch = [first] if first is not None else []
            stop = first is None
            while len(batch) < self.batch and not self._queue.empty():
                nxt = self._queue.get_nowait()
                if nxt is None:
                    stop = True
                else:
                    batch.append(nxt)
            if batch:
                self._commit(batch)
            if stop:
                with self._gate:
                    self._stopped.set()
                    self._drain_refusing()
                self._db.close()
                return

    def _commit(self, batch: list[Pending[object]]) -> None:
        """One transaction for the whole batch; whatever fails, every submitter is answered
        and this thread lives on."""
        created: list[StoredEvent] = []
        try:
            self._db.execute("BEGIN IMMEDIATE")
            for pending in batch:
                self._apply(pending, created)
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:  # disk full, I/O error, locked for too long
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            log.error("commit of %d jobs failed: %s", len(batch), exc)
            for pending in batch:
                pending.error = StorageError(f"the database could not commit: {exc}")
            created = []
        self.commits += 1
        for pending in batch:
            pending.done.set()
        if created:
            try:
                self.on_commit(created)
            except Exception:  # a watcher bug must not stop the log
                log.exception("publishing %d entries failed", len(created))

    def _apply(self, pending: Pending[object], created: list[StoredEvent]) -> None:
        mark = len(created)
        self._db.execute("SAVEPOINT job")
        try:
            pending.result = pending.job.apply(self._db, created)
            self._db.execute("RELEASE job")
        except Exception as exc:  # the job's own failure: undo it alone, tell its submitter
            self._db.execute("ROLLBACK TO job")
            self._db.execute("RELEASE job")
            del created[mark:]
            pending.error = (
                exc
                if not isinstance(exc, sqlite3.Error)
                else StorageError(f"the database refused a write: {exc}")
            )

    def _drain_refusing(self) -> None:
        while not self._queue.empty():
            pending = self._queue.get_nowait()
            if pending is not None:
                pending.error = StorageError("the hub is shutting down; retry later")
                pending.done.set()
