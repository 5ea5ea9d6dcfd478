"""TFLite export (full-integer int8, and float32) and the signed package around it.

The int8 model is what the edge runs. Weights and activations are int8, with
`optimizations=[Optimize.DEFAULT]`, a representative dataset drawn from the training images
(`spec.representative_images` of them, a seeded sample) and only `TFLITE_BUILTINS_INT8` ops. Its
interface is uint8 at both ends:

- input (1, size, size, 3) uint8: the RGB bytes of the square crop, resized, fed as they are.
  The conversion is checked to give the input scale 1 and zero point 0, so byte value v means
  pixel value v and no quantisation step is needed on the edge (the model's first layer does
  (x - 127) / 128). To pin that scale, one byte of the first calibration image is set to 255
  (calibration ranges always include 0; a set of dark photos could otherwise top out below 255).
- output (1, n) uint8: the softmax probabilities. TFLite fixes a uint8 softmax output to scale
  1/256 and zero point 0, so the edge dequantises with the tensor's own parameters,
  p = scale * (q - zero_point) = q / 256 (0 .. 255/256); the arg-max can be taken on q directly.
  `to_tflite_int8` checks those parameters.

The float32 model (float in and out, 0..255 RGB in) is exported for comparison and speed ratios.

Conversion. The converter is given a concrete function of model(x, training=False) at batch 1
(the graph `from_keras_model` would produce), with the same converter settings.
`from_keras_model` first exports the Keras model as a SavedModel, which traces every tf-keras
layer again: 20-50 s per conversion of this backbone on a 2-core CPU, against about 5 s here.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from trainer.dataset.layout import Item
from trainer.tfrun import keras, tf
from trainer.train.evaluate import interpreter
from trainer.train.images import load_images, to_uint8
from trainer.train.model import BACKBONE_ID
from wire.package import InputSpec, Manifest, Metrics, key_id, labels_text, write_package

UINT8_SOFTMAX_SCALE = 1.0 / 256.0


class ExportError(RuntimeError):
    """The converted model does not have the interface the edge expects."""


def representative_images(items: Sequence[Item], *, size: int, count: int, seed: int) -> np.ndarray:
    """A seeded sample of `count` items (all when fewer), as the edge would see them.

    (count, size, size, 3) float32 holding whole numbers 0..255: the uint8 bytes the edge feeds.
    """
    chosen = list(items)
    if len(chosen) > count:
        chosen = random.Random(seed).sample(chosen, count)
    images, _ = load_images(chosen, size)
    return to_uint8(images).astype(np.float32)


def _converter(model: keras.Model) -> Any:
    """A converter for model(x, training=False) traced at batch 1.

    The trackable object handed along is a plain tf.Module holding the model's variables: the
    converter saves it as a SavedModel in a second or two (the supported conversion path),
    where saving the Keras model itself would trace each of its layers.
    """
    shape = (1, *model.input_shape[1:])
    spec = tf.TensorSpec(shape, tf.float32, name="rgb")
    function = tf.function(lambda x: model(x, training=False)).get_concrete_function(spec)
    holder = tf.Module()
    holder.variables_of_model = list(model.variables)
    return tf.lite.TFLiteConverter.from_concrete_functions([function], holder)


def to_tflite_float(model: keras.Model) -> bytes:
    """The float32 TFLite model: float32 RGB 0..255 in, float32 probabilities out."""
    converter = _converter(model)
    return bytes(converter.convert())


def to_tflite_int8(model: keras.Model, representative: np.ndarray) -> bytes:
    """The full-integer model: uint8 RGB in (scale 1), uint8 probabilities out (scale 1/256).

    representative: calibration images, (n, size, size, 3) float32 0..255, n >= 1.
    """
    if len(representative) == 0:
        raise ValueError("int8 calibration needs at least one representative image")
    samples = np.array(representative, dtype=np.float32, copy=True)
    samples[0, 0, 0, 0] = 255.0  # pin the input range to 0..255: scale 1, zero point 0

    def dataset() -> Iterator[list[np.ndarray]]:
        for image in samples:
            yield [image[None]]

    converter = _converter(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = dataset
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.uint8
    converter.inference_output_type = tf.uint8
    flatbuffer = bytes(converter.convert())
    check_int8_interface(flatbuffer)
    return flatbuffer


def check_int8_interface(flatbuffer: bytes) -> None:
    """ExportError unless input is uint8 scale 1 / zero 0 and output uint8 scale 1/256 / zero 0."""
    runner = interpreter(flatbuffer)
    (given,) = runner.get_input_details()
    (output,) = runner.get_output_details()
    in_scale, in_zero = given["quantization"]
    out_scale, out_zero = output["quantization"]
    if given["dtype"] != np.uint8 or abs(in_scale - 1.0) > 1e-6 or in_zero != 0:
        raise ExportError(
            f"int8 model input is {given['dtype'].__name__} scale {in_scale} zero {in_zero}, "
            "not uint8 scale 1 zero 0"
        )
    if output["dtype"] != np.uint8 or abs(out_scale - UINT8_SOFTMAX_SCALE) > 1e-9 or out_zero != 0:
        raise ExportError(
            f"int8 model output is {output['dtype'].__name__} scale {out_scale} zero "
            f"{out_zero}, not uint8 scale 1/256 zero 0"
        )


def make_package(
    path: Path,
    *,
    version: str,
    labels: Sequence[str],
    model: bytes,
    input_size: int,
    metrics: Metrics,
    dataset_sha256: str,
    key: Ed25519PrivateKey,
    quantisation: str = "int8",
    created_ms: int | None = None,
) -> Manifest:
    """Describe the TFLite model in a manifest, sign it, and write the package to `path`.

    int8 packages declare a uint8 input, float32 ones a float32 input; both take RGB 0..255 of
    size x size and normalise inside (mean 127, std 128). Returns the manifest written.
    """
    if quantisation not in ("int8", "float32"):
        raise ValueError(f"quantisation must be int8 or float32, not {quantisation!r}")
    names = tuple(labels)
    manifest = Manifest(
        version=version,
        created_ms=int(time.time() * 1000) if created_ms is None else created_ms,
        backbone=BACKBONE_ID,
        labels=names,
        input=InputSpec(size=input_size, dtype="uint8" if quantisation == "int8" else "float32"),
        quantisation="int8" if quantisation == "int8" else "float32",
        metrics=metrics,
        dataset_sha256=dataset_sha256,
        model_sha256=hashlib.sha256(model).hexdigest(),
        model_size=len(model),
        labels_sha256=hashlib.sha256(labels_text(names)).hexdigest(),
        key_id=key_id(key.public_key()),
    )
    write_package(path, manifest, model, key)
    return manifest
