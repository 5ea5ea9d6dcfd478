"""Each part runs as its own program, as deployed: start one, wait until it listens, stop it."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"
START_TIMEOUT_S = 90.0


class ProcessError(RuntimeError):
    """A part did not start, or died; the message carries the end of its log."""


@dataclass
class Proc:
    """A running part and the file its output goes to."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def check(self) -> None:
        """ProcessError with the log's tail if the part has exited."""
        if not self.alive():
            raise ProcessError(
                f"{self.name} exited with {self.popen.returncode}:\n{tail(self.log)}"
            )


def tail(log: Path, lines: int = 20) -> str:
    """The last lines of a log, or a note that there is none."""
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def script(name: str) -> str:
    """A console script of the running interpreter's environment (`hub`, `edge`, ...)."""
    return str(Path(sys.executable).parent / name)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def launch(
    name: str,
    argv: Sequence[str],
    log: Path,
    *,
    port: int | None = None,
    env: dict[str, str] | None = None,
    timeout: float = START_TIMEOUT_S,
    netns: str | None = None,
) -> Proc:
    """Start a part with its output in `log` (inside network namespace `netns` if given);
    with `port`, return once it accepts there (on 127.0.0.1 of its namespace)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    command = [*in_netns(netns), *argv]
    with log.open("ab") as out:
        popen = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    proc = Proc(name, popen, log)
    if port is not None:
        wait_listening(proc, port, timeout, netns)
    return proc


def in_netns(netns: str | None) -> list[str]:
    """The prefix that runs a command inside a network namespace (none for this one)."""
    return [] if netns is None else ["ip", "netns", "exec", netns]


def accepts(port: int, netns: str | None = None) -> bool:
    """Whether 127.0.0.1:port accepts a connection, here or inside `netns`."""
    if netns is None:
        try:
            socket.create_connection((HOST, port), 0.5).close()
        except OSError:
            return False
        return True
    probe = f"import socket; socket.create_connection(('{HOST}', {port}), 0.5).close()"
    command = [*in_netns(netns), sys.executable, "-c", probe]
    return subprocess.run(command, capture_output=True, check=False).returncode == 0


def wait_listening(
    proc: Proc, port: int, timeout: float = START_TIMEOUT_S, netns: str | None = None
) -> None:
    """Poll until `port` accepts a connection; ProcessError if the part dies or the time runs
    out (the part is then stopped)."""
    deadline = time.monotonic() + timeout
    while True:
        proc.check()
        if accepts(port, netns):
            return
        if time.monotonic() > deadline:
            stop(proc)
            raise ProcessError(
                f"{proc.name} did not listen on {port} within {timeout:.0f} s:\n{tail(proc.log)}"
            )
        time.sleep(0.05)


def stop(proc: Proc | None, timeout: float = 30.0) -> int | None:
    """SIGTERM (a clean stop), then SIGKILL if it lingers; the exit code."""
    if proc is None:
        return None
    if proc.alive():
        proc.popen.send_signal(signal.SIGTERM)
        try:
            proc.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.popen.kill()
            proc.popen.wait()
    return proc.popen.returncode
