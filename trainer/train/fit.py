"""Training: phase 1 trains a new head on the frozen backbone, phase 2 fine-tunes its top blocks.

Phase 1 ("head") trains dropout + dense on the backbone's features. With
`spec.cache_embeddings` it runs on embeddings computed once (and cached on disk, see `embed`),
without augmentation; otherwise end to end on images with the backbone frozen (augmented when
`spec.augment`). Phase 2 ("finetune", when `spec.finetune_epochs` > 0) unfreezes the top
`spec.finetune_blocks` MBConv blocks and the final 1x1 conv (BatchNorm stays frozen) and trains
on images (augmented when `spec.augment`) at `spec.finetune_learning_rate`.

Each phase stops early when the validation loss has not improved for `spec.patience` epochs and
ends with the weights of its best epoch. Under a tf.distribute strategy (MultiWorkerMirrored-
Strategy for LAN workers) the model, optimiser and metrics are built in `strategy.scope()` and
`spec.batch_size` is the global batch; with `backup_dir` each phase runs under
`keras.callbacks.BackupAndRestore(backup_dir / phase)`, so a restarted job resumes at its last
finished epoch. Progress goes to the caller's callback per batch and per epoch.

After a multi-worker run, export and evaluate `model.load_classifier(spec, n, workdir / WEIGHTS)`
rather than the returned model: reading the latter's BatchNorm statistics is a collective.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from trainer.backbone.efficientnet_lite import build_backbone
from trainer.dataset.layout import Item
from trainer.dataset.split import limit_per_class
from trainer.spec import TrainSpec
from trainer.tfrun import keras, tf
from trainer.train import oncut
from trainer.train.embed import cached_embeddings, contents_digest
from trainer.train.images import image_dataset, shard_options
from trainer.train.model import build_classifier, head_of, top_classifier, unfreeze_top
from trainer.train.progress import EpochRecord, Phase, Progress, ProgressFn

WEIGHTS = "float_model/weights"
"""Where `train` leaves the float weights in its workdir (TensorFlow checkpoint format):
`load_classifier(spec, n, workdir / WEIGHTS)` rebuilds the model from them."""

BATCH_REPORT_INTERVAL_S = 0.1
"""At most this often a batch report (plus the last batch of each epoch)."""


class SplitItems(Protocol):
    """The three item lists of a split (`trainer.dataset.split.Split` is one)."""

    @property
    def train(self) -> Sequence[Item]: ...

    @property
    def val(self) -> Sequence[Item]: ...

    @property
    def test(self) -> Sequence[Item]: ...


@dataclass(frozen=True, slots=True)
class _Split:
    train: tuple[Item, ...]
    val: tuple[Item, ...]
    test: tuple[Item, ...]


def limited(split: SplitItems, spec: TrainSpec) -> _Split:
    """The split with at most `spec.max_per_class` training images per class (0: all).

    Drawn by `spec.seed` (`trainer.dataset.split.limit_per_class`), so every worker keeps the
    same images; applying it twice changes nothing.
    """
    train = limit_per_class(split.train, spec.max_per_class, spec.seed)
    return _Split(train, tuple(split.val), tuple(split.test))


@dataclass(frozen=True, slots=True)
class Timings:
    """Wall-clock seconds of each part of a run: building the model (and loading its weights),
    embedding (phase 1 on the cache), the rest of phase 1, phase 2, all of it."""

    build_s: float
    embed_s: float
    head_s: float
    finetune_s: float
    total_s: float
    embed_cached: bool


@dataclass(frozen=True)
class TrainResult:
    """A trained float model, its backbone, the epochs run, and how long it all took."""

    model: keras.Model
    backbone: keras.Model
    history: tuple[EpochRecord, ...]
    timings: Timings
    counts: dict[str, int]
    finetuned_layers: tuple[str, ...] = ()  # the backbone layers phase 2 trained


class ProgressCallback(keras.callbacks.Callback):  # type: ignore[misc]
    """Turns Keras' batch and epoch hooks into `Progress` reports and `EpochRecord`s."""

    def __init__(
        self, *, phase: Phase, epochs: int, images: int, batch_size: int, progress: ProgressFn
    ) -> None:
        super().__init__()
        self._supports_tf_logs = True  # batch logs stay tensors: no sync per batch for us
        self.phase, self.epochs, self.images, self.batch_size = phase, epochs, images, batch_size
        self.progress = progress
        self.records: list[EpochRecord] = []
        self.epoch, self.done = 0, 0
        self.start = self.train_end = self.last_report = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.epoch, self.done = epoch + 1, 0
        self.start = self.train_end = self.last_report = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        now = time.perf_counter()
        self.done, self.train_end = min((batch + 1) * self.batch_size, self.images), now
        if now - self.last_report >= BATCH_REPORT_INTERVAL_S or self.done >= self.images:
            self.last_report = now
            self.progress(self._report("batch", now, {}))

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        report = self._report("epoch", time.perf_counter(), logs or {})
        self.records.append(EpochRecord.of(report))
        self.progress(report)

    def _report(self, kind: str, now: float, logs: dict[str, Any]) -> Progress:
        train_s = self.train_end - self.start

        def metric(name: str) -> float | None:
            return float(logs[name]) if name in logs else None

        return Progress(
            phase=self.phase,
            kind="batch" if kind == "batch" else "epoch",
            epoch=self.epoch,
            epochs=self.epochs,
            images_done=self.done,
            images_total=self.images,
            images_per_s=self.done / train_s if train_s > 0 else 0.0,
            seconds=now - self.start,
            loss=metric("loss"),
            acc=metric("acc"),
            val_loss=metric("val_loss"),
            val_acc=metric("val_acc"),
        )


def early_stopping(spec: TrainSpec) -> keras.callbacks.EarlyStopping:
    """Stop when val loss has not improved for `spec.patience` epochs; end on the best weights."""
    return keras.callbacks.EarlyStopping(
        monitor="val_loss", mode="min", patience=spec.patience, restore_best_weights=True
    )


def reduce_on_plateau(spec: TrainSpec) -> keras.callbacks.ReduceLROnPlateau:
    """Cut the learning rate to 30% after an epoch without a better val loss, a round before
    early stopping would give up (a phase that plateaus often improves again at a lower rate)."""
    return keras.callbacks.ReduceLROnPlateau(
        monitor="val_loss", mode="min", factor=0.3, patience=max(1, spec.patience - 1), min_lr=1e-7
    )


def compile_for(model: keras.Model, learning_rate: float) -> None:
    """Adam, sparse cross-entropy on the softmax output, accuracy reported as `acc`."""
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="acc")],
    )


@dataclass
class _Run:
    """What every phase of one run shares."""

    spec: TrainSpec
    split: SplitItems
    strategy: tf.distribute.Strategy
    progress: ProgressFn
    backup_dir: Path | None
    local: bool  # no strategy given: the default one, variables are plain
    records: list[EpochRecord] = field(default_factory=list)

    def fit(
        self,
        model: keras.Model,
        data: tuple[tf.data.Dataset, tf.data.Dataset],
        *,
        phase: Phase,
        epochs: int,
    ) -> None:
        """model.fit with early stopping, progress and (when asked) backup and restore."""
        reporter = ProgressCallback(
            phase=phase,
            epochs=epochs,
            images=len(self.split.train),
            batch_size=self.spec.batch_size,
            progress=self.progress,
        )
        callbacks = [early_stopping(self.spec), reduce_on_plateau(self.spec), reporter]
        if self.backup_dir is not None:
            callbacks.append(keras.callbacks.BackupAndRestore(str(self.backup_dir / phase)))
        train, val = data
        model.fit(train, validation_data=val, epochs=epochs, callbacks=callbacks, verbose=0)
        self.records.extend(reporter.records)

    def fit_images(self, model: keras.Model, *, learning_rate: float, phase: Phase) -> None:
        """Compile (in the strategy's scope) and fit the whole model on images."""
        with self.strategy.scope():
            compile_for(model, learning_rate)
        epochs = self.spec.head_epochs if phase == "head" else self.spec.finetune_epochs
        self.fit(model, self.datasets(), phase=phase, epochs=epochs)

    def datasets(self) -> tuple[tf.data.Dataset, tf.data.Dataset]:
        """Training images (shuffled, augmented when the spec says so) and validation images."""
        spec = self.spec
        train = image_dataset(
            self.split.train,
            size=spec.input_size,
            batch_size=spec.batch_size,
            shuffle=True,
            augment=spec.augment,
            seed=spec.seed,
        )
        val = image_dataset(self.split.val, size=spec.input_size, batch_size=spec.batch_size)
        return train, val


def _embedding_dataset(
    features: np.ndarray, labels: np.ndarray, *, batch_size: int, seed: int | None
) -> tf.data.Dataset:
    ds = tf.data.Dataset.from_tensor_slices((features, labels))
    if seed is not None:
        ds = ds.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE).with_options(shard_options())


def _head_on_embeddings(
    run: _Run, model: keras.Model, backbone: keras.Model, *, digest: str, cache_dir: Path | None
) -> tuple[float, bool]:
    """Phase 1 on cached embeddings; returns (seconds spent embedding, cache hit).

    Under a distribution strategy the embeddings come from a second, plain backbone built
    outside its scope (same ImageNet weights, frozen: same features). The strategy's own
    backbone would do a collective read of every BatchNorm statistic (SyncOnRead variables) per
    batch, which deadlocks as soon as one worker has the embeddings cached and another not.
    """
    spec, train, val = run.spec, run.split.train, run.split.val
    items = (*train, *val)

    def make_backbone() -> keras.Model:
        return backbone if run.local else build_backbone(spec.input_size)

    def embedded(done: int, total: int, seconds: float) -> None:
        rate = done / seconds if seconds > 0 else 0.0
        run.progress(Progress("embed", "batch", 1, 1, done, total, rate, seconds))

    emb = cached_embeddings(
        make_backbone,
        items,
        dataset_digest=digest,
        input_size=spec.input_size,
        cache_dir=cache_dir,
        batch_size=spec.batch_size,
        progress=embedded,
    )
    rate = 0.0 if emb.hit else len(items) / max(emb.seconds, 1e-9)
    run.progress(
        Progress("embed", "epoch", 1, 1, len(items), len(items), rate, emb.seconds, cached=emb.hit)
    )
    n = len(train)
    data = (
        _embedding_dataset(
            emb.features[:n], emb.labels[:n], batch_size=spec.batch_size, seed=spec.seed
        ),
        _embedding_dataset(emb.features[n:], emb.labels[n:], batch_size=spec.batch_size, seed=None),
    )
    head = head_of(model)
    with run.strategy.scope():
        compile_for(head, spec.head_learning_rate)
    run.fit(head, data, phase="head", epochs=spec.head_epochs)
    return emb.seconds, emb.hit


def _phases(
    run: _Run,
    model: keras.Model,
    backbone: keras.Model,
    *,
    dataset_digest: str | None,
    cache_dir: Path | None,
) -> tuple[float, bool, float, tuple[str, ...]]:
    """Phase 1, then phase 2 when asked.

    Returns the seconds spent embedding, whether the embeddings came from the cache, the time
    phase 1 ended, and the backbone layers phase 2 trained.
    """
    spec, split = run.spec, run.split
    if spec.finetune_epochs > 0 and spec.finetune_on == "cache":
        digest = dataset_digest or contents_digest((*split.train, *split.val))
        return _on_cut(run, model, backbone, digest=digest, cache_dir=cache_dir)
    embed_s, cached = 0.0, False
    if spec.cache_embeddings:
        digest = dataset_digest or contents_digest((*split.train, *split.val))
        embed_s, cached = _head_on_embeddings(
            run, model, backbone, digest=digest, cache_dir=cache_dir
        )
    else:
        run.fit_images(model, learning_rate=spec.head_learning_rate, phase="head")
    headed = time.perf_counter()
    finetuned: list[str] = []
    if spec.finetune_epochs > 0:
        with run.strategy.scope():
            finetuned = unfreeze_top(backbone, spec.finetune_blocks)
        run.fit_images(model, learning_rate=spec.finetune_learning_rate, phase="finetune")
    return embed_s, cached, headed, tuple(finetuned)


def _on_cut(
    run: _Run, model: keras.Model, backbone: keras.Model, *, digest: str, cache_dir: Path | None
) -> tuple[float, bool, float, tuple[str, ...]]:
    """Both phases on the cached activations below the top blocks (see `oncut`); returns what
    `_phases` does."""
    if not run.local:
        raise ValueError("finetune_on = 'cache' trains on one machine; use 'images' with workers")
    spec, n = run.spec, len(run.split.train)

    def embedded(done: int, total: int, seconds: float) -> None:
        rate = done / seconds if seconds > 0 else 0.0
        run.progress(Progress("embed", "batch", 1, 1, done, total, rate, seconds))

    items = (*run.split.train, *run.split.val)
    acts, top = oncut.activations(
        spec, backbone, items, digest=digest, cache_dir=cache_dir, progress=embedded
    )
    rate = 0.0 if acts.hit else len(items) / max(acts.seconds, 1e-9)
    total = len(items)
    run.progress(
        Progress("embed", "epoch", 1, 1, total, total, rate, acts.seconds, cached=acts.hit)
    )
    pooled, labels, batch = oncut.features(top, acts.features), acts.labels, spec.batch_size
    head = head_of(model)
    compile_for(head, spec.head_learning_rate)
    data = (
        oncut.dataset(pooled[:n], labels[:n], batch_size=batch, seed=spec.seed),
        oncut.dataset(pooled[n:], labels[n:], batch_size=batch, seed=None),
    )
    run.fit(head, data, phase="head", epochs=spec.head_epochs)
    headed = time.perf_counter()
    finetuned = unfreeze_top(backbone, spec.finetune_blocks)
    classifier = top_classifier(model, top)
    compile_for(classifier, spec.finetune_learning_rate)
    data = (
        oncut.dataset(acts.features[:n], labels[:n], batch_size=batch, seed=spec.seed),
        oncut.dataset(acts.features[n:], labels[n:], batch_size=batch, seed=None),
    )
    run.fit(classifier, data, phase="finetune", epochs=spec.finetune_epochs)
    return acts.seconds, acts.hit, headed, tuple(finetuned)


def _check(spec: TrainSpec, split: SplitItems, classes: Sequence[str]) -> None:
    if len(classes) < 2:
        raise ValueError(f"training needs at least 2 classes, not {len(classes)}")
    if not split.train or not split.val:
        raise ValueError("training needs images in both the train and the validation split")
    bad = [i for i in (*split.train, *split.val, *split.test) if not 0 <= i.label < len(classes)]
    if bad:
        raise ValueError(
            f"{bad[0].path}: label {bad[0].label} is not one of {len(classes)} classes"
        )


def _save(result: TrainResult, workdir: Path, strategy: tf.distribute.Strategy) -> None:
    """The float weights and the history in workdir, on the chief.

    Every worker saves the weights, the others into a scratch folder deleted at once: reading
    the BatchNorm statistics (SyncOnRead variables) is a collective under
    MultiWorkerMirroredStrategy, so all tasks must do it together.
    """
    chief = bool(strategy.extended.should_checkpoint)
    folder = workdir if chief else Path(tempfile.mkdtemp(prefix="vigia-weights-"))
    try:
        folder.mkdir(parents=True, exist_ok=True)
        result.model.save_weights(str(folder / WEIGHTS))
    finally:
        if not chief:
            shutil.rmtree(folder, ignore_errors=True)
    if chief:
        history = [asdict(record) for record in result.history]
        text = json.dumps(history, indent=1) + "\n"
        (workdir / "history.json").write_text(text, encoding="utf-8")


def train(
    spec: TrainSpec,
    split: SplitItems,
    classes: Sequence[str],
    *,
    workdir: Path,
    progress: ProgressFn,
    strategy: tf.distribute.Strategy | None = None,
    backup_dir: Path | None = None,
    cache_dir: Path | None = None,
    dataset_digest: str | None = None,
) -> TrainResult:
    """Train a classifier of `classes` on `split.train`, validated on `split.val`.

    `split.test` is not touched (evaluate it afterwards); `split.train` is first limited to
    `spec.max_per_class` images per class. dataset_digest (the DatasetIndex digest) keys the
    embedding cache in cache_dir (default ~/.cache/vigia/embeddings); without it the items'
    file contents are hashed. The float weights (workdir / WEIGHTS) and history.json go to
    workdir, on the chief only.
    """
    _check(spec, split, classes)
    split = limited(split, spec)
    start = time.perf_counter()
    keras.utils.set_random_seed(spec.seed)
    default = tf.distribute.get_strategy()
    local = strategy is None or strategy is default  # plain variables, no collectives
    strategy = strategy or default
    run = _Run(spec, split, strategy, progress, backup_dir, local)
    with strategy.scope():
        model, backbone = build_classifier(spec, len(classes))
    built = time.perf_counter()
    embed_s, cached, headed, finetuned = _phases(
        run, model, backbone, dataset_digest=dataset_digest, cache_dir=cache_dir
    )
    end = time.perf_counter()
    head_s = headed - built - embed_s
    result = TrainResult(
        model=model,
        backbone=backbone,
        history=tuple(run.records),
        timings=Timings(built - start, embed_s, head_s, end - headed, end - start, cached),
        counts={"train": len(split.train), "val": len(split.val), "test": len(split.test)},
        finetuned_layers=finetuned,
    )
    _save(result, workdir, strategy)
    return result
