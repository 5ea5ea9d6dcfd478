"""EfficientNet-Lite0 rebuilt in tf-keras gives the logits of the original PyTorch network."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import skimage.data
from PIL import Image

import trainer.backbone.efficientnet_lite as effnet
from trainer.backbone.efficientnet_lite import (
    FEATURES,
    INPUT_SIZES,
    WeightsError,
    build_backbone,
    weights_file,
)
from trainer.backbone.labels import imagenet_labels
from trainer.backbone.torchfile import TorchFileError, load_state_dict

# Outputs of the original network (efficientnet-lite-pytorch 0.1.0 with these weights, in
# PyTorch, eval mode) for skimage's photos resized to 224x224 with PIL bilinear and normalised
# as (x - 127) / 128: top-5 (index, name, logit), the first 10 logits, their sum and L2 norm.
# fmt: off
REFERENCE: dict[str, dict[str, Any]] = {
    "chelsea": {
        "top5": [(285, "Egyptian cat", 10.5183), (282, "tiger cat", 8.3276), (281, "tabby", 8.1107),
                 (287, "lynx", 6.1914), (728, "plastic bag", 4.089)],
        "first10": [-1.0776, 0.7622, -1.7548, -0.5721, -0.6989,
                    -0.7305, -1.1602, 0.905, 0.8023, 0.3697],
        "sum": -66.7231,
        "l2": 38.6621,
    },
    "coffee": {
        "top5": [(967, "espresso", 10.7296), (968, "cup", 7.3596), (504, "coffee mug", 6.5032),
                 (925, "consomme", 6.4473), (809, "soup bowl", 5.2073)],
        "first10": [-0.2083, -0.0805, -0.8404, 0.4619, -0.1431,
                    -0.7802, -1.3557, -0.1266, -0.3179, 1.0789],
        "sum": -76.9314,
        "l2": 37.1756,
    },
    "astronaut": {
        "top5": [(450, "bobsled", 7.2441), (560, "football helmet", 6.1647),
                 (573, "go-kart", 5.4533), (422, "barbell", 5.1631), (830, "stretcher", 5.024)],
        "first10": [-0.8821, -0.1854, 0.3811, -0.0955, -0.891,
                    -1.1633, -1.5058, -1.6085, -0.8126, -0.8476],
        "sum": -114.8278,
        "l2": 40.0571,
    },
    "rocket": {
        "top5": [(540, "drilling platform", 7.8273), (657, "missile", 6.5501),
                 (744, "projectile", 5.9889), (812, "space shuttle", 5.6062),
                 (517, "crane", 5.5661)],
        "first10": [0.8406, 0.5782, -2.2779, -1.8385, -1.9846,
                    -0.3532, -1.6108, -1.0812, 0.6102, -2.0913],
        "sum": -73.0036,
        "l2": 34.4305,
    },
}
# fmt: on

# The port reproduces the reference to its 4 printed decimals: the largest error is 5.5e-5 on the
# logits and 6e-5 on the sum, i.e. the rounding of the reference itself. The margins leave room for
# other CPUs' float32 summation order; a real mistake is far above them (symmetric k//2 padding
# on the stride-2 layers instead of TensorFlow's SAME moves chelsea's first-10 logits by 0.73).
LOGIT_TOL = 1e-3
SUM_TOL = 5e-3  # the sum of 1000 logits
CATS = range(281, 288)  # tabby ... lynx


def photo(name: str, size: int = 224) -> np.ndarray:
    """A skimage photo as the model takes it: RGB float32 0..255, resized like the reference."""
    image = Image.fromarray(getattr(skimage.data, name)()).convert("RGB")
    return np.asarray(image.resize((size, size), Image.Resampling.BILINEAR), dtype=np.float32)


@pytest.fixture(scope="module")
def classifier() -> Any:
    return build_backbone(224, include_top=True)


@pytest.fixture(scope="module")
def logits(classifier: Any) -> dict[str, np.ndarray]:
    batch = np.stack([photo(name) for name in REFERENCE])
    out = classifier.predict(batch, verbose=0)
    return dict(zip(REFERENCE, out, strict=True))


@pytest.mark.parametrize("name", list(REFERENCE))
def test_logits_match_the_pytorch_reference(logits: dict[str, np.ndarray], name: str) -> None:
    ref, out = REFERENCE[name], logits[name]
    assert out.shape == (1000,)
    top5 = [index for index, _, _ in ref["top5"]]
    assert list(np.argsort(-out)[:5]) == top5
    np.testing.assert_allclose(out[top5], [v for _, _, v in ref["top5"]], rtol=0, atol=LOGIT_TOL)
    np.testing.assert_allclose(out[:10], ref["first10"], rtol=0, atol=LOGIT_TOL)
    assert abs(float(out.sum()) - ref["sum"]) < SUM_TOL
    assert abs(float(np.linalg.norm(out)) - ref["l2"]) < LOGIT_TOL


def test_labels_name_the_reference_classes() -> None:
    labels = imagenet_labels()
    assert len(labels) == 1000
    assert labels[285] == "Egyptian cat"
    assert labels[967] == "espresso"
    for ref in REFERENCE.values():
        for index, name, _ in ref["top5"]:
            assert labels[index] == name
    assert labels[0] == "tench"
    assert labels[999] == "toilet tissue"


def test_model_has_the_expected_shape(classifier: Any) -> None:
    assert classifier.input_shape == (None, 224, 224, 3)
    assert classifier.output_shape == (None, 1000)
    trainable = sum(int(np.prod(w.shape)) for w in classifier.trainable_weights)
    assert trainable == 4_652_008  # EfficientNet-Lite0's published 4.65 M


def test_features_are_what_the_classifier_layer_reads(logits: dict[str, np.ndarray]) -> None:
    """include_top=False gives the pooled 1280 features; the ImageNet FC turns them into logits."""
    backbone = build_backbone(224)
    assert backbone.output_shape == (None, FEATURES)
    features = backbone.predict(photo("coffee")[None], verbose=0)[0]
    state = load_state_dict(weights_file())
    np.testing.assert_allclose(
        state["_fc.weight"] @ features + state["_fc.bias"], logits["coffee"], atol=1e-3
    )
    assert features.min() >= 0.0  # after ReLU6 and averaging
    assert features.max() <= 6.0


@pytest.mark.parametrize("size", [s for s in INPUT_SIZES if s != 224])
def test_smaller_inputs_build(size: int) -> None:
    model = build_backbone(size, include_top=True)
    assert model.input_shape == (None, size, size, 3)
    out = model.predict(photo("chelsea", size)[None], verbose=0)[0]
    assert out.shape == (1000,)
    if size == 160:
        assert int(np.argmax(out)) in CATS


@pytest.mark.parametrize("size", [0, 100, 192, 225, 256, True])
def test_other_sizes_are_refused(size: int) -> None:
    with pytest.raises(ValueError, match=r"input size .* not supported; use one of 224, 160"):
        build_backbone(size, weights=False)


def test_missing_weights_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(TorchFileError, match=r"lite0\.pth: cannot read"):
        build_backbone(96, weights_path=tmp_path / "lite0.pth")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param(
            lambda s: s.pop("_blocks.3._bn1.running_var"),
            r"^\S+: the weights file has no tensor _blocks\.3\._bn1\.running_var$",
            id="missing",
        ),
        pytest.param(
            lambda s: s.update(extra=np.zeros(3)),
            r"1 tensors of the weights file unused: \['extra'\]",
            id="extra",
        ),
        pytest.param(
            lambda s: s.update({"_blocks.0._bn1.weight": np.zeros(31, np.float32)}),
            r"_blocks\.0\._bn1 does not fit layer block0_dw_bn",
            id="misshapen",
        ),
    ],
)
def test_every_tensor_is_used_once(
    monkeypatch: pytest.MonkeyPatch, change: Callable[[dict[str, np.ndarray]], object], message: str
) -> None:
    def load(path: Path) -> dict[str, np.ndarray]:
        state = load_state_dict(path)
        change(state)
        return state

    monkeypatch.setattr(effnet, "load_state_dict", load)
    with pytest.raises(WeightsError, match=message):
        build_backbone(96)
