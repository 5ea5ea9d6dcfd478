"""The coordinator's connections to its workers: one `WorkerLink` each, all feeding one
`Mailbox`.

Every link has a reader thread that receives for as long as the connection lives, so pings
are answered and a dead worker is noticed (within `dead_after_s`) whatever the coordinator is
doing: packing a dataset, sending it to another worker, or waiting for one to come back.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from trainer.distributed.layout import DEFAULT_WORKERS_DIR
from wire import messages as m
from wire.client import Endpoint, connect
from wire.connection import Connection, Received
from wire.credential import Credential, load_credential
from wire.errors import ConnectionClosed, ErrorCode, RemoteError, WireError

M = TypeVar("M", bound=m.Message)
Item = Received | WireError
"""What a link's reader hands over: a message, or the error that ended the connection."""

#: What a worker may still send about an attempt that has ended.
STALE = (m.JobStarted, m.JobProgress, m.JobCheckpoint, m.JobResult, m.JobDone)
#: Largest body the coordinator accepts from a worker (checkpoints, the model file).
MAX_BODY = 8 * 2**30


class Refused(WireError):
    """A worker answered a request with a (non-fatal) `error`."""


@dataclass(frozen=True)
class WorkerTarget:
    """A worker the coordinator may use: its name and the credential `worker_init` wrote."""

    name: str
    credential: Credential

    @property
    def endpoint(self) -> Endpoint:
        """The worker's address and certificate pin."""
        return self.credential.endpoint()

    @classmethod
    def load(cls, path: Path, name: str | None = None) -> WorkerTarget:
        """A worker from its credential file (its name: the file's, without .toml)."""
        return cls(name or path.stem, load_credential(path))

    @classmethod
    def named(cls, name: str, directory: Path = DEFAULT_WORKERS_DIR) -> WorkerTarget:
        """A worker from DIRECTORY/NAME.toml (default: ~/.config/vigia/workers)."""
        return cls.load(directory.expanduser() / f"{name}.toml", name)


class Mailbox:
    """Items from every link, in arrival order; taken for one link or for any."""

    def __init__(self) -> None:
        self._items: deque[tuple[WorkerLink, Item]] = deque()
        self._cond = threading.Condition()

    def put(self, link: WorkerLink, item: Item) -> None:
        with self._cond:
            self._items.append((link, item))
            self._cond.notify_all()

    def get(
        self, link: WorkerLink | None = None, timeout: float | None = None
    ) -> tuple[WorkerLink, Item] | None:
        """The oldest item of `link` (None: of any link); None after `timeout` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                for entry in self._items:
                    if link is None or entry[0] is link:
                        self._items.remove(entry)
                        return entry
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return None
                self._cond.wait(left)

    def discard(self, link: WorkerLink) -> None:
        """Forget what `link` sent that nobody took (removing spooled bodies)."""
        with self._cond:
            kept = deque(entry for entry in self._items if entry[0] is not link)
            dropped = [item for owner, item in self._items if owner is link]
            self._items = kept
        for item in dropped:
            if isinstance(item, Received) and item.body_path is not None:
                item.body_path.unlink(missing_ok=True)


class WorkerLink:
    """One authenticated connection to a worker, with its reader thread."""

    def __init__(self, target: WorkerTarget, conn: Connection, mailbox: Mailbox) -> None:
        self.target, self.conn, self.mailbox = target, conn, mailbox
        self.ended = threading.Event()
        self._reader = threading.Thread(target=self._read, name=f"link-{target.name}", daemon=True)
        self._reader.start()

    @classmethod
    def open(
        cls, target: WorkerTarget, mailbox: Mailbox, *, spool_dir: Path, timeout_s: float = 5.0
    ) -> WorkerLink:
        """Dial the worker and authenticate (WireError when it cannot be done)."""
        conn = connect(
            target.endpoint,
            target.credential.identity(),
            max_body=MAX_BODY,
            spool_dir=spool_dir,
            connect_timeout_s=timeout_s,
        )
        return cls(target, conn, mailbox)

    @property
    def name(self) -> str:
        return self.target.name

    @property
    def host(self) -> str:
        """The worker's host as dialled: how the other workers reach its TensorFlow port."""
        return self.target.endpoint.host

    @property
    def alive(self) -> bool:
        return not self.ended.is_set()

    def _read(self) -> None:
        try:
            while True:
                self.mailbox.put(self, self.conn.receive())
        except WireError as exc:
            self.mailbox.put(self, exc)
        except Exception as exc:  # never leave the coordinator waiting on a dead reader
            self.mailbox.put(self, ConnectionClosed(f"reader failed: {type(exc).__name__}: {exc}"))
        finally:
            self.ended.set()

    def send(self, msg: m.Message, body: Path | None = None) -> None:
        """Send a message, with the file `body` as its body if given."""
        if body is None:
            self.conn.send(msg)
        else:
            self.conn.send_file(msg, body)

    def receive(self, timeout: float | None = None) -> Received:
        """The next message from this worker; a non-fatal `error` raises Refused."""
        entry = self.mailbox.get(self, timeout)
        if entry is None:
            raise ConnectionClosed(f"worker {self.name} did not answer within {timeout:.0f} s")
        item = entry[1]
        if isinstance(item, WireError):
            raise item
        if isinstance(item.message, m.Error):
            raise Refused(f"{item.message.code}: {item.message.message}", _code(item.message.code))
        return item

    def request(
        self, msg: m.Message, reply: type[M], *, body: Path | None = None, timeout: float = 30.0
    ) -> M:
        """Send `msg` and wait for its answer, a `reply`; late news of an earlier attempt
        (progress, a checkpoint) that is still queued is dropped on the way."""
        self.send(msg, body)
        deadline = time.monotonic() + timeout
        while True:
            got = self.receive(max(0.0, deadline - time.monotonic()))
            if isinstance(got.message, reply):
                return got.message
            if got.body_path is not None:
                got.body_path.unlink(missing_ok=True)
            if not isinstance(got.message, STALE):
                raise RemoteError(
                    f"worker {self.name} answered '{got.message.NAME}' to '{msg.NAME}'",
                    ErrorCode.UNEXPECTED,
                )

    def close(self, reason: str) -> None:
        """Say bye and close; what it sent and nobody took is dropped."""
        self.conn.close(reason)
        self._reader.join(timeout=5)
        self.mailbox.discard(self)


def _code(text: str) -> ErrorCode:
    try:
        return ErrorCode(text)
    except ValueError:
        return ErrorCode.INTERNAL
