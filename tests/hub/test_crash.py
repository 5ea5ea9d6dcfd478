"""The hub process under crashes: real `hub` subprocesses, TLS sockets, SQLite and files.

An edge keeps every event until the hub acknowledges it and resends whatever was not
acknowledged; the hub acknowledges only what is durable and stores an event_id once. Together
that is exactly-once delivery, which these tests pin against SIGKILL at random moments and
against a SIGTERM with events in flight followed by a restart.
"""

from __future__ import annotations

import random
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest

from wire import messages as m
from wire.client import connect
from wire.connection import Connection
from wire.credential import Credential, load_credential
from wire.errors import WireError

HUB = Path(sys.executable).parent / "hub"  # the console script: hub/cli.py has no __main__
EDGES = ("edge-a", "edge-b", "edge-c")
EVENTS_PER_EDGE = 1000
KILLS = 5
WINDOW = 4  # events an edge sends ahead of their acknowledgements
SLOW_RATE = 40  # events/s an edge sends while the hub is being killed (its spool outlasts that)
BACKOFF_S = 0.05
SEED = 7700
JPEG_START, JPEG_END = b"\xff\xd8\xff\xe0", b"\xff\xd9"


@dataclass(frozen=True)
class Sent:
    """One event as an edge made it, with the exact bytes the hub's files must hold."""

    edge: str
    event: m.Event
    body: bytes

    @property
    def event_id(self) -> str:
        return self.event.event_id

    @property
    def snapshot(self) -> bytes:
        return self.body[: self.event.snapshot_len]

    @property
    def thumbnail(self) -> bytes:
        return self.body[self.event.snapshot_len :]


def make_events(rng: random.Random, edge: str, count: int) -> list[Sent]:
    """`count` events with distinct JPEG-like bodies: a 20-60 KB snapshot, a 2-5 KB thumbnail."""
    events = []
    start = 1_700_000_000_000
    for i in range(count):
        snapshot = JPEG_START + rng.randbytes(rng.randint(20_000, 60_000)) + JPEG_END
        thumbnail = JPEG_START + rng.randbytes(rng.randint(2_000, 5_000)) + JPEG_END
        event = m.Event(
            event_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            camera=f"cam-{i % 3}",
            label="cat",
            score=0.9,
            started_at=start + i * 1000,
            ended_at=start + i * 1000 + 500,
            box=m.Box(x=1, y=2, w=30, h=40),
            model_version="v1",
            snapshot_len=len(snapshot),
            thumbnail_len=len(thumbnail),
        )
        events.append(Sent(edge, event, snapshot + thumbnail))
    return events


# --- the hub as a child process ---------------------------------------------------------------


@dataclass(frozen=True)
class HubData:
    """A data directory made by the real `hub init` and `hub add-peer`, and its port."""

    root: Path
    port: int

    def credential(self, name: str) -> Credential:
        return load_credential(self.root / "credentials" / f"{name}.toml")


def free_port() -> int:
    """A port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def run_cli(*args: str) -> None:
    """Run the `hub` command; it must succeed."""
    done = subprocess.run(
        [str(HUB), *args], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stderr


@pytest.fixture
def hub_data(tmp_path: Path) -> HubData:
    """A fresh hub data directory with one credential per simulated edge."""
    root, port = tmp_path / "hub", free_port()
    run_cli("init", str(root), "--port", str(port), "--advertise", f"127.0.0.1:{port}")
    for name in EDGES:
        run_cli("add-peer", name, "--role", "edge", "--data", str(root))
    return HubData(root, port)


class HubProcess:
    """`hub serve` as a child process that can be killed, stopped and started again."""

    def __init__(self, data: HubData, log: Path) -> None:
        self.data = data
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start `hub serve` (stderr appended to the log) and wait until it accepts."""
        assert not self.running()
        args = ["serve", "--data", str(self.data.root), "--host", "127.0.0.1"]
        with self.log.open("ab") as err:
            self.proc = subprocess.Popen(
                [str(HUB), *args], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err
            )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            assert self.running(), f"hub exited early:\n{self.log.read_text()}"
            try:
                with socket.create_connection(("127.0.0.1", self.data.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.02)
        raise AssertionError(f"hub not listening after 15 s:\n{self.log.read_text()}")

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, signum: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    def wait(self, timeout: float) -> int:
        """The exit code; raises subprocess.TimeoutExpired if it does not exit in time."""
        assert self.proc is not None
        return self.proc.wait(timeout)

    def kill(self) -> None:
        """SIGKILL: no handler runs, nothing is flushed or committed."""
        self.signal(signal.SIGKILL)
        self.wait(10)

    def close(self) -> None:
        """Make sure no hub outlives the test."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def hub_process(hub_data: HubData, tmp_path: Path) -> Iterator[HubProcess]:
    """A hub child process (not started yet), killed after the test whatever happened."""
    proc = HubProcess(hub_data, tmp_path / "hub.log")
    try:
        yield proc
    finally:
        proc.close()


# --- simulated edges --------------------------------------------------------------------------


class SimEdge:
    """An edge with an in-memory spool: it drops an event only when its ack arrives, and after
    any failure reconnects and resends everything still unacknowledged."""

    def __init__(self, cred: Credential, events: list[Sent]) -> None:
        self.cred = cred
        self.spool: dict[str, Sent] = {s.event_id: s for s in events}  # in the edge's order
        self.acks: dict[str, list[m.EventAck]] = {}
        self.problems: list[str] = []
        self.sessions_cut = 0
        self.slow = threading.Event()  # set: send at most SLOW_RATE events per second
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._conn: Connection | None = None
        self._thread = threading.Thread(target=self.run, name=f"sim-{cred.name}", daemon=True)

    def unacked(self) -> int:
        with self._lock:
            return len(self.spool)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop delivering: close the connection (waking a read) and end the thread."""
        self._stop.set()
        conn = self._conn
        if conn is not None:
            conn.close("edge stopping")
        if self._thread.is_alive():
            self._thread.join(timeout=15)

    def run(self) -> None:
        """Deliver the whole spool (or until stopped), one connection at a time."""
        while self.unacked() and not self._stop.is_set():
            try:
                conn = connect(self.cred.endpoint(), self.cred.identity(), connect_timeout_s=2)
            except (WireError, OSError):
                self._stop.wait(BACKOFF_S)
                continue
            self._conn = conn
            try:
                self._session(conn)
            except (WireError, OSError):
                self.sessions_cut += 1
                self._stop.wait(BACKOFF_S)
            except Exception as exc:  # a bug in this test: report it rather than hang
                self.problems.append(f"{type(exc).__name__}: {exc}")
                return
            finally:
                conn.close("edge done")

    def _session(self, conn: Connection) -> None:
        with self._lock:
            todo = deque(self.spool.values())
        in_flight: set[str] = set()
        while (todo or in_flight) and not self._stop.is_set():
            while todo and len(in_flight) < WINDOW:
                if self.slow.is_set():
                    self._stop.wait(1 / SLOW_RATE)
                sent = todo.popleft()
                conn.send(sent.event, sent.body)
                in_flight.add(sent.event_id)
            self._acknowledged(conn.expect(m.EventAck), in_flight)

    def _acknowledged(self, ack: m.EventAck, in_flight: set[str]) -> None:
        if ack.event_id not in in_flight:
            self.problems.append(f"ack for {ack.event_id}, which was not in flight")
            return
        in_flight.remove(ack.event_id)
        with self._lock:
            del self.spool[ack.event_id]
            self.acks.setdefault(ack.event_id, []).append(ack)


def kill_repeatedly(hub: HubProcess, edges: list[SimEdge], rng: random.Random) -> int:
    """SIGKILL the hub KILLS times, each 0.3-1.5 s after it came up, and restart it. Returns
    how many kills hit mid-run: spools only shrink, so one still non-empty after the kill
    was non-empty when the kill landed."""
    mid_run = 0
    for _ in range(KILLS):
        time.sleep(rng.uniform(0.3, 1.5))
        hub.kill()
        mid_run += any(edge.unacked() for edge in edges)
        hub.start()
    return mid_run


def wait_drained(edges: list[SimEdge], timeout: float) -> None:
    """Wait until every spool is empty, or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while any(edge.unacked() for edge in edges) and time.monotonic() < deadline:
        time.sleep(0.05)


# --- what the hub stored ----------------------------------------------------------------------


def stored_seqs(root: Path) -> dict[str, int]:
    """event_id -> seq of every sighting in the hub's database."""
    with closing(sqlite3.connect(root / "hub.db")) as db:
        rows = db.execute("SELECT event_id, seq FROM events WHERE kind = 'sighting'")
        return {event_id: seq for event_id, seq in rows}


def file_bytes(path: Path) -> bytes | None:
    """A file's contents, or None if it is not there."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def check_log(root: Path, sent: dict[str, Sent], acks: dict[str, list[m.EventAck]]) -> None:
    """Every sent event stored once, seqs 1..n, images byte-identical, acks naming the row."""
    with closing(sqlite3.connect(root / "hub.db")) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        rows = db.execute(
            "SELECT seq, event_id, edge, snapshot, thumbnail FROM events "
            "WHERE kind = 'sighting' ORDER BY rowid"
        ).fetchall()
    ids = Counter(row[1] for row in rows)
    assert [i for i, n in ids.items() if n > 1] == [], "stored twice"
    assert set(sent) - set(ids) == set(), "sent but never stored"
    assert set(ids) - set(sent) == set(), "stored but never sent"
    seqs = [row[0] for row in rows]
    assert seqs == list(range(1, len(sent) + 1)), "seq not strictly increasing and gap-free"
    wrong = [
        event_id
        for _seq, event_id, edge, snapshot, thumbnail in rows
        if edge != sent[event_id].edge
        or file_bytes(root / snapshot) != sent[event_id].snapshot
        or file_bytes(root / thumbnail) != sent[event_id].thumbnail
    ]
    assert wrong == [], f"{len(wrong)} events with the wrong edge, or images missing or wrong"
    seq_of = {event_id: seq for seq, event_id, *_ in rows}
    assert [a for got in acks.values() for a in got if a.seq != seq_of[a.event_id]] == []


# --- the tests --------------------------------------------------------------------------------


def test_exactly_once_under_sigkill(hub_data: HubData, hub_process: HubProcess) -> None:
    """Pins exactly-once delivery through crashes: 3 edges send 3,000 events while the hub is
    SIGKILLed 5 times at random moments and restarted; afterwards every event is in the log
    exactly once, seqs are 1..3000, every image file holds the bytes sent, every ack named the
    event's stored seq, and the database passes its integrity check."""
    rng = random.Random(SEED)
    edges = [
        SimEdge(hub_data.credential(name), make_events(rng, name, EVENTS_PER_EDGE))
        for name in EDGES
    ]
    sent = {s.event_id: s for edge in edges for s in edge.spool.values()}
    hub_process.start()
    for edge in edges:
        edge.slow.set()  # so that every kill lands while the spools still hold events
        edge.start()
    try:
        killed_mid_run = kill_repeatedly(hub_process, edges, rng)
        for edge in edges:
            edge.slow.clear()
        wait_drained(edges, timeout=60)
    finally:
        for edge in edges:
            edge.stop()
    hub_process.signal(signal.SIGTERM)
    assert hub_process.wait(10) == 0
    assert killed_mid_run == KILLS, "a kill came after the edges had finished"
    assert [p for edge in edges for p in edge.problems] == []
    assert [edge.unacked() for edge in edges] == [0, 0, 0]
    acks = {event_id: got for edge in edges for event_id, got in edge.acks.items()}
    check_log(hub_data.root, sent, acks)
    cut = sum(edge.sessions_cut for edge in edges)
    duplicates = sum(ack.duplicate for got in acks.values() for ack in got)
    print(f"\n{killed_mid_run} kills mid-run, {cut} sessions cut, {duplicates} duplicate acks")


def deliver(cred: Credential, events: list[Sent]) -> dict[str, list[m.EventAck]]:
    """Run a simulated edge in this thread until the hub has acknowledged all of `events`."""
    edge = SimEdge(cred, events)
    timer = threading.Timer(30, edge.stop)  # a hub that never acks fails the test, not hangs it
    timer.start()
    try:
        edge.run()
    finally:
        timer.cancel()
    assert edge.problems == []
    assert edge.unacked() == 0
    return edge.acks


def sigterm_in_flight(cred: Credential, hub: HubProcess, events: list[Sent]) -> list[m.EventAck]:
    """Send `events` without waiting, SIGTERM the hub at once, and collect the acks that still
    arrive before it closes the connection; the hub must exit 0 within 5 s."""
    conn = connect(cred.endpoint(), cred.identity())
    acks: list[m.EventAck] = []

    def collect() -> None:
        try:
            while True:
                acks.append(conn.expect(m.EventAck))
        except WireError:
            pass  # the hub said goodbye, or its socket went away

    reader = threading.Thread(target=collect, daemon=True)
    reader.start()
    try:
        for sent in events:
            conn.send(sent.event, sent.body)
        hub.signal(signal.SIGTERM)
        assert hub.wait(5) == 0
        reader.join(timeout=10)
    finally:
        conn.close("test done")
    return acks


def test_sigterm_finishes_in_flight_and_restart_continues(
    hub_data: HubData, hub_process: HubProcess
) -> None:
    """Pins the clean stop and the restart: a SIGTERM that arrives with events in flight ends
    the hub with exit code 0 and a 'stopped' log line, with everything it acknowledged (and
    whatever else it committed) stored; after a restart the edge's resends of stored events are
    acknowledged as duplicates with their old seq, new events get seqs after every old one, and
    the log holds each event once, gap-free, images intact."""
    rng = random.Random(SEED + 1)
    events = make_events(rng, "edge-a", 60)
    before, in_flight, after = events[:20], events[20:40], events[40:]
    cred = hub_data.credential("edge-a")
    hub_process.start()
    acks = deliver(cred, before)
    last_acked = max(a.seq for got in acks.values() for a in got)
    late = sigterm_in_flight(cred, hub_process, in_flight)
    assert "hub hub: stopped" in hub_process.log.read_text()
    stored = stored_seqs(hub_data.root)
    assert all(stored[a.event_id] == a.seq for a in late)
    assert set(stored) <= {s.event_id for s in before + in_flight}
    assert {s.event_id for s in before} <= set(stored)
    hub_process.start()
    acks |= {a.event_id: [a] for a in late}
    resent = [s for s in in_flight + after if s.event_id not in acks]
    for event_id, got in deliver(cred, resent).items():
        (ack,) = got
        if event_id in stored:  # committed before the stop, its ack lost: acked again
            assert (ack.duplicate, ack.seq) == (True, stored[event_id])
        else:
            assert not ack.duplicate
            assert ack.seq > max(stored.values()) >= last_acked
        acks[event_id] = got
    print(f"\n{len(late)} acks after SIGTERM, {len(stored) - len(before)} in flight stored")
    check_log(hub_data.root, {s.event_id: s for s in events}, acks)
