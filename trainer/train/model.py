"""The classifier: the EfficientNet-Lite0 backbone, then dropout and a dense softmax head.

    rgb (size, size, 3) float32 0..255 -> backbone (frozen BatchNorm) -> 1280 features
        -> head: dropout -> dense "logits" (n) -> softmax "probabilities" (n)

The output is a probability per class (softmax inside the model), so the edge reads
probabilities straight from the model, and the int8 export can give them as uint8 with the fixed
scale 1/256 (see `export`). Training uses sparse categorical cross-entropy on those probabilities.

The head is its own small Keras model (`build_head`, input: the 1280 embedding) that the full
model calls. Phase 1 can therefore train it alone on cached embeddings: its layers are the full
model's, so the trained weights are in the full model at once. `copy_head` moves weights from a
separately built head (another process, another strategy scope) into a classifier.
Fine-tuning can run on stored activations the same way: `split_backbone` cuts the backbone
below the blocks to train into a bottom and a top built from its own layers, and
`top_classifier` puts the head on that top, so what it learns is the full model's at once.

The backbone is always called with training=False: its BatchNorm layers run in inference mode
(moving statistics) in every phase, and `unfreeze_top` keeps their scale and offset frozen too —
the usual transfer-learning practice, since small batches of a new dataset would wreck the
ImageNet statistics.
"""

from __future__ import annotations

from pathlib import Path

from trainer.backbone.efficientnet_lite import FEATURES, STAGES, build_backbone
from trainer.spec import TrainSpec
from trainer.tfrun import keras

BACKBONE_ID = "efficientnet-lite0"
"""The backbone's name in package manifests and embedding cache keys."""

BLOCKS = sum(stage.repeats for stage in STAGES)
"""MBConv blocks of the backbone (16), named block0 .. block15 from input to output."""

HEAD_NAME = "head"


def build_head(num_classes: int, dropout: float, *, name: str = HEAD_NAME) -> keras.Model:
    """The head alone: embedding (1280,) -> dropout -> dense -> softmax probabilities."""
    if num_classes < 2:
        raise ValueError(f"a classifier needs at least 2 classes, not {num_classes}")
    inputs = keras.Input(shape=(FEATURES,), dtype="float32", name="embedding")
    x = keras.layers.Dropout(dropout, name="dropout")(inputs)
    x = keras.layers.Dense(num_classes, name="logits")(x)
    outputs = keras.layers.Softmax(name="probabilities")(x)
    return keras.Model(inputs, outputs, name=name)


def build_classifier(
    spec: TrainSpec, num_classes: int, *, weights: bool = True
) -> tuple[keras.Model, keras.Model]:
    """The full classifier for `spec.input_size`, and its backbone (frozen, ImageNet weights).

    The model's input is RGB float32 0..255 (batch, size, size, 3); its output (batch,
    num_classes) probabilities. weights=False skips loading the ImageNet weights (tests).
    Build it inside `strategy.scope()` when training under a distribution strategy.
    """
    size = spec.input_size
    backbone = build_backbone(size, weights=weights)
    freeze(backbone)
    head = build_head(num_classes, spec.dropout)
    inputs = keras.Input(shape=(size, size, 3), dtype="float32", name="rgb")
    outputs = head(backbone(inputs, training=False))
    return keras.Model(inputs, outputs, name=f"vigia_classifier_{size}"), backbone


def load_classifier(spec: TrainSpec, num_classes: int, weights: str | Path) -> keras.Model:
    """A classifier rebuilt from weights saved by `train` (its workdir / fit.WEIGHTS).

    Export and evaluate such a copy, built outside any distribution strategy, rather than the
    trained model of a multi-worker run: reading that one's BatchNorm statistics is a
    collective that every worker would have to join.
    """
    model, _ = build_classifier(spec, num_classes, weights=False)
    model.load_weights(str(weights)).expect_partial()
    return model


def head_of(model: keras.Model) -> keras.Model:
    """The head sub-model of a classifier built by `build_classifier`."""
    return model.get_layer(HEAD_NAME)


def copy_head(source: keras.Model, model: keras.Model) -> None:
    """Put a separately trained head's weights into the classifier's head (same class count)."""
    head_of(model).set_weights(source.get_weights())


def freeze(backbone: keras.Model) -> None:
    """Make every backbone layer non-trainable (phase 1). Recompile the model afterwards."""
    backbone.trainable = False


def is_top_layer(name: str, blocks: int) -> bool:
    """Whether a backbone layer belongs to the top `blocks` MBConv blocks or the final 1x1 conv."""
    if name.startswith("head_"):
        return True
    if not name.startswith("block"):
        return False
    index = name.removeprefix("block").split("_", 1)[0]
    return index.isdigit() and int(index) >= BLOCKS - blocks


def split_backbone(backbone: keras.Model, blocks: int) -> tuple[keras.Model, keras.Model]:
    """(bottom, top): the backbone cut below its top `blocks` MBConv blocks.

    bottom: the image -> the activations entering block 16 - blocks, e.g. (6, 6, 112) at 96 px
    for 5 blocks; top: those activations -> the 1280 pooled features, through the top blocks,
    the final 1x1 conv and the pooling. Both are built from the backbone's own layers, so they
    share its weights: training `top` trains the backbone (BatchNorm runs in inference mode,
    as in the classifier). top(bottom(x)) computes the same as backbone(x).
    """
    if not 1 <= blocks <= BLOCKS:
        raise ValueError(f"blocks must be 1..{BLOCKS}, not {blocks}")
    layers = backbone.layers
    first = next(i for i, layer in enumerate(layers) if is_top_layer(layer.name, blocks))
    cut = layers[first].get_input_at(0)
    inputs = keras.Input(shape=cut.shape[1:], dtype="float32", name=f"block{BLOCKS - blocks}_in")
    made = {id(cut): inputs}  # the backbone's tensors -> their counterparts in `top`
    for layer in layers[first:]:
        given = layer.get_input_at(0)
        args = [made[id(t)] for t in given] if isinstance(given, list) else made[id(given)]
        kwargs = {"training": False} if isinstance(layer, keras.layers.BatchNormalization) else {}
        made[id(layer.get_output_at(0))] = layer(args, **kwargs)
    bottom = keras.Model(backbone.input, cut, name=f"{backbone.name}_bottom{blocks}")
    top = keras.Model(inputs, made[id(backbone.output)], name=f"{backbone.name}_top{blocks}")
    return bottom, top


def top_classifier(model: keras.Model, top: keras.Model) -> keras.Model:
    """The classifier from the cut on: `top` (from `split_backbone`), then the model's head."""
    return keras.Model(top.input, head_of(model)(top.output), name=f"{model.name}_from_cut")


def unfreeze_top(backbone: keras.Model, blocks: int) -> list[str]:
    """Make the top `blocks` MBConv blocks and the final 1x1 conv trainable (phase 2).

    Every other layer stays frozen, and so do all BatchNorm layers. Returns the names of the
    layers that now have trainable weights. Recompile the model afterwards.
    """
    if not 1 <= blocks <= BLOCKS:
        raise ValueError(f"blocks must be 1..{BLOCKS}, not {blocks}")
    backbone.trainable = True
    for layer in backbone.layers:
        layer.trainable = is_top_layer(layer.name, blocks) and not isinstance(
            layer, keras.layers.BatchNormalization
        )
    return [layer.name for layer in backbone.layers if layer.trainable_weights]
