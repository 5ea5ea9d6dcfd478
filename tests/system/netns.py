"""A stand-in for a Wi-Fi link: a network namespace joined to this one by a point-to-point
link whose delay, jitter and loss the test sets, in each direction.

    root namespace (the hub)  10.77.N.1/24 ==== 10.77.N.2/24  namespace vigia-PID (edge, cameras)

The link is a veth pair impaired with `tc qdisc ... netem` on both ends. Where the kernel has
no netem (`CONFIG_NET_SCH_NETEM` unset, as in some VM kernels) but has TUN, it is a pair of TUN
devices with a relay thread in this process doing netem's work in user space: each packet is
lost with the same probability, or delivered after the same uniformly drawn delay. Either way a
cut is 100% loss: a silent blackhole, like a Wi-Fi client out of range, where TCP connections
stay open until a keepalive gives up.

Everything needs root; `unavailable()` says what is missing, for `pytest.skip`.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import heapq
import itertools
import os
import random
import select
import shutil
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from demo.processes import in_netns

TUN_DEVICE = "/dev/net/tun"
_TUNSETIFF = 0x400454CA
_IFF_TUN, _IFF_NO_PI = 0x0001, 0x1000
_MAX_PACKET = 65_536


class LinkError(RuntimeError):
    """A command that makes or shapes the link failed; the message has its stderr."""


@dataclass(frozen=True)
class Netem:
    """What one direction of the link does to each packet (netem's terms)."""

    delay_ms: float = 0.0
    jitter_ms: float = 0.0  # the delay is uniform in delay ± jitter
    loss_percent: float = 0.0

    def tc_args(self) -> list[str]:
        """The netem options for `tc qdisc replace ... netem`."""
        return [
            *("delay", f"{self.delay_ms:g}ms", f"{self.jitter_ms:g}ms"),
            *("loss", f"{self.loss_percent:g}%"),
        ]

    def fate(self, rng: random.Random) -> float | None:
        """One packet's delay in seconds, or None when it is lost."""
        if rng.random() * 100 < self.loss_percent:
            return None
        return max(0.0, rng.uniform(-self.jitter_ms, self.jitter_ms) + self.delay_ms) / 1000


WIFI = Netem(delay_ms=100, jitter_ms=50, loss_percent=5)
"""A poor Wi-Fi link: 100 ms ± 50 ms and 5% loss, each direction."""
CUT = Netem(loss_percent=100)
"""Out of range: nothing passes, nothing is refused."""


def _run(argv: list[str], netns: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*in_netns(netns), *argv], capture_output=True, text=True, check=False, timeout=30
    )


def _must(argv: list[str], netns: str | None = None) -> None:
    done = _run(argv, netns)
    if done.returncode != 0:
        where = f" (in {netns})" if netns else ""
        raise LinkError(f"`{' '.join(argv)}`{where} failed: {done.stderr.strip()}")


def unavailable() -> str | None:
    """Why a link cannot be made here (a reason for pytest.skip), or None when it can."""
    if os.geteuid() != 0:
        return "needs root to make network namespaces"
    for tool in ("ip", "tc"):
        if shutil.which(tool) is None:
            return f"needs the `{tool}` command (iproute2) to make network namespaces"
    probe = f"vigia-probe-{os.getpid()}"
    made = _run(["ip", "netns", "add", probe])
    if made.returncode != 0:
        return f"cannot make a network namespace (`ip netns add`: {made.stderr.strip()})"
    _run(["ip", "netns", "delete", probe])
    if not has_netem() and not has_tun():
        return "the kernel has no netem (sch_netem), nor TUN for the user-space stand-in"
    return None


@functools.cache
def has_netem() -> bool:
    """Whether `tc` can put a netem qdisc on a veth (the kernel has sch_netem)."""
    names = _Names.of(os.getpid(), probe=True)
    if _run(["ip", "link", "add", names.hub_dev, "type", "veth", "peer", "name", names.edge_dev]
            ).returncode != 0:  # fmt: skip
        return False
    try:
        return _run(["tc", "qdisc", "add", "dev", names.hub_dev, "root", "netem",
                     "delay", "1ms"]).returncode == 0  # fmt: skip
    finally:
        _run(["ip", "link", "delete", names.hub_dev])


@functools.cache
def has_tun() -> bool:
    """Whether this process can make TUN devices."""
    try:
        os.close(_open_tun(f"vgtun{os.getpid()}"))
    except OSError:
        return False
    return True


class _Shaper(Protocol):
    def apply(self, netem: Netem) -> None: ...

    def close(self) -> None: ...


@dataclass
class Link:
    """A namespace across an impaired link; `lossy`, `cut` and `restore` change the link."""

    netns: str
    hub_address: str  # this namespace's end, where the hub listens
    edge_address: str  # the namespace's end
    method: str  # how the impairment is made, for messages
    shaper: _Shaper

    def lossy(self) -> None:
        """The poor Wi-Fi link (`WIFI`), both directions."""
        self.shaper.apply(WIFI)

    def cut(self) -> None:
        """Nothing passes either way (100% loss)."""
        self.shaper.apply(CUT)

    def restore(self) -> None:
        """Back to the lossy link after a cut."""
        self.lossy()


@dataclass(frozen=True)
class _Names:
    """One run's namespace, devices and subnet, from its pid (interface names: 15 chars)."""

    netns: str
    hub_dev: str
    edge_dev: str
    subnet: str  # the first three octets

    @classmethod
    def of(cls, pid: int, *, probe: bool = False) -> _Names:
        tag = "p" if probe else ""
        return cls(
            f"vigia-{tag}{pid}", f"vg{pid}{tag}h", f"vg{pid}{tag}e", f"10.77.{pid % 250 + 1}"
        )


@contextlib.contextmanager
def link() -> Iterator[Link]:
    """A fresh namespace (loopback up) joined to this one by a lossy link (`WIFI`); the
    namespace and the devices are deleted on the way out, whatever happened inside."""
    names = _Names.of(os.getpid())
    _delete(names)  # a leftover of a killed run that had this pid
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(_delete, names)
        _must(["ip", "netns", "add", names.netns])
        _must(["ip", "link", "set", "lo", "up"], names.netns)
        if has_netem():
            shaper: _Shaper = _veth(names)
            method = "tc netem on a veth pair"
        else:
            shaper = _tun(names)
            method = "a user-space netem stand-in over TUN (this kernel has no sch_netem)"
        cleanup.callback(shaper.close)
        made = Link(names.netns, f"{names.subnet}.1", f"{names.subnet}.2", method, shaper)
        made.lossy()
        yield made


def _delete(names: _Names) -> None:
    """Remove the namespace (and the device inside it) and this side's device, if there."""
    _run(["ip", "netns", "delete", names.netns])
    _run(["ip", "link", "delete", names.hub_dev])


def _address(names: _Names) -> None:
    """Both ends' addresses, and both ends up."""
    _must(["ip", "addr", "add", f"{names.subnet}.1/24", "dev", names.hub_dev])
    _must(["ip", "link", "set", names.hub_dev, "up"])
    _must(["ip", "addr", "add", f"{names.subnet}.2/24", "dev", names.edge_dev], names.netns)
    _must(["ip", "link", "set", names.edge_dev, "up"], names.netns)


def _veth(names: _Names) -> _Netem:
    """A veth pair, one end moved into the namespace, netem on both ends."""
    _must(["ip", "link", "add", names.hub_dev, "type", "veth", "peer", "name", names.edge_dev])
    _must(["ip", "link", "set", names.edge_dev, "netns", names.netns])
    _address(names)
    return _Netem([(names.hub_dev, None), (names.edge_dev, names.netns)])


@dataclass
class _Netem:
    """netem on each end's egress: together, both directions."""

    ends: list[tuple[str, str | None]]  # device, its namespace

    def apply(self, netem: Netem) -> None:
        for device, netns in self.ends:
            _must(["tc", "qdisc", "replace", "dev", device, "root", "netem", *netem.tc_args()],
                  netns)  # fmt: skip

    def close(self) -> None:
        """Nothing: the qdiscs go with their devices."""


def _tun(names: _Names) -> _Relay:
    """Two TUN devices, one moved into the namespace, and the relay between them."""
    relay = _Relay(_open_tun(names.hub_dev), _open_tun(names.edge_dev))
    try:
        _must(["ip", "link", "set", names.edge_dev, "netns", names.netns])
        _address(names)
    except Exception:
        relay.close()
        raise
    relay.start()
    return relay


def _open_tun(name: str) -> int:
    """A new TUN device (IP packets, no extra header); it lives while the descriptor is open."""
    fd = os.open(TUN_DEVICE, os.O_RDWR | os.O_NONBLOCK)
    try:
        fcntl.ioctl(fd, _TUNSETIFF, struct.pack("16sH", name.encode(), _IFF_TUN | _IFF_NO_PI))
    except OSError:
        os.close(fd)
        raise
    return fd


class _Relay:
    """netem in user space between two TUN devices: every packet read from one is lost or
    written to the other after its delay, each direction drawn on its own (the jitter
    reorders packets, as netem's does)."""

    def __init__(self, hub_fd: int, edge_fd: int) -> None:
        self._peer = {hub_fd: edge_fd, edge_fd: hub_fd}
        self._netem = CUT  # until the link is set up
        self._rng = random.Random()
        self._due: list[tuple[float, int, int, bytes]] = []  # when, order, device, packet
        self._order = itertools.count()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="netem-relay", daemon=True)

    def start(self) -> None:
        """Relay on a thread of its own."""
        self._thread.start()

    def apply(self, netem: Netem) -> None:
        """What happens to packets read from now on (those on their way still arrive)."""
        self._netem = netem  # one reference, swapped whole: the relay reads it per packet

    def close(self) -> None:
        """Stop relaying and delete both devices."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)
        for fd in self._peer:
            os.close(fd)

    def _run(self) -> None:
        while not self._stop.is_set():
            wait = 0.05 if not self._due else max(0.0, self._due[0][0] - time.monotonic())
            ready, _, _ = select.select(list(self._peer), [], [], min(wait, 0.05))
            for fd in ready:
                self._take(fd)
            self._deliver()

    def _take(self, fd: int) -> None:
        """Every packet waiting on `fd`: drop it, or schedule it for the other device."""
        while True:
            try:
                packet = os.read(fd, _MAX_PACKET)
            except OSError:  # none left (EAGAIN), or the device is going away
                return
            delay = self._netem.fate(self._rng)
            if delay is not None:
                due = (time.monotonic() + delay, next(self._order), self._peer[fd], packet)
                heapq.heappush(self._due, due)

    def _deliver(self) -> None:
        now = time.monotonic()
        while self._due and self._due[0][0] <= now:
            _, _, fd, packet = heapq.heappop(self._due)
            with contextlib.suppress(OSError):  # a full queue or a device going away: lost
                os.write(fd, packet)
