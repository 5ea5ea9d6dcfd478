"""`trainer train` from the command line: a dataset folder in, a verified int8 package and a
report out, with progress on the way."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.trainer.train.shapes import make_dataset
from trainer.cli import build_parser, main
from trainer.train.evaluate import evaluate_tflite
from trainer.train.images import load_images
from trainer.train_command import spec_from
from wire.package import load_public_key, read_package


def test_train_writes_a_signed_package_that_knows_its_classes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keys, data, out = tmp_path / "keys", tmp_path / "shapes", tmp_path / "shapes.vpkg"
    items = make_dataset(data, per_class=24)
    assert main(["keygen", "--keys", str(keys)]) == 0
    code = main(
        ["train", str(data), "--out", str(out), "--size", "96", "--epochs", "6",
         "--version", "shapes-cli", "--keys", str(keys), "--cache-dir", str(tmp_path / "cache")]
    )  # fmt: skip
    assert code == 0
    said = capsys.readouterr().err
    assert "3 classes; train" in said and "a seeded stratified split" in said
    assert "head 1/6" in said  # one progress line per epoch when not on a terminal
    package = read_package(out, load_public_key(keys / "trainer.pub"))
    assert package.manifest.version == "shapes-cli"
    assert package.manifest.labels == ("circle", "square", "triangle")
    report = json.loads((tmp_path / "shapes.vpkg.d" / "report.json").read_text())
    assert report["accuracy"]["int8"] == package.manifest.metrics.int8_accuracy
    images, labels = load_images(items, 96)
    assert evaluate_tflite(package.model, images, labels).accuracy >= 0.8  # chance: 1/3
    assert main(["verify", str(out), "--keys", str(keys)]) == 0


def test_train_names_a_bad_setting(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "train.toml"
    config.write_text("head_epoch = 3\n")
    code = main(["train", str(tmp_path), "--out", str(tmp_path / "x.vpkg"), "--config",
                 str(config), "--keys", str(tmp_path)])  # fmt: skip
    assert code == 2
    assert "head_epoch" in capsys.readouterr().err


def test_finetune_flags_reach_the_spec(tmp_path: Path) -> None:
    args = build_parser().parse_args(
        ["train", str(tmp_path), "--out", "x.vpkg", "--finetune-epochs", "2",
         "--finetune-blocks", "5", "--finetune-on", "cache"]
    )  # fmt: skip
    spec = spec_from(args)
    assert (spec.finetune_epochs, spec.finetune_blocks, spec.finetune_on) == (2, 5, "cache")
    default = spec_from(build_parser().parse_args(["train", ".", "--out", "x"]))
    assert default.finetune_on == "images"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", ".", "--out", "x", "--finetune-on", "disk"])
