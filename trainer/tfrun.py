"""The one place the trainer imports TensorFlow from.

Keras 2 (the `tf-keras` package) is selected before TensorFlow is first imported:
MultiWorkerMirroredStrategy training does not work with Keras 3's `model.fit`. TensorFlow's C++
logging is cut down to warnings and errors. Every trainer module writes

    from trainer.tfrun import keras, tf

and never imports `tensorflow` or `tf_keras` itself, so these settings always come first.
"""

from __future__ import annotations

import logging
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf
import tf_keras as keras

# Their Python loggers chat at INFO (SavedModel assets, sharding callbacks): keep warnings only.
for _name in ("absl", "tensorflow"):
    logging.getLogger(_name).setLevel(logging.WARNING)

__all__ = ["keras", "tf"]
