"""Both phases on cached activations: the backbone runs once over the images, at the cut.

With `spec.finetune_on == "cache"` the backbone is cut below the `spec.finetune_blocks` blocks
that phase 2 trains (`model.split_backbone`). The bottom, which no phase changes, runs once over
the train and validation images; its activations (float16, e.g. (6, 6, 112) per image at
96 px for 5 blocks) are cached on disk like embeddings. Phase 1 trains the head on the top's
features of those activations; phase 2 trains the top blocks and the head on the activations
themselves. Both are the full model's own layers, so the classifier is trained at once, and an
epoch costs only the top blocks (a few percent of the backbone's work), not a pass over images.

The price is augmentation: the activations are of the plain images. For datasets whose images
are all alike in framing (Fashion-MNIST) that costs little; for photos, fine-tune on images.
This path runs on one machine (no distribution strategy): under MultiWorkerMirroredStrategy the
top's features would have to be read through collectives.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from trainer.dataset.layout import Item
from trainer.spec import TrainSpec
from trainer.tfrun import keras, tf
from trainer.train.embed import Embeddings, EmbedProgress, cached_embeddings
from trainer.train.model import BACKBONE_ID, split_backbone

ACTIVATIONS_DTYPE = np.float16  # half the memory and disk; the top computes in float32
TOP_BATCH = 256


def activations(
    spec: TrainSpec,
    backbone: keras.Model,
    items: Sequence[Item],
    *,
    digest: str,
    cache_dir: Path | None,
    progress: EmbedProgress,
) -> tuple[Embeddings, keras.Model]:
    """The bottom's activations of the items (from the cache or computed), and the top."""
    bottom, top = split_backbone(backbone, spec.finetune_blocks)
    acts = cached_embeddings(
        lambda: bottom,
        items,
        dataset_digest=digest,
        input_size=spec.input_size,
        cache_dir=cache_dir,
        batch_size=spec.batch_size,
        backbone_id=f"{BACKBONE_ID}/below-top{spec.finetune_blocks}",
        progress=progress,
        shape=tuple(bottom.output_shape[1:]),
        dtype=ACTIVATIONS_DTYPE,
    )
    return acts, top


def features(top: keras.Model, acts: np.ndarray) -> np.ndarray:
    """The top's 1280 pooled features of each activation (the frozen phase-1 inputs)."""
    batches = [
        top(tf.cast(acts[i : i + TOP_BATCH], tf.float32), training=False).numpy()
        for i in range(0, len(acts), TOP_BATCH)
    ]
    return np.concatenate(batches) if batches else np.zeros((0, top.output_shape[-1]), np.float32)


def dataset(
    inputs: np.ndarray, labels: np.ndarray, *, batch_size: int, seed: int | None
) -> tf.data.Dataset:
    """Batches of (inputs as float32, labels), reshuffled every epoch when seeded."""
    ds = tf.data.Dataset.from_tensor_slices((inputs, labels))
    if seed is not None:
        ds = ds.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).map(lambda x, y: (tf.cast(x, tf.float32), y)).prefetch(2)
