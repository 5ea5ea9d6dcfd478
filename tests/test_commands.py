"""Every command installs, answers --help and --version, and the edge stays TensorFlow-free."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = ["video", "edge", "hub", "trainer", "watcher"]


@pytest.mark.parametrize("command", COMMANDS)
def test_help_and_version(command: str) -> None:
    exe = shutil.which(command, path=str(Path(sys.executable).parent))
    assert exe is not None, f"console script '{command}' is not installed"
    shown = subprocess.run([exe, "--help"], capture_output=True, text=True, check=True).stdout
    assert shown.startswith(f"usage: {command}")
    assert "--verbose" in shown and "--version" in shown
    version = subprocess.run([exe, "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.strip().startswith(f"{command} (vigia ")


def _extras() -> dict[str, list[str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras: dict[str, list[str]] = project["optional-dependencies"]
    return extras


def test_the_edge_installs_without_tensorflow() -> None:
    edge = " ".join(_extras()["edge"]).lower()
    assert "ai-edge-litert" in edge and "opencv-python-headless" in edge
    assert "tensorflow" not in edge and "keras" not in edge and "torch" not in edge


def test_the_trainer_picks_tensorflow_by_machine() -> None:
    trainer = _extras()["trainer"]
    assert any(d.startswith("tensorflow-cpu") and "x86_64" in d for d in trainer)
    assert any(d.startswith("tensorflow==") and "aarch64" in d for d in trainer)
    assert any(d.startswith("tf-keras") for d in trainer)


def test_all_means_every_part() -> None:
    assert _extras()["all"] == ["vigia[edge,hub,watcher,video,trainer]"]
