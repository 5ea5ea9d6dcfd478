"""RTSP cameras: read over TCP from our video server, lose it, get it back on the same port."""

from __future__ import annotations

import os
import threading
import time

import pytest

from edge.capture.camera import Camera, CameraOptions
from edge.capture.frame import now_ms
from edge.capture.latest import LatestFrame
from edge.capture.rtsp import (
    FFMPEG_OPTIONS,
    OPTIONS_VARIABLE,
    FfmpegOptions,
    RtspSource,
    redact,
    with_transport,
)
from edge.capture.source import CaptureError, SourceOptions
from tests.edge.capture.conftest import HEIGHT, WIDTH, CardServer
from video.sources.testcard import psnr, test_card

FAST = SourceOptions(open_timeout_s=5, read_timeout_s=2)


def wait_until(condition: object, timeout: float) -> bool:
    """Poll `condition()` every 20 ms for up to `timeout` seconds."""
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return bool(condition())


def test_the_source_reads_the_card_over_tcp_and_leaves_the_variable_as_it_was(
    card_server: CardServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(OPTIONS_VARIABLE, raising=False)
    source = RtspSource(card_server.url(), FAST)
    source.open()
    try:
        assert OPTIONS_VARIABLE not in os.environ
        assert source.transport == "tcp"
        sessions = card_server.server.context.sessions.every() if card_server.server else []
        assert [s.over_udp for s in sessions] == [False]
        pictures = [source.read() for _ in range(3)]
    finally:
        source.close()
    card = test_card(WIDTH, HEIGHT)
    for picture in pictures:
        assert picture.pixels.shape == (HEIGHT, WIDTH, 3) and picture.grey is None
        assert psnr(picture.pixels, card) > 30


def test_a_camera_that_is_not_there_fails_to_open_over_each_transport() -> None:
    source = RtspSource("rtsp://viewer:s3cret@127.0.0.1:9/none", FAST)
    started = time.monotonic()
    with pytest.raises(CaptureError, match="over tcp or udp") as failure:
        source.open()
    assert time.monotonic() - started < 5  # refused at once, not after the open timeout
    assert "s3cret" not in str(failure.value) and "viewer:***@127.0.0.1:9" in str(failure.value)
    with pytest.raises(CaptureError, match="not open"):
        source.read()


def test_a_lost_stream_goes_offline_and_comes_back_on_the_same_port(
    card_server: CardServer,
) -> None:
    states: list[tuple[str, bool]] = []
    options = CameraOptions(
        "door", card_server.url(), FAST, backoff_initial_s=0.1, backoff_max_s=0.5
    )
    latest = LatestFrame()
    camera = Camera(
        options, on_state=lambda name, online: states.append((name, online)), sink=latest
    )
    camera.start()
    try:
        assert wait_until(lambda: camera.stats().frames_in >= 5, 10)
        assert states == [("door", True)]
        first = latest.take(timeout=2)
        assert first is not None and first.camera == "door"
        assert abs(first.captured_ms - now_ms()) < 2000

        card_server.stop()
        assert wait_until(lambda: states[-1] == ("door", False), 8), states
        frames_when_lost = camera.stats().frames_in
        time.sleep(0.6)  # a few failed reconnections
        assert camera.stats().failures >= 2
        assert camera.stats().frames_in == frames_when_lost
        assert not camera.online

        card_server.start()  # the same port again
        assert wait_until(lambda: states[-1] == ("door", True), 10), states
        after = latest.take(timeout=3)
        assert after is not None and after.seq > first.seq
        assert after.pixels.shape == (HEIGHT, WIDTH, 3)
    finally:
        camera.stop()
    assert states == [("door", True), ("door", False), ("door", True), ("door", False)]
    assert not camera.online


def test_the_variable_keeps_other_options_and_is_restored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(OPTIONS_VARIABLE, "rtsp_transport;udp|stimeout;5000000")
    with FFMPEG_OPTIONS.holding("tcp"):
        assert os.environ[OPTIONS_VARIABLE] == "rtsp_transport;tcp|stimeout;5000000"
    assert os.environ[OPTIONS_VARIABLE] == "rtsp_transport;udp|stimeout;5000000"
    assert with_transport(None, "udp") == "rtsp_transport;udp"


def test_opens_share_one_transport_and_the_other_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(OPTIONS_VARIABLE, raising=False)
    guard = FfmpegOptions()
    seen: list[str] = []
    release = threading.Event()

    def hold(transport: str, entered: threading.Event) -> None:
        with guard.holding(transport):
            seen.append(os.environ[OPTIONS_VARIABLE])
            entered.set()
            release.wait(5)

    entered = [threading.Event() for _ in range(3)]
    threads = [
        threading.Thread(target=hold, args=(transport, event))
        for transport, event in zip(("tcp", "tcp", "udp"), entered, strict=True)
    ]
    for thread in threads:
        thread.start()
        time.sleep(0.05)
    assert entered[0].wait(2) and entered[1].wait(2)  # two TCP opens at once
    assert not entered[2].wait(0.2)  # UDP waits for them
    release.set()
    assert entered[2].wait(2)
    for thread in threads:
        thread.join(2)
    assert seen == ["rtsp_transport;tcp", "rtsp_transport;tcp", "rtsp_transport;udp"]
    assert OPTIONS_VARIABLE not in os.environ


def test_redact_hides_only_the_password() -> None:
    assert redact("rtsp://admin:pw@10.0.0.5:554/s1") == "rtsp://admin:***@10.0.0.5:554/s1"
    assert redact("rtsp://10.0.0.5/s1") == "rtsp://10.0.0.5/s1"
