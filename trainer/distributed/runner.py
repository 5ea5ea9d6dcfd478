"""The worker's side of a task process: start it, relay what it reports, kill it.

The task runs in its own session (process group), so a kill reaches whatever it started.
Its reports arrive as JSON lines on a pipe; its output goes to `task.log` in the attempt's
folder, whose last lines explain a crash. Standard input is a pipe the worker holds and never
writes: when the worker dies, even by SIGKILL, the task sees it close and ends itself.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Literal

from trainer.distributed.task import TaskJob

log = logging.getLogger("vigia.trainer.worker")

LOG_TAIL_LINES = 6


@dataclass
class Outcome:
    """How a task ended."""

    state: Literal["ok", "failed", "cancelled"]
    reason: str = ""
    weights_sha256: str | None = None
    model: Path | None = None
    metrics: dict[str, float] = field(default_factory=dict)


#: TensorFlow's and absl's own log lines (`I0000 00:00:...`, `W1130 ...`): not an explanation.
NATIVE_LOG = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:|^WARNING: All log messages before absl")


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last lines of a task log, without TensorFlow's native log lines, joined by ` | `."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    kept = [line.strip() for line in text.splitlines() if line.strip()]
    kept = [line for line in kept if not NATIVE_LOG.match(line)]
    return " | ".join(kept[-lines:])


class TaskProcess:
    """One task process: `start`, then events go to `on_event` (on a reader thread) and the
    end to `on_exit`, once, after the process has been reaped."""

    def __init__(
        self,
        job: TaskJob,
        folder: Path,
        *,
        on_event: Callable[[dict[str, Any]], None],
        on_exit: Callable[[Outcome], None],
    ) -> None:
        self.job, self.folder = job, folder
        self.on_event, self.on_exit = on_event, on_exit
        self.cancelled = threading.Event()
        self._proc: subprocess.Popen[bytes] | None = None
        self._thread: threading.Thread | None = None

    @property
    def log_path(self) -> Path:
        return self.folder / "task.log"

    def start(self) -> int:
        """Write the job file and start the process; returns its pid."""
        if self.cancelled.is_set():
            raise OSError("cancelled before it started")
        job_file = self.folder / "job.json"
        job_file.write_text(self.job.model_dump_json(indent=2), encoding="utf-8")
        read_fd, write_fd = os.pipe()
        env = {
            **os.environ,
            "TF_CONFIG": self.job.tf_config(),
            "TF_USE_LEGACY_KERAS": "1",
            "PYTHONUNBUFFERED": "1",
        }
        command = [sys.executable, "-m", "trainer.distributed.task", str(job_file)]
        try:
            with self.log_path.open("wb") as out:
                self._proc = subprocess.Popen(
                    [*command, "--report-fd", str(write_fd)],
                    stdin=subprocess.PIPE,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    pass_fds=(write_fd,),
                    start_new_session=True,
                    env=env,
                    cwd=self.folder,
                )
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
        self._thread = threading.Thread(
            target=self._relay,
            args=(os.fdopen(read_fd, "rb"),),
            name=f"task-{self.job.job[:8]}-{self.job.attempt}",
            daemon=True,
        )
        self._thread.start()
        return self._proc.pid

    def kill(self) -> None:
        """Kill the task's process group (the relay thread then reports `cancelled`)."""
        self.cancelled.set()
        if self._proc is not None and self._proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._proc.pid, signal.SIGKILL)

    def join(self, timeout: float | None = None) -> None:
        """Wait for the relay thread (the process reaped, `on_exit` called)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def _relay(self, pipe: BinaryIO) -> None:
        done: dict[str, Any] | None = None
        failed = ""
        with pipe:
            for raw in pipe:
                try:
                    event = json.loads(raw)
                except ValueError:
                    log.warning("task %s: unreadable report line %r", self.job.job, raw[:80])
                    continue
                if event.get("type") == "done":
                    done = event
                elif event.get("type") == "failed":
                    failed = str(event.get("reason", ""))
                else:
                    self.on_event(event)
        assert self._proc is not None
        with contextlib.suppress(OSError):
            self._proc.stdin.close()  # type: ignore[union-attr]
        code = self._proc.wait()
        self.on_exit(self._outcome(code, done, failed))

    def _outcome(self, code: int, done: dict[str, Any] | None, failed: str) -> Outcome:
        if self.cancelled.is_set():
            return Outcome("cancelled", "cancelled")
        if code == 0 and done is not None:
            model = done.get("model")
            return Outcome(
                "ok",
                weights_sha256=done.get("weights_sha256"),
                model=Path(model) if model else None,
                metrics=dict(done.get("metrics") or {}),
            )
        how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
        reason = failed or tail(self.log_path) or "no output"
        return Outcome("failed", f"task {how}: {reason}"[:4000])
