"""The classifier: backbone + dropout + dense softmax; what is frozen in which phase."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tests.trainer.train.conftest import tiny_spec
from trainer.tfrun import keras
from trainer.train.model import (
    BLOCKS,
    build_classifier,
    build_head,
    copy_head,
    freeze,
    head_of,
    unfreeze_top,
)


@pytest.fixture(scope="module")
def built() -> tuple[Any, Any]:
    return build_classifier(tiny_spec(dropout=0.3), 4, weights=False)


def layers_with_trainable_weights(model: Any) -> list[str]:
    return [layer.name for layer in model.layers if layer.trainable_weights]


def test_classifier_maps_rgb_to_probabilities(built: tuple[Any, Any]) -> None:
    model, backbone = built
    assert model.input_shape == (None, 96, 96, 3)
    assert model.output_shape == (None, 4)
    assert backbone.output_shape == (None, 1280)
    head = head_of(model)
    assert [type(layer).__name__ for layer in head.layers] == [
        "InputLayer",
        "Dropout",
        "Dense",
        "Softmax",
    ]
    assert head.get_layer("dropout").rate == 0.3
    x = np.random.default_rng(0).uniform(0, 255, (2, 96, 96, 3)).astype(np.float32)
    out = model.predict(x, verbose=0)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)
    assert (out >= 0).all()


def test_phase_one_trains_the_head_only(built: tuple[Any, Any]) -> None:
    model, backbone = built
    freeze(backbone)
    assert backbone.trainable_weights == []
    assert [w.name for w in model.trainable_weights] == ["logits/kernel:0", "logits/bias:0"]


def test_fine_tuning_unfreezes_only_the_top_blocks(built: tuple[Any, Any]) -> None:
    model, backbone = built
    try:
        names = unfreeze_top(backbone, 2)
        top = [
            "block14_expand_conv",
            "block14_dw_conv",
            "block14_project_conv",
            "block15_expand_conv",
            "block15_dw_conv",
            "block15_project_conv",
            "head_conv",
        ]
        assert names == top
        assert layers_with_trainable_weights(backbone) == top
        assert len(model.trainable_weights) == 7 + 2  # 7 convolution kernels, the dense head
        batchnorm = [
            layer for layer in backbone.layers if isinstance(layer, keras.layers.BatchNormalization)
        ]
        assert len(batchnorm) == 49
        assert not any(layer.trainable for layer in batchnorm)
        everything = unfreeze_top(backbone, BLOCKS)
        assert everything[0] == "block0_dw_conv"
        assert "stem_conv" not in everything
        assert len(everything) == 2 + 15 * 3 + 1  # block0 has no expansion conv
    finally:
        freeze(backbone)
    assert backbone.trainable_weights == []


@pytest.mark.parametrize("blocks", [0, 17])
def test_block_count_is_checked(built: tuple[Any, Any], blocks: int) -> None:
    with pytest.raises(ValueError, match=r"blocks must be 1\.\.16"):
        unfreeze_top(built[1], blocks)


def test_a_head_trained_on_embeddings_carries_over(built: tuple[Any, Any]) -> None:
    """A separately built head's weights give the full model exactly that head's output."""
    model, backbone = built
    head = build_head(4, 0.3)
    rng = np.random.default_rng(1)
    head.set_weights([rng.normal(size=w.shape).astype(np.float32) for w in head.get_weights()])
    copy_head(head, model)
    x = rng.uniform(0, 255, (3, 96, 96, 3)).astype(np.float32)
    features = backbone.predict(x, verbose=0)
    np.testing.assert_allclose(
        model.predict(x, verbose=0), head.predict(features, verbose=0), rtol=1e-5, atol=1e-6
    )


def test_one_class_is_not_a_classifier() -> None:
    with pytest.raises(ValueError, match="at least 2 classes"):
        build_head(1, 0.2)
