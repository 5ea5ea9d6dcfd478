"""A tiny training function shaped like `trainer.train.fit.train`, for fast distributed tests.

It reads the dataset's small greyscale PNGs as flat vectors, holds out every fifth image of
each class for testing, and trains a one-hidden-layer network under the strategy it is given,
with `BackupAndRestore(backup_dir / "head")` and `Progress`-like reports after every batch and
epoch, sent before the backup is written (as the real one does). $STANDIN_EPOCH_S slows each
epoch down, so that a test can act between epochs.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.trainer.distributed.patterns import accuracy, load
from trainer.spec import TrainSpec
from trainer.tfrun import keras, tf


@dataclass
class StandInResult:
    """What the stand-in returns: the model and its test accuracy."""

    model: Any
    metrics: dict[str, float] = field(default_factory=dict)


class Report(keras.callbacks.Callback):  # type: ignore[misc]
    """Progress after every batch and every epoch, as the real training reports it."""

    def __init__(self, progress: Any, epochs: int) -> None:
        super().__init__()
        self.progress, self.epochs, self.epoch = progress, epochs, 0
        self.pause = float(os.environ.get("STANDIN_EPOCH_S", "0"))

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        self.epoch = epoch + 1

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        self.progress(
            {"phase": "head", "kind": "batch", "epoch": self.epoch, "epochs": self.epochs}
        )

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        time.sleep(self.pause)
        self.progress(
            {
                "phase": "head",
                "kind": "epoch",
                "epoch": epoch + 1,
                "epochs": self.epochs,
                "loss": float((logs or {})["loss"]),
                "acc": float((logs or {})["acc"]),
            }
        )


def build(inputs: int, classes: int) -> Any:
    """The network: 32 ReLU units, then softmax."""
    model = keras.Sequential(
        [
            keras.Input(shape=(inputs,)),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(classes, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(0.01),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="acc")],
    )
    return model


def train(
    spec: TrainSpec,
    dataset: Path,
    *,
    workdir: Path,
    progress: Any,
    strategy: Any,
    backup_dir: Path,
) -> StandInResult:
    """Train for spec.head_epochs epochs at spec.batch_size (the global batch)."""
    keras.utils.set_random_seed(spec.seed)
    data = load(dataset, test=False)
    with strategy.scope():
        model = build(data.x.shape[1], len(data.classes))
    ds = tf.data.Dataset.from_tensor_slices((data.x, data.y))
    ds = ds.shuffle(len(data.y), seed=spec.seed).batch(spec.batch_size)
    callbacks = [
        Report(progress, spec.head_epochs),
        keras.callbacks.BackupAndRestore(str(backup_dir / "head")),
    ]
    model.fit(ds, epochs=spec.head_epochs, callbacks=callbacks, verbose=0)
    return StandInResult(model, {"test_acc": accuracy(model.get_weights(), dataset)})
