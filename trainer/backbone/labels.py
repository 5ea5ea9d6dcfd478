"""The 1000 ImageNet class names, in the class-index order of the backbone's logits."""

from __future__ import annotations

from functools import cache
from importlib import resources

LABELS_FILE = "data/imagenet_labels.txt"
"""One name per line, inside the `trainer` package: the first WordNet lemma of each synset."""


@cache
def _read() -> tuple[str, ...]:
    text = resources.files("trainer").joinpath(LABELS_FILE).read_text(encoding="utf-8")
    labels = tuple(text.splitlines())
    if len(labels) != 1000 or not all(labels):
        raise RuntimeError(f"trainer/{LABELS_FILE} must hold 1000 non-empty lines")
    return labels


def imagenet_labels() -> list[str]:
    """The ImageNet class names; index i names logit i (e.g. 285 is "Egyptian cat").

    Two names repeat, as in ImageNet itself: "crane" (134 the bird, 517 the machine) and
    "maillot" (638, 639).
    """
    return list(_read())
