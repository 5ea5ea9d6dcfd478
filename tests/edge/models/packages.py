"""Real, tiny int8 TFLite models (made with TensorFlow: tests only) in signed packages."""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from wire.package import InputSpec, Manifest, Metrics, key_id, labels_text, write_package

SIZE = 32  # the smallest input a manifest allows: quick to convert and to run


@functools.cache
def tiny_tflite(outputs: int) -> bytes:
    """A full-integer model like the trainer's: uint8 (1, SIZE, SIZE, 3) in, uint8 (1, outputs)
    softmax out. Mean colour times a fixed matrix; enough for LiteRT to load and run."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf  # noqa: PLC0415  # seconds to import: only when a test needs it

    weights = tf.constant(np.random.default_rng(outputs).normal(size=(3, outputs)), tf.float32)

    def scores(x: tf.Tensor) -> tf.Tensor:
        mean = tf.reduce_mean((x - 127.0) / 128.0, axis=[1, 2])
        return tf.nn.softmax(tf.matmul(mean, weights))

    classify = tf.function(scores, input_signature=[tf.TensorSpec((1, SIZE, SIZE, 3), tf.float32)])

    def representative() -> Iterator[list[np.ndarray]]:
        rng = np.random.default_rng(0)
        for _ in range(8):
            image = rng.integers(0, 256, (1, SIZE, SIZE, 3)).astype(np.float32)
            image[0, 0, 0, :2] = (255.0, 0.0)
            yield [image]

    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [classify.get_concrete_function()], tf.Module()
    )
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.uint8
    converter.inference_output_type = tf.uint8
    return bytes(converter.convert())


def make_package(
    path: Path,
    key: Ed25519PrivateKey,
    *,
    version: str,
    labels: tuple[str, ...] = ("cat", "dog", "person"),
    model: bytes | None = None,
    dtype: str = "uint8",
) -> Path:
    """Sign a package around `model` (default: a tiny model with one output per label)."""
    tflite = tiny_tflite(len(labels)) if model is None else model
    manifest = Manifest(
        version=version,
        created_ms=1_796_000_000_000,
        backbone="test",
        labels=labels,
        input=InputSpec(size=SIZE, dtype="uint8" if dtype == "uint8" else "float32"),
        quantisation="int8",
        metrics=Metrics(float_accuracy=None, int8_accuracy=None, test_images=0),
        dataset_sha256="d" * 64,
        model_sha256=hashlib.sha256(tflite).hexdigest(),
        model_size=len(tflite),
        labels_sha256=hashlib.sha256(labels_text(labels)).hexdigest(),
        key_id=key_id(key.public_key()),
    )
    write_package(path, manifest, tflite, key)
    return path
