"""Backbone embeddings are computed once per (data, size, backbone, item list) and then reused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import trainer.train.embed as embed_module
from tests.trainer.train.conftest import Shapes
from trainer.backbone.efficientnet_lite import FEATURES
from trainer.tfrun import keras
from trainer.train.embed import cache_key, cached_embeddings, contents_digest, embed
from trainer.train.images import load_images

DIGEST = "a" * 64


@pytest.fixture(scope="module")
def stand_in() -> Any:
    """A cheap backbone stand-in with the real interface: (96, 96, 3) -> 1280 features."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((96, 96, 3))
    x = keras.layers.AveragePooling2D(8)(inputs)
    x = keras.layers.Flatten()(x)
    return keras.Model(inputs, keras.layers.Dense(FEATURES, activation="relu")(x))


def test_second_run_reads_the_cache(shapes: Shapes, stand_in: Any, tmp_path: Path) -> None:
    items = shapes.split.train[:10]
    calls: list[tuple[int, int]] = []
    first = cached_embeddings(
        lambda: stand_in,
        items,
        dataset_digest=DIGEST,
        input_size=96,
        cache_dir=tmp_path,
        batch_size=4,
        progress=lambda done, total, _: calls.append((done, total)),
    )
    assert not first.hit
    assert first.features.shape == (10, FEATURES)
    assert first.path.parent == tmp_path
    assert first.path.exists()
    assert list(first.labels) == [item.label for item in items]
    assert calls == [(4, 10), (8, 10), (10, 10)]

    def must_not_build() -> Any:
        raise AssertionError("a backbone was asked for: embeddings computed again")

    def must_not_run(*args: object, **kwargs: object) -> np.ndarray:
        raise AssertionError("embeddings were computed again")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(embed_module, "embed", must_not_run)
        second = cached_embeddings(
            must_not_build, items, dataset_digest=DIGEST, input_size=96, cache_dir=tmp_path
        )
    assert second.hit
    np.testing.assert_array_equal(second.features, first.features)
    images, _ = load_images(items, 96)
    np.testing.assert_allclose(
        first.features, stand_in.predict(images, verbose=0), rtol=1e-4, atol=1e-3
    )


def test_key_changes_with_data_size_backbone_and_items(shapes: Shapes) -> None:
    items = shapes.split.train[:10]
    base = cache_key(dataset_digest=DIGEST, input_size=96, items=items)
    assert base == cache_key(dataset_digest=DIGEST, input_size=96, items=tuple(items))
    assert (
        len(
            {
                base,
                cache_key(dataset_digest="b" * 64, input_size=96, items=items),
                cache_key(dataset_digest=DIGEST, input_size=160, items=items),
                cache_key(dataset_digest=DIGEST, input_size=96, items=items, backbone_id="other"),
                cache_key(dataset_digest=DIGEST, input_size=96, items=items[:9]),
                cache_key(dataset_digest=DIGEST, input_size=96, items=items[::-1]),
            }
        )
        == 6
    )


def test_a_damaged_cache_file_is_recomputed(shapes: Shapes, stand_in: Any, tmp_path: Path) -> None:
    items = shapes.split.val[:3]
    first = cached_embeddings(
        lambda: stand_in, items, dataset_digest=DIGEST, input_size=96, cache_dir=tmp_path
    )
    first.path.write_bytes(first.path.read_bytes()[:100])  # a torn file
    second = cached_embeddings(
        lambda: stand_in, items, dataset_digest=DIGEST, input_size=96, cache_dir=tmp_path
    )
    assert not second.hit
    np.testing.assert_array_equal(second.features, first.features)
    assert [p.name for p in tmp_path.iterdir()] == [first.path.name]  # no .part left behind


def test_embed_without_cache_and_contents_digest(shapes: Shapes, stand_in: Any) -> None:
    items = shapes.split.val[:5]
    features = embed(stand_in, items, input_size=96, batch_size=2)
    assert features.shape == (5, FEATURES)
    assert features.dtype == np.float32
    digest = contents_digest(items)
    assert len(digest) == 64
    assert digest == contents_digest(items)
    assert digest != contents_digest(items[:4])
