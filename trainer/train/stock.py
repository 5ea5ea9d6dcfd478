"""The stock model: EfficientNet-Lite0's own 1000 ImageNet classes, int8, in a signed package.

No training: the ImageNet classifier (`build_backbone(include_top=True)`, logits) gets a softmax
and goes through the same int8 export as a trained model (uint8 RGB in, uint8 probabilities out),
so an edge can recognise everyday things before anyone has trained anything.

Calibration data. Int8 conversion needs representative inputs to set each activation's range.
ImageNet itself is not here, so the calibration set is the colour photos scikit-image ships in
its wheel (`skimage.data`, nothing downloaded): astronaut, chelsea (a cat), coffee, rocket, the
stereo motorcycle pair, hubble_deep_field, immunohistochemistry, retina, colorwheel and logo (on
white) — 11 pictures, each used whole (centre square), mirrored, as four corner crops and a
centre zoom: 77 inputs. Limits: 11 scenes are far fewer than the hundreds of varied photos
calibration normally uses, and three of them are scientific images; activation ranges are
therefore set by few scenes, and inputs unlike them (night scenes, saturated colour) may clip or
lose resolution. The test checks the result still names a cat and an espresso as the float model
does; measure on real data before relying on the stock model's exact scores.

scikit-image is needed at run time for this (and only this) command.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from trainer.backbone.efficientnet_lite import build_backbone
from trainer.backbone.labels import imagenet_labels
from trainer.tfrun import keras, tf
from trainer.train.export import make_package, to_tflite_int8
from trainer.train.images import centre_square, resize, to_uint8
from wire.package import Manifest, Metrics

PHOTOS = (
    "astronaut",
    "chelsea",
    "coffee",
    "rocket",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
    "colorwheel",
)
CORNER_CROP = 0.7  # side of a corner crop, as a fraction of the square
CENTRE_ZOOM = 0.6


def photos() -> Iterator[np.ndarray]:
    """skimage's bundled colour photos as (h, w, 3) uint8 RGB."""
    try:
        import skimage.data  # noqa: PLC0415 (only the stock model needs it)
    except ImportError as exc:
        raise RuntimeError(
            "the stock model calibrates on scikit-image's sample photos: pip install scikit-image"
        ) from exc
    for name in PHOTOS:
        yield getattr(skimage.data, name)()
    left, right, _ = skimage.data.stereo_motorcycle()  # type: ignore[no-untyped-call]
    yield left
    yield right
    logo = skimage.data.logo().astype(np.float32)  # type: ignore[no-untyped-call]  # RGBA: put it on white
    alpha = logo[..., 3:] / 255.0
    yield np.rint(logo[..., :3] * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)


def views(photo: np.ndarray, size: int) -> list[np.ndarray]:
    """A photo's calibration inputs: whole, mirrored, four corner crops, a centre zoom."""
    square = centre_square(tf.constant(photo)).numpy()
    side = square.shape[0]
    crop, zoom = round(side * CORNER_CROP), round(side * CENTRE_ZOOM)
    start = (side - zoom) // 2
    cuts = [
        square,
        square[:, ::-1],
        square[:crop, :crop],
        square[:crop, -crop:],
        square[-crop:, :crop],
        square[-crop:, -crop:],
        square[start : start + zoom, start : start + zoom],
    ]
    return [resize(tf.constant(np.ascontiguousarray(cut)), size).numpy() for cut in cuts]


def calibration_images(size: int) -> np.ndarray:
    """(77, size, size, 3) float32 whole numbers 0..255: the stock model's calibration set."""
    images = [view for photo in photos() for view in views(photo, size)]
    return to_uint8(np.stack(images)).astype(np.float32)


def imagenet_classifier(input_size: int) -> keras.Model:
    """EfficientNet-Lite0 with its ImageNet head and a softmax: RGB 0..255 in, 1000 classes out."""
    logits = build_backbone(input_size, include_top=True)
    probabilities = keras.layers.Softmax(name="probabilities")(logits.output)
    return keras.Model(logits.input, probabilities, name=f"imagenet_lite0_{input_size}")


def stock_model(
    input_size: int,
    out: Path,
    key: Ed25519PrivateKey,
    *,
    version: str | None = None,
    created_ms: int | None = None,
) -> Manifest:
    """Write the int8 ImageNet model as a signed package to `out`; returns its manifest.

    Metrics are empty (no test set: accuracies None, 0 test images); the manifest's
    dataset_sha256 is the SHA-256 of the calibration images, the only data the file depends on.
    """
    model = imagenet_classifier(input_size)
    calibration = calibration_images(input_size)
    flatbuffer = to_tflite_int8(model, calibration)
    return make_package(
        out,
        version=version or f"imagenet-lite0-{input_size}",
        labels=imagenet_labels(),
        model=flatbuffer,
        input_size=input_size,
        metrics=Metrics(float_accuracy=None, int8_accuracy=None, test_images=0),
        dataset_sha256=hashlib.sha256(calibration.tobytes()).hexdigest(),
        key=key,
        created_ms=created_ms,
    )
