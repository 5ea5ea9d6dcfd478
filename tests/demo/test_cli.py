"""`vigia-demo`'s options: cameras from CAMERAS or a flag, classes checked, the watcher chosen."""

from __future__ import annotations

from pathlib import Path

import pytest

from demo.cli import parse_args, watcher_mode
from trainer.dataset.fashion import CLASSES


def test_cameras_come_from_the_environment_unless_the_flag_says(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CAMERAS", "8")
    assert parse_args([]).cameras == 8
    assert parse_args(["--cameras", "3"]).cameras == 3
    monkeypatch.delenv("CAMERAS")
    assert parse_args([]).cameras == 4


def test_defaults_learn_every_class_on_two_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CAMERAS", raising=False)
    options = parse_args(["--workdir", "/tmp/x"])
    assert options.classes == CLASSES and len(CLASSES) == 10
    assert (options.workers, options.workdir, options.model) == (2, Path("/tmp/x"), None)


def test_a_subset_of_classes_is_named_and_an_unknown_one_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert parse_args(["--classes", "Trouser,Bag"]).classes == ("Trouser", "Bag")
    with pytest.raises(SystemExit):
        parse_args(["--classes", "Trouser,Hat"])
    assert "not a Fashion-MNIST class: Hat" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--cameras", "0"], ["--cameras", "65"], ["--workers", "0"]])
def test_impossible_sizes_are_refused(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(argv)


def test_the_watcher_is_the_terminal_one_without_a_display(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    assert watcher_mode("auto") == "cli"
    monkeypatch.setenv("DISPLAY", ":99")
    assert watcher_mode("auto") == "gui"
    assert watcher_mode("none") == "none"
