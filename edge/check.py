"""`edge check`: open each camera for one frame, load the model, say what it sees.

Nothing is sent to the hub and nothing is installed: a dry run of what `edge run` would do.
"""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from edge.capture.frame import Pixels
from edge.capture.source import CaptureError
from edge.capture.url import make_source
from edge.config import EdgeConfig, camera_options
from edge.models.store import ModelRefused, ModelStore
from edge.modelslot import ModelBundle, Slot
from edge.vision.classify import Classifier
from edge.vision.geometry import Rect
from edge.vision.regions import crop_input
from wire.package import PackageError, load_public_key


def check(config: EdgeConfig, out: TextIO) -> int:
    """0 when every camera gave a frame and a model loaded, else 1; a line per finding."""
    classifier = _model(config, out)
    failures = 0 if classifier is not None else 1
    for camera in config.camera:
        options = camera_options(camera)
        source = make_source(options.url, options.source)
        try:
            source.open()
            pixels = source.read().pixels
        except CaptureError as exc:
            out.write(f"camera {camera.name}: FAILED: {exc}\n")
            failures += 1
            continue
        finally:
            source.close()
        height, width = pixels.shape[:2]
        seen = _whole_frame(classifier, pixels) if classifier is not None else "no model"
        out.write(f"camera {camera.name}: {width}x{height} frame; the model sees {seen}\n")
    return 1 if failures else 0


def _model(config: EdgeConfig, out: TextIO) -> Classifier | None:
    """The current model (else the configured package), checked and loaded."""
    try:
        store = ModelStore(
            config.models_dir, load_public_key(config.node.trainer_key), Slot[ModelBundle]()
        )
        current = config.models_dir / "current.vpkg"
        package: Path | None = current if current.exists() else config.node.model
        if package is None:
            out.write("model: none installed and no [node] model to install\n")
            return None
        bundle = store.check(package)
    except (ModelRefused, PackageError) as exc:
        out.write(f"model: FAILED: {exc}\n")
        return None
    out.write(f"model: {bundle.version}, {len(bundle.labels)} classes, {package}\n")
    inference = config.inference
    return Classifier(bundle, threads=inference.threads, pool=1, max_batch=1)


def _whole_frame(classifier: Classifier, pixels: Pixels) -> str:
    """The top class of the frame's centre square."""
    height, width = pixels.shape[:2]
    side = min(width, height)
    square = Rect((width - side) // 2, (height - side) // 2, side, side)
    crop = crop_input(pixels, square, classifier.bundle.input_size)
    (prediction,) = classifier.classify([crop])
    return f"{prediction.label} ({prediction.score:.2f})"
