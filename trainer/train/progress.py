"""What training reports while it runs: one `Progress` per batch and per epoch.

Kept free of TensorFlow so the terminal view (`progressbar`) and the CLI can use it cheaply.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

Phase = Literal["embed", "head", "finetune"]
"""embed: backbone embeddings of the train/val images (phase 1 on a cache); head: phase 1, the
backbone frozen; finetune: phase 2, the top blocks unfrozen."""

Kind = Literal["batch", "epoch"]


@dataclass(frozen=True, slots=True)
class Progress:
    """One report: after a batch (for a progress bar) or after an epoch (with its metrics).

    `epoch` counts from 1 within the phase. `images_done` / `images_total` are the training images
    of the epoch so far (for the embed phase: images embedded). `images_per_s` is the training
    throughput of the epoch so far (validation excluded); `seconds` the time since the epoch
    began (at an epoch report: the whole epoch, validation included). The metrics are set on epoch
    reports only, and not for the embed phase. `cached` marks an embed phase served from the cache.
    """

    phase: Phase
    kind: Kind
    epoch: int
    epochs: int
    images_done: int
    images_total: int
    images_per_s: float
    seconds: float
    loss: float | None = None
    acc: float | None = None
    val_loss: float | None = None
    val_acc: float | None = None
    cached: bool = False


ProgressFn = Callable[[Progress], None]


@dataclass(frozen=True, slots=True)
class EpochRecord:
    """One finished epoch, as kept in the history and the report."""

    phase: Phase
    epoch: int
    loss: float
    acc: float
    val_loss: float
    val_acc: float
    images_per_s: float
    seconds: float

    @classmethod
    def of(cls, progress: Progress) -> EpochRecord:
        """The record of an epoch report (its metrics must be set)."""
        metrics = (progress.loss, progress.acc, progress.val_loss, progress.val_acc)
        loss, acc, val_loss, val_acc = (float("nan") if m is None else m for m in metrics)
        return cls(
            phase=progress.phase,
            epoch=progress.epoch,
            loss=loss,
            acc=acc,
            val_loss=val_loss,
            val_acc=val_acc,
            images_per_s=progress.images_per_s,
            seconds=progress.seconds,
        )
