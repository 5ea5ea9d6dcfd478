"""A 90-second soak: long-lived clients play throughout while short-lived ones come and go.

One server, three test-card cameras at 10 fps, sessions that expire after 5 s without a sign of
life. For the whole 90 s three long-lived clients play, one camera each:

* a raw RTSP client over TCP (interleaved) that never sends anything after PLAY (a TCP session
  lives as long as its connection, so it must not expire);
* a raw RTSP client over UDP that keeps its session alive with GET_PARAMETER every 2 s only
  (no RTCP), so it expires unless the server honours those keepalives;
* a real ffmpeg over UDP, with its own keepalives (and RTCP receiver reports).

Meanwhile 20 short-lived raw clients, planned by a seeded random, join at random times, play a
random camera over TCP or UDP for 1 to 8 s (over UDP keeping the session alive with GET_PARAMETER
or OPTIONS every 2 s), then TEARDOWN, hang up (FIN) or reset (RST). A UDP session whose client
hung up outlives it until it times out.

Checked: every long-lived client got frames throughout (no gap over 1.5 s, at least 8 fps on
average) and ffmpeg's frames are the test card; every short client got frames at that pace while
it played; no keepalive was refused; once the short clients have left (and abandoned UDP sessions
expired) only the three long-lived sessions and connections remain; the streams kept their pace
(no late or skipped frames beyond a small tolerance); and once everyone has left, no session
remains.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

import pytest

from tests.video.rtsp.conftest import HEIGHT, WIDTH, RunningServer, StartServer
from tests.video.rtsp.players import (
    FfmpegPlayer,
    Lower,
    PlayerError,
    RawPlayer,
    max_gap,
    rate,
)
from video.sources.testcard import psnr, test_card

SOAK_S = 90.0
CAMERAS = ("cam0", "cam1", "cam2")
FPS = 10.0
SESSION_TIMEOUT_S = 5
KEEPALIVE_EVERY_S = 2.0
SHORT_CLIENTS = 20
SEED = 2326
#: Short clients join within this window, so that the last has left, and its UDP session (if
#: abandoned) expired, well before the soak ends.
JOIN_WINDOW_S = (1.0, 70.0)
PLAY_S = (1.0, 8.0)

MAX_GAP_S = 1.5
MIN_FPS = 8.0
MIN_PSNR_DB = 35.0
#: Late frames tolerated per stream (a scheduling hiccup on a loaded test machine).
LATE_TOLERANCE = 3

Ending = Literal["teardown", "close", "reset"]


@dataclass(frozen=True, slots=True)
class ShortPlan:
    """What one short-lived client does."""

    index: int
    start_s: float  # after the soak's start
    camera: str
    lower: Lower
    play_s: float
    ending: Ending
    keepalive: str  # the method a UDP client keeps its session alive with


@dataclass(frozen=True, slots=True)
class ShortResult:
    """What it got: frames (and the longest wait for one), the TEARDOWN's status (if it sent
    one), or what went wrong."""

    plan: ShortPlan
    frames: int
    gap_s: float
    bad_packets: int
    teardown_status: int | None
    error: str | None


def _plans(rng: random.Random) -> list[ShortPlan]:
    endings: tuple[Ending, ...] = ("teardown", "close", "reset")
    lowers: tuple[Lower, ...] = ("tcp", "udp")
    return [
        ShortPlan(
            index=i,
            start_s=round(rng.uniform(*JOIN_WINDOW_S), 2),
            camera=rng.choice(CAMERAS),
            lower=rng.choice(lowers),
            play_s=round(rng.uniform(*PLAY_S), 2),
            ending=rng.choice(endings),
            keepalive=rng.choice(("GET_PARAMETER", "OPTIONS")),
        )
        for i in range(SHORT_CLIENTS)
    ]


def _run_short(server: RunningServer, plan: ShortPlan, t0: float) -> ShortResult:
    time.sleep(max(0.0, t0 + plan.start_s - time.monotonic()))
    player = RawPlayer(server.host, server.port, plan.camera, plan.lower)
    status: int | None = None
    try:
        player.play()
        _play_for(player, plan)
        end = time.monotonic()
        if plan.ending == "teardown":
            status = player.teardown()
        else:
            player.close(reset=plan.ending == "reset")
    except (OSError, PlayerError) as exc:
        player.close()
        return ShortResult(plan, len(player.frames.times), 0.0, player.frames.bad, None, repr(exc))
    times, start = player.frames.times, player.played_at
    error = "; ".join(player.errors) or None
    frames = sum(1 for t in times if start <= t <= end)
    return ShortResult(plan, frames, max_gap(times, start, end), player.frames.bad, status, error)


def _play_for(player: RawPlayer, plan: ShortPlan) -> None:
    """Play for the planned time; over UDP, keep the session alive (a TCP one needs nothing)."""
    until = time.monotonic() + plan.play_s
    while (left := until - time.monotonic()) > 0:
        time.sleep(min(left, KEEPALIVE_EVERY_S))
        if plan.lower == "udp" and time.monotonic() < until:
            status = player.keepalive(plan.keepalive)
            if status != 200:
                raise PlayerError(f"{plan.keepalive} answered {status}")


class Keepalive:
    """Sends GET_PARAMETER on a player's connection every few seconds; records the statuses."""

    def __init__(self, player: RawPlayer, every_s: float) -> None:
        self.statuses: list[int | str] = []
        self._player = player
        self._every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="keepalive", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop sending."""
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self._every_s):
            try:
                self.statuses.append(self._player.keepalive())
            except (OSError, PlayerError) as exc:
                self.statuses.append(repr(exc))


def _wait_for(condition: Callable[[], bool], timeout_s: float) -> bool:
    """Poll `condition()` until it is true or the time is up; whether it became true."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _teardown(player: RawPlayer) -> int | str:
    """TEARDOWN's status, or what went wrong (this runs in `finally`: it must not raise)."""
    try:
        return player.teardown()
    except (OSError, PlayerError) as exc:
        return repr(exc)


def _check_long(name: str, times: list[float], start: float, end: float) -> list[str]:
    """What is wrong with a long-lived client's frame arrivals between start and end."""
    problems = []
    gap = max_gap(times, start, end)
    if gap > MAX_GAP_S:
        problems.append(f"{name}: {gap:.2f} s without a frame")
    fps = rate(times, start, end)
    if fps < MIN_FPS:
        problems.append(f"{name}: {fps:.2f} fps over {end - start:.1f} s")
    return problems


@pytest.mark.timeout(SOAK_S + 90)
def test_soak_90s_long_lived_and_short_lived_clients(start_server: StartServer) -> None:
    server = start_server(*CAMERAS, fps=FPS, session_timeout_s=SESSION_TIMEOUT_S)
    rtsp = server.server
    t0 = time.monotonic()
    tcp = RawPlayer(server.host, server.port, "cam0", "tcp")
    udp = RawPlayer(server.host, server.port, "cam1", "udp")
    tcp.play()
    udp.play()
    keepalive = Keepalive(udp, KEEPALIVE_EVERY_S)
    ffmpeg = FfmpegPlayer(server.url("cam2"), "udp")
    plans = _plans(random.Random(SEED))
    try:
        with ThreadPoolExecutor(max_workers=SHORT_CLIENTS) as pool:
            futures = [pool.submit(_run_short, server, plan, t0) for plan in plans]
            results = [f.result(timeout=SOAK_S) for f in futures]
        # Abandoned UDP sessions expire within the timeout (plus one reaper round).
        long_only = _wait_for(
            lambda: len(rtsp.context.sessions) == 3 and rtsp.connection_count() == 3,
            timeout_s=max(0.5, t0 + SOAK_S - 1 - time.monotonic()),
        )
        sessions_left = {(s.stream.name, s.over_udp) for s in rtsp.context.sessions.every()}
        connections_left = rtsp.connection_count()
        udp_alive = any(s.id == udp.session for s in rtsp.context.sessions.every())
        time.sleep(max(0.0, t0 + SOAK_S - time.monotonic()))
        end = time.monotonic()
        stats = {name: stream.stats() for name, stream in rtsp.context.streams.items()}
        ffmpeg_running = ffmpeg.running()
    finally:
        keepalive.stop()
        teardowns = [_teardown(udp), _teardown(tcp)]
        ffmpeg_exit = ffmpeg.stop()
    all_gone = _wait_for(lambda: len(rtsp.context.sessions) == 0, SESSION_TIMEOUT_S + 2.0)

    # Long-lived clients: frames all along, at the stream's pace.
    assert ffmpeg_running, f"ffmpeg ended early ({ffmpeg_exit}):\n" + "\n".join(ffmpeg.log)
    assert ffmpeg.frames.times, "ffmpeg decoded no frame:\n" + "\n".join(ffmpeg.log)
    problems = _check_long("raw TCP", tcp.frames.times, tcp.played_at, end)
    problems += _check_long("raw UDP", udp.frames.times, udp.played_at, end)
    problems += _check_long("ffmpeg UDP", ffmpeg.frames.times, ffmpeg.frames.times[0], end)
    assert not problems, problems
    assert tcp.frames.bad == udp.frames.bad == 0
    assert not tcp.errors and not udp.errors, (tcp.errors, udp.errors)
    assert not tcp.closed_by_server.is_set() and not udp.closed_by_server.is_set()
    card = test_card(WIDTH, HEIGHT)
    scores = [psnr(frame, card) for frame in ffmpeg.kept]
    assert len(scores) >= 5 and min(scores) >= MIN_PSNR_DB, scores

    # The UDP client's keepalives alone kept its session.
    assert udp_alive, "the UDP session kept alive by GET_PARAMETER expired"
    assert len(keepalive.statuses) >= SOAK_S / KEEPALIVE_EVERY_S - 3, keepalive.statuses
    assert set(keepalive.statuses) == {200}, keepalive.statuses

    # Short clients: each got frames at about the stream's pace while it played.
    failed = [
        r for r in results if r.error or r.bad_packets or r.teardown_status not in (None, 200)
    ]
    assert not failed, failed
    starved = [r for r in results if r.gap_s > MAX_GAP_S or r.frames < r.plan.play_s * MIN_FPS]
    assert not starved, starved

    # Once they had left, only the long-lived sessions and connections remained.
    assert long_only, (sessions_left, connections_left)
    assert sessions_left == {("cam0", False), ("cam1", True), ("cam2", True)}
    assert connections_left == 3

    # The streams kept their pace.
    for name, stat in stats.items():
        assert stat.skipped == 0, (name, stat)
        assert stat.late <= LATE_TOLERANCE, (name, stat)
        assert stat.frames >= 0.95 * FPS * (end - t0), (name, stat)

    # Everyone left cleanly.
    assert teardowns == [200, 200]
    assert all_gone, [(s.stream.name, s.peer) for s in rtsp.context.sessions.every()]
