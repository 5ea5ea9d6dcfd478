"""What a training job is: every setting, typed and validated, the same on every worker."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from wire.config import Settings

InputSize = Literal[224, 160, 128, 96]


class TrainSpec(Settings):
    """One training run. Defaults suit a few thousand images on a CPU-only desktop."""

    version: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    input_size: InputSize = 224
    seed: int = 1
    val_frac: float = Field(default=0.1, gt=0, lt=0.5)
    test_frac: float = Field(default=0.1, gt=0, lt=0.5)
    batch_size: int = Field(default=64, ge=1, le=4096)
    #: Phase 1: the backbone frozen, a new head trained (on cached embeddings when they pay).
    head_epochs: int = Field(default=20, ge=1)
    head_learning_rate: float = Field(default=1e-3, gt=0)
    #: Phase 2 (0 epochs: skipped): the top `finetune_blocks` blocks unfrozen, a low rate.
    finetune_epochs: int = Field(default=0, ge=0)
    finetune_blocks: int = Field(default=2, ge=1, le=16)
    finetune_learning_rate: float = Field(default=1e-4, gt=0)
    #: What phase 2 trains on: "images" (augmented when `augment`), or "cache": the backbone
    #: below the unfrozen blocks runs once and both phases train on its cached activations
    #: (tens of times faster, no augmentation; one machine only). See train/oncut.py.
    finetune_on: Literal["images", "cache"] = "images"
    #: Stop a phase when validation loss has not improved for this many epochs.
    patience: int = Field(default=3, ge=1)
    augment: bool = True
    #: Cache backbone embeddings for the frozen phase (augmentation then applies only to the
    #: fine-tuning phase); worth it whenever the head trains for more than an epoch or two.
    cache_embeddings: bool = True
    dropout: float = Field(default=0.2, ge=0, lt=1)
    #: At most this many images per class from the training split (0: all), for quick runs.
    max_per_class: int = Field(default=0, ge=0)
    #: Images for int8 calibration, drawn from the training split.
    representative_images: int = Field(default=200, ge=10, le=5000)
