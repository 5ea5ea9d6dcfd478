"""`video list` and `video serve`: cameras from flags and video.toml; errors name the problem."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from video.cli import main

VIDEO = Path(sys.executable).parent / "video"  # the console script


def _list(capsys: pytest.CaptureFixture[str], *argv: str) -> list[str]:
    assert main(["list", *argv]) == 0
    return capsys.readouterr().out.splitlines()


def test_list_names_one_url_per_scene_camera(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    lines = _list(capsys, "--scenes", str(tmp_path), "--cameras", "3", "--host", "10.0.0.5")
    assert lines == [f"cam{i}\trtsp://10.0.0.5:8554/cam{i}" for i in (1, 2, 3)]


def test_list_mixes_config_and_flag_cameras(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = tmp_path / "video.toml"
    config.write_text(
        '[server]\nhost = "192.168.1.2"\nport = 9554\n\n'
        '[[camera]]\nname = "door"\nsource = "file:/srv/door.mp4"\n'
    )
    lines = _list(capsys, "--config", str(config), "--camera", "card=testcard")
    assert lines == ["door\trtsp://192.168.1.2:9554/door", "card\trtsp://192.168.1.2:9554/card"]


@pytest.mark.parametrize(
    ("toml", "flags", "named"),
    [
        ("[defaults]\nfsp = 10\n", [], "defaults.fsp"),
        ("[defaults]\nwidth = 641\n", [], "defaults.width"),
        ('[[camera]]\nname = "a b"\nsource = "testcard"\n', [], "camera.0.name"),
        ('[[camera]]\nname = "x"\nsource = "scene"\n', [], "scene.dataset"),
        ("", ["--camera", "x=testcard", "--camera", "x=testcard"], "repeated: x"),
        ("", ["--camera", "nosource"], "NAME=SOURCE"),
        ("", ["--camera", "x=testcard", "--size", "640by480"], "WIDTHxHEIGHT"),
        ("", [], "no cameras"),
    ],
)
def test_bad_settings_are_refused_naming_the_key(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, toml: str, flags: list[str], named: str
) -> None:
    config = tmp_path / "video.toml"
    config.write_text(toml)
    assert main(["list", "--config", str(config), *flags]) == 2
    assert named in capsys.readouterr().err


def test_serve_refuses_a_missing_video_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = tmp_path / "nothere.mp4"
    code = main(["serve", "--camera", f"door=file:{missing}", "--port", "0", "--rtp-port", "0"])
    assert code == 2
    assert str(missing) in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _options(port: int, deadline_s: float = 20.0) -> bytes:
    """Send OPTIONS until the server answers (it is starting)."""
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
                sock.sendall(b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n")
                return sock.recv(4096)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_serve_answers_rtsp_and_stops_cleanly_on_sigterm() -> None:
    port = _free_port()
    command = [str(VIDEO), "serve", "--camera", "card=testcard"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--rtp-port", "0", "--size", "320x240"]
    proc = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        reply = _options(port)
        assert reply.startswith(b"RTSP/1.0 200 OK\r\nCSeq: 1\r\n")
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert f"rtsp://127.0.0.1:{port}/card" in err
    assert "stopping" in err
