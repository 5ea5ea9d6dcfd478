"""How well a model does on held-out images: accuracy, confusion matrix, precision and recall.

Two runners: the float Keras model, and a TFLite flatbuffer run with `ai_edge_litert` — the
runtime the edge uses — so the int8 figure is the one the edge will see. A uint8-input model gets
the images as the edge gives them (rounded bytes); its uint8 output is dequantised with the
tensor's own scale and zero point.

Precision of a class never predicted, and recall of a class absent from the test set, are 0.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from trainer.tfrun import keras
from trainer.train.images import to_uint8


@dataclass(frozen=True, slots=True)
class Evaluation:
    """Scores of one model on one test set."""

    accuracy: float
    confusion: np.ndarray  # (k, k) int64: row = true class, column = predicted class
    precision: tuple[float, ...]
    recall: tuple[float, ...]
    count: int
    seconds_per_image: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "accuracy": self.accuracy,
            "count": self.count,
            "precision": list(self.precision),
            "recall": list(self.recall),
            "confusion": self.confusion.tolist(),
            "seconds_per_image": self.seconds_per_image,
        }


def scores(
    labels: np.ndarray, predicted: np.ndarray, num_classes: int, *, seconds: float = 0.0
) -> Evaluation:
    """Accuracy, confusion matrix and per-class precision/recall of predicted class indices."""
    labels, predicted = np.asarray(labels, np.int64), np.asarray(predicted, np.int64)
    confusion = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    hits = np.diag(confusion).astype(np.float64)
    predicted_per_class = confusion.sum(axis=0)
    true_per_class = confusion.sum(axis=1)
    precision = np.divide(
        hits, predicted_per_class, out=np.zeros(num_classes), where=predicted_per_class > 0
    )
    recall = np.divide(hits, true_per_class, out=np.zeros(num_classes), where=true_per_class > 0)
    count = len(labels)
    return Evaluation(
        accuracy=float(hits.sum() / count) if count else 0.0,
        confusion=confusion,
        precision=tuple(float(p) for p in precision),
        recall=tuple(float(r) for r in recall),
        count=count,
        seconds_per_image=seconds / count if count else 0.0,
    )


def evaluate_keras(
    model: keras.Model, images: np.ndarray, labels: np.ndarray, *, batch_size: int = 64
) -> Evaluation:
    """The float model on images (n, size, size, 3) float32 0..255."""
    start = time.perf_counter()
    probabilities = model.predict(images, batch_size=batch_size, verbose=0)
    seconds = time.perf_counter() - start
    return scores(labels, probabilities.argmax(axis=1), probabilities.shape[1], seconds=seconds)


def interpreter(flatbuffer: bytes, *, threads: int | None = None) -> Any:
    """An ai_edge_litert Interpreter of the model, tensors allocated (threads None: its default)."""
    from ai_edge_litert.interpreter import (  # type: ignore[import-untyped]  # noqa: PLC0415
        Interpreter,
    )

    runner = Interpreter(model_content=flatbuffer, num_threads=threads)
    runner.allocate_tensors()
    return runner


def tflite_predict(
    flatbuffer: bytes, images: np.ndarray, *, threads: int | None = None
) -> np.ndarray:
    """Probabilities (n, k) float32 from a TFLite model, one image at a time as on the edge."""
    runner = interpreter(flatbuffer, threads=threads)
    (given,) = runner.get_input_details()
    (output,) = runner.get_output_details()
    if given["dtype"] == np.uint8:
        batch = to_uint8(images)
    else:
        batch = np.asarray(images, dtype=given["dtype"])
    scale, zero = output["quantization"]
    out = np.zeros((len(images), int(output["shape"][-1])), np.float32)
    for i, image in enumerate(batch):
        runner.set_tensor(given["index"], image[None])
        runner.invoke()
        raw = runner.get_tensor(output["index"])[0]
        out[i] = scale * (raw.astype(np.float32) - zero) if scale else raw
    return out


def evaluate_tflite(
    flatbuffer: bytes, images: np.ndarray, labels: np.ndarray, *, threads: int | None = None
) -> Evaluation:
    """A TFLite model (int8 or float) on images (n, size, size, 3) float32 0..255."""
    start = time.perf_counter()
    probabilities = tflite_predict(flatbuffer, images, threads=threads)
    seconds = time.perf_counter() - start
    return scores(labels, probabilities.argmax(axis=1), probabilities.shape[1], seconds=seconds)


def tflite_latency(
    flatbuffer: bytes, *, threads: int | None = None, runs: int = 20, warmup: int = 3
) -> float:
    """Median seconds per single-image inference of a TFLite model, on a fixed random input."""
    runner = interpreter(flatbuffer, threads=threads)
    (given,) = runner.get_input_details()
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=given["shape"]).astype(given["dtype"])
    runner.set_tensor(given["index"], image)
    for _ in range(warmup):
        runner.invoke()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        runner.invoke()
        times.append(time.perf_counter() - start)
    return float(np.median(times))
