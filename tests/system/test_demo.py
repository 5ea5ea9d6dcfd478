"""The demo's chain at tiny sizes: Fashion-MNIST from Debian, a model trained on two local
workers, the hub, scene cameras, an edge, the model pushed through the hub, the terminal
watcher; the sightings at the hub match the scenes' ground truth."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from demo.cli import DemoOptions, run_demo
from demo.processes import tail
from demo.system import EDGE
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
