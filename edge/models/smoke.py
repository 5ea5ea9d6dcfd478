"""The smoke test a model passes before it may run: load it, run it once, check its shapes.

The edge runs full-integer models (docs/training.md): input (1, size, size, 3) uint8 RGB,
output (1, n) with n the number of labels. One inference on a black picture proves the
flatbuffer loads in this LiteRT and has that interface; nothing about accuracy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np


class Interpreter(Protocol):
    """What the edge uses of `ai_edge_litert.interpreter.Interpreter`."""

    def allocate_tensors(self) -> None:
        """Make the tensors; needed once before the first inference."""

    def get_input_details(self) -> list[dict[str, Any]]:
        """One dict per input: index, shape, dtype, quantization."""

    def get_output_details(self) -> list[dict[str, Any]]:
        """One dict per output: index, shape, dtype, quantization."""

    def set_tensor(self, tensor_index: int, value: Any) -> None:
        """Copy `value` into an input."""

    def invoke(self) -> None:
        """Run the model once."""

    def get_tensor(self, tensor_index: int) -> Any:
        """A copy of an output."""


Loader = Callable[[bytes], Interpreter]


class SmokeTestFailed(Exception):
    """The model does not load, does not run, or does not have the expected interface."""


def litert_loader(tflite: bytes) -> Interpreter:
    """A LiteRT interpreter of the flatbuffer (imported here: `edge check` may run without)."""
    from ai_edge_litert.interpreter import (  # type: ignore[import-untyped]  # noqa: PLC0415
        Interpreter as LiteRT,
    )

    runner: Interpreter = LiteRT(model_content=tflite)
    return runner


def smoke_test(tflite: bytes, *, input_size: int, labels: Sequence[str], loader: Loader) -> None:
    """Load the model, check its input, run it once on zeros, check its output size."""
    try:
        runner = loader(tflite)
        runner.allocate_tensors()
        inputs, outputs = runner.get_input_details(), runner.get_output_details()
    except Exception as exc:  # LiteRT raises ValueError, RuntimeError, ... from C++
        raise SmokeTestFailed(f"the model does not load: {exc}") from None
    if len(inputs) != 1 or len(outputs) != 1:
        raise SmokeTestFailed(
            f"the model has {len(inputs)} inputs and {len(outputs)} outputs, not one of each"
        )
    given, output = inputs[0], outputs[0]
    expected = [1, input_size, input_size, 3]
    if [int(n) for n in given["shape"]] != expected or given["dtype"] != np.uint8:
        raise SmokeTestFailed(
            f"the model takes {np.dtype(given['dtype']).name} {list(given['shape'])}, "
            f"not uint8 {expected} as its manifest says"
        )
    try:
        runner.set_tensor(given["index"], np.zeros(expected, np.uint8))
        runner.invoke()
        result = np.asarray(runner.get_tensor(output["index"]))
    except Exception as exc:  # as above
        raise SmokeTestFailed(f"inference failed: {exc}") from None
    if result.size != len(labels) or result.shape[-1] != len(labels):
        raise SmokeTestFailed(
            f"the model gives {list(result.shape)} scores for {len(labels)} labels"
        )
