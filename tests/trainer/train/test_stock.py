"""The stock ImageNet model survives int8: the edge runtime still sees a cat and an espresso."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import skimage.data

from trainer.backbone.labels import imagenet_labels
from trainer.tfrun import tf
from trainer.train.evaluate import interpreter, tflite_predict
from trainer.train.images import centre_square, resize
from trainer.train.stock import calibration_images, stock_model
from wire.package import new_key, read_package

CATS = range(281, 288)  # tabby ... lynx
COFFEE = {967, 968, 504}  # espresso, cup, coffee mug


def photo(name: str) -> np.ndarray:
    """A skimage photo as the edge would crop and resize it, (224, 224, 3) float 0..255."""
    image = tf.constant(getattr(skimage.data, name)())
    return np.asarray(resize(centre_square(image), 224))


@pytest.mark.slow
def test_int8_stock_model_still_names_a_cat_and_an_espresso(tmp_path: Path) -> None:
    key = new_key()
    out = tmp_path / "stock.vpkg"
    manifest = stock_model(224, out, key, created_ms=1_796_000_000_000)
    package = read_package(out, key.public_key())
    assert package.manifest == manifest
    assert manifest.labels == tuple(imagenet_labels())
    assert manifest.version == "imagenet-lite0-224"
    assert (manifest.input.size, manifest.input.dtype) == (224, "uint8")
    assert manifest.quantisation == "int8"
    assert manifest.metrics.float_accuracy is None
    assert manifest.metrics.int8_accuracy is None
    assert manifest.metrics.test_images == 0
    assert 3_000_000 < manifest.model_size < 8_000_000  # int8: about a quarter of float32

    (given,) = interpreter(package.model).get_input_details()
    assert list(given["shape"]) == [1, 224, 224, 3]
    assert given["dtype"] == np.uint8
    probabilities = tflite_predict(package.model, np.stack([photo("chelsea"), photo("coffee")]))
    assert probabilities.shape == (2, 1000)
    cat, coffee = probabilities.argmax(axis=1)
    assert cat in CATS
    assert coffee in COFFEE
    assert probabilities[0, list(CATS)].sum() > 0.5


def test_calibration_set_is_the_bundled_colour_photos_and_their_views() -> None:
    images = calibration_images(96)
    assert images.shape == (77, 96, 96, 3)
    assert images.dtype == np.float32
    np.testing.assert_array_equal(images, np.rint(images))  # whole byte values, as the edge
    assert images.min() >= 0
    assert images.max() <= 255
    # the mirrored view (resampling of the mirror may round a byte the other way)
    np.testing.assert_allclose(images[1], images[0][:, ::-1], atol=1)
