"""Backbone embeddings of a set of images, computed once and cached on disk.

With the backbone frozen, phase 1 only needs each image's 1280 features: computing them once
and training the head on them is tens of times faster than pushing every image through the
backbone every epoch (no augmentation then: that is left to fine-tuning).

The cache is one `.npy` (float32, (n, 1280)) per key, in `~/.cache/vigia/embeddings` unless told
otherwise; it also holds a cut backbone's activations for fine-tuning on them (`shape` and
`dtype` given, e.g. (n, 6, 6, 112) float16, under a backbone id that names the cut, see
`oncut`). The key is a SHA-256 over the dataset digest (paths and contents), the input size,
the backbone id, the preprocessing id and the exact item list (paths and labels, in order): any
change to the data, its order, the size or the preprocessing gives another file. Files are
written atomically (temporary file, rename), so a killed run leaves no half file behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from trainer.backbone.efficientnet_lite import FEATURES
from trainer.dataset.layout import Item
from trainer.tfrun import keras, tf
from trainer.train.images import PREPROCESSING, image_dataset
from trainer.train.model import BACKBONE_ID

DEFAULT_CACHE_DIR = Path.home() / ".cache" / "vigia" / "embeddings"

EmbedProgress = Callable[[int, int, float], None]
"""Called after each batch with (images done, images in all, seconds so far)."""


@dataclass(frozen=True, slots=True)
class Embeddings:
    """The features of a list of items, in its order, and where they came from."""

    features: np.ndarray  # (n, 1280) float32, or (n, *shape) of the dtype asked for
    labels: np.ndarray  # (n,) int32
    path: Path  # the cache file
    hit: bool  # read from the cache, not computed
    seconds: float


def items_hash(items: Sequence[Item]) -> str:
    """SHA-256 of the item list: every path and label, in order."""
    digest = hashlib.sha256()
    for item in items:
        digest.update(f"{item.label}\t{item.path}\n".encode())
    return digest.hexdigest()


def contents_digest(items: Sequence[Item]) -> str:
    """SHA-256 over the items' file contents: a dataset digest when the caller has none."""
    digest = hashlib.sha256()
    for item in items:
        digest.update(hashlib.sha256(item.path.read_bytes()).digest())
    return digest.hexdigest()


def cache_key(
    *, dataset_digest: str, input_size: int, items: Sequence[Item], backbone_id: str = BACKBONE_ID
) -> str:
    """The cache file's name (without .npy) for these items embedded this way."""
    parts = {
        "dataset": dataset_digest,
        "size": input_size,
        "backbone": backbone_id,
        "preprocessing": PREPROCESSING,
        "items": items_hash(items),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def embed(
    backbone: keras.Model,
    items: Sequence[Item],
    *,
    input_size: int,
    batch_size: int = 64,
    progress: EmbedProgress | None = None,
    dtype: npt.DTypeLike = np.float32,
) -> np.ndarray:
    """The backbone's outputs for every item, (n, *its output shape) of `dtype` ((n, 1280)
    float32 for the backbone itself), batch by batch."""
    spec = tf.TensorSpec((None, input_size, input_size, 3), tf.float32)
    features_of = tf.function(lambda x: backbone(x, training=False), input_signature=[spec])
    out = np.zeros((len(items), *backbone.output_shape[1:]), dtype)
    done, start = 0, time.perf_counter()
    for images, _ in image_dataset(items, size=input_size, batch_size=batch_size):
        batch = features_of(images).numpy()
        out[done : done + len(batch)] = batch
        done += len(batch)
        if progress is not None:
            progress(done, len(items), time.perf_counter() - start)
    return out


def _read(path: Path, shape: tuple[int, ...], dtype: npt.DTypeLike) -> np.ndarray | None:
    """A cache file's array if it is complete and of the right shape and type, else None."""
    try:
        array: np.ndarray = np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None
    if array.shape != shape or array.dtype != np.dtype(dtype):
        return None
    return array


def _write(path: Path, features: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}.part")
    with partial.open("wb") as out:
        np.save(out, features, allow_pickle=False)
    os.replace(partial, path)


def cached_embeddings(
    make_backbone: Callable[[], keras.Model],
    items: Sequence[Item],
    *,
    dataset_digest: str,
    input_size: int,
    cache_dir: Path | None = None,
    batch_size: int = 64,
    backbone_id: str = BACKBONE_ID,
    progress: EmbedProgress | None = None,
    shape: tuple[int, ...] = (FEATURES,),
    dtype: npt.DTypeLike = np.float32,
) -> Embeddings:
    """The items' embeddings from the cache, or computed (with progress) and then cached.

    make_backbone is called only on a cache miss, to get the backbone that computes them; its
    output must be of `shape` (per item), and is stored as `dtype`.
    """
    start = time.perf_counter()
    key = cache_key(
        dataset_digest=dataset_digest, input_size=input_size, items=items, backbone_id=backbone_id
    )
    path = (DEFAULT_CACHE_DIR if cache_dir is None else cache_dir) / f"{key}.npy"
    labels = np.array([item.label for item in items], dtype=np.int32)
    features = _read(path, (len(items), *shape), dtype)
    hit = features is not None
    if features is None:
        features = embed(
            make_backbone(),
            items,
            input_size=input_size,
            batch_size=batch_size,
            progress=progress,
            dtype=dtype,
        )
        _write(path, features)
    return Embeddings(features, labels, path, hit, time.perf_counter() - start)
