"""Hub ingest: acknowledged events/s from 16 edges, against a bare loop doing the same writes.

A fresh hub (`hub init`, one edge credential per connection, one watcher credential per watcher)
runs as its own process (`hub serve`, TLS as deployed), so it never shares an interpreter lock
with the load. The 16 edge connections are spread over several processes, one thread each.
Every event (a uuid4 event_id, a 50 KB random "snapshot" and a 5 KB "thumbnail") is made before
the clock starts, and each connection first sends a few unmeasured events (TLS, the hub's image
folders, caches). Phases, all in this one run, on this one disk:
  - closed loop: each connection sends an event, waits for its event_ack, sends the next; the
    figure is acknowledgements received within the phase, per second;
  - watchers: the closed loop again with 32 watcher connections (in their own processes)
    subscribed from the end of the log; each decodes and counts every log_entry, and the run
    fails its check unless every watcher got every event acknowledged in the phase, in order.
    Watcher processes run at nice 19: in use they are other machines, so here they get the CPU
    the hub leaves rather than an equal share of it (they still must receive every entry).
    Twice: as the desktop watcher subscribes, thumbnails on demand (the figure for the goal),
    then with every thumbnail pushed to every watcher (reported beside it);
  - bare: one thread in this process, per event, writes the same two files with the hub's own
    ImageStore (each written beside its name, fsynced, renamed; the folder fsynced) and commits
    the same row (hub.jobs.InsertEvent) to its own SQLite database in WAL mode with
    synchronous=FULL, one transaction per event: the simplest loop that makes each event
    durable before taking the next;
  - fixed rate: the 16 connections send on one shared schedule totalling 500 events/s (open
    loop: a late acknowledgement delays the next send, not its due time); latency runs from the
    due time to the acknowledgement, so queueing behind a slow ack is counted, not hidden.
Closed-loop, watcher and bare phases alternate for --rounds rounds, then the fixed-rate phase
runs once. Each ratio is the median over rounds of that round's ratio (its phases ran back to
back, so a noisy neighbour weighs on both); events/s is the best round. The machines are shared
and noisy. Each phase also reports the CPU cores used on average by the hub
(from /proc), the edge processes and the watcher processes (their own process_time): load
generators share the machine with the hub, and these say how much of it they took.

Last line: one JSON object with events_per_s, bare_ratio, p99_ack_ms_at_500,
watcher_fanout_ratio and the rest.
Goals: events_per_s >= 1000, bare_ratio >= 0.6, p99_ack_ms_at_500 <= 100,
watcher_fanout_ratio >= 0.9.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import multiprocessing
import os
import queue
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from multiprocessing.context import ForkProcess
from multiprocessing.queues import Queue
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event
from pathlib import Path

from hub.cli import main as hub_cli
from hub.db import Reader
from hub.db import connect as db_connect
from hub.images import ImageStore
from hub.jobs import InsertEvent
from wire import messages as m
from wire.client import connect
from wire.connection import Connection
from wire.credential import load_credential
from wire.errors import WireError

EDGES = 16
WATCHERS = 32
SNAPSHOT_BYTES = 50_000
THUMBNAIL_BYTES = 5_000
WARMUP_EVENTS = 3  # per connection, before the clock starts
CLOSED_CEILING = 500  # events made per connection per second of a closed-loop phase
BARE_CHUNK = 2000  # events the bare loop makes at a time, with its clock stopped
START_DELAY_S = 0.3  # between releasing the processes and their shared start time
SETUP_TIMEOUT_S = 60.0
DRAIN_TIMEOUT_S = 30.0  # for watchers to receive the last entries after the edges stop
PHASE_LIMIT_S = 600.0  # a child waiting longer for the parent's go gives up
BOX = m.Box(x=120, y=80, w=200, h=340)

Sample = tuple[float, float, float, int, bool]  # due, sent, acked (monotonic s), seq, duplicate
Message = tuple[str, object]


@dataclass(frozen=True)
class Target:
    """The hub under test: its data directory, process id and peers' credential files."""

    data: Path
    pid: int
    edges: list[Path]
    watchers: list[Path]


@dataclass(frozen=True)
class Sync:
    """How the parent paces its children: they report on `inbox`; `go` releases them, with
    `value` holding the shared monotonic start time (edges) or the seq to wait for (watchers)."""

    inbox: Queue[Message]
    go: Event
    value: Synchronized[float]


def _sync() -> tuple[Sync, multiprocessing.context.ForkContext]:
    ctx = multiprocessing.get_context("fork")
    return Sync(ctx.Queue(), ctx.Event(), ctx.Value("d", 0.0)), ctx


# --- the hub under test ------------------------------------------------------------------------


def init_hub(data: Path, port: int) -> tuple[list[Path], list[Path]]:
    """`hub init` and `hub add-peer` as an operator runs them; the credential files made."""
    with contextlib.redirect_stdout(io.StringIO()):
        commands = [["init", str(data), "--port", str(port), "--advertise", f"127.0.0.1:{port}"]]
        names = [(f"edge-{i:02d}", "edge") for i in range(EDGES)]
        names += [(f"watcher-{i:02d}", "watcher") for i in range(WATCHERS)]
        commands += [["add-peer", n, "--role", r, "--data", str(data)] for n, r in names]
        for argv in commands:
            if hub_cli(argv) != 0:
                raise RuntimeError(f"hub {' '.join(argv)} failed")
    logging.getLogger().setLevel(logging.WARNING)  # hub_cli set up INFO logging here
    creds = [data / "credentials" / f"{n}.toml" for n, _ in names]
    return creds[:EDGES], creds[EDGES:]


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_hub(data: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    """`hub serve` in its own process, logging to `log`; returns once its port accepts."""
    exe = Path(sys.executable).parent / "hub"
    argv = [str(exe), "serve", "--data", str(data), "--host", "127.0.0.1"]
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + SETUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"hub serve exited with {proc.returncode}:\n{_tail(log)}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return proc
        except OSError:
            time.sleep(0.05)
    stop_hub(proc)
    raise RuntimeError(f"hub serve did not listen within {SETUP_TIMEOUT_S:.0f} s")


def stop_hub(proc: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM (a clean stop), then SIGKILL if it lingers."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def hub_cpu_s(pid: int) -> float:
    """CPU seconds the hub process has used so far (Linux /proc; 0 where there is none)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")


def _tail(log: Path, lines: int = 20) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no hub log)"


def make_events(count: int, camera: str = "cam-0") -> list[m.Event]:
    """`count` events with fresh ids and the benchmark's image sizes."""
    now = int(time.time() * 1000)
    return [
        m.Event(
            event_id=str(uuid.uuid4()),
            camera=camera,
            label="person",
            score=0.87,
            started_at=now - 1500,
            ended_at=now,
            box=BOX,
            model_version="bench-1",
            snapshot_len=SNAPSHOT_BYTES,
            thumbnail_len=THUMBNAIL_BYTES,
        )
        for _ in range(count)
    ]


# --- children: processes report on the queue, the parent collects ------------------------------


def collect(sync: Sync, children: list[ForkProcess], tag: str, timeout: float) -> list[object]:
    """One `tag` message from each child; raise on a child's error, death or silence."""
    got: list[object] = []
    deadline = time.monotonic() + timeout
    while len(got) < len(children):
        try:
            kind, payload = sync.inbox.get(timeout=0.5)
        except queue.Empty:
            dead = [c.exitcode for c in children if c.exitcode not in (None, 0)]
            if dead or time.monotonic() > deadline:
                raise RuntimeError(
                    f"children silent (exit codes {dead}) waiting for {tag}"
                ) from None
            continue
        if kind != tag:
            raise RuntimeError(f"a child failed: {payload}")
        got.append(payload)
    return got


def reap(children: list[ForkProcess]) -> None:
    """Join every child; terminate what does not end on its own."""
    for child in children:
        child.join(timeout=10)
        if child.is_alive():
            child.terminate()
            child.join()


def _child(sync: Sync, work: Callable[[], object]) -> None:
    """A child's whole life: its result, or its failure, goes to the parent."""
    try:
        sync.inbox.put(("done", work()))
    except Exception as exc:
        sync.inbox.put(("error", f"{type(exc).__name__}: {exc}"))


def _await_go(sync: Sync) -> float:
    sync.inbox.put(("ready", None))
    if not sync.go.wait(PHASE_LIMIT_S):
        raise TimeoutError("the parent never said go")
    return sync.value.value


# --- edges -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """One edge phase: `seconds` long, closed loop (rate None) or `rate` events/s in all."""

    seconds: float
    rate: float | None
    edges: int = EDGES

    def events_per_connection(self) -> int:
        """How many events each connection makes up front: more than it can send."""
        per_s = CLOSED_CEILING if self.rate is None else self.rate / self.edges
        return int(self.seconds * per_s) + 2


@dataclass
class Lane:
    """One edge connection, its events made up front, and what it measured."""

    index: int
    conn: Connection
    events: list[m.Event]
    body: bytes
    samples: list[Sample] = field(default_factory=list)
    exhausted: bool = False
    error: str = ""

    @classmethod
    def open(cls, index: int, path: Path, plan: Plan) -> Lane:
        """Connect as the edge of this credential; make its events and its JPEG bytes."""
        cred = load_credential(path)
        conn = connect(cred.endpoint(), cred.identity())
        events = make_events(WARMUP_EVENTS + plan.events_per_connection())
        return cls(index, conn, events, os.urandom(SNAPSHOT_BYTES + THUMBNAIL_BYTES))

    def send(self, event: m.Event) -> m.EventAck:
        """Send one event and wait for its acknowledgement."""
        self.conn.send(event, self.body)
        while True:
            msg = self.conn.receive().message
            if isinstance(msg, m.EventAck) and msg.event_id == event.event_id:
                return msg
            if isinstance(msg, m.Error):
                raise RuntimeError(f"hub refused {event.event_id}: {msg.code}: {msg.message}")

    def warm_up(self) -> list[int]:
        """A few unmeasured events; their seqs."""
        return [self.send(self.events.pop()).seq for _ in range(WARMUP_EVENTS)]

    def run(self, plan: Plan, start: float) -> None:
        """The phase, from the shared start time; a failure is kept for the parent."""
        try:
            if plan.rate is None:
                self._closed(start, start + plan.seconds)
            else:
                self._paced(start, start + plan.seconds, plan.rate, plan.edges)
        except Exception as exc:
            self.error = f"edge {self.index}: {type(exc).__name__}: {exc}"

    def _closed(self, start: float, end: float) -> None:
        _sleep_until(start)
        for event in self.events:
            now = time.monotonic()
            if now >= end:
                return
            self._measure(event, now)
        self.exhausted = True

    def _paced(self, start: float, end: float, rate: float, edges: int) -> None:
        """Connection i sends at start + i/rate + k*edges/rate: one shared, even schedule."""
        first, period = start + self.index / rate, edges / rate
        for k, event in enumerate(self.events):
            due = first + k * period
            if due >= end:
                return
            _sleep_until(due)
            self._measure(event, due)
        self.exhausted = True

    def _measure(self, event: m.Event, due: float) -> None:
        sent = time.monotonic()
        ack = self.send(event)
        self.samples.append((due, sent, time.monotonic(), ack.seq, ack.duplicate))


def _sleep_until(when: float) -> None:
    delay = when - time.monotonic()
    if delay > 0:
        time.sleep(delay)


@dataclass(frozen=True)
class EdgeReport:
    """What one edge process sends back."""

    samples: list[Sample]
    warm_seqs: list[int]
    exhausted: bool
    cpu_s: float  # this process, during the phase


def _edges(slots: list[tuple[int, Path]], plan: Plan, sync: Sync) -> EdgeReport:
    """In an edge process: connect and warm up each lane, wait for go, run them, report."""
    lanes = [Lane.open(index, path, plan) for index, path in slots]
    warm = [seq for lane in lanes for seq in lane.warm_up()]
    start = _await_go(sync)
    threads = [threading.Thread(target=lane.run, args=(plan, start)) for lane in lanes]
    cpu = time.process_time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    cpu = time.process_time() - cpu
    for lane in lanes:
        lane.conn.close("benchmark done")
    errors = [lane.error for lane in lanes if lane.error]
    if errors:
        raise RuntimeError("; ".join(errors))
    samples = [s for lane in lanes for s in lane.samples]
    return EdgeReport(samples, warm, any(lane.exhausted for lane in lanes), cpu)


@dataclass(frozen=True)
class Phase:
    """Every acknowledgement of one edge phase, on the shared monotonic clock."""

    start: float
    seconds: float
    samples: list[Sample]
    seqs: list[int]  # every new seq acknowledged, warm-up included, ascending
    cpu_s: dict[str, float]  # CPU seconds during the phase: "hub", "edges" (, "watchers")

    @classmethod
    def of(cls, start: float, seconds: float, reports: list[EdgeReport], hub_s: float) -> Phase:
        """Merge the processes' reports."""
        if any(r.exhausted for r in reports):
            raise RuntimeError("an edge ran out of events made up front: raise CLOSED_CEILING")
        samples = [s for r in reports for s in r.samples]
        seqs = {s[3] for s in samples if not s[4]} | {q for r in reports for q in r.warm_seqs}
        cpu = {"hub": hub_s, "edges": sum(r.cpu_s for r in reports)}
        return cls(start, seconds, samples, sorted(seqs), cpu)

    def rate(self) -> float:
        """Acknowledgements received within the phase, per second."""
        end = self.start + self.seconds
        return sum(1 for s in self.samples if s[2] <= end) / self.seconds

    def latencies_ms(self, since: int) -> list[float]:
        """Sorted ack latencies, from the due time (since=0) or the actual send (since=1)."""
        return sorted((s[2] - s[since]) * 1000 for s in self.samples)


def run_edges(creds: list[Path], plan: Plan, procs: int, hub_pid: int) -> Phase:
    """One phase of the 16 edges, spread over `procs` processes."""
    sync, ctx = _sync()
    slots = list(enumerate(creds))
    children = [
        ctx.Process(target=_child, args=(sync, partial(_edges, slots[i::procs], plan, sync)))
        for i in range(procs)
    ]
    try:
        for child in children:
            child.start()
        collect(sync, children, "ready", SETUP_TIMEOUT_S)
        hub_s = hub_cpu_s(hub_pid)
        sync.value.value = time.monotonic() + START_DELAY_S
        sync.go.set()
        reports = collect(sync, children, "done", plan.seconds + DRAIN_TIMEOUT_S)
        hub_s = hub_cpu_s(hub_pid) - hub_s
    finally:
        reap(children)
    edges = [r for r in reports if isinstance(r, EdgeReport)]
    return Phase.of(sync.value.value, plan.seconds, edges, hub_s)


# --- watchers ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class WatchReport:
    """What one watcher connection received."""

    entries: int
    seq: int
    thumbnail_bytes: int
    in_order: bool
    last_at: float
    error: str


@dataclass
class Tally:
    """Counts what one watcher connection receives, on that connection's reading thread."""

    seq: int  # the last seq received; starts at the subscription's after_seq
    entries: int = 0
    thumbnail_bytes: int = 0
    in_order: bool = True
    last_at: float = 0.0
    error: str = ""
    caught_up: threading.Event = field(default_factory=threading.Event)
    stopping: threading.Event = field(default_factory=threading.Event)  # our own close is due

    def watch(self, conn: Connection) -> None:
        """Receive and decode everything until the connection closes."""
        try:
            while True:
                got = conn.receive()
                msg = got.message
                if isinstance(msg, m.LogEntry):
                    self.in_order = self.in_order and msg.seq > self.seq
                    self.seq = msg.seq
                    self.entries += 1
                    self.thumbnail_bytes += len(got.body)
                    self.last_at = time.monotonic()
                elif isinstance(msg, m.CaughtUp):
                    self.caught_up.set()
        except (WireError, OSError) as exc:
            if not self.stopping.is_set():  # not the end of the benchmark
                self.error = f"{type(exc).__name__}: {exc}"

    def report(self) -> WatchReport:
        """The counts, as a picklable record."""
        fields = (self.entries, self.seq, self.thumbnail_bytes, self.in_order, self.last_at)
        return WatchReport(*fields, self.error)


def _watchers(
    paths: list[Path], after_seq: int, thumbnails: bool, sync: Sync
) -> tuple[list[WatchReport], float]:
    """In a watcher process: subscribe each, wait for go, then for the seq named, report.
    The process runs at the lowest priority: watchers are laptops elsewhere on the LAN, and
    here they should take the CPU the hub leaves, not share it with the hub as equals."""
    os.nice(19)
    watching: list[tuple[Connection, Tally, threading.Thread]] = []
    for path in paths:
        cred = load_credential(path)
        conn = connect(cred.endpoint(), cred.identity())
        tally = Tally(after_seq)
        thread = threading.Thread(target=tally.watch, args=(conn,), daemon=True)
        thread.start()
        conn.send(
            m.Subscribe(
                after_seq=after_seq,
                cameras=[],
                labels=[],
                since_ms=None,
                until_ms=None,
                thumbnails=thumbnails,
            )
        )
        watching.append((conn, tally, thread))
    if not all(t.caught_up.wait(SETUP_TIMEOUT_S) for _, t, _ in watching):
        raise TimeoutError("a subscription was never caught up")
    cpu = time.process_time()
    target = int(_await_go(sync))
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    while time.monotonic() < deadline and any(
        t.seq < target and not t.error for _, t, _ in watching
    ):
        time.sleep(0.01)
    for _, tally, _ in watching:
        tally.stopping.set()
    for conn, _, thread in watching:
        conn.close("benchmark done")
        thread.join(timeout=5)
    return [tally.report() for _, tally, _ in watching], time.process_time() - cpu


@dataclass(frozen=True)
class Check:
    """Whether every watcher got every entry of the phase, and how far behind they ended."""

    expected: int
    problems: list[str]
    lag_ms: float  # last entry at the slowest watcher, after the last acknowledgement


def check_watchers(reports: list[WatchReport], phase: Phase, thumbnails: bool) -> Check:
    """Each watcher must have exactly the phase's new seqs, in order, with their thumbnails
    if it asked for them (and none if not)."""
    expected, target = len(phase.seqs), phase.seqs[-1]
    thumbnail_bytes = expected * THUMBNAIL_BYTES if thumbnails else 0
    problems = [
        f"watcher {i}: {r.entries}/{expected} entries, last seq {r.seq}/{target}, "
        f"in order {r.in_order}, {r.thumbnail_bytes} thumbnail bytes {r.error}"
        for i, r in enumerate(reports)
        if (r.entries, r.seq, r.thumbnail_bytes, r.in_order, r.error)
        != (expected, target, thumbnail_bytes, True, "")
    ]
    last_ack = max(s[2] for s in phase.samples)
    return Check(expected, problems, (max(r.last_at for r in reports) - last_ack) * 1000)


def run_watched(
    target: Target, plan: Plan, args: argparse.Namespace, thumbnails: bool
) -> tuple[Phase, Check]:
    """One edge phase with every watcher subscribed from the end of the log."""
    sync, ctx = _sync()
    after = Reader(target.data / "hub.db").last_seq()
    procs, paths = args.watcher_procs, target.watchers
    children = [
        ctx.Process(
            target=_child, args=(sync, partial(_watchers, paths[i::procs], after, thumbnails, sync))
        )
        for i in range(procs)
    ]
    try:
        for child in children:
            child.start()
        collect(sync, children, "ready", SETUP_TIMEOUT_S)
        phase = run_edges(target.edges, plan, args.edge_procs, target.pid)
        sync.value.value = float(phase.seqs[-1])
        sync.go.set()
        found = collect(sync, children, "done", DRAIN_TIMEOUT_S + 15)
    finally:
        reap(children)
    groups = [g for g in found if isinstance(g, tuple)]
    phase.cpu_s["watchers"] = sum(cpu for _, cpu in groups)
    return phase, check_watchers([r for reports, _ in groups for r in reports], phase, thumbnails)


# --- the bare loop -----------------------------------------------------------------------------


def _bare_store(
    db: sqlite3.Connection, images: ImageStore, edge: str, e: m.Event, body: memoryview
) -> None:
    """One event, stored by the hub's own code for files and rows, then committed alone."""
    snapshot, thumbnail = images.write_event(edge, e, body)
    db.execute("BEGIN IMMEDIATE")
    InsertEvent(edge, e, snapshot, thumbnail).apply(db, [])
    db.execute("COMMIT")


def bare_loop(root: Path, seconds: float) -> float:
    """Events/s of one thread storing events one at a time, each durable before the next.
    Events are made in chunks with the clock stopped, so the loop never runs out."""
    body = memoryview(os.urandom(SNAPSHOT_BYTES + THUMBNAIL_BYTES))
    root.mkdir(parents=True, exist_ok=True)
    images = ImageStore(root / "images", root, min_free_bytes=0)
    db = db_connect(root / "bare.db")
    stored, busy = 0, 0.0
    try:
        while busy < seconds:
            events = make_events(BARE_CHUNK)
            start = time.perf_counter()
            for event in events:
                _bare_store(db, images, f"edge-{stored % EDGES:02d}", event, body)
                stored += 1
                if busy + time.perf_counter() - start >= seconds:
                    break
            busy += time.perf_counter() - start
    finally:
        db.close()
    return stored / busy


# --- the run -----------------------------------------------------------------------------------


@dataclass
class Results:
    """Every round's phases, and the fixed-rate phase."""

    hub: list[Phase] = field(default_factory=list)
    watched: list[Phase] = field(default_factory=list)  # watchers that fetch thumbnails lazily
    pushed: list[Phase] = field(default_factory=list)  # watchers sent every thumbnail
    bare: list[float] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    paced: Phase | None = None


def measure(args: argparse.Namespace, root: Path, target: Target) -> Results:
    """Rounds of closed loop, closed loop watched (thumbnails on demand, then pushed), bare
    loop; then the fixed-rate phase."""
    closed, results = Plan(args.seconds, None), Results()
    for n in range(args.rounds):
        results.hub.append(run_edges(target.edges, closed, args.edge_procs, target.pid))
        for phases, thumbnails in ((results.watched, False), (results.pushed, True)):
            phase, check = run_watched(target, closed, args, thumbnails)
            phases.append(phase)
            results.checks.append(check)
        results.bare.append(bare_loop(root / "bare", args.seconds))
        print(
            f"round {n + 1}: hub {results.hub[-1].rate():.0f}, watched "
            f"{results.watched[-1].rate():.0f} (thumbnails pushed {phase.rate():.0f}), "
            f"bare {results.bare[-1]:.0f} events/s",
            file=sys.stderr,
            flush=True,
        )
    paced = Plan(args.seconds, args.rate)
    results.paced = run_edges(target.edges, paced, args.edge_procs, target.pid)
    return results


def _pct(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of a sorted list."""
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def _cores(phase: Phase) -> str:
    """Average CPU cores each side used during a phase."""
    return ", ".join(f"{k} {v / phase.seconds:.2f}" for k, v in phase.cpu_s.items())


def _rounds(values: list[float]) -> str:
    return ", ".join(f"{v:.0f}" for v in values)


def _ratio(top: list[float], bottom: list[float]) -> float:
    """The median over rounds of each round's ratio: the two phases of a round ran back to
    back, so a noisy neighbour weighs on both."""
    return statistics.median(t / b for t, b in zip(top, bottom, strict=True))


def _rates(phases: list[Phase]) -> list[float]:
    return [p.rate() for p in phases]


@dataclass(frozen=True)
class Rates:
    """The headline figures: the best closed loop, and the ratios (medians over rounds)."""

    hub: Phase
    bare: float
    bare_ratio: float
    fanout: float
    fanout_thumbnails: float


def print_rates(results: Results) -> Rates:
    """The closed-loop, bare and watched lines."""
    hub = max(results.hub, key=Phase.rate)
    rates = Rates(
        hub,
        max(results.bare),
        _ratio(_rates(results.hub), results.bare),
        _ratio(_rates(results.watched), _rates(results.hub)),
        _ratio(_rates(results.pushed), _rates(results.hub)),
    )
    print(
        f"hub closed loop   {EDGES} edges     {hub.rate():8.0f} events/s  "
        f"(rounds {_rounds([p.rate() for p in results.hub])}; goal 1000; cores: {_cores(hub)})"
    )
    print(
        f"bare loop         1 thread     {rates.bare:8.0f} events/s  (rounds "
        f"{_rounds(results.bare)}); bare_ratio {rates.bare_ratio:.3f} (goal 0.6)"
    )
    for phases, name, ratio, how in (
        (results.watched, "watcher_fanout_ratio", rates.fanout, "goal 0.9; thumbnails on demand"),
        (
            results.pushed,
            "watcher_fanout_ratio_thumbnails",
            rates.fanout_thumbnails,
            "every thumbnail pushed to every watcher",
        ),
    ):
        best = max(phases, key=Phase.rate)
        print(
            f"{WATCHERS} watchers       {EDGES} edges     {best.rate():8.0f} events/s  "
            f"(rounds {_rounds([p.rate() for p in phases])}; cores: {_cores(best)}); "
            f"{name} {ratio:.3f} ({how})"
        )
    return rates


def print_checks(results: Results, paced: Phase, rate: float) -> tuple[float, float, bool]:
    """The watcher check and latency lines; p50 and p99 from the due time, and the check."""
    problems = [p for c in results.checks for p in c.problems]
    got = "each got every entry, in order" if not problems else f"FAILED: {problems[0]}"
    print(
        f"watcher check     {WATCHERS} watchers  {got} "
        f"({'/'.join(str(c.expected) for c in results.checks)} entries per round; last one "
        f"{_rounds([c.lag_ms for c in results.checks])} ms after the last ack)"
    )
    due, sent = paced.latencies_ms(0), paced.latencies_ms(1)
    p50, p99 = _pct(due, 50), _pct(due, 99)
    print(
        f"ack latency       {rate:.0f} events/s  p50 {p50:.1f} ms  p99 {p99:.1f} ms (goal 100), "
        f"from the due time; from the send p50 {_pct(sent, 50):.1f} ms p99 {_pct(sent, 99):.1f} "
        f"ms ({len(due)} acks, {paced.rate():.0f} events/s; cores: {_cores(paced)})"
    )
    return p50, p99, not problems


def report(results: Results, args: argparse.Namespace) -> dict[str, object]:
    """Print one line per figure; answer the JSON summary."""
    assert results.paced is not None
    rates = print_rates(results)
    hub, watched = rates.hub, max(results.watched, key=Phase.rate)
    p50, p99, complete = print_checks(results, results.paced, args.rate)
    return {
        "events_per_s": round(hub.rate()),
        "bare_events_per_s": round(rates.bare),
        "bare_ratio": round(rates.bare_ratio, 3),
        "p50_ack_ms_at_500": round(p50, 1),
        "p99_ack_ms_at_500": round(p99, 1),
        "p99_ack_ms_from_send": round(_pct(results.paced.latencies_ms(1), 99), 1),
        "paced_rate": args.rate,
        "paced_events_per_s": round(results.paced.rate()),
        "watched_events_per_s": round(watched.rate()),
        "watcher_fanout_ratio": round(rates.fanout, 3),
        "watcher_fanout_ratio_thumbnails": round(rates.fanout_thumbnails, 3),
        "watchers_got_all": complete,
        "cores_closed": {k: round(v / hub.seconds, 2) for k, v in hub.cpu_s.items()},
        "cores_watched": {k: round(v / watched.seconds, 2) for k, v in watched.cpu_s.items()},
        "seconds": args.seconds,
        "rounds": args.rounds,
        "cpus": os.cpu_count(),
    }


def main() -> None:
    """Set up a hub, run every phase, print the figures and the JSON summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each phase")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the ratio phases")
    parser.add_argument("--rate", type=float, default=500.0, help="events/s of the paced phase")
    parser.add_argument("--edge-procs", type=int, default=4, help="processes for the 16 edges")
    parser.add_argument("--watcher-procs", type=int, default=4, help="processes for watchers")
    parser.add_argument("--dir", type=Path, help="make the temporary folder here (its disk)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="vigia-bench-hub-", dir=args.dir))
    data, hub = root / "hub", None
    try:
        port = free_port()
        edges, watchers = init_hub(data, port)
        hub = start_hub(data, port, root / "hub.log")
        summary = report(measure(args, root, Target(data, hub.pid, edges, watchers)), args)
    except BaseException:
        print(f"hub log, last lines:\n{_tail(root / 'hub.log')}", file=sys.stderr)
        raise
    finally:
        stop_hub(hub)
        shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(summary))
    if not summary["watchers_got_all"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
