"""The node's health for `status` messages: CPU load, and on a Pi its SoC temperature and
throttling flags, with the cameras' own figures (which the app provides).

Every source is a path or a command in `SystemSources`, so tests (and other boards) point them
elsewhere. A source that is missing or unreadable gives "unknown" (None, no flags), never an
error: a status must always go out.

- CPU load: the 1-minute load average (`/proc/loadavg`, else `os.getloadavg()`) divided by the
  number of CPUs, so 1.0 means every core busy on any board.
- Temperature: `/sys/class/thermal/thermal_zone0/temp`, millidegrees Celsius.
- Throttling: `vcgencmd get_throttled` prints `throttled=0x50005`; its bits are decoded into
  names (`THROTTLE_FLAGS`): bits 0-3 are the state now, bits 16-19 whether it has happened since
  boot (`..._occurred`).
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from wire import messages as m

log = logging.getLogger("vigia.edge.system")

THROTTLE_FLAGS: dict[int, str] = {
    0: "under_voltage",
    1: "frequency_capped",
    2: "throttled",
    3: "soft_temp_limit",
    16: "under_voltage_occurred",
    17: "frequency_capped_occurred",
    18: "throttled_occurred",
    19: "soft_temp_limit_occurred",
}
_MAX_FLAGS = 32  # what a node status carries


@dataclass(frozen=True, slots=True)
class SystemSources:
    """Where the metrics come from (a Raspberry Pi's places by default)."""

    loadavg: Path = Path("/proc/loadavg")
    thermal: Path = Path("/sys/class/thermal/thermal_zone0/temp")
    throttle_command: tuple[str, ...] | None = ("vcgencmd", "get_throttled")  # None: skip
    cpu_count: int | None = None  # None: os.cpu_count()
    command_timeout_s: float = 2.0


DEFAULT_SOURCES = SystemSources()


@dataclass(frozen=True, slots=True)
class SystemMetrics:
    """One reading of the machine."""

    cpu_load: float  # load average per CPU
    cpu_temp_c: float | None
    throttled: tuple[str, ...]


def decode_throttled(value: int) -> tuple[str, ...]:
    """The names of the set bits of `vcgencmd get_throttled`, in bit order."""
    return tuple(name for bit, name in sorted(THROTTLE_FLAGS.items()) if value >> bit & 1)


def parse_throttled(text: str) -> int | None:
    """The value in `throttled=0x50005` (None if the text is not that)."""
    key, _, value = text.strip().partition("=")
    if key != "throttled":
        return None
    try:
        return int(value, 16)
    except ValueError:
        return None


def read_cpu_load(sources: SystemSources = DEFAULT_SOURCES) -> float:
    """The 1-minute load average per CPU."""
    try:
        load = float(sources.loadavg.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        load = os.getloadavg()[0]
    cpus = sources.cpu_count or os.cpu_count() or 1
    return max(load, 0.0) / cpus


def read_temperature(path: Path) -> float | None:
    """The SoC temperature in °C from a thermal zone file (millidegrees), or None."""
    try:
        return int(path.read_text().strip()) / 1000.0
    except (OSError, ValueError):
        return None


def run_throttle_command(command: Sequence[str], timeout_s: float) -> int | None:
    """Run `vcgencmd get_throttled` (or a stand-in); its value, or None if it cannot say."""
    try:
        done = subprocess.run(  # a fixed command from the settings, no shell
            list(command), capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return parse_throttled(done.stdout) if done.returncode == 0 else None


class SystemProbe:
    """Reads the machine's metrics (the throttle command only if it is installed)."""

    def __init__(self, sources: SystemSources = DEFAULT_SOURCES) -> None:
        self.sources = sources
        command = sources.throttle_command
        if command is not None and shutil.which(command[0]) is None:
            log.info("no '%s' here (not a Pi?): no throttling flags", command[0])
            command = None
        self._command = command

    def read(self) -> SystemMetrics:
        """CPU load, temperature and throttling flags now."""
        return SystemMetrics(
            cpu_load=read_cpu_load(self.sources),
            cpu_temp_c=read_temperature(self.sources.thermal),
            throttled=self._throttled(),
        )

    def _throttled(self) -> tuple[str, ...]:
        if self._command is None:
            return ()
        value = run_throttle_command(self._command, self.sources.command_timeout_s)
        if value is None:
            log.debug("'%s' gave no answer this time", " ".join(self._command))
            return ()
        return decode_throttled(value)


class StatusSource:
    """Builds the node's `NodeStatus`: the callable the uplink asks every few seconds."""

    def __init__(
        self,
        cameras: Callable[[], Sequence[m.CameraStatus]],
        model_version: Callable[[], str | None],
        *,
        probe: SystemProbe | None = None,
        extra_flags: Callable[[], Sequence[str]] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`cameras`: every camera's figures now; `model_version`: the model running;
        `extra_flags`: node conditions to add to the flags (e.g. `spool_nearly_full`)."""
        self.cameras = cameras
        self.model_version = model_version
        self.probe = probe or SystemProbe()
        self.extra_flags = extra_flags
        self.clock = clock

    def __call__(self) -> m.NodeStatus:
        """The node's status now."""
        metrics = self.probe.read()
        flags = list(metrics.throttled)
        if self.extra_flags is not None:
            flags.extend(self.extra_flags())
        return m.NodeStatus(
            sent_at=int(self.clock() * 1000),
            model_version=self.model_version(),
            cpu_load=metrics.cpu_load,
            cpu_temp_c=metrics.cpu_temp_c,
            throttled=flags[:_MAX_FLAGS],
            cameras=list(self.cameras()),
        )
