"""Fine-tuning on cached activations: the cut is exact, both phases train the full model's own
layers, the activations are cached, and the path refuses a distribution strategy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.trainer.train.conftest import DIGEST, Shapes, tiny_spec
from tests.trainer.train.shapes import CLASSES
from trainer.backbone.efficientnet_lite import build_backbone
from trainer.tfrun import keras, tf
from trainer.train.fit import TrainResult, train
from trainer.train.images import load_images
from trainer.train.model import BLOCKS, split_backbone
from trainer.train.oncut import ACTIVATIONS_DTYPE
from trainer.train.progress import Progress


@pytest.mark.parametrize("blocks", [1, 5, BLOCKS])
def test_the_top_of_the_bottom_is_the_backbone(blocks: int) -> None:
    keras.utils.set_random_seed(3)
    backbone = build_backbone(96, weights=False)
    bottom, top = split_backbone(backbone, blocks)
    x = np.random.default_rng(0).uniform(0, 255, (2, 96, 96, 3)).astype(np.float32)
    whole = backbone(x, training=False).numpy()
    assert top(bottom(x, training=False), training=False).numpy() == pytest.approx(whole, abs=1e-4)
    assert {w.ref() for w in top.weights} <= {w.ref() for w in backbone.weights}  # shared, no copy


def test_the_cut_below_five_blocks_is_where_the_96px_activations_are_six_by_six() -> None:
    bottom, top = split_backbone(build_backbone(96, weights=False), 5)
    assert bottom.output_shape == (None, 6, 6, 112)
    assert top.input_shape == (None, 6, 6, 112)
    assert top.output_shape == (None, 1280)


def test_blocks_out_of_range_are_refused() -> None:
    backbone = build_backbone(96, weights=False)
    for blocks in (0, BLOCKS + 1):
        with pytest.raises(ValueError, match=f"blocks must be 1..{BLOCKS}"):
            split_backbone(backbone, blocks)


def _train_on_cut(shapes: Shapes, tmp_path: Path, events: list[Progress]) -> TrainResult:
    spec = tiny_spec(head_epochs=3, finetune_epochs=2, finetune_blocks=2, finetune_on="cache")
    return train(
        spec,
        shapes.split,
        CLASSES,
        workdir=tmp_path / "work",
        progress=events.append,
        cache_dir=tmp_path / "cache",
        dataset_digest=DIGEST,
    )


@pytest.mark.slow
def test_both_phases_train_on_cached_activations_and_the_full_model_learns(
    shapes: Shapes, tmp_path: Path
) -> None:
    events: list[Progress] = []
    result = _train_on_cut(shapes, tmp_path, events)
    cached = list((tmp_path / "cache").glob("*.npy"))
    assert len(cached) == 1
    acts = np.load(cached[0])
    assert acts.shape == (len(shapes.split.train) + len(shapes.split.val), 3, 3, 192)
    assert acts.dtype == ACTIVATIONS_DTYPE
    assert [r.phase for r in result.history][-1] == "finetune"
    assert result.finetuned_layers[0].startswith("block14_")
    # The full model (images in) carries what both phases learnt: well above chance (1/3).
    images, labels = load_images(shapes.split.test, size=96)
    predicted = result.model.predict(images, verbose=0).argmax(axis=1)
    assert (predicted == labels).mean() >= 0.8

    again: list[Progress] = []
    _train_on_cut(shapes, tmp_path, again)
    embed = [e for e in again if e.phase == "embed"]
    assert [(e.kind, e.cached) for e in embed] == [("epoch", True)]  # read, not computed


def test_the_cached_path_refuses_a_distribution_strategy(shapes: Shapes, tmp_path: Path) -> None:
    spec = tiny_spec(finetune_epochs=1, finetune_on="cache")
    with pytest.raises(ValueError, match="one machine"):
        train(
            spec,
            shapes.split,
            CLASSES,
            workdir=tmp_path,
            progress=print,
            strategy=tf.distribute.OneDeviceStrategy("/cpu:0"),
            cache_dir=tmp_path / "cache",
        )
