"""The model on the edge: a pool of LiteRT interpreters running the int8 classifier.

The model takes uint8 RGB (batch, size, size, 3) as it is (scale 1, zero point 0: the model
normalises inside) and gives uint8 probabilities (batch, classes), which are dequantised with
the output tensor's own scale and zero point (1/256 and 0 for the trainer's models).

An interpreter runs one inference at a time, so a `Classifier` holds `pool` of them (each with
`threads` CPU threads) and lends one to each call: cameras share the pool, and a swap of the
model (a new Classifier in the slot) never touches an interpreter in use. When the model's
batch dimension is dynamic (-1 in its signature), several crops run as one batch (resizing the
input tensor when the batch size changes); otherwise (the trainer exports at batch 1) they run
one after the other.

`smoke_test` checks the interface and runs one inference on zeros; the model store runs it
before offering a model to the cameras.
"""

from __future__ import annotations

import queue
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from edge.capture.frame import Pixels
from edge.modelslot import ModelBundle


class ModelError(RuntimeError):
    """The model cannot be loaded, or has not the interface the edge expects."""


@dataclass(frozen=True, slots=True)
class Prediction:
    """The top class of one crop: its index, its label and its probability (0..1)."""

    label_index: int
    label: str
    score: float


def _interpreter(model: bytes, threads: int) -> Any:
    """A LiteRT interpreter of `model`, tensors allocated; ModelError when it does not load."""
    from ai_edge_litert.interpreter import (  # type: ignore[import-untyped]  # noqa: PLC0415
        Interpreter,
    )

    try:
        interpreter = Interpreter(model_content=model, num_threads=threads)
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        raise ModelError(f"LiteRT cannot load the model: {exc}") from exc
    return interpreter


class _Runner:
    """One interpreter with what a call needs to know about its two tensors."""

    def __init__(self, model: bytes, threads: int) -> None:
        self.interpreter = _interpreter(model, threads)
        inputs = self.interpreter.get_input_details()
        outputs = self.interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelError(
                f"the model has {len(inputs)} inputs and {len(outputs)} outputs, not 1 and 1"
            )
        self.input: dict[str, Any] = inputs[0]
        self.output: dict[str, Any] = outputs[0]
        self.batch = int(self.input["shape"][0])
        scale, zero = self.output["quantization"]
        self.scale, self.zero = float(scale), int(zero)

    @property
    def dynamic_batch(self) -> bool:
        """The model declares a batch dimension of any size."""
        signature = self.input.get("shape_signature")
        return signature is not None and len(signature) > 0 and int(signature[0]) == -1

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Probabilities (n, classes) float32 for a uint8 batch (n, size, size, 3)."""
        if len(batch) != self.batch:
            index = self.input["index"]
            self.interpreter.resize_tensor_input(index, list(batch.shape), strict=True)
            self.interpreter.allocate_tensors()
            self.batch = len(batch)
        self.interpreter.set_tensor(self.input["index"], batch)
        self.interpreter.invoke()
        quantised = self.interpreter.get_tensor(self.output["index"])
        probabilities: np.ndarray = self.scale * (quantised.astype(np.float32) - self.zero)
        return probabilities.reshape(len(batch), -1)


class Classifier:
    """A model ready to classify crops from any thread (see the module's docstring)."""

    def __init__(
        self, bundle: ModelBundle, *, threads: int = 1, pool: int = 1, max_batch: int = 8
    ) -> None:
        if threads < 1 or pool < 1 or max_batch < 1:
            raise ValueError("threads, pool and max_batch must be 1 or more")
        self.bundle = bundle
        self.threads = threads
        self.max_batch = max_batch
        runners = [_Runner(bundle.tflite, threads) for _ in range(pool)]
        self.batching = runners[0].dynamic_batch and max_batch > 1
        self._pool: queue.LifoQueue[_Runner] = queue.LifoQueue()
        for runner in runners:
            self._pool.put(runner)

    @property
    def version(self) -> str:
        """The model's version."""
        return self.bundle.version

    @property
    def input_size(self) -> int:
        """Side of the square input, in pixels."""
        return self.bundle.input_size

    @contextmanager
    def _runner(self) -> Iterator[_Runner]:
        """Borrow an interpreter, waiting for one to be free."""
        runner = self._pool.get()
        try:
            yield runner
        finally:
            self._pool.put(runner)

    def classify(self, crops: Sequence[Pixels]) -> list[Prediction]:
        """The top class of each crop (size x size x 3 RGB uint8), in order."""
        if not crops:
            return []
        size = self.bundle.input_size
        for crop in crops:
            if crop.shape != (size, size, 3) or crop.dtype != np.uint8:
                raise ValueError(
                    f"a crop must be {size}x{size}x3 uint8, not {crop.shape} {crop.dtype}"
                )
        step = self.max_batch if self.batching else 1
        rows: list[np.ndarray] = []
        with self._runner() as runner:
            for start in range(0, len(crops), step):
                rows.append(runner.run(np.stack(crops[start : start + step])))
        return [self._prediction(row) for row in np.concatenate(rows)]

    def _prediction(self, probabilities: np.ndarray) -> Prediction:
        index = int(np.argmax(probabilities))
        return Prediction(index, self.bundle.labels[index], float(probabilities[index]))

    def smoke_test(self) -> None:
        """Check the interface and run one inference on zeros; ModelError when anything is off."""
        with self._runner() as runner:
            _check_interface(runner, self.bundle)
            size = self.bundle.input_size
            probabilities = runner.run(np.zeros((1, size, size, 3), np.uint8))
        if probabilities.shape != (1, len(self.bundle.labels)):
            raise ModelError(f"the model gave output of shape {probabilities.shape}")
        if not np.all(np.isfinite(probabilities)) or abs(float(probabilities.sum()) - 1) > 0.1:
            raise ModelError("the model's output on zeros is not a probability distribution")


def _check_interface(runner: _Runner, bundle: ModelBundle) -> None:
    """ModelError unless input is uint8 (b, size, size, 3) scale 1 zero 0 and output uint8
    (b, classes) with a positive scale."""
    given, out = runner.input, runner.output
    size, classes = bundle.input_size, len(bundle.labels)
    shape = tuple(int(d) for d in given["shape"])
    if given["dtype"] != np.uint8 or out["dtype"] != np.uint8:
        raise ModelError(
            f"the model takes {np.dtype(given['dtype']).name} and gives "
            f"{np.dtype(out['dtype']).name}; the edge runs uint8 in, uint8 out (int8 export)"
        )
    if shape[1:] != (size, size, 3):
        raise ModelError(f"the model's input is {shape}, not (batch, {size}, {size}, 3)")
    in_scale, in_zero = given["quantization"]
    if abs(float(in_scale) - 1.0) > 1e-6 or int(in_zero) != 0:
        raise ModelError(f"the model's input has scale {in_scale} zero {in_zero}, not 1 and 0")
    out_shape = tuple(int(d) for d in out["shape"])
    if out_shape[-1] != classes or len(out_shape) != 2:
        raise ModelError(
            f"the model's output is {out_shape}, not (batch, {classes}) for its labels"
        )
    if runner.scale <= 0:
        raise ModelError("the model's output is not quantised (scale 0)")
