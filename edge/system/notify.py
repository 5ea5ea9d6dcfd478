"""systemd notifications (sd_notify) with the standard library: readiness, watchdog, status.

systemd passes the path of an AF_UNIX datagram socket in `NOTIFY_SOCKET` (a leading '@' means
the abstract namespace); each notification is one datagram of `KEY=value` lines. Without
`NOTIFY_SOCKET` (not under systemd, or `Type=simple`) every call does nothing.

With `WatchdogSec=` set, systemd passes `WATCHDOG_USEC` (and `WATCHDOG_PID`) and restarts the
service when it hears no `WATCHDOG=1` for that long. `Watchdog` pings at half that interval, and
only while the app's health check passes: a node whose pipelines or uplink have hung is
restarted by systemd instead of being kept alive by a thread that still runs.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Mapping

log = logging.getLogger("vigia.edge.system")


class Notifier:
    """Sends sd_notify datagrams to `NOTIFY_SOCKET`; no-ops without one."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        """Read `NOTIFY_SOCKET` from `environ` (default: this process's environment)."""
        env = os.environ if environ is None else environ
        path = env.get("NOTIFY_SOCKET", "")
        self.address: str | None = None
        if path.startswith("@"):
            self.address = "\0" + path[1:]
        elif path.startswith("/"):
            self.address = path
        self._failed = False

    @property
    def enabled(self) -> bool:
        """Whether there is a socket to notify."""
        return self.address is not None

    def notify(self, *fields: str) -> bool:
        """Send one datagram of `KEY=value` lines; False if not sent (logged once)."""
        if self.address is None:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.sendto("\n".join(fields).encode(), self.address)
        except OSError as exc:
            if not self._failed:
                log.warning("systemd notify socket %r: %s", self.address, exc)
            self._failed = True
            return False
        return True

    def ready(self) -> bool:
        """Start-up is done (Type=notify units become active now)."""
        return self.notify("READY=1")

    def stopping(self) -> bool:
        """Shutting down cleanly."""
        return self.notify("STOPPING=1")

    def watchdog(self) -> bool:
        """Still alive and well."""
        return self.notify("WATCHDOG=1")

    def status(self, text: str) -> bool:
        """A one-line status for `systemctl status`."""
        return self.notify("STATUS=" + text.replace("\n", " "))


def watchdog_interval_s(environ: Mapping[str, str] | None = None) -> float | None:
    """systemd's watchdog timeout for this process in seconds, or None if there is none."""
    env = os.environ if environ is None else environ
    pid = env.get("WATCHDOG_PID")
    if pid and pid != str(os.getpid()):
        return None  # meant for another process (a parent that exec'd us)
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    return usec / 1e6 if usec > 0 else None


class Watchdog:
    """Pings systemd's watchdog at half its timeout while `healthy()` says so."""

    def __init__(self, notifier: Notifier, interval_s: float, healthy: Callable[[], bool]) -> None:
        """`interval_s`: the watchdog timeout (WATCHDOG_USEC); pings go at half of it."""
        self.notifier = notifier
        self.period_s = interval_s / 2
        self.healthy = healthy
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sd-watchdog", daemon=True)

    def start(self) -> None:
        """Ping in the background."""
        self._thread.start()

    def stop(self) -> None:
        """Stop pinging."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        sick = False
        while True:
            try:
                well = self.healthy()
            except Exception:  # a failing health check is an unhealthy node
                log.exception("health check failed")
                well = False
            if well:
                self.notifier.watchdog()
            elif not sick:
                log.error("unhealthy: no more watchdog pings; systemd will restart the edge")
            sick = not well
            if self._stop.wait(self.period_s):
                return


def start_watchdog(
    notifier: Notifier, healthy: Callable[[], bool], environ: Mapping[str, str] | None = None
) -> Watchdog | None:
    """A started Watchdog if systemd asked for one (and notifications work), else None."""
    interval = watchdog_interval_s(environ)
    if interval is None or not notifier.enabled:
        return None
    dog = Watchdog(notifier, interval, healthy)
    dog.start()
    return dog
