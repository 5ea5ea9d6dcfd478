"""The colour models, converted once per test session (TensorFlow is imported only here)."""

from __future__ import annotations

import pytest

from edge.modelslot import ModelBundle
from tests.edge.vision.colour_model import colour_bundle


@pytest.fixture(scope="session")
def colour_model() -> ModelBundle:
    """The int8 colour model at 96x96, batch 1 (as the trainer exports)."""
    return colour_bundle(96)


@pytest.fixture(scope="session")
def colour_model_batched() -> ModelBundle:
    """The int8 colour model at 96x96 with a dynamic batch dimension."""
    return colour_bundle(96, dynamic_batch=True, version="colour-batched")
