"""Camera URLs, V4L2 and Pi cameras (their failure paths and the calls made), backoff, and the
capture thread's reconnection and state reports against scripted sources."""

from __future__ import annotations

import itertools
import random
import sys
import time
import types
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from edge.capture.backoff import Backoff
from edge.capture.camera import Camera, CameraOptions
from edge.capture.file import FileSource
from edge.capture.latest import LatestFrame
from edge.capture.picamera import PicameraSource
from edge.capture.rtsp import RtspSource
from edge.capture.source import CaptureError, Picture, Source, SourceOptions
from edge.capture.url import check_url, make_source
from edge.capture.v4l2 import V4l2Source


def test_urls_name_their_source() -> None:
    options = SourceOptions()
    assert isinstance(make_source("rtsp://cam.local:554/s1", options), RtspSource)
    assert isinstance(make_source("rtsps://cam.local/s1", options), RtspSource)
    file_source = make_source("file:/videos/a b.mp4", options)
    assert isinstance(file_source, FileSource) and file_source.path == Path("/videos/a b.mp4")
    v4l2 = make_source("v4l2:/dev/video2", options)
    assert isinstance(v4l2, V4l2Source) and v4l2.device == "/dev/video2"
    pi = make_source("picamera2:1", options)
    assert isinstance(pi, PicameraSource) and pi.index == 1
    first = make_source("picamera2:", options)
    assert isinstance(first, PicameraSource) and first.index == 0


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://cam/stream", "must start with"),
        ("file:", "names no file"),
        ("v4l2:", "names no device"),
        ("picamera2:front", "is a number"),
    ],
)
def test_bad_urls_are_refused_before_anything_opens(url: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        check_url(url)
    with pytest.raises(ValueError, match=problem):
        CameraOptions("cam", url)


def test_source_options_are_checked() -> None:
    with pytest.raises(ValueError, match="transports"):
        SourceOptions(transports=("http",))
    with pytest.raises(ValueError, match="timeouts"):
        SourceOptions(read_timeout_s=0)


def test_a_missing_v4l2_device_does_not_open(tmp_path: Path) -> None:
    source = V4l2Source(str(tmp_path / "video9"), SourceOptions())
    with pytest.raises(CaptureError, match="cannot open"):
        source.open()
    with pytest.raises(CaptureError, match="not open"):
        source.read()
    source.close()


# --- picamera2, against a fake module ----------------------------------------------------------


class FakeRequest:
    def __init__(self, camera: FakePicamera2) -> None:
        self.camera = camera
        self.released = False

    def make_array(self, stream: str) -> np.ndarray:
        self.camera.calls.append(("make_array", stream))
        if stream == "main":
            return np.full((720, 1280, 3), 7, np.uint8)
        width, height = 320, 240
        stride = 384  # rows are padded, as libcamera does
        yuv = np.full((height * 3 // 2, stride), 128, np.uint8)
        yuv[:height, :width] = 50  # Y
        return yuv

    def release(self) -> None:
        self.released = True
        self.camera.calls.append(("release",))


class FakePicamera2:
    instances: ClassVar[list[FakePicamera2]] = []
    fail_start: ClassVar[bool] = False
    time_out: ClassVar[bool] = False

    def __init__(self, camera_num: int = 0) -> None:
        self.calls: list[tuple[Any, ...]] = [("init", camera_num)]
        self.requests: list[FakeRequest] = []
        FakePicamera2.instances.append(self)

    def create_video_configuration(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("create_video_configuration", kwargs))
        return {"made": kwargs}

    def configure(self, config: dict[str, Any]) -> None:
        self.calls.append(("configure", config))

    def start(self) -> None:
        self.calls.append(("start",))
        if FakePicamera2.fail_start:
            raise RuntimeError("Camera __init__ sequence did not complete.")

    def capture_request(self, wait: bool | None = None) -> str:
        self.calls.append(("capture_request", wait))
        return "job"

    def wait(self, job: str, timeout: float | None = None) -> FakeRequest:
        self.calls.append(("wait", job, timeout))
        if FakePicamera2.time_out:
            raise TimeoutError
        request = FakeRequest(self)
        self.requests.append(request)
        return request

    def stop(self) -> None:
        self.calls.append(("stop",))

    def close(self) -> None:
        self.calls.append(("close",))


@pytest.fixture
def fake_picamera2(monkeypatch: pytest.MonkeyPatch) -> type[FakePicamera2]:
    module = types.ModuleType("picamera2")
    module.Picamera2 = FakePicamera2  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "picamera2", module)
    monkeypatch.setattr(FakePicamera2, "instances", [])
    monkeypatch.setattr(FakePicamera2, "fail_start", False)
    monkeypatch.setattr(FakePicamera2, "time_out", False)
    return FakePicamera2


def test_a_pi_camera_is_configured_with_a_main_and_a_lores_stream(
    fake_picamera2: type[FakePicamera2],
) -> None:
    source = PicameraSource(1, SourceOptions(fps=12.0, read_timeout_s=3.0))
    source.open()
    picture = source.read()
    source.close()
    (camera,) = fake_picamera2.instances
    assert camera.calls[:4] == [
        ("init", 1),
        (
            "create_video_configuration",
            {
                "main": {"size": (1280, 720), "format": "RGB888"},
                "lores": {"size": (320, 240), "format": "YUV420"},
                "controls": {"FrameRate": 12.0},
            },
        ),
        ("configure", {"made": camera.calls[1][1]}),
        ("start",),
    ]
    assert camera.calls[4:] == [
        ("capture_request", False),
        ("wait", "job", 3.0),
        ("make_array", "main"),
        ("make_array", "lores"),
        ("release",),
        ("stop",),
        ("close",),
    ]
    assert picture.pixels.shape == (720, 1280, 3) and int(picture.pixels[0, 0, 0]) == 7
    assert picture.grey is not None and picture.grey.shape == (240, 320)
    assert int(picture.grey.max()) == 50  # the Y plane only: no stride padding, no chroma


def test_pi_camera_failures_are_capture_errors(fake_picamera2: type[FakePicamera2]) -> None:
    fake_picamera2.fail_start = True
    source = PicameraSource(0, SourceOptions())
    with pytest.raises(CaptureError, match="cannot start"):
        source.open()
    assert fake_picamera2.instances[0].calls[-2:] == [("stop",), ("close",)]
    fake_picamera2.fail_start = False
    fake_picamera2.time_out = True
    source.open()
    with pytest.raises(CaptureError, match="no frame in time"):
        source.read()
    source.close()


def test_without_picamera2_the_error_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "picamera2", None)  # import fails, as off a Pi
    with pytest.raises(CaptureError, match="apt install python3-picamera2"):
        PicameraSource(0, SourceOptions()).open()


# --- backoff and the capture thread ------------------------------------------------------------


def test_backoff_doubles_to_its_cap_with_jitter_and_resets() -> None:
    backoff = Backoff(0.5, 10.0, rng=random.Random(1))
    delays = [backoff.next() for _ in range(8)]
    ceilings = [0.5, 1, 2, 4, 8, 10, 10, 10]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert len(set(delays)) == len(delays)  # jittered
    backoff.reset()
    assert 0.25 <= backoff.next() <= 0.5


class ScriptedSource(Source):
    """Plays a script shared by every source the factory makes: 'x' a failed open, a number
    that many frames then a read failure."""

    def __init__(self, script: list[object], log: list[str]) -> None:
        self.script, self.log = script, log
        self.frames = 0

    def open(self) -> None:
        self.log.append("open")
        step = self.script.pop(0) if self.script else "x"
        if step == "x":
            raise CaptureError("refused")
        assert isinstance(step, int)
        self.frames = step

    def read(self) -> Picture:
        if self.frames == 0:
            raise CaptureError("lost")
        self.frames -= 1
        time.sleep(0.005)
        return Picture(np.zeros((8, 8, 3), np.uint8))

    def close(self) -> None:
        self.log.append("close")


def test_the_camera_reports_each_change_once_and_reconnects() -> None:
    script: list[object] = ["x", "x", 3, "x", 2, "x"]
    log: list[str] = []
    states: list[bool] = []
    camera = Camera(
        CameraOptions("yard", "rtsp://cam/s", backoff_initial_s=0.01, backoff_max_s=0.02),
        on_state=lambda _, online: states.append(online),
        source_factory=lambda url, options: ScriptedSource(script, log),
    )
    camera.start()
    deadline = time.monotonic() + 5
    while script and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)
    camera.stop()
    assert not script
    # offline at the first failed open, online at frames, offline at the loss, and so on
    assert states[:4] == [False, True, False, True]
    assert states[-1] is False and all(a != b for a, b in itertools.pairwise(states))
    assert camera.stats().frames_in == 5
    assert log.count("open") == log.count("close") >= 6


def test_a_failing_state_callback_does_not_stop_the_capture() -> None:
    def broken(_: str, __: bool) -> None:
        raise RuntimeError("listener bug")

    latest = LatestFrame()
    camera = Camera(
        CameraOptions("yard", "rtsp://cam/s"),
        on_state=broken,
        sink=latest,
        source_factory=lambda url, options: ScriptedSource([1000], []),
    )
    camera.start()
    try:
        assert latest.take(timeout=2) is not None
        assert latest.take(timeout=2) is not None
        assert camera.online
    finally:
        camera.stop()
