"""Training phases: early stopping, the embedding cache across runs, fine-tuning the top blocks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import trainer.train.fit as fit_module
from tests.trainer.train.conftest import DIGEST, Run, Shapes, tiny_spec
from tests.trainer.train.shapes import CLASSES
from trainer.tfrun import keras
from trainer.train.fit import early_stopping, limited, reduce_on_plateau, train
from trainer.train.progress import Progress


def test_early_stopping_watches_val_loss_and_restores_the_best_epoch() -> None:
    spec = tiny_spec(patience=2)
    callback = early_stopping(spec)
    assert callback.monitor == "val_loss"
    assert callback.patience == 2
    assert callback.restore_best_weights
    assert callback.min_delta == 0


def test_a_plateau_first_lowers_the_learning_rate_then_stops() -> None:
    spec = tiny_spec(patience=3)
    reduce = reduce_on_plateau(spec)
    assert (reduce.monitor, reduce.factor, reduce.patience) == ("val_loss", 0.3, 2)
    assert reduce.patience < early_stopping(spec).patience
    assert reduce_on_plateau(tiny_spec(patience=1)).patience == 1


def test_a_plateau_stops_training_before_the_last_epoch() -> None:
    """With a learning rate of 0 val loss never improves: patience + 1 epochs, not 30."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(keras.optimizers.SGD(0.0), "sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(32, 4)), rng.integers(0, 2, 32)
    history = model.fit(
        x,
        y,
        validation_data=(x, y),
        epochs=30,
        callbacks=[early_stopping(tiny_spec(patience=3))],
        verbose=0,
    )
    assert len(history.history["val_loss"]) == 4


def test_second_run_reuses_the_embeddings_then_fine_tunes_the_top_block(
    run: Run, shapes: Shapes, tmp_path: Path
) -> None:
    """Same data again: phase 1 reads the cache; then one epoch of phase 2 on one block."""
    spec = tiny_spec(head_epochs=1, finetune_epochs=1, finetune_blocks=1, augment=True)
    events: list[Progress] = []
    result = train(
        spec,
        shapes.split,
        CLASSES,
        workdir=tmp_path / "work",
        progress=events.append,
        cache_dir=run.cache_dir,
        dataset_digest=DIGEST,
        backup_dir=tmp_path / "backup",
    )
    embed_events = [e for e in events if e.phase == "embed"]
    assert len(embed_events) == 1  # no batch reports: nothing was computed
    assert embed_events[0].kind == "epoch"
    assert embed_events[0].cached
    assert result.timings.embed_cached
    assert result.timings.embed_s < 0.5 < run.result.timings.embed_s
    assert len(list(run.cache_dir.glob("*.npy"))) == 1

    assert [(r.phase, r.epoch) for r in result.history] == [("head", 1), ("finetune", 1)]
    finetune = [e for e in events if e.phase == "finetune"]
    assert [e.kind for e in finetune][-1] == "epoch"
    assert finetune[-1].images_done == 60
    assert result.finetuned_layers == (
        "block15_expand_conv",
        "block15_dw_conv",
        "block15_project_conv",
        "head_conv",
    )
    trainable = [layer.name for layer in result.backbone.layers if layer.trainable_weights]
    assert trainable == list(result.finetuned_layers)
    assert len(result.model.trainable_weights) == 4 + 2
    assert result.timings.finetune_s > 0
    assert all(np.isfinite(r.loss) for r in result.history)
    backup = tmp_path / "backup" / "finetune"
    assert not backup.exists() or not any(backup.iterdir())  # cleared when the phase completes


def test_without_the_cache_phase_one_fits_the_whole_model_on_images(
    shapes: Shapes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fits: list[tuple[str, str, int, int, tuple[int, ...]]] = []

    def record(self: object, model: Any, data: tuple[Any, Any], *, phase: str, epochs: int) -> None:
        images = next(iter(data[0]))[0]
        fits.append((phase, model.name, epochs, len(model.trainable_weights), images.shape))

    monkeypatch.setattr(fit_module._Run, "fit", record)
    spec = tiny_spec(cache_embeddings=False, head_epochs=4, finetune_epochs=2)
    result = train(spec, shapes.split, CLASSES, workdir=tmp_path, progress=print)
    assert fits == [
        ("head", "vigia_classifier_96", 4, 2, (16, 96, 96, 3)),  # backbone frozen: dense only
        ("finetune", "vigia_classifier_96", 2, 7 + 2, (16, 96, 96, 3)),
    ]
    assert result.timings.embed_s == 0
    assert not result.timings.embed_cached


def test_max_per_class_limits_the_training_images_only(shapes: Shapes) -> None:
    split = limited(shapes.split, tiny_spec(max_per_class=5))
    assert len(split.train) == 15
    assert sorted(i.label for i in split.train) == [0] * 5 + [1] * 5 + [2] * 5
    assert set(split.train) <= set(shapes.split.train)
    assert (split.val, split.test) == (shapes.split.val, shapes.split.test)
    assert limited(split, tiny_spec(max_per_class=5)) == split
    assert limited(shapes.split, tiny_spec()).train == shapes.split.train
