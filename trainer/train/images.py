"""From labelled image files to batches the model takes: a tf.data pipeline, and a NumPy loader.

Every image goes through the same steps the edge applies to a camera frame: decode (JPEG or PNG;
greyscale and palette images become RGB, an alpha channel is dropped), crop the largest centred
square, resize it to the input size with bilinear interpolation (half-pixel centres, no
antialiasing: what OpenCV's INTER_LINEAR does), and hand the model float32 RGB in 0..255 (the
model normalises inside). The edge rounds that to uint8; `to_uint8` does the same here.

Training may add augmentation: a random square crop of 80..100 % of the centred square's side (a
small zoom and shift), a random left-right flip, and brightness (±10 % of full scale) and
contrast (x0.8..1.2) jitter, clipped to 0..255. Its randomness comes from stateless ops seeded per
image from `seed`, so a run is reproducible; every epoch draws new values.

Order is deterministic for a seed (seeded shuffle, ordered parallel map). The datasets carry
`AutoShardPolicy.DATA`: a caller may give one to `strategy.experimental_distribute_dataset`, or to
`model.fit` under MultiWorkerMirroredStrategy, which then splits it by element between workers
(each worker must build it from the same items and seed, which it does).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from trainer.dataset.layout import Item
from trainer.tfrun import tf

PREPROCESSING = "centre-square/bilinear/float0-255/v1"
"""Names the preprocessing above; part of the embedding cache key (change it when it changes)."""

CROP_MIN_SCALE = 0.8
BRIGHTNESS_DELTA = 0.1 * 255.0
CONTRAST_RANGE = (0.8, 1.2)


def decode(data: tf.Tensor) -> tf.Tensor:
    """JPEG/PNG bytes -> (h, w, 3) uint8 RGB."""
    return tf.io.decode_image(data, channels=3, dtype=tf.uint8, expand_animations=False)


def centre_square(image: tf.Tensor) -> tf.Tensor:
    """The largest square in the middle of an (h, w, c) image."""
    shape = tf.shape(image)
    height, width = shape[0], shape[1]
    side = tf.minimum(height, width)
    return tf.image.crop_to_bounding_box(
        image, (height - side) // 2, (width - side) // 2, side, side
    )


def resize(image: tf.Tensor, size: int) -> tf.Tensor:
    """Bilinear resize to (size, size, 3) float32 in 0..255."""
    return tf.image.resize(image, (size, size), method="bilinear", antialias=False)


def load(path: tf.Tensor, size: int) -> tf.Tensor:
    """One file as the model sees it at inference: (size, size, 3) float32 0..255."""
    return resize(centre_square(decode(tf.io.read_file(path))), size)


def load_augmented(path: tf.Tensor, seed: tf.Tensor, size: int) -> tf.Tensor:
    """One file with a random crop, flip and colour jitter drawn from `seed` (shape (2,))."""
    crop_seed, flip_seed, light_seed, contrast_seed, scale_seed = tf.unstack(
        tf.random.experimental.stateless_split(seed, num=5)
    )
    square = centre_square(decode(tf.io.read_file(path)))
    side = tf.cast(tf.shape(square)[0], tf.float32)
    scale = tf.random.stateless_uniform((), scale_seed, minval=CROP_MIN_SCALE, maxval=1.0)
    crop = tf.maximum(tf.cast(tf.round(side * scale), tf.int32), 1)
    image = resize(tf.image.stateless_random_crop(square, (crop, crop, 3), seed=crop_seed), size)
    image = tf.image.stateless_random_flip_left_right(image, seed=flip_seed)
    image = tf.image.stateless_random_brightness(image, BRIGHTNESS_DELTA, seed=light_seed)
    image = tf.image.stateless_random_contrast(image, *CONTRAST_RANGE, seed=contrast_seed)
    return tf.clip_by_value(image, 0.0, 255.0)


def shard_options() -> tf.data.Options:
    """Deterministic order, and element-wise auto-sharding for multi-worker strategies."""
    options = tf.data.Options()
    options.deterministic = True
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return options


def image_dataset(
    items: Sequence[Item],
    *,
    size: int,
    batch_size: int,
    shuffle: bool = False,
    augment: bool = False,
    seed: int = 0,
) -> tf.data.Dataset:
    """Batches of (images (b, size, size, 3) float32 0..255, labels (b,) int32), prefetched.

    shuffle: a new seeded order every epoch (training); else the items' order. augment: the
    random crop, flip and jitter of the module docstring. The last batch may be short.
    """
    paths = tf.constant([str(item.path) for item in items], dtype=tf.string)
    labels = tf.constant([item.label for item in items], dtype=tf.int32)
    ds = tf.data.Dataset.from_tensor_slices((paths, labels))
    if shuffle and items:
        ds = ds.shuffle(len(items), seed=seed, reshuffle_each_iteration=True)
    if augment:
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        ds = tf.data.Dataset.zip((ds, seeds)).map(
            lambda pair, s: (load_augmented(pair[0], s, size), pair[1]),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
    else:
        ds = ds.map(
            lambda path, label: (load(path, size), label),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE).with_options(shard_options())


def load_images(
    items: Sequence[Item], size: int, *, batch_size: int = 64
) -> tuple[np.ndarray, np.ndarray]:
    """Small sets in memory: images (n, size, size, 3) float32 0..255 and labels (n,) int32.

    Same pixels as `image_dataset` without augmentation; for calibration and test evaluation.
    """
    images = np.zeros((0, size, size, 3), np.float32)
    labels = np.zeros((0,), np.int32)
    parts = [
        (x.numpy(), y.numpy()) for x, y in image_dataset(items, size=size, batch_size=batch_size)
    ]
    if parts:
        images = np.concatenate([x for x, _ in parts])
        labels = np.concatenate([y for _, y in parts])
    return images, labels


def to_uint8(images: np.ndarray) -> np.ndarray:
    """float 0..255 -> uint8, rounded and clipped: the bytes the edge feeds an int8 model."""
    rounded: np.ndarray = np.clip(np.rint(images), 0, 255).astype(np.uint8)
    return rounded
