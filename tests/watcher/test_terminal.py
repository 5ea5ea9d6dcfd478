"""`watcher --cli` against a real hub: the backlog as lines with `--once`, filters, Spanish,
live lines as events arrive, and bad flags refused with a message naming the problem."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.hub.conftest import RunningHub
from tests.watcher.conftest import WAIT_S, photo_event, send
from watcher.app import run_terminal
from watcher.cli import build_parser, main, options_from


def _argv(hub: RunningHub, *extra: str) -> list[str]:
    path = hub.data.credentials / "watcher-1.toml"
    address = f"127.0.0.1:{hub.hub.server.address[1]}"
    return ["--credential", str(path), "--hub", address, "--cli", *extra]


def test_once_prints_the_backlog_with_filters(
    hub: RunningHub, capsys: pytest.CaptureFixture[str]
) -> None:
    edge = hub.dial("edge-1")
    old = int(time.time() * 1000) - 3 * 3_600_000
    kept = photo_event(label="cat", camera="door")[0]
    for event, body in [
        (kept, photo_event()[1]),
        photo_event(label="dog", camera="door"),
        photo_event(label="cat", camera="yard"),
        photo_event(label="cat", camera="door", started_at=old),
    ]:
        send(edge, event, body)
    assert main(_argv(hub, "--once", "--label", "cat", "--camera", "door", "--since", "1h")) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2, lines
    assert "sighting" in lines[0] and "cat" in lines[0] and "door @ edge-1" in lines[0]
    assert kept.event_id in lines[0] and "#1" in lines[0]
    assert lines[1] == "-- caught up at seq 1; live from here --"  # the last entry it sent


def test_text_filter_and_spanish(hub: RunningHub, capsys: pytest.CaptureFixture[str]) -> None:
    edge = hub.dial("edge-1")
    send(edge, *photo_event(label="person"))
    send(edge, *photo_event(label="cat"))
    assert main(_argv(hub, "--once", "--lang", "es", "--text", "PERS")) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and "avistamiento" in lines[0] and "person" in lines[0]
    assert lines[1] == "-- al día en seq 2; en vivo desde aquí --"


def test_live_lines(hub: RunningHub) -> None:
    out, stop = io.StringIO(), threading.Event()
    options = options_from(build_parser().parse_args(_argv(hub)))
    runner = threading.Thread(target=run_terminal, args=(options, out, stop))
    runner.start()
    try:
        _wait_for(out, "caught up at seq 0")
        event, body = photo_event(label="fox", camera="yard")
        send(hub.dial("edge-1"), event, body)
        _wait_for(out, event.event_id)
        assert "fox" in out.getvalue() and "yard @ edge-1" in out.getvalue()
    finally:
        stop.set()
        runner.join(10)
    assert not runner.is_alive()


def _wait_for(out: io.StringIO, text: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while text not in out.getvalue():
        assert time.monotonic() < deadline, f"no {text!r} in {out.getvalue()!r}"
        time.sleep(0.05)


def test_bad_flags_are_named(hub: RunningHub, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(_argv(hub, "--since", "last tuesday"))
    assert exited.value.code == 2
    assert "cannot read the time 'last tuesday'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*_argv(hub), "--hub", "hub.local"])
    assert "'hub.local' is not HOST:PORT" in capsys.readouterr().err
    edge_cred = hub.data.credentials / "edge-1.toml"
    assert main(["--credential", str(edge_cred), "--cli", "--once"]) == 2
    assert "role 'edge' cannot read the log" in capsys.readouterr().err
    assert main(["--credential", str(hub.data.credentials / "nope.toml"), "--cli"]) == 2
    assert "nope.toml: no such file" in capsys.readouterr().err


def test_without_a_display_the_gui_says_to_use_cli(hub: RunningHub) -> None:
    """The real command, in a process of its own with no DISPLAY (as over SSH)."""
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    argv = [a for a in _argv(hub) if a != "--cli"]
    exe = Path(sys.executable).parent / "watcher"
    done = subprocess.run(
        [exe, *argv], check=False, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "cannot open a window" in done.stderr and "use --cli" in done.stderr
