"""`trainer worker`: runs the coordinator's jobs on one LAN PC.

A `wire.server.Server` on port 7710 (TLS, the coordinators' secrets from `peers.toml`, the
`WORKER_PERMISSIONS` table) feeds `WorkerService`, which keeps the dataset cache and runs at
most one task process at a time. A job is tied to the session that started it: when that
session ends (the coordinator quit or vanished), on `job_cancel`, and when the worker stops,
the task's process group is killed.
"""

from __future__ import annotations

import logging
import shutil
import signal
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from trainer.distributed.archive import DatasetCache, file_sha256, unpack
from trainer.distributed.info import Versions, cpu_count, local_versions, mismatches
from trainer.distributed.layout import WorkerConfig, WorkerDir
from trainer.distributed.runner import Outcome, TaskProcess
from trainer.distributed.task import TaskJob
from wire import messages as m
from wire.connection import Connection, Received
from wire.errors import ErrorCode, WireError
from wire.roles import WORKER_PERMISSIONS
from wire.server import Server, ServerOptions
from wire.tls import load_identity

log = logging.getLogger("vigia.trainer.worker")

#: Heavy folders of an attempt, removed once it has ended (job.json and task.log stay).
SCRATCH = ("backup", "work", "checkpoints", "model")


@dataclass
class _Reservation:
    job: str
    attempt: int
    conn: Connection
    port: int
    sock: socket.socket

    def release(self) -> None:
        self.sock.close()


@dataclass
class _Running:
    job: str
    attempt: int
    index: int
    conn: Connection
    folder: Path
    task: TaskProcess | None = None


def reserve_port(base: int, count: int) -> tuple[socket.socket, int]:
    """Bind the first free port in [base, base + count) and hold it (not listening) until the
    task starts, so that two workers on one host never pick the same one."""
    for port in range(base, base + count):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind(("", port))
        except OSError:
            sock.close()
            continue
        return sock, port
    raise OSError(f"no free TensorFlow collective port in {base}..{base + count - 1}")


def _send(conn: Connection, msg: m.Message, path: Path | None = None) -> None:
    """Send, and log rather than raise when the coordinator is gone."""
    try:
        if path is None:
            conn.send(msg)
        else:
            conn.send_file(msg, path)
    except (WireError, OSError) as exc:
        log.info("%s: could not send '%s': %s", conn.label, msg.NAME, exc)


def _refuse(conn: Connection, code: ErrorCode, ref: str, message: str) -> None:
    log.warning("%s: refused: %s", conn.label, message)
    _send(conn, m.Error(code=code.value, message=message[:4096], ref=ref[:128], fatal=False))


class WorkerService:
    """The worker's application: what each permitted message does."""

    def __init__(self, data: WorkerDir, config: WorkerConfig) -> None:
        self.data, self.config = data, config
        self.cache = DatasetCache(data.cache)
        self._lock = threading.Lock()
        self._reserved: _Reservation | None = None
        self._running: _Running | None = None
        self._handlers: dict[type[m.Message], Callable[[Connection, Any], None]] = {
            m.WorkerInfoRequest: self._info,
            m.DatasetOffer: self._offer,
            m.JobPrepare: self._prepare,
            m.JobCancel: self._cancel,
        }

    # --- SessionHandler ------------------------------------------------------------------------

    def on_session(self, conn: Connection) -> None:
        log.info("%s: coordinator connected", conn.label)

    def on_message(self, conn: Connection, got: Received) -> None:
        msg = got.message
        if isinstance(msg, m.DatasetUpload):
            self._upload(conn, msg, got.body_path)
        elif isinstance(msg, m.JobStart):
            self._start(conn, msg, got.body_path)
        elif (handler := self._handlers.get(type(msg))) is not None:
            handler(conn, msg)

    def on_close(self, conn: Connection, reason: str) -> None:
        with self._lock:
            running = self._running if self._running and self._running.conn is conn else None
            if self._reserved is not None and self._reserved.conn is conn:
                self._reserved.release()
                self._reserved = None
        if running is not None and running.task is not None:
            log.warning("job %s: coordinator gone (%s); killing the task", running.job, reason)
            running.task.kill()

    # --- messages ------------------------------------------------------------------------------

    def _info(self, conn: Connection, msg: m.WorkerInfoRequest) -> None:
        mine = local_versions()
        theirs = Versions(msg.vigia, msg.tensorflow, msg.keras, msg.python)
        if differences := mismatches(theirs, mine):
            log.warning("%s: coordinator differs: %s", conn.label, "; ".join(differences))
        with self._lock:
            job = self._running.job if self._running else None
        _send(
            conn,
            m.WorkerInfo(
                worker=self.config.name,
                vigia=mine.vigia,
                tensorflow=mine.tensorflow,
                keras=mine.keras,
                python=mine.python,
                cpus=cpu_count(),
                job=job,
            ),
        )

    def _offer(self, conn: Connection, msg: m.DatasetOffer) -> None:
        _send(conn, m.DatasetStatus(digest=msg.digest, cached=self.cache.has(msg.digest)))

    def _upload(self, conn: Connection, msg: m.DatasetUpload, body: Path | None) -> None:
        """Unpack and check on a thread of its own, so this connection keeps answering pings."""
        assert body is not None
        threading.Thread(
            target=self._store, args=(conn, msg, body), name="dataset-store", daemon=True
        ).start()

    def _store(self, conn: Connection, msg: m.DatasetUpload, body: Path) -> None:
        try:
            if (found := file_sha256(body)) != msg.sha256:
                _refuse(conn, ErrorCode.CONFLICT, msg.digest, f"tar SHA-256 {found} != sent")
                return
            if not self.cache.has(msg.digest):
                self.cache.store(body, msg.digest)
            log.info("%s: dataset %s stored (%d bytes)", conn.label, msg.digest[:12], msg.size)
            _send(conn, m.DatasetStatus(digest=msg.digest, cached=True))
        except ValueError as exc:  # not a tar, not a dataset, or another digest
            _refuse(conn, ErrorCode.CONFLICT, msg.digest, f"dataset refused: {exc}")
        except OSError as exc:
            _refuse(conn, ErrorCode.STORAGE_FAILED, msg.digest, f"cannot store dataset: {exc}")
        finally:
            body.unlink(missing_ok=True)

    def _prepare(self, conn: Connection, msg: m.JobPrepare) -> None:
        if not self.cache.has(msg.dataset):
            _refuse(conn, ErrorCode.NOT_FOUND, msg.dataset, f"no dataset {msg.dataset} here")
            return
        with self._lock:
            if self._running is not None:
                busy = f"busy with job {self._running.job} attempt {self._running.attempt}"
                _refuse(conn, ErrorCode.CONFLICT, msg.job, busy)
                return
            if self._reserved is not None:
                if self._reserved.conn is not conn:
                    _refuse(conn, ErrorCode.CONFLICT, msg.job, "busy preparing another job")
                    return
                self._reserved.release()
            try:
                sock, port = reserve_port(self.config.collective_port, self.config.collective_ports)
            except OSError as exc:
                self._reserved = None
                _refuse(conn, ErrorCode.CONFLICT, msg.job, str(exc))
                return
            self._reserved = _Reservation(msg.job, msg.attempt, conn, port, sock)
        log.info("job %s attempt %d: reserved port %d", msg.job, msg.attempt, port)
        _send(conn, m.JobReady(job=msg.job, attempt=msg.attempt, port=port))

    def _start(self, conn: Connection, msg: m.JobStart, body: Path | None) -> None:
        try:
            with self._lock:
                reserved = self._reserved
                if reserved is None or (reserved.job, reserved.attempt, reserved.conn) != (
                    msg.job,
                    msg.attempt,
                    conn,
                ):
                    _refuse(conn, ErrorCode.NOT_FOUND, msg.job, "no such prepared job attempt")
                    return
                self._reserved = None
                running = _Running(msg.job, msg.attempt, msg.index, conn, self._folder(msg))
                self._running = running
            reserved.release()
            self._launch(running, msg, body)
        finally:
            if body is not None:
                body.unlink(missing_ok=True)

    def _folder(self, msg: m.JobStart) -> Path:
        folder = self.data.jobs / msg.job / f"attempt-{msg.attempt}"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        return folder

    def _launch(self, running: _Running, msg: m.JobStart, body: Path | None) -> None:
        folder = running.folder
        job = TaskJob(
            job=msg.job,
            attempt=msg.attempt,
            index=msg.index,
            cluster=list(msg.cluster),
            spec=dict(msg.spec),
            dataset=self.cache.path(msg.dataset),
            workdir=folder / "work",
            backup_dir=folder / "backup",
            checkpoints=folder / "checkpoints",
            model_dir=folder / "model",
            train=self.config.train,
        )
        try:
            if body is not None and msg.size:
                unpack(body, job.backup_dir)
            running.task = TaskProcess(
                job,
                folder,
                on_event=lambda event: self._relay(running, event),
                on_exit=lambda outcome: self._ended(running, outcome),
            )
            pid = running.task.start()
        except (OSError, ValueError) as exc:
            self._ended(running, Outcome("failed", f"cannot start the task: {exc}"))
            return
        log.info(
            "job %s attempt %d: task %d of %d started (pid %d, %s)",
            msg.job,
            msg.attempt,
            msg.index,
            len(msg.cluster),
            pid,
            "from a checkpoint" if msg.size else "from scratch",
        )
        _send(running.conn, m.JobStarted(job=msg.job, attempt=msg.attempt, index=msg.index))

    def _cancel(self, conn: Connection, msg: m.JobCancel) -> None:
        with self._lock:
            running = self._running
            if self._reserved is not None and self._reserved.job == msg.job:
                self._reserved.release()
                self._reserved = None
        if running is not None and running.job == msg.job and running.task is not None:
            log.info("job %s: cancelled by %s: %s", msg.job, conn.label, msg.reason)
            running.task.kill()

    # --- the task's reports --------------------------------------------------------------------

    def _relay(self, running: _Running, event: dict[str, Any]) -> None:
        try:
            if event.get("type") == "progress":
                _send(
                    running.conn,
                    m.JobProgress(
                        job=running.job,
                        attempt=running.attempt,
                        index=running.index,
                        phase=str(event["phase"]),
                        epoch=int(event["epoch"]),
                        epochs=int(event["epochs"]),
                        metrics=dict(event["metrics"]),
                    ),
                )
            elif event.get("type") == "checkpoint":
                self._forward_checkpoint(running, event)
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("job %s: bad report from the task %r: %s", running.job, event, exc)

    def _forward_checkpoint(self, running: _Running, event: dict[str, Any]) -> None:
        path = Path(event["path"])
        try:
            msg = m.JobCheckpoint(
                job=running.job,
                attempt=running.attempt,
                phase=str(event["phase"]),
                epoch=int(event["epoch"]),
                size=path.stat().st_size,
                sha256=file_sha256(path),
            )
            _send(running.conn, msg, path)
        finally:
            path.unlink(missing_ok=True)

    def _ended(self, running: _Running, outcome: Outcome) -> None:
        if outcome.state == "ok" and outcome.model is not None:
            model = outcome.model
            _send(
                running.conn,
                m.JobResult(
                    job=running.job,
                    attempt=running.attempt,
                    filename=model.name,
                    size=model.stat().st_size,
                    sha256=file_sha256(model),
                ),
                model,
            )
        with self._lock:
            if self._running is running:
                self._running = None
        log.info(
            "job %s attempt %d: task %s%s",
            running.job,
            running.attempt,
            outcome.state,
            f": {outcome.reason}" if outcome.reason else "",
        )
        _send(
            running.conn,
            m.JobDone(
                job=running.job,
                attempt=running.attempt,
                index=running.index,
                state=outcome.state,
                reason=outcome.reason[:4096],
                weights_sha256=outcome.weights_sha256,
                metrics=outcome.metrics,
            ),
        )
        for name in SCRATCH:
            shutil.rmtree(running.folder / name, ignore_errors=True)

    def stop(self) -> None:
        """Kill the task, if one runs, and release a reserved port."""
        with self._lock:
            running, self._running = self._running, None
            if self._reserved is not None:
                self._reserved.release()
                self._reserved = None
        if running is not None and running.task is not None:
            log.info("job %s: worker stopping; killing the task", running.job)
            running.task.kill()
            running.task.join(timeout=10)


class Worker:
    """A running worker: the server and the service, started and stopped together."""

    def __init__(self, data_dir: Path, *, host: str | None = None, port: int | None = None):
        self.data = WorkerDir(data_dir)
        self.data.check()
        self.config = self.data.load_config({"host": host, "port": port})
        self.service = WorkerService(self.data, self.config)
        self.data.make_tree()
        options = ServerOptions(
            name=self.config.name,
            host=self.config.host,
            port=self.config.port,
            identity=load_identity(self.data.root) if self.config.tls else None,
            permissions=WORKER_PERMISSIONS,
            max_body=self.config.max_body,
            max_connections=16,
            spool_dir=self.data.spool,
        )
        self.server = Server(options, self.data.directory(), self.service)
        self._stop = threading.Event()

    def start(self) -> None:
        """Clear leftovers of an earlier run, then listen."""
        for leftover in self.data.spool.glob("wire-*.body"):
            leftover.unlink(missing_ok=True)
        self.server.start()
        log.info(
            "worker %s: serving %s; %d datasets cached",
            self.config.name,
            self.data.root,
            len(self.service.cache.digests()),
        )

    def stop(self) -> None:
        """Kill the task, stop accepting, close every session."""
        log.info("worker %s: stopping", self.config.name)
        self.service.stop()
        self.server.stop()

    def serve_forever(self) -> None:
        """Run until SIGTERM or SIGINT, then stop cleanly."""

        def on_signal(signum: int, frame: FrameType | None) -> None:
            log.info("worker %s: got %s", self.config.name, signal.Signals(signum).name)
            self._stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        self.start()
        try:
            self._stop.wait()
        finally:
            self.stop()


def serve_worker(data_dir: Path, *, host: str | None = None, port: int | None = None) -> None:
    """`trainer worker`: serve jobs from `data_dir` until SIGTERM or SIGINT (blocks)."""
    Worker(data_dir, host=host, port=port).serve_forever()
