"""The real training core (`trainer.train.fit.train`, EfficientNet-Lite0 at 96 px) on two
workers, on a tiny dataset of coloured squares: both must end with the same weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from tests.trainer.distributed.conftest import Workers
from trainer.distributed.coordinator import train_distributed
from trainer.distributed.layout import DEFAULT_TRAIN
from trainer.spec import TrainSpec

SPEC = TrainSpec(version="real-1", input_size=96, batch_size=8, head_epochs=2, seed=1)


def squares(root: Path, *, per_class: int = 10) -> Path:
    """Red or blue squares on dark noise, 32x32 RGB PNGs."""
    rng = np.random.default_rng(0)
    for name, colour in (("blue", (0, 0, 255)), ("red", (255, 0, 0))):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            image = rng.integers(0, 90, (32, 32, 3)).astype(np.uint8)
            x, y = rng.integers(0, 16, 2)
            image[y : y + 16, x : x + 16] = colour
            Image.fromarray(image).save(root / name / f"{i:02d}.png")
    return root


def test_two_workers_train_the_real_model_to_the_same_weights(
    workers: Workers, tmp_path: Path
) -> None:
    a = workers.start("a", train=DEFAULT_TRAIN)
    b = workers.start("b", train=DEFAULT_TRAIN)
    lines: list[str] = []
    result = train_distributed(
        SPEC,
        squares(tmp_path / "squares"),
        [a.target(), b.target()],
        out_dir=tmp_path / "out",
        progress=lines.append,
        max_attempts=1,
    )
    assert [line.split(":")[0] for line in lines if " epoch " in line] == [
        "embed epoch 1/1",
        "head epoch 1/2",
        "head epoch 2/2",
    ]
    assert set(result.weights) == {"a", "b"}
    assert result.consistent
    assert result.model_path.stat().st_size > 1_000_000  # EfficientNet-Lite0's 3.4 M weights
    assert {"loss", "acc", "val_loss", "val_acc"} <= set(result.metrics)
