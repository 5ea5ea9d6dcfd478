"""Image files become the square, resized, 0..255 float RGB the model takes, in a fixed order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.trainer.train.conftest import Shapes
from trainer.dataset.layout import Item
from trainer.tfrun import tf
from trainer.train.images import image_dataset, load_images, to_uint8


def labels_of(ds: tf.data.Dataset) -> list[int]:
    return [int(y) for _, labels in ds for y in labels.numpy()]


def test_batches_are_float_rgb_0_255_of_the_input_size(shapes: Shapes) -> None:
    items = shapes.split.train[:20]
    batches = list(image_dataset(items, size=96, batch_size=8))
    assert [len(x) for x, _ in batches] == [8, 8, 4]
    images, labels = batches[0]
    assert images.shape == (8, 96, 96, 3)
    assert images.dtype == tf.float32
    assert labels.dtype == tf.int32
    assert float(tf.reduce_min(images)) >= 0.0
    assert float(tf.reduce_max(images)) <= 255.0
    assert float(tf.reduce_max(images)) > 150.0  # 0..255, not 0..1
    assert labels_of(image_dataset(items, size=96, batch_size=8)) == [i.label for i in items]


def test_greyscale_and_alpha_images_become_rgb(tmp_path: Path) -> None:
    grey = tmp_path / "grey.png"
    Image.fromarray(np.tile(np.arange(64, dtype=np.uint8) * 4, (64, 1)), "L").save(grey)
    rgba = tmp_path / "rgba.png"
    Image.new("RGBA", (40, 40), (10, 200, 30, 128)).save(rgba)
    images, labels = load_images([Item(grey, 0), Item(rgba, 1)], 96)
    assert images.shape == (2, 96, 96, 3)
    np.testing.assert_array_equal(images[0, ..., 0], images[0, ..., 1])
    np.testing.assert_array_equal(images[0, ..., 0], images[0, ..., 2])
    assert images[0, 0, 0, 0] < 10  # the ramp survives, dark on the left ...
    assert images[0, 0, -1, 0] > 240  # ... bright on the right
    np.testing.assert_allclose(images[1], np.broadcast_to([10, 200, 30], (96, 96, 3)))
    assert list(labels) == [0, 1]


def test_the_centred_square_is_kept(tmp_path: Path) -> None:
    """A 120x40 picture: red 40-pixel margins left and right, green square in the middle."""
    wide = np.zeros((40, 120, 3), np.uint8)
    wide[:, :, 0] = 255
    wide[:, 40:80] = (0, 255, 0)
    Image.fromarray(wide).save(tmp_path / "wide.png")
    images, _ = load_images([Item(tmp_path / "wide.png", 0)], 96)
    np.testing.assert_allclose(images[0], np.broadcast_to([0, 255, 0], (96, 96, 3)))


def test_shuffled_order_is_fixed_by_the_seed_and_changes_each_epoch(shapes: Shapes) -> None:
    items = shapes.split.train
    ds = image_dataset(items, size=96, batch_size=64, shuffle=True, seed=7)
    first, second = labels_of(ds), labels_of(ds)
    again = labels_of(image_dataset(items, size=96, batch_size=64, shuffle=True, seed=7))
    other = labels_of(image_dataset(items, size=96, batch_size=64, shuffle=True, seed=8))
    assert first == again
    assert first != second  # a new order every epoch ...
    assert sorted(first) == sorted(second) == sorted(i.label for i in items)  # ... same items
    assert first != other


def test_augmentation_is_seeded_bounded_and_visible(shapes: Shapes) -> None:
    items = shapes.split.train[:8]

    def pixels(seed: int, *, augment: bool) -> np.ndarray:
        ds = image_dataset(items, size=96, batch_size=8, augment=augment, seed=seed)
        return np.concatenate([x.numpy() for x, _ in ds])

    plain = pixels(1, augment=False)
    augmented = pixels(1, augment=True)
    assert augmented.shape == plain.shape
    assert augmented.min() >= 0.0
    assert augmented.max() <= 255.0
    np.testing.assert_array_equal(augmented, pixels(1, augment=True))
    assert not np.array_equal(augmented, pixels(2, augment=True))
    assert np.abs(augmented - plain).mean() > 5.0


def test_datasets_shard_by_element_under_multi_worker_strategies(shapes: Shapes) -> None:
    options = image_dataset(shapes.split.val, size=96, batch_size=4).options()
    assert options.experimental_distribute.auto_shard_policy == (
        tf.data.experimental.AutoShardPolicy.DATA
    )
    assert options.deterministic


@pytest.mark.parametrize(
    ("value", "byte"), [(-3.0, 0), (0.4, 0), (0.5, 0), (1.5, 2), (254.6, 255), (300.0, 255)]
)
def test_to_uint8_rounds_and_clips(value: float, byte: int) -> None:
    out = to_uint8(np.array([value], np.float32))
    assert out.dtype == np.uint8
    assert int(out[0]) == byte
