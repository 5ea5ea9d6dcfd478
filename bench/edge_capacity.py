"""Edge capacity: how many 640x480, 10 fps cameras one `edge run` serves, its CPU per frame when
nothing moves against a bare OpenCV reader of the same streams, and how long an object takes
to become an event at the hub.

Every system under test runs in its own process, as deployed:
  - the hub: `hub init`, `hub add-peer edge-1 --role edge`, then `hub serve` (TLS), for the
    whole run; the figures are read from its database (`edge_status`: the edge's own counters,
    sent every 5 s; `events`: each event with `received_ms`, stamped in the transaction whose
    commit the acknowledgement waits for);
  - the cameras: `video serve` with K cameras `cam1..camK` at 640x480, 10 fps, either scene
    cameras (red, green and blue squares from a temporary colour dataset pass in front of a grey
    background, `visits_per_min` 12, visits of 2 to 4 s, at least 1 s apart: something moves
    about 60% of the time; each visit logged as ground truth) or static ones (`folder:` with
    one JPEG of that background, passed through as it is: nothing ever moves);
  - the edge: `edge run --config edge.toml` with edge-1's credential and a fresh data dir per
    phase, every setting at its default (10 fps limit, lost_after_ms 1500, one interpreter with
    2 threads). Its model is the tiny int8 colour model of the tests at 96x96
    (tests/edge/vision/colour_model.py, made with TensorFlow in a child process and signed here,
    installed through `[node] model`): a real LiteRT int8 model, but far cheaper per crop than a
    trained one, so the capacity measured is that of decoding, motion, tracking and delivery
    with a cheap classifier. `--model PKG --trainer-key PUB` runs another package instead (e.g.
    `trainer stock-model`).

Phases, in this one run (`--phases` picks some of capacity, no-motion, latency):
  - capacity ramp: K = 2, 4, 8, 12, 16, 20, 24, 32 scene cameras (fresh server and edge per
    level), stopping at the first level that misses 5% or more of its frames. Missed frames are
    counted against what the cameras should have sent (10 fps for the time between two of the
    edge's statuses), not against what the edge read, so frames lost anywhere count: not read in
    time, overwritten before the vision thread took them (`dropped`), or not processed;
    `cameras_at_10fps` is the largest K under 5%. Each level prints frames, misses and the CPU
    cores of the edge, the video server and the hub (from /proc): all share this machine;
  - no-motion cost: K (8) static cameras, read in turn by the edge and by a bare reader (a
    process with one thread per camera doing `cv2.VideoCapture(url, cv2.CAP_FFMPEG)` and
    `read()`, over TCP like the edge: the decoding floor), in alternating order for --rounds
    rounds. Edge CPU seconds / frames it processed, over reader CPU seconds / frames it read;
    `no_motion_cost_ratio` is the median of the per-round ratios. The reader keeps OpenCV's
    default thread pool where the edge sets one thread: decoding costs the same either way
    (measured), so the floor is the same decoding as the edge's;
  - event latency: K (8) scene cameras for --latency-seconds. Every whole visit that entered
    after the edge's warm-up is matched to the event of its camera whose times overlap it; the
    latency is the sighting's `received_ms` at the hub (its commit) minus (i) the visit's first
    frame (`enter_ms`, the issue's "object's first frame": `p95_event_latency_ms`), and (ii)
    the first frame the edge recognised it in (the sighting's `started_at`: waiting for the
    tracker's confirmation, then delivery: spool, send, commit; `p95_recognised_to_commit_ms`).

The edge sends a sighting as soon as the tracker confirms its visit (`min_frames` frames, 2 by
default) and its final values later, in an `event_end`; the latency is the sighting's.

Last line: one JSON object with cameras_at_10fps, no_motion_cost_ratio, p95_event_latency_ms
and the rest. Goals: cameras_at_10fps >= 8, no_motion_cost_ratio <= 1.3,
p95_event_latency_ms <= 500.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import cv2
import numpy as np

from bench.video_streams import free_port, tree_cpu_s
from demo.processes import Proc, launch, script, stop, tail
from demo.truth import Sighting, Visit, overlaps, percentile, read_sightings, read_visits
from hub.cli import main as hub_cli
from hub.db import Reader
from video.sources.base import Pixels
from video.sources.encode import encode_jpeg
from wire import messages as m
from wire.package import (
    InputSpec,
    Manifest,
    Metrics,
    key_id,
    labels_text,
    load_private_key,
    new_key,
    save_keys,
    write_package,
)

WIDTH, HEIGHT, FPS = 640, 480, 10.0
HOST = "127.0.0.1"
EDGE = "edge-1"
MISS_LIMIT = 0.05  # a level passes with fewer missed frames than this
LEVELS = (2, 4, 8, 12, 16, 20, 24, 32)
QUICK_LEVELS = (2, 8)
PHASES = ("capacity", "no-motion", "latency")
MODEL_SIZE = 96
LABELS = ("red", "green", "blue")
BGR = {"red": (0, 0, 255), "green": (0, 255, 0), "blue": (255, 0, 0)}
LOST_AFTER_MS = 1500  # the edge's default, which this benchmark keeps
WARMUP_MS = 2000  # motion warms up for 15 frames: visits entering before are not judged
SCENE = "visits_per_min = 12\nmin_gap_s = 1.0\nvisit_s = [2.0, 4.0]\nsize_frac = [0.3, 0.5]\n"
SETUP_TIMEOUT_S = 90.0
STATUS_TIMEOUT_S = 20.0  # the edge sends a status every 5 s
OPTIONS_VARIABLE = "OPENCV_FFMPEG_CAPTURE_OPTIONS"  # as edge.capture.rtsp sets it, TCP first


# --- the things under test, each in its own process --------------------------------------------


def warnings_in(log: Path) -> int:
    """How many lines of a log warn or report an error; the first few go to stderr."""
    try:
        lines = log.read_text(errors="replace").split("\n")
    except OSError:
        return 0
    found = [line for line in lines if any(w in line for w in ("WARNING", "ERROR", "Traceback"))]
    for line in found[:3]:
        print(f"{log.parent.name}/{log.name}: {line}", file=sys.stderr)
    return len(found)


# --- what every phase shares -------------------------------------------------------------------


@dataclass(frozen=True)
class Setup:
    """The run's folder, dataset, static picture, model, and hub."""

    root: Path
    dataset: Path
    static: Path  # a folder holding one JPEG
    package: Path
    trainer_key: Path
    credential: Path
    hub_data: Path
    hub_port: int


def make_dataset(root: Path) -> Path:
    """Two shades of each class's colour, and a light grey, softly textured background."""
    for label in LABELS:
        (root / label).mkdir(parents=True)
        for shade in (1.0, 0.85):
            colour = tuple(round(c * shade) for c in BGR[label])
            cv2.imwrite(str(root / label / f"{shade}.png"), np.full((32, 32, 3), colour, np.uint8))
    (root / "_background").mkdir()
    coarse = np.random.default_rng(11).integers(185, 225, (30, 40), dtype=np.uint8)
    grey = cv2.resize(coarse, (WIDTH, HEIGHT), interpolation=cv2.INTER_CUBIC)
    cv2.imwrite(str(root / "_background" / "bg.png"), grey)
    return root


def make_static(dataset: Path, folder: Path) -> Path:
    """A folder with the scene's background as one RTP-ready JPEG (passed through as it is)."""
    folder.mkdir()
    pixels = cv2.imread(str(dataset / "_background" / "bg.png"), cv2.IMREAD_COLOR)
    jpeg = encode_jpeg(cast(Pixels, pixels), width=WIDTH, height=HEIGHT, quality=80)
    (folder / "background.jpg").write_bytes(jpeg)
    return folder


def sign_colour_model(out: Path, private_key: Path) -> None:
    """In a child process (TensorFlow): the tests' int8 colour model, signed as a package."""
    from tests.edge.vision.colour_model import colour_bundle  # noqa: PLC0415 - TensorFlow

    tflite = colour_bundle(MODEL_SIZE, version="colour-96").tflite
    key = load_private_key(private_key)
    manifest = Manifest(
        version="colour-96",
        created_ms=int(time.time() * 1000),
        backbone="colour-test-model",
        labels=LABELS,
        input=InputSpec(size=MODEL_SIZE, dtype="uint8"),
        quantisation="int8",
        metrics=Metrics(float_accuracy=None, int8_accuracy=None, test_images=0),
        dataset_sha256="0" * 64,
        model_sha256=hashlib.sha256(tflite).hexdigest(),
        model_size=len(tflite),
        labels_sha256=hashlib.sha256(labels_text(LABELS)).hexdigest(),
        key_id=key_id(key.public_key()),
    )
    write_package(out, manifest, tflite, key)


def make_model(root: Path, args: argparse.Namespace) -> tuple[Path, Path]:
    """The package the edge runs and the public key it trusts."""
    if args.model is not None:
        return args.model, args.trainer_key
    save_keys(new_key(), root / "trainer.key", root / "trainer.pub")
    package = root / "colour-96.vpkg"
    argv = [sys.executable, "-m", "bench.edge_capacity", "--sign-colour-model", str(package)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    subprocess.run([*argv, "--trainer-key", str(root / "trainer.key")], check=True, env=env)
    return package, root / "trainer.pub"


def init_hub(data: Path, port: int) -> Path:
    """`hub init` and `hub add-peer` as an operator runs them; edge-1's credential."""
    with contextlib.redirect_stdout(io.StringIO()):
        for argv in (
            ["init", str(data), "--port", str(port), "--advertise", f"{HOST}:{port}"],
            ["add-peer", EDGE, "--role", "edge", "--data", str(data)],
        ):
            if hub_cli(argv) != 0:
                raise RuntimeError(f"hub {' '.join(argv)} failed")
    logging.getLogger().setLevel(logging.WARNING)  # hub_cli set up INFO logging here
    return data / "credentials" / f"{EDGE}.toml"


def video_config(setup: Setup, cameras: int, *, scene: bool, port: int, truth: Path) -> str:
    """video.toml: `cameras` scene cameras (seeds 1..K) or static ones."""
    source = '"scene"' if scene else json.dumps(f"folder:{setup.static}?hold=3600")
    lines = [
        f'[server]\nhost = "{HOST}"\nport = {port}\nrtp_port = 0\n',
        f"[defaults]\nfps = {FPS:g}\nwidth = {WIDTH}\nheight = {HEIGHT}\nquality = 80\n",
        f"[scene]\ndataset = {json.dumps(str(setup.dataset))}\n"
        f"truth_dir = {json.dumps(str(truth))}\n{SCENE}",
    ]
    for i in range(1, cameras + 1):
        lines.append(f'[[camera]]\nname = "cam{i}"\nsource = {source}\nseed = {i}\n')
    return "\n".join(lines)


def edge_config(setup: Setup, urls: list[str], data_dir: Path) -> str:
    """edge.toml: edge-1, every setting at its default, one camera per URL."""
    lines = [
        "[node]",
        f"credential = {json.dumps(str(setup.credential))}",
        f"trainer_key = {json.dumps(str(setup.trainer_key))}",
        f"data_dir = {json.dumps(str(data_dir))}",
        f"model = {json.dumps(str(setup.package))}",
    ]
    for i, url in enumerate(urls, 1):
        lines += ["", "[[camera]]", f'name = "cam{i}"', f"url = {json.dumps(url)}"]
    return "\n".join(lines) + "\n"


@dataclass
class Cameras:
    """A `video serve` with K cameras, and where their truth goes."""

    proc: Proc
    port: int
    count: int
    truth: Path

    def urls(self) -> list[str]:
        return [f"rtsp://{HOST}:{self.port}/cam{i}" for i in range(1, self.count + 1)]


def start_cameras(setup: Setup, cameras: int, *, scene: bool, tag: str) -> Cameras:
    """`video serve` with K scene or static cameras."""
    folder = Path(tempfile.mkdtemp(prefix=f"{tag}-", dir=setup.root))
    port = free_port()
    config = folder / "video.toml"
    truth = folder / "truth"
    config.write_text(video_config(setup, cameras, scene=scene, port=port, truth=truth))
    argv = [script("video"), "serve", "--config", str(config)]
    return Cameras(
        launch("video serve", argv, folder / "video.log", port=port), port, cameras, truth
    )


def start_edge(setup: Setup, cameras: Cameras, tag: str) -> Proc:
    """`edge run` on those cameras, with a fresh data dir."""
    folder = Path(tempfile.mkdtemp(prefix=f"{tag}-edge-", dir=setup.root))
    config = folder / "edge.toml"
    config.write_text(edge_config(setup, cameras.urls(), folder / "data"))
    return launch("edge run", [script("edge"), "run", "--config", str(config)], folder / "edge.log")


# --- the hub's view ----------------------------------------------------------------------------


def latest_status(reader: Reader) -> m.NodeStatus | None:
    row = reader.db().execute("SELECT node FROM edge_status WHERE edge = ?", (EDGE,)).fetchone()
    return None if row is None else m.NodeStatus.model_validate_json(row["node"])


def next_status(reader: Reader, after_ms: int, edge: Proc, timeout: float) -> m.NodeStatus:
    """The first status the edge measured after `after_ms` (polled as it reaches the hub)."""
    deadline = time.monotonic() + timeout
    while True:
        status = latest_status(reader)
        if status is not None and status.sent_at > after_ms:
            return status
        edge.check()
        if time.monotonic() > deadline:
            raise RuntimeError(f"no status from the edge within {timeout:.0f} s:\n{tail(edge.log)}")
        time.sleep(0.05)


def wait_online(reader: Reader, edge: Proc, cameras: int) -> m.NodeStatus:
    """A status of this edge run with every camera online and processing."""
    started_ms = int(time.time() * 1000)
    deadline = time.monotonic() + SETUP_TIMEOUT_S
    while time.monotonic() < deadline:
        status = next_status(reader, started_ms, edge, SETUP_TIMEOUT_S)
        started_ms = status.sent_at
        if len(status.cameras) == cameras and all(c.online and c.processed for c in status.cameras):
            return status
    raise RuntimeError(f"the edge's {cameras} cameras did not all come online:\n{tail(edge.log)}")


def now_ms() -> int:
    return int(time.time() * 1000)


# --- one measured window -----------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """An edge with K cameras between two of its statuses, and the CPU of every process."""

    cameras: int
    seconds: float
    expected: float  # frames the cameras should have sent meanwhile (10 fps each)
    frames_in: int  # frames the edge read
    processed: int
    dropped: int  # read, then overwritten before the vision thread took them
    worst: float  # the worst camera's share of missed frames
    cpu_s: dict[str, float] = field(default_factory=dict)

    def missed(self) -> float:
        """Share of the frames the cameras should have sent that were not processed."""
        return max(0.0, 1 - self.processed / self.expected)

    def ms_per_frame(self) -> float:
        return 1000 * self.cpu_s["edge"] / max(1, self.processed)

    def describe(self, label: str) -> str:
        cores = "  ".join(f"{k} {v / self.seconds:4.2f}" for k, v in self.cpu_s.items())
        return (
            f"{label:9} {self.cameras:3d} cameras  {self.processed:6d}/{self.expected:6.0f} frames "
            f"processed  missed {100 * self.missed():5.1f}% (worst camera "
            f"{100 * self.worst:5.1f}%; read {self.frames_in}, dropped {self.dropped})  "
            f"edge {self.ms_per_frame():.2f} ms/frame  cores: {cores}"
        )


def _cpu(procs: dict[str, int]) -> dict[str, float]:
    return {name: tree_cpu_s(pid) for name, pid in procs.items()}


def measure_window(
    reader: Reader, edge: Proc, procs: dict[str, int], *, cameras: int, seconds: float
) -> Window:
    """Count from the edge's next status to the first one at least `seconds` later; the CPU
    of `procs` (name: pid) over the same span, read as each of the two statuses is seen."""
    s0 = next_status(reader, now_ms(), edge, STATUS_TIMEOUT_S)
    cpu0 = _cpu(procs)
    s1 = next_status(reader, s0.sent_at + int(seconds * 1000) - 100, edge, seconds + 20)
    cpu1 = _cpu(procs)
    span = (s1.sent_at - s0.sent_at) / 1000
    before = {c.camera: c for c in s0.cameras}
    if len(before) != cameras or {c.camera for c in s1.cameras} != set(before):
        raise RuntimeError(f"the edge reports {len(s1.cameras)} cameras, not {cameras}")
    deltas = [
        (c.frames_in - before[c.camera].frames_in, c.processed - before[c.camera].processed,
         c.dropped - before[c.camera].dropped)
        for c in s1.cameras
    ]  # fmt: skip
    expected = FPS * span
    return Window(
        cameras=cameras,
        seconds=span,
        expected=expected * len(deltas),
        frames_in=sum(d[0] for d in deltas),
        processed=sum(d[1] for d in deltas),
        dropped=sum(d[2] for d in deltas),
        worst=max(max(0.0, 1 - d[1] / expected) for d in deltas),
        cpu_s={k: cpu1[k] - cpu0[k] for k in procs},
    )


def run_edge_window(
    setup: Setup, cameras: Cameras, reader: Reader, args: argparse.Namespace, tag: str
) -> Window:
    """A fresh `edge run` on `cameras`: wait for all, warm up, measure one window, stop it."""
    edge = start_edge(setup, cameras, tag)
    try:
        wait_online(reader, edge, cameras.count)
        time.sleep(args.warmup)
        procs = {"edge": edge.pid, "video": cameras.proc.pid, "hub": args.hub_pid}
        return measure_window(reader, edge, procs, cameras=cameras.count, seconds=args.seconds)
    except BaseException:
        print(f"edge log, last lines:\n{tail(edge.log)}", file=sys.stderr)
        raise
    finally:
        stop(edge)
        args.warnings += warnings_in(edge.log)


# --- the bare reader: the decoding floor -------------------------------------------------------


def reader_main(urls: list[str]) -> None:
    """In the reader process: read every URL on a thread of its own, as the edge's RtspSource
    opens it (FFmpeg, TCP first, the same timeouts), and only count; at each line on stdin,
    print the frames read so far, per camera, as one JSON line."""
    os.environ[OPTIONS_VARIABLE] = "rtsp_transport;tcp"
    counts = [0] * len(urls)

    def read(i: int) -> None:
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, 10_000, cv2.CAP_PROP_READ_TIMEOUT_MSEC, 5_000]
        capture = cv2.VideoCapture(urls[i], cv2.CAP_FFMPEG, params)
        while capture.read()[0]:
            counts[i] += 1
        print(f"reader: {urls[i]} ended after {counts[i]} frames", file=sys.stderr, flush=True)

    for i in range(len(urls)):
        threading.Thread(target=read, args=(i,), daemon=True).start()
    for _ in sys.stdin:
        print(json.dumps(counts), flush=True)


@dataclass(frozen=True)
class Bare:
    """The bare reader over one window."""

    cameras: int
    seconds: float
    frames: int
    cpu_s: float

    def ms_per_frame(self) -> float:
        return 1000 * self.cpu_s / max(1, self.frames)

    def describe(self, label: str) -> str:
        return (
            f"{label:9} {self.cameras:3d} cameras  {self.frames:6d}/"
            f"{FPS * self.seconds * self.cameras:6.0f} frames read  "
            f"bare reader {self.ms_per_frame():.2f} ms/frame  cores: reader "
            f"{self.cpu_s / self.seconds:4.2f}"
        )


def _counts(proc: subprocess.Popen[str]) -> list[int]:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write("\n")
    proc.stdin.flush()
    line = proc.stdout.readline()
    if not line:
        raise RuntimeError("the bare reader died")
    counts: list[int] = json.loads(line)
    return counts


def measure_bare(cameras: Cameras, args: argparse.Namespace, log: Path) -> Bare:
    """The bare reader on `cameras`: wait for a frame of each, warm up, measure a window."""
    argv = [sys.executable, "-m", "bench.edge_capacity", "--read", *cameras.urls()]
    with log.open("wb") as err:
        proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True
        )
    try:
        deadline = time.monotonic() + SETUP_TIMEOUT_S
        while not all(_counts(proc)):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the bare reader did not read every camera:\n{tail(log)}")
            time.sleep(0.2)
        time.sleep(args.warmup)
        frames0, cpu0, t0 = sum(_counts(proc)), tree_cpu_s(proc.pid), time.monotonic()
        time.sleep(args.seconds)
        frames1, cpu1, t1 = sum(_counts(proc)), tree_cpu_s(proc.pid), time.monotonic()
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        proc.kill()
        proc.wait()
    return Bare(cameras.count, t1 - t0, frames1 - frames0, cpu1 - cpu0)


# --- the phases --------------------------------------------------------------------------------


def ramp(setup: Setup, reader: Reader, args: argparse.Namespace) -> list[Window]:
    """The edge on K scene cameras, K rising, until a level misses MISS_LIMIT of its frames."""
    levels = []
    for count in args.levels:
        cameras = start_cameras(setup, count, scene=True, tag=f"ramp{count}")
        try:
            window = run_edge_window(setup, cameras, reader, args, f"ramp{count}")
        finally:
            stop(cameras.proc)
            args.warnings += warnings_in(cameras.proc.log)
        levels.append(window)
        print(window.describe("ramp"), flush=True)
        if window.missed() >= MISS_LIMIT:
            break
    return levels


def no_motion_rounds(
    setup: Setup, reader: Reader, args: argparse.Namespace
) -> list[tuple[Window, Bare]]:
    """Static cameras, read by the edge and by the bare reader in turn, --rounds times."""
    cameras = start_cameras(setup, args.static_cameras, scene=False, tag="static")
    rounds = []
    try:
        for n in range(args.rounds):
            got: dict[str, Window | Bare] = {}
            for kind in ("edge", "bare") if n % 2 == 0 else ("bare", "edge"):
                if kind == "edge":
                    got[kind] = run_edge_window(setup, cameras, reader, args, f"static{n}")
                else:
                    got[kind] = measure_bare(cameras, args, setup.root / f"bare{n}.log")
                print(got[kind].describe("no motion"), flush=True)
            edge, bare = got["edge"], got["bare"]
            assert isinstance(edge, Window) and isinstance(bare, Bare)
            print(
                f"round {n + 1}: edge {edge.ms_per_frame():.3f} ms/frame, bare reader "
                f"{bare.ms_per_frame():.3f} ms/frame, ratio "
                f"{edge.ms_per_frame() / bare.ms_per_frame():.3f}",
                file=sys.stderr,
                flush=True,
            )
            rounds.append((edge, bare))
    finally:
        stop(cameras.proc)
        args.warnings += warnings_in(cameras.proc.log)
    return rounds


@dataclass
class Latency:
    """Visits matched to events, and each one's latencies (ms) to the hub's commit."""

    cameras: int
    window: Window
    visits: int = 0
    missed: int = 0  # no event
    split: int = 0  # more than one event
    wrong: int = 0  # one event, of another class
    extra: int = 0  # events that match no visit
    merged: int = 0  # events that match several visits
    appear: list[float] = field(default_factory=list)  # from the visit's first frame
    recognised: list[float] = field(default_factory=list)  # from the sighting's started_at

    def add(self, truth: Visit, events: list[Sighting]) -> None:
        """One visit and the events overlapping it."""
        self.visits += 1
        if len(events) != 1:
            self.missed += not events
            self.split += len(events) > 1
            return
        (sighting,) = events
        if sighting.label != truth.label:
            self.wrong += 1
        self.appear.append(sighting.received_ms - truth.enter_ms)
        self.recognised.append(sighting.received_ms - sighting.started_at)


def latency_phase(setup: Setup, reader: Reader, args: argparse.Namespace) -> Latency:
    """Scene cameras for --latency-seconds; every whole visit after the warm-up matched to
    the hub's events by camera and time."""
    cameras = start_cameras(setup, args.latency_cameras, scene=True, tag="latency")
    edge = None
    try:
        edge = start_edge(setup, cameras, "latency")
        wait_online(reader, edge, cameras.count)
        ready_ms = now_ms() + WARMUP_MS
        procs = {"edge": edge.pid, "video": cameras.proc.pid, "hub": args.hub_pid}
        window = measure_window(
            reader, edge, procs, cameras=cameras.count, seconds=args.latency_seconds
        )
        end_ms = now_ms()
        time.sleep(LOST_AFTER_MS / 1000 + 3)  # the last visits end at the edge, then travel
        events = [
            s
            for s in read_sightings(setup.hub_data / "hub.db", EDGE)
            if s.received_ms > ready_ms - 60_000
        ]
    finally:
        stop(edge)
        stop(cameras.proc)  # the scenes log their last visits (as partial: left out)
        args.warnings += warnings_in(cameras.proc.log) + (warnings_in(edge.log) if edge else 0)
    latency = Latency(cameras.count, window)
    visits = [
        t for t in read_visits(cameras.truth) if ready_ms < t.enter_ms and t.leave_ms < end_ms
    ]
    for truth in visits:
        latency.add(truth, [e for e in events if overlaps(e, truth)])
    judged = [e for e in events if ready_ms < e.started_at and e.ended_at < end_ms]
    matches = [sum(overlaps(e, t) for t in visits) for e in judged]
    latency.extra = matches.count(0)
    latency.merged = sum(n > 1 for n in matches)
    print(window.describe("latency"), flush=True)
    return latency


# --- the summary -------------------------------------------------------------------------------


def report_capacity(levels: list[Window]) -> dict[str, object]:
    passing = [lv.cameras for lv in levels if lv.missed() < MISS_LIMIT]
    cameras = max(passing, default=0)
    lower_bound = len(passing) == len(levels)
    print(
        f"capacity          {cameras} cameras at 10 fps with < {100 * MISS_LIMIT:.0f}% missed "
        f"frames (levels {', '.join(str(lv.cameras) for lv in levels)}"
        f"{'; every level passed, so at least that' if lower_bound else ''}; goal 8)"
    )
    return {
        "cameras_at_10fps": cameras,
        "cameras_is_lower_bound": lower_bound,
        "missed_fraction_by_cameras": {str(lv.cameras): round(lv.missed(), 4) for lv in levels},
        "worst_camera_missed_by_cameras": {str(lv.cameras): round(lv.worst, 4) for lv in levels},
        "edge_ms_per_frame_by_cameras": {
            str(lv.cameras): round(lv.ms_per_frame(), 3) for lv in levels
        },
        "cores_by_cameras": {
            str(lv.cameras): {k: round(v / lv.seconds, 2) for k, v in lv.cpu_s.items()}
            for lv in levels
        },
    }


def report_no_motion(rounds: list[tuple[Window, Bare]]) -> dict[str, object]:
    ratios = [edge.ms_per_frame() / bare.ms_per_frame() for edge, bare in rounds]
    ratio = statistics.median(ratios)
    edge_ms = statistics.median(edge.ms_per_frame() for edge, _ in rounds)
    bare_ms = statistics.median(bare.ms_per_frame() for _, bare in rounds)
    print(
        f"no-motion cost    edge {edge_ms:.3f} ms, bare reader {bare_ms:.3f} ms of CPU a frame "
        f"at {rounds[0][0].cameras} static cameras; no_motion_cost_ratio {ratio:.3f} "
        f"(rounds {', '.join(f'{r:.3f}' for r in ratios)}; goal 1.3)"
    )
    return {
        "no_motion_cost_ratio": round(ratio, 3),
        "edge_ms_per_frame_no_motion": round(edge_ms, 4),
        "bare_reader_ms_per_frame": round(bare_ms, 4),
        "ratio_rounds": [round(r, 3) for r in ratios],
        "no_motion_cameras": rounds[0][0].cameras,
        "no_motion_missed_fraction": [round(edge.missed(), 4) for edge, _ in rounds],
    }


def report_latency(latency: Latency) -> dict[str, object]:
    lines = (
        ("first frame", latency.appear, "the issue's figure"),
        ("first recognised", latency.recognised, "confirmation (min_frames) and delivery"),
    )
    print(
        f"event latency     {latency.cameras} scene cameras, {latency.visits} visits: "
        f"{len(latency.appear)} one event each ({latency.wrong} of the wrong class), "
        f"{latency.missed} none, {latency.split} several; events of no visit {latency.extra}, "
        f"of several visits {latency.merged}"
    )
    for name, values, note in lines:
        print(
            f"  {name + ' -> commit':24} p50 {percentile(values, 50):7.0f} ms  "
            f"p95 {percentile(values, 95):7.0f}"
            f" ms  max {max(values, default=float('nan')):7.0f} ms  ({note})"
        )
    print("  goal: p95 <= 500 ms from the object's first frame")
    return {
        "p95_event_latency_ms": round(percentile(latency.appear, 95)),
        "p50_event_latency_ms": round(percentile(latency.appear, 50)),
        "event_latency_from": "the object's first frame (truth enter_ms) to the hub's commit",
        "p95_recognised_to_commit_ms": round(percentile(latency.recognised, 95)),
        "p50_recognised_to_commit_ms": round(percentile(latency.recognised, 50)),
        "lost_after_ms": LOST_AFTER_MS,
        "latency_cameras": latency.cameras,
        "latency_visits": latency.visits,
        "latency_matched": len(latency.appear),
        "latency_wrong_class": latency.wrong,
        "latency_missed": latency.missed,
        "latency_split": latency.split,
        "latency_extra_events": latency.extra,
        "latency_merged_events": latency.merged,
        "latency_phase_missed_fraction": round(latency.window.missed(), 4),
    }


# --- the run -----------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    """Options; --quick sets shorter windows and fewer levels unless they are given."""
    description = " ".join(__doc__.split("\n\n")[0].split())
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="levels 2 and 8, 10 s, 2 rounds")
    parser.add_argument(
        "--phases", nargs="+", choices=PHASES, default=list(PHASES), help="phases to run (all)"
    )
    parser.add_argument("--levels", type=int, nargs="+", help=f"cameras per level {LEVELS}")
    parser.add_argument("--seconds", type=float, help="measured window, multiple of 5 s (15)")
    parser.add_argument("--warmup", type=float, help="seconds after every camera is up (5)")
    parser.add_argument("--rounds", type=int, help="rounds of edge against bare reader (3)")
    parser.add_argument("--static-cameras", type=int, default=8, help="for the no-motion cost")
    parser.add_argument("--latency-cameras", type=int, default=8, help="for the latency")
    parser.add_argument("--latency-seconds", type=float, help="latency phase length (60)")
    parser.add_argument("--model", type=Path, help="a package to run instead of the colour model")
    parser.add_argument("--trainer-key", type=Path, help="the public key that signed --model")
    parser.add_argument("--root", type=Path, help="make the temporary folder here")
    args = parser.parse_args()
    quick = {"levels": QUICK_LEVELS, "seconds": 10.0, "warmup": 3.0, "rounds": 2}
    full = {"levels": LEVELS, "seconds": 15.0, "warmup": 5.0, "rounds": 3}
    for name, value in (quick if args.quick else full).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.latency_seconds is None:
        args.latency_seconds = 30.0 if args.quick else 60.0
    if (args.model is None) != (args.trainer_key is None):
        parser.error("--model and --trainer-key go together")
    if args.rounds < 1 or args.seconds <= 0 or args.warmup < 0 or min(args.levels) < 1:
        parser.error("--rounds, --seconds and --levels must be positive, --warmup not negative")
    args.levels = sorted(args.levels)
    args.warnings = 0
    return args


def prepare(root: Path, args: argparse.Namespace) -> Setup:
    """The dataset, the static picture, the model, and the hub's data directory."""
    dataset = make_dataset(root / "colours")
    package, trainer_key = make_model(root, args)
    port = free_port()
    credential = init_hub(root / "hub", port)
    static = make_static(dataset, root / "static")
    return Setup(root, dataset, static, package, trainer_key, credential, root / "hub", port)


def main() -> None:
    """Set up, run every phase against one hub, print the figures and the JSON summary."""
    if sys.argv[1:2] == ["--read"]:
        reader_main(sys.argv[2:])
        return
    if sys.argv[1:2] == ["--sign-colour-model"]:
        sign_colour_model(Path(sys.argv[2]), Path(sys.argv[4]))
        return
    args = parse_args()
    started = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="vigia-bench-edge-", dir=args.root))
    hub = None
    try:
        setup = prepare(root, args)
        argv = [script("hub"), "serve", "--data", str(setup.hub_data), "--host", HOST]
        hub = launch("hub serve", argv, root / "hub.log", port=setup.hub_port)
        args.hub_pid = hub.pid
        reader = Reader(setup.hub_data / "hub.db")
        summary: dict[str, object] = {}
        if "capacity" in args.phases:
            summary.update(report_capacity(ramp(setup, reader, args)))
        if "no-motion" in args.phases:
            summary.update(report_no_motion(no_motion_rounds(setup, reader, args)))
        if "latency" in args.phases:
            summary.update(report_latency(latency_phase(setup, reader, args)))
    except BaseException:
        print(f"hub log, last lines:\n{tail(root / 'hub.log')}", file=sys.stderr)
        raise
    finally:
        stop(hub)
        shutil.rmtree(root, ignore_errors=True)
    model = "the tests' tiny int8 colour model, 96x96" if args.model is None else str(args.model)
    summary.update(
        model=model,
        log_warnings=args.warnings,
        seconds=args.seconds,
        cpus=os.cpu_count(),
        run_s=round(time.monotonic() - started, 1),
    )
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
