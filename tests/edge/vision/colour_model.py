"""A real int8 LiteRT model for the vision tests, made with TensorFlow (tests only, never the edge).

It tells red, green and blue apart by the dominant colour, with hand-set weights (no training):

    uint8 RGB (b, size, size, 3) -> Rescaling(1/255) -> 1x1 conv: per class, ReLU(own channel
    - the two others) -> global average -> dense (x TEMPERATURE) -> softmax (b, 3)

A pure red square scores 1 on "red" and 0 on the others, anything grey or white 0 everywhere
(the softmax then says 1/3 each), so the probability of the right class grows with the share
of the crop the coloured object fills. It is converted like the trainer's models: full-integer
int8 with uint8 input (scale 1, zero point 0) and uint8 output, from a representative dataset.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from edge.modelslot import ModelBundle

LABELS = ("red", "green", "blue")
TEMPERATURE = 8.0
#: Each class's colour in OpenCV's BGR order, as the dataset pictures are written.
BGR = {"red": (0, 0, 255), "green": (0, 255, 0), "blue": (255, 0, 0)}


def _model(size: int) -> Any:
    from trainer.tfrun import keras  # noqa: PLC0415 - TensorFlow loads only when a test needs it

    inputs = keras.Input(shape=(size, size, 3), dtype="float32", name="rgb")
    x = keras.layers.Rescaling(1.0 / 255.0)(inputs)
    excess = keras.layers.Conv2D(3, 1, activation="relu", name="excess")
    x = excess(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    logits = keras.layers.Dense(3, name="logits")
    outputs = keras.layers.Softmax()(logits(x))
    model = keras.Model(inputs, outputs)
    kernel = np.full((1, 1, 3, 3), -1.0, np.float32)
    for channel in range(3):
        kernel[0, 0, channel, channel] = 1.0
    excess.set_weights([kernel, np.zeros(3, np.float32)])
    logits.set_weights([np.eye(3, dtype=np.float32) * TEMPERATURE, np.zeros(3, np.float32)])
    return model


def representative(size: int, count: int = 48, seed: int = 0) -> np.ndarray:
    """Calibration pictures (count, size, size, 3) float32 0..255: coloured squares of every
    share of the picture on grey, and pure colours, including bytes 0 and 255."""
    rng = np.random.default_rng(seed)
    images = np.empty((count, size, size, 3), np.float32)
    for k in range(count):
        image = np.full((size, size, 3), rng.uniform(40, 220), np.float32)
        side = int(rng.integers(size // 4, size + 1))
        top, left = rng.integers(0, size - side + 1, 2)
        colour = np.zeros(3, np.float32)
        colour[k % 3] = 255.0
        image[top : top + side, left : left + side] = colour
        images[k] = image
    images[0, 0, 0] = (0.0, 0.0, 0.0)
    images[0, 0, 1] = (255.0, 255.0, 255.0)
    return images


def convert(model: Any, size: int, *, dynamic_batch: bool, int8: bool = True) -> bytes:
    """The TFLite flatbuffer of `model`: int8 with uint8 ends (or float32 when not `int8`),
    at batch 1 or with a dynamic batch dimension."""
    from trainer.tfrun import tf  # noqa: PLC0415

    spec = tf.TensorSpec([None if dynamic_batch else 1, size, size, 3], tf.float32)
    function = tf.function(lambda x: model(x, training=False)).get_concrete_function(spec)
    holder = tf.Module()
    holder.variables_of_model = list(model.variables)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function], holder)
    if int8:
        samples = representative(size)

        def dataset() -> Iterator[list[np.ndarray]]:
            for image in samples:
                yield [image[None]]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = dataset
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.uint8
        converter.inference_output_type = tf.uint8
    return bytes(converter.convert())


def colour_bundle(
    size: int = 96, *, dynamic_batch: bool = False, int8: bool = True, version: str = "colour-1"
) -> ModelBundle:
    """The colour model as the edge receives it."""
    tflite = convert(_model(size), size, dynamic_batch=dynamic_batch, int8=int8)
    return ModelBundle(version=version, labels=LABELS, input_size=size, tflite=tflite)


def coloured_square(size: int, label: str, share: float, background: int = 200) -> np.ndarray:
    """An RGB size x size crop: grey `background` with a centred square of the class's colour
    covering `share` of it."""
    crop = np.full((size, size, 3), background, np.uint8)
    side = round(size * share**0.5)
    start = (size - side) // 2
    blue, green, red = BGR[label]
    crop[start : start + side, start : start + side] = (red, green, blue)
    return crop
