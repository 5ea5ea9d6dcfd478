"""The demo's chain at tiny sizes: Fashion-MNIST from Debian, a model trained on two local
workers, the hub, scene cameras, an edge, the model pushed through the hub, the terminal
watcher; the sightings at the hub match the scenes' ground truth."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from demo.cli import DemoOptions, run_demo
from demo.processes import script, tail
from demo.system import EDGE, run
from demo.truth import read_sightings, read_visits, score

CLASSES = ("Trouser", "Bag", "Sneaker")  # distinct enough for a tiny model to tell apart
SETTLE_MS = 4000  # a visit ends 1.5 s after its object leaves, then travels to the hub


@pytest.mark.timeout(420)
def test_the_demo_chain_delivers_sightings_that_match_the_ground_truth(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    shown: list[tuple[float, str]] = []
    options = DemoOptions(
        workdir=tmp_path / "demo",
        cameras=2,
        limit=40,
        epochs=4,
        classes=CLASSES,
        objects_per_class=10,
        watcher="cli",
        seconds=40,
    )
    layout = run_demo(options, show=lambda text: shown.append((time.time() * 1000, text)))
    texts = [text for _, text in shown]
    for step in range(1, 8):
        assert any(text.startswith(f"[{step}/7]") for text in texts), texts
    assert any("2 local workers" in text and "demo budget" in text for text in texts)
    stops = [text for text in texts if text.startswith("stopped the")]
    assert len(stops) == 5 and all("(exit code 0)" in text for text in stops), stops

    live_ms = next(at for at, text in shown if text.startswith("the edge runs"))
    stopped_ms = next(at for at, text in shown if text.startswith("stopped the edge"))
    visits = read_visits(layout.truth)
    sightings = read_sightings(layout.hub / "hub.db", EDGE)
    result = score(visits, sightings, int(live_ms) + 2000, int(stopped_ms) - SETTLE_MS)
    logs = f"edge log:\n{tail(layout.logs / 'edge.log')}"
    assert result.visits >= 6, logs
    assert result.recall >= 0.9, (result, logs)
    assert result.precision >= 0.9, (result, logs)
    assert result.label_accuracy >= 0.7, result.wrong

    out = capfd.readouterr().out  # the terminal watcher's lines
    assert f"@ {EDGE}" in out and "sighting" in out


def test_ctrl_c_stops_every_part_cleanly(tmp_path: Path) -> None:
    """`vigia-demo` with a ready model (the tests' colour model, signed by the run's key), in a
    folder an earlier run left its hub in: once sightings flow, SIGINT (Ctrl-C) stops the edge,
    the cameras and the hub with SIGTERM, each exiting 0, and the demo exits 0 with nothing of
    it left running."""
    workdir = tmp_path / "demo"
    run([script("hub"), "init", str(workdir / "hub")], quiet=True)  # an earlier run's
    run([script("trainer"), "keygen", "--keys", str(workdir / "keys")], quiet=True)
    package = tmp_path / "colour.vpkg"
    sign = [sys.executable, "-m", "bench.edge_capacity", "--sign-colour-model", str(package)]
    run([*sign, "--trainer-key", str(workdir / "keys" / "trainer.key")], quiet=True)
    argv = [script("vigia-demo"), "--workdir", str(workdir), "--model", str(package)]
    demo = subprocess.Popen(
        [*argv, "--limit", "20", "--cameras", "2", "--watcher", "none"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert demo.stdout is not None
    lines = []
    for line in demo.stdout:
        lines.append(line.rstrip())
        if "sightings flow to the hub" in line:
            demo.send_signal(signal.SIGINT)
    assert demo.wait(30) == 0, "\n".join(lines)
    stops = [line for line in lines if line.startswith("demo: stopped the")]
    assert [line.split(" (")[0] for line in stops] == [
        "demo: stopped the edge",
        "demo: stopped the video server",
        "demo: stopped the hub",
    ], lines
    assert all("(exit code 0)" in line for line in stops), stops
    assert lines[-1] == "demo: Ctrl-C: every part stopped"
    assert not running_under(workdir)


def running_under(folder: Path) -> list[int]:
    """Pids of processes whose command line names `folder`."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if entry.name.isdigit() and str(folder).encode() in cmdline:
            found.append(int(entry.name))
    return found
