"""Real clients from Debian packages play the server, and what they decode is the test card.

ffprobe, ffmpeg, GStreamer's rtspsrc and OpenCV (through its FFmpeg back end) each play the
test-card camera over TCP (interleaved) and over UDP; every frame they decode must be the card
(PSNR of at least 35 dB against `test_card(320, 240)`). A spy on the server's session table checks
that each client really used the transport it was asked for. A client binary that is missing
skips its test; a client that hangs fails after a timeout.
"""

from __future__ import annotations

import itertools
import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.video.rtsp.conftest import HEIGHT, WIDTH, RunningServer
from tests.video.rtsp.players import Lower, frames_of
from video.rtsp.session import Session
from video.sources.base import Pixels
from video.sources.testcard import psnr, test_card

TIMEOUT_S = 20.0
MIN_PSNR_DB = 35.0
FFMPEG_FRAMES = 10
FFPROBE_FRAMES = 6
FPS = 10.0  # conftest's default
TRANSPORTS: tuple[Lower, ...] = ("tcp", "udp")


def _need(binary: str) -> str:
    """The path of a client binary; skip the test when it is not installed."""
    path = shutil.which(binary)
    if path is None:
        pytest.skip(f"{binary} is not installed (Debian package ffmpeg / gstreamer1.0-tools)")
    return path


def _run(command: list[str]) -> subprocess.CompletedProcess[bytes]:
    """Run a client to completion; fail (not hang) when it takes over TIMEOUT_S."""
    try:
        done = subprocess.run(
            command, capture_output=True, timeout=TIMEOUT_S, stdin=subprocess.DEVNULL, check=False
        )
    except subprocess.TimeoutExpired as exc:
        err = (exc.stderr or b"").decode(errors="replace")[-2000:]
        pytest.fail(f"{command[0]} did not finish within {TIMEOUT_S} s; stderr:\n{err}")
    assert done.returncode == 0, (
        f"{' '.join(command)} exited {done.returncode}:\n{done.stderr.decode(errors='replace')}"
    )
    return done


def _spy_transports(server: RunningServer, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The transport ('tcp'/'udp') of every session the server makes from now on."""
    table = server.server.context.sessions
    seen: list[str] = []
    add = table.add

    def recording_add(session: Session) -> None:
        seen.append(session.transport.lower.value)
        add(session)

    monkeypatch.setattr(table, "add", recording_add)
    return seen


def _assert_card(frames: list[Pixels], at_least: int, client: str) -> None:
    """At least `at_least` frames, each of them the test card."""
    assert len(frames) >= at_least, f"{client}: {len(frames)} frames, wanted {at_least}"
    card = test_card(WIDTH, HEIGHT)
    scores = [psnr(frame, card) for frame in frames]
    assert min(scores) >= MIN_PSNR_DB, f"{client}: PSNR per frame {scores}"


def _assert_pace(pts: list[float]) -> None:
    """Presentation times (from the RTP timestamps) spaced at the stream's frame rate.

    Not ffprobe's r_frame_rate: that is a guess from the timestamps, which carry the capture
    time in whole milliseconds, and their millisecond jitter sometimes makes it guess 40/1.
    """
    fps = (len(pts) - 1) / (pts[-1] - pts[0])
    assert fps == pytest.approx(FPS, rel=0.15), f"frame times {pts}"
    assert all(0.05 < b - a < 0.18 for a, b in itertools.pairwise(pts)), f"frame times {pts}"


@pytest.mark.parametrize("lower", TRANSPORTS)
def test_ffprobe_reports_one_mjpeg_stream_and_its_frames(
    card_server: RunningServer, monkeypatch: pytest.MonkeyPatch, lower: Lower
) -> None:
    ffprobe = _need("ffprobe")
    transports = _spy_transports(card_server, monkeypatch)
    done = _run(
        [ffprobe, "-v", "error", "-rtsp_transport", lower, "-show_streams",
         "-show_entries", "frame=media_type,pts_time,width,height", "-read_intervals",
         f"%+#{FFPROBE_FRAMES}", "-of", "json", card_server.url()]
    )  # fmt: skip
    found = json.loads(done.stdout)
    streams = found["streams"]
    assert len(streams) == 1, streams
    (stream,) = streams
    assert (stream["codec_type"], stream["codec_name"]) == ("video", "mjpeg")
    assert (stream["width"], stream["height"]) == (WIDTH, HEIGHT)
    frames = found["frames"]
    assert len(frames) == FFPROBE_FRAMES, frames
    assert all(
        (f["media_type"], f["width"], f["height"]) == ("video", WIDTH, HEIGHT) for f in frames
    )
    _assert_pace([float(f["pts_time"]) for f in frames])
    assert transports == [lower]


@pytest.mark.parametrize("lower", TRANSPORTS)
def test_ffmpeg_decodes_the_card(
    card_server: RunningServer, monkeypatch: pytest.MonkeyPatch, lower: Lower
) -> None:
    ffmpeg = _need("ffmpeg")
    transports = _spy_transports(card_server, monkeypatch)
    # showinfo logs each decoded frame's presentation time, which ffmpeg takes from the RTP
    # timestamps: their spacing is the frame rate the server keeps.
    done = _run(
        [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "info", "-rtsp_transport", lower,
         "-i", card_server.url(), "-frames:v", str(FFMPEG_FRAMES), "-vf", "showinfo",
         "-f", "rawvideo", "-pix_fmt", "bgr24", "-"]
    )  # fmt: skip
    frames = frames_of(done.stdout)
    assert len(frames) == FFMPEG_FRAMES
    _assert_card(frames, FFMPEG_FRAMES, f"ffmpeg over {lower}")
    log = done.stderr.decode(errors="replace")
    assert re.search(r"Video: mjpeg.*320x240", log), log
    pts = [float(t) for t in re.findall(r"\bpts_time:\s*([0-9.]+)", log)]
    assert len(pts) == FFMPEG_FRAMES, log
    _assert_pace(pts)
    assert transports == [lower]


@pytest.mark.parametrize("lower", TRANSPORTS)
def test_gstreamer_decodes_the_card(
    card_server: RunningServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, lower: Lower
) -> None:
    gst = _need("gst-launch-1.0")
    transports = _spy_transports(card_server, monkeypatch)
    out = tmp_path / "frames.bgr"
    # identity passes eos-after - 1 buffers on, then ends the stream: 4 frames.
    _run(
        [gst, "-q", "rtspsrc", f"location={card_server.url()}", f"protocols={lower}",
         "!", "rtpjpegdepay", "!", "jpegdec", "!", "videoconvert",
         "!", "video/x-raw,format=BGR", "!", "identity", "eos-after=5",
         "!", "filesink", f"location={out}"]
    )  # fmt: skip
    frames = frames_of(out.read_bytes())
    _assert_card(frames, 3, f"GStreamer over {lower}")
    assert transports == [lower]


@pytest.mark.parametrize("lower", TRANSPORTS)
def test_opencv_reads_the_card(
    card_server: RunningServer, monkeypatch: pytest.MonkeyPatch, lower: Lower
) -> None:
    monkeypatch.setenv("OPENCV_FFMPEG_CAPTURE_OPTIONS", f"rtsp_transport;{lower}")
    transports = _spy_transports(card_server, monkeypatch)
    timeouts_ms = int(TIMEOUT_S * 1000)
    capture = cv2.VideoCapture(
        card_server.url(),
        cv2.CAP_FFMPEG,
        [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, timeouts_ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, timeouts_ms],
    )
    try:
        assert capture.isOpened(), "OpenCV could not open the stream"
        assert capture.get(cv2.CAP_PROP_FPS) == pytest.approx(FPS)
        frames: list[Pixels] = []
        started = time.monotonic()
        while len(frames) < 5 and time.monotonic() - started < TIMEOUT_S:
            ok, frame = capture.read()
            assert ok, f"read failed after {len(frames)} frames"
            frames.append(np.asarray(frame, np.uint8))
    finally:
        capture.release()
    assert all(frame.shape == (HEIGHT, WIDTH, 3) for frame in frames)
    _assert_card(frames, 5, f"OpenCV over {lower}")
    assert transports == [lower]
