"""Real worker processes on localhost, a small synthetic dataset, and helpers to watch them.

Workers are started with `python -c` calling `serve_worker`, each with its own data directory
made by `worker_init`, its own job port and its own range of collective ports. Their training
function is the stand-in (`standin.train`) unless a test names another.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.trainer.distributed.patterns import make_dataset
from trainer.distributed.archive import DatasetCache
from trainer.distributed.layout import worker_init
from trainer.distributed.links import WorkerTarget

REPO = Path(__file__).resolve().parents[3]
STANDIN = "tests.trainer.distributed.standin:train"
WORKER_CODE = """
import sys
from pathlib import Path
from wire.logs import setup_logging
import trainer.distributed.worker as worker
{patch}
setup_logging("trainer")
worker.serve_worker(Path(sys.argv[1]))
"""


def free_port() -> int:
    """A port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll `check` until it is true or `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


@dataclass
class WorkerProc:
    """A worker process, its data directory and the coordinator's credential for it."""

    name: str
    data: Path
    port: int
    credential: Path
    log: Path
    command: list[str]
    env: dict[str, str]
    proc: subprocess.Popen[bytes] = field(init=False)

    def __post_init__(self) -> None:
        self.spawn()

    def spawn(self) -> None:
        """Start the worker process (again, after a kill: same data directory and port) and
        wait until it listens."""
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.command, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        proc = self.proc
        assert wait_for(lambda: _listening(self.port) or proc.poll() is not None)
        assert proc.poll() is None, self.log.read_text()

    def target(self) -> WorkerTarget:
        return WorkerTarget.load(self.credential, self.name)

    def cached(self) -> list[str]:
        return DatasetCache(self.data / "cache").digests()

    def tasks(self) -> list[int]:
        """Pids of live task processes started by this worker (their job file is in its
        data directory)."""
        found = []
        for entry in Path("/proc").iterdir():
            try:
                cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"trainer.distributed.task" in cmdline and any(
                str(self.data).encode() in arg for arg in cmdline
            ):
                found.append(int(entry.name))
        return found

    def kill(self) -> None:
        """SIGKILL the worker process (not its task: it must notice by itself)."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@dataclass
class Workers:
    """Starts worker processes under `root`; `stop_all` ends them."""

    root: Path
    started: list[WorkerProc] = field(default_factory=list)

    def start(
        self,
        name: str,
        *,
        train: str = STANDIN,
        env: dict[str, str] | None = None,
        patch: str = "",
        collective_port: int | None = None,
    ) -> WorkerProc:
        data = self.root / f"worker-{name}"
        port = free_port()
        credential = worker_init(data, name=name, port=port, advertise=f"127.0.0.1:{port}")
        (data / "worker.toml").write_text(
            f'name = "{name}"\nhost = "127.0.0.1"\nport = {port}\n'
            f'collective_port = {collective_port or free_port()}\ntrain = "{train}"\n'
        )
        worker = WorkerProc(
            name,
            data,
            port,
            credential,
            self.root / f"worker-{name}.log",
            [sys.executable, "-c", WORKER_CODE.format(patch=patch), str(data)],
            {**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
        )
        self.started.append(worker)
        return worker

    def stop_all(self) -> None:
        for worker in self.started:
            worker.stop()


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return False
    return True


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    """Worker processes for one test, stopped after it."""
    pool = Workers(tmp_path)
    yield pool
    pool.stop_all()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic dataset, made once per module."""
    return make_dataset(tmp_path_factory.mktemp("dataset") / "patterns")
