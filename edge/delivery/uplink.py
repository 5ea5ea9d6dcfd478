"""The uplink: the edge's one connection to the hub, kept alive by wire.client's
ReconnectingClient (exponential backoff with jitter).

Per session two threads work: the session thread reads (acks, errors, model offers) and a
sender thread writes (statuses, model reports, events). Events:

- `submit` writes a sighting (an `event`) or a sighting's end (an `event_end`) to the spool
  first; only then is the sender woken to send it.
- On connect every pending event is sent oldest first, at most `window` unacknowledged at once;
  an `event_ack` (also a `duplicate` one) deletes the event from the spool: the ack names an
  event by its `event_id`, an end by its `end_id` (the spool's key for either).
- An end is sent only once its sighting is acknowledged (no longer in the spool): the hub then
  always has the sighting whose row the end updates, even after the hub refused the sighting
  for a while (disk full) or a connection dropped between the two. Events after a held end are
  sent meanwhile; the end goes out as soon as its sighting's ack comes in.
- A non-fatal `error` about an event (`storage_failed`: the hub's disk is full) keeps it in the
  spool; sending pauses for `retry_after_s`, then resumes from the oldest pending event.
- A connection lost with events in flight loses nothing: they are still in the spool, and are
  sent again on the next connection (the hub acknowledges a resend as a duplicate).

Status goes out on connect, every `status_interval_s`, and at once after `status_now()` (a camera
went offline or came back). A `model_offer`'s package is handed to the model handler on a thread
of its own, so a long smoke test never stalls the reader (and with it the keepalive); the
handler's reports (`report`) wait in a queue until a connection can carry them.
"""

from __future__ import annotations

import collections
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from edge.delivery.spool import Spool, SpoolEntry, SpoolError, SpoolFull
from edge.sighting import Report
from wire import messages as m
from wire.client import Backoff, Endpoint, ReconnectingClient
from wire.connection import DEFAULT_TIMING, Connection, Timing
from wire.credential import Credential
from wire.errors import ErrorCode, WireError

log = logging.getLogger("vigia.edge.uplink")

StatusSource = Callable[[], m.NodeStatus]
ModelHandler = Callable[[m.ModelOffer, Path], None]
INCOMING_DIR = "incoming"


@dataclass(frozen=True, slots=True)
class UplinkOptions:
    """How the uplink paces itself."""

    window: int = 32  # events sent and not yet acknowledged, at most
    status_interval_s: float = 5.0
    retry_after_s: float = 5.0  # pause after the hub could not store an event
    timing: Timing = DEFAULT_TIMING
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 30.0
    stable_after_s: float = 10.0  # a session this long resets the backoff

    def __post_init__(self) -> None:
        if self.window < 1:
            raise ValueError(f"uplink window must be at least 1, not {self.window}")
        if self.status_interval_s <= 0 or self.retry_after_s < 0:
            raise ValueError("uplink intervals must be positive")


DEFAULT_OPTIONS = UplinkOptions()


@dataclass(frozen=True, slots=True)
class UplinkState:
    """The connection and the delivery counters, for status lines and tests."""

    connected: bool
    endpoint: str
    last_error: str
    sessions: int
    pending: int  # events in the spool
    in_flight: int  # of those, sent and not yet acknowledged
    sent: int
    acknowledged: int
    duplicates: int  # acknowledgements of events the hub already had
    hub_refusals: int  # non-fatal errors about events (kept for a retry)
    reports_waiting: int


@dataclass(slots=True)
class _Counts:
    sessions: int = 0
    sent: int = 0
    acknowledged: int = 0
    duplicates: int = 0
    hub_refusals: int = 0


@dataclass(slots=True)
class _Session:
    """What one connection has under way."""

    conn: Connection
    backlog: int  # events pending when it began
    in_flight: dict[str, SpoolEntry] = field(default_factory=dict)
    cursor: int = 0  # the spool sequence sent last
    hold_until: float = 0.0  # no events before this (monotonic), after a hub refusal
    next_status: float = 0.0
    delivered: int = 0
    done: threading.Event = field(default_factory=threading.Event)


class Uplink:
    """Delivers spooled sightings exactly once, reports status and models, takes offers."""

    def __init__(
        self,
        credential: Credential,
        spool: Spool,
        *,
        status_source: StatusSource,
        on_model: ModelHandler | None = None,
        options: UplinkOptions = DEFAULT_OPTIONS,
        endpoint: Endpoint | None = None,
        incoming_dir: Path | None = None,
    ) -> None:
        """`endpoint` overrides the credential's hub address (its pin is the credential's);
        `incoming_dir` (default: the spool's `incoming/`) receives offered packages."""
        self.spool = spool
        self.options = options
        self.status_source = status_source
        self.on_model = on_model
        self.incoming_dir = incoming_dir or spool.directory / INCOMING_DIR
        self.client = ReconnectingClient(
            endpoint or credential.endpoint(),
            credential.identity(),
            self._session,
            timing=options.timing,
            backoff=Backoff(options.backoff_base_s, options.backoff_cap_s),
            stable_after_s=options.stable_after_s,
            spool_dir=self.incoming_dir,
        )
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._status_due = threading.Event()
        self._stopping = threading.Event()
        self._reports: collections.deque[m.ModelReport] = collections.deque(maxlen=64)
        self._offers: queue.Queue[tuple[m.ModelOffer, Path] | None] = queue.Queue()
        self._counts = _Counts()
        self._session_now: _Session | None = None
        self._installer = threading.Thread(
            target=self._install_offers, name="uplink-models", daemon=True
        )

    # --- the application's side ------------------------------------------------------------

    def start(self) -> None:
        """Clear leftovers of a crash, then connect (and keep reconnecting) in the background."""
        self.incoming_dir.mkdir(parents=True, exist_ok=True)
        for stale in self.incoming_dir.glob("wire-*.body"):
            stale.unlink(missing_ok=True)
        self._installer.start()
        self.client.start()

    def drain(self, timeout: float) -> bool:
        """While connected, wait up to `timeout` s for the hub to acknowledge everything
        spooled (the last sightings and ends, made as the cameras stopped); whether it did."""
        deadline = time.monotonic() + timeout
        self._wake.set()
        while len(self.spool) and self.connected and time.monotonic() < deadline:
            time.sleep(0.02)
        return not len(self.spool)

    def stop(self) -> None:
        """Close the connection and stop; whatever is unacknowledged stays in the spool."""
        self._stopping.set()
        self.client.stop()
        self._offers.put(None)
        if self._installer.is_alive():
            self._installer.join(timeout=30)
        log.info("uplink stopped: %d events stay in the spool", len(self.spool))

    def submit(self, sighting: Report) -> bool:
        """Spool a sighting (or a sighting's end), then send it when the hub can take it.
        False if the spool refused it (full, or a disk error; logged and counted by the
        spool)."""
        try:
            self.spool.add(sighting)
        except SpoolFull:
            return False  # logged and counted by the spool
        except SpoolError as exc:
            log.error("camera %s: %s lost: %s", sighting.camera, type(sighting).__name__, exc)
            return False
        self._wake.set()
        return True

    def status_now(self) -> None:
        """Send a status as soon as possible (a camera went offline or came back)."""
        self._status_due.set()
        self._wake.set()

    def report(self, report: m.ModelReport) -> None:
        """Tell the hub what became of a model, now or once connected."""
        with self._lock:
            self._reports.append(report)
        self._wake.set()

    @property
    def connected(self) -> bool:
        """Whether a session with the hub is up."""
        return self.client.connected.is_set()

    def state(self) -> UplinkState:
        """The connection and delivery counters now."""
        with self._lock:
            session, c = self._session_now, self._counts
            return UplinkState(
                connected=self.connected,
                endpoint=str(self.client.endpoint),
                last_error=self.client.last_error,
                sessions=c.sessions,
                pending=len(self.spool),
                in_flight=len(session.in_flight) if session else 0,
                sent=c.sent,
                acknowledged=c.acknowledged,
                duplicates=c.duplicates,
                hub_refusals=c.hub_refusals,
                reports_waiting=len(self._reports),
            )

    # --- one session ------------------------------------------------------------------------

    def _session(self, conn: Connection) -> None:
        """Run by the ReconnectingClient for each connection: read here, send on a helper."""
        if self._stopping.is_set():
            return
        session = _Session(conn, backlog=len(self.spool))
        with self._lock:
            self._session_now = session
            self._counts.sessions += 1
        if session.backlog:
            log.info("hub %s: sending %d spooled events", conn.address, session.backlog)
        sender = threading.Thread(
            target=self._send_loop, args=(session,), name="uplink-send", daemon=True
        )
        sender.start()
        try:
            self._receive_loop(session)
        finally:
            session.done.set()
            self._wake.set()
            sender.join(timeout=30)
            with self._lock:
                self._session_now = None
            if session.in_flight:
                log.info(
                    "hub %s: %d unacknowledged events stay spooled for the next connection",
                    conn.address,
                    len(session.in_flight),
                )

    def _receive_loop(self, session: _Session) -> None:
        """Until the connection ends (a WireError, which ends the session)."""
        while True:
            got = session.conn.receive()
            msg = got.message
            if isinstance(msg, m.EventAck):
                self._acked(session, msg)
            elif isinstance(msg, m.Error):
                self._hub_error(session, msg)
            elif isinstance(msg, m.ModelOffer) and got.body_path is not None:
                log.info("hub offers model %s (%d bytes)", msg.version, msg.size)
                self._offers.put((msg, got.body_path))
            else:
                log.debug("hub sent '%s'; nothing to do with it", msg.NAME)

    def _acked(self, session: _Session, ack: m.EventAck) -> None:
        """The hub has the event durably: delete it from the spool."""
        with self._lock:
            session.in_flight.pop(ack.event_id, None)
            self._counts.acknowledged += 1
            self._counts.duplicates += ack.duplicate
        entry = self.spool.acknowledge(ack.event_id)
        session.delivered += 1
        log.debug(
            "event %s from camera %s stored at the hub as seq %d%s",
            ack.event_id,
            entry.camera if entry else "?",
            ack.seq,
            " (a duplicate)" if ack.duplicate else "",
        )
        if session.backlog and not len(self.spool):
            log.info(
                "hub %s: spool empty, %d events delivered", session.conn.address, session.delivered
            )
            session.backlog = 0
        self._wake.set()

    def _hub_error(self, session: _Session, error: m.Error) -> None:
        """A non-fatal refusal: about an event in flight, keep it and retry later."""
        with self._lock:
            entry = session.in_flight.pop(error.ref, None) if error.ref else None
            if entry is not None:
                self._counts.hub_refusals += 1
                session.hold_until = time.monotonic() + self.options.retry_after_s
                session.cursor = 0  # after the pause, resend from the oldest pending
        if entry is None:
            log.warning("hub %s: %s: %s", session.conn.address, error.code, error.message)
            return
        log.warning(
            "hub could not take %s %s from camera %s (%s: %s); kept, retrying in %.0f s",
            entry.kind,
            entry.key,
            entry.camera,
            error.code,
            error.message,
            self.options.retry_after_s,
        )
        self._wake.set()

    def _send_loop(self, session: _Session) -> None:
        """Reports, status, events; then sleep until woken or a status is due."""
        try:
            while not session.done.is_set():
                self._wake.clear()
                self._send_reports(session.conn)
                self._send_status(session)
                self._send_events(session)
                self._wake.wait(self._sleep_for(session))
        except WireError as exc:  # the hub is gone or stuck: a goodbye could block as long
            session.conn.abort(f"send failed: {exc}")
        except Exception:  # a bug: end this session (the client reconnects), keep the node up
            log.exception("hub %s: uplink sender failed", session.conn.address)
            session.conn.close("uplink sender failed", ErrorCode.INTERNAL)

    def _sleep_for(self, session: _Session) -> float:
        now = time.monotonic()
        wake_at = session.next_status
        if session.hold_until > now:
            wake_at = min(wake_at, session.hold_until)
        return min(max(wake_at - now, 0.01), self.options.status_interval_s)

    def _send_reports(self, conn: Connection) -> None:
        while True:
            with self._lock:
                if not self._reports:
                    return
                report = self._reports.popleft()
            try:
                conn.send(report)
            except WireError:
                with self._lock:
                    self._reports.appendleft(report)
                raise
            log.info("reported model %s %s to the hub", report.version, report.state)

    def _send_status(self, session: _Session) -> None:
        now = time.monotonic()
        if now < session.next_status and not self._status_due.is_set():
            return
        self._status_due.clear()
        session.next_status = now + self.options.status_interval_s
        try:
            node = self.status_source()
        except Exception:  # the status source is the app's: log it, keep delivering events
            log.exception("hub %s: the status source failed", session.conn.address)
            return
        session.conn.send(m.Status(node=node))

    def _send_events(self, session: _Session) -> None:
        """Fill the window with the oldest pending events not yet in flight; an end whose
        sighting is still pending waits (and keeps the cursor before it)."""
        with self._lock:
            room = self.options.window - len(session.in_flight)
            busy = set(session.in_flight)
        if room <= 0:
            return
        candidates = self.spool.pending(after=session.cursor, limit=room + len(busy))
        held = False
        for entry in [e for e in candidates if e.key not in busy][:room]:
            if entry.kind == m.EventEnd.NAME and self.spool.has(entry.event_id):
                held = True  # sent once its sighting's ack wakes this loop
                continue
            loaded = self.spool.read(entry.key)  # None: acknowledged, or found corrupt
            with self._lock:
                if time.monotonic() < session.hold_until:
                    return
                if not held:
                    session.cursor = max(session.cursor, entry.seq)
                if loaded is None:
                    continue
                session.in_flight[entry.key] = entry
                self._counts.sent += 1
            session.conn.send(*loaded)

    # --- models -----------------------------------------------------------------------------

    def _install_offers(self) -> None:
        """Hand each offered package to the model handler, one at a time, off the reader."""
        while (item := self._offers.get()) is not None:
            offer, path = item
            try:
                if self.on_model is None:
                    log.warning("model %s offered, but this edge has no model store", offer.version)
                else:
                    self.on_model(offer, path)
            except Exception:  # the handler reports its own refusals; this is a bug in it
                log.exception("installing model %s failed", offer.version)
            finally:
                path.unlink(missing_ok=True)
