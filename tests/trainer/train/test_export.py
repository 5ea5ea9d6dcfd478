"""Export details beyond the end-to-end run: float32 TFLite, calibration samples, packages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.trainer.train.conftest import Shapes
from trainer.tfrun import keras
from trainer.train.evaluate import interpreter, tflite_predict
from trainer.train.export import (
    ExportError,
    check_int8_interface,
    make_package,
    representative_images,
    to_tflite_float,
    to_tflite_int8,
)
from wire.package import Metrics, new_key, read_package


@pytest.fixture(scope="module")
def small() -> Any:
    """A small stand-in classifier with the real interface: RGB 0..255 in, softmax out."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Rescaling(1 / 128, offset=-127 / 128)(inputs)
    x = keras.layers.Conv2D(8, 3, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Softmax()(keras.layers.Dense(3)(x))
    return keras.Model(inputs, outputs)


def test_float_export_matches_keras(small: Any) -> None:
    flatbuffer = to_tflite_float(small)
    (given,) = interpreter(flatbuffer).get_input_details()
    assert list(given["shape"]) == [1, 16, 16, 3]
    assert given["dtype"] == np.float32
    x = np.random.default_rng(0).uniform(0, 255, (5, 16, 16, 3)).astype(np.float32)
    np.testing.assert_allclose(
        tflite_predict(flatbuffer, x), small.predict(x, verbose=0), atol=1e-5
    )
    with pytest.raises(ExportError, match=r"input is float32 scale 0\.0 zero 0, not uint8"):
        check_int8_interface(flatbuffer)


def test_int8_export_pins_the_input_scale_even_for_dark_calibration(small: Any) -> None:
    """Calibration images that never reach 255 would otherwise give the input a scale < 1."""
    dark = np.random.default_rng(1).uniform(0, 120, (8, 16, 16, 3)).astype(np.float32)
    flatbuffer = to_tflite_int8(small, dark)
    runner = interpreter(flatbuffer)
    assert runner.get_input_details()[0]["quantization"] == (1.0, 0)
    assert runner.get_output_details()[0]["quantization"] == (1 / 256, 0)
    with pytest.raises(ValueError, match="at least one representative image"):
        to_tflite_int8(small, dark[:0])


def test_representative_sample_is_seeded_and_byte_valued(shapes: Shapes) -> None:
    items = shapes.split.train
    first = representative_images(items, size=96, count=10, seed=3)
    assert first.shape == (10, 96, 96, 3)
    assert first.dtype == np.float32
    np.testing.assert_array_equal(first, np.rint(first))
    np.testing.assert_array_equal(first, representative_images(items, size=96, count=10, seed=3))
    assert not np.array_equal(first, representative_images(items, size=96, count=10, seed=4))
    assert len(representative_images(items[:4], size=96, count=10, seed=3)) == 4


def test_float_package_declares_a_float_input(small: Any, tmp_path: Path) -> None:
    key = new_key()
    flatbuffer = to_tflite_float(small)
    manifest = make_package(
        tmp_path / "f.vpkg",
        version="f-1",
        labels=("a", "b", "c"),
        model=flatbuffer,
        input_size=32,
        metrics=Metrics(float_accuracy=0.5, int8_accuracy=None, test_images=4),
        dataset_sha256="e" * 64,
        key=key,
        quantisation="float32",
        created_ms=5,
    )
    assert (manifest.input.dtype, manifest.quantisation, manifest.created_ms) == (
        "float32",
        "float32",
        5,
    )
    assert read_package(tmp_path / "f.vpkg", key.public_key()).model == flatbuffer
    with pytest.raises(ValueError, match="quantisation must be int8 or float32"):
        make_package(
            tmp_path / "x.vpkg",
            version="x",
            labels=("a", "b"),
            model=flatbuffer,
            input_size=32,
            metrics=Metrics(float_accuracy=None, int8_accuracy=None, test_images=0),
            dataset_sha256="e" * 64,
            key=key,
            quantisation="int4",
        )
