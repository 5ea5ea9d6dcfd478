"""`trainer dataset import / check` through the command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from trainer.cli import main


def test_import_then_check_a_small_fashion_mnist(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "fmnist"
    assert main(["dataset", "import", "fashion-mnist", str(folder), "--limit", "3"]) == 0
    assert "60 images written" in capsys.readouterr().out
    assert sorted(p.name for p in (folder / "train").iterdir())[:2] == ["Ankle_boot", "Bag"]
    assert main(["dataset", "check", str(folder)]) == 0
    assert "OK" in capsys.readouterr().out


def test_check_fails_on_a_corrupt_image(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "fmnist"
    assert main(["dataset", "import", "fashion-mnist", str(folder), "--limit", "2"]) == 0
    victim = next((folder / "train" / "Bag").iterdir())
    victim.write_bytes(victim.read_bytes()[:20])
    assert main(["dataset", "check", str(folder)]) == 1
    assert victim.name in capsys.readouterr().out


def test_a_missing_debian_package_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["dataset", "import", "fashion-mnist", str(tmp_path / "x"), "--source", str(tmp_path)]
    )
    assert code == 2
    assert "dataset-fashion-mnist" in capsys.readouterr().err
