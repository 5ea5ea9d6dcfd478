"""`trainer train` from start to finish: dataset, training (here or on LAN workers), int8
export, evaluation of both models on the test images, the signed package, the report."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from trainer.dataset.layout import Dataset, open_dataset
from trainer.dataset.split import Split, split_dataset
from trainer.distributed import WorkerTarget, train_distributed
from trainer.spec import TrainSpec
from trainer.tfrun import keras
from trainer.train.evaluate import Evaluation, evaluate_keras, evaluate_tflite
from trainer.train.export import make_package, representative_images, to_tflite_int8
from trainer.train.fit import train
from trainer.train.images import load_images
from trainer.train.progress import EpochRecord, Progress
from trainer.train.report import write_report
from wire.package import Manifest, Metrics

log = logging.getLogger("vigia.trainer.job")


@dataclass(frozen=True, slots=True)
class JobOptions:
    """Where things go, and who trains."""

    out: Path  # the package
    workdir: Path  # weights, history, report
    key: Ed25519PrivateKey
    workers: tuple[WorkerTarget, ...] = ()
    cache_dir: Path | None = None
    rejoin_timeout_s: float = 60.0


@dataclass(frozen=True, slots=True)
class JobResult:
    """What `trainer train` made."""

    manifest: Manifest
    float_eval: Evaluation
    int8_eval: Evaluation
    report: tuple[Path, Path]
    weights: dict[str, str]  # worker -> final weights hash (empty when trained here)


@dataclass(frozen=True, slots=True)
class _Trained:
    """A trained float model, with where it came from."""

    model: keras.Model
    weights: dict[str, str]
    history: tuple[EpochRecord, ...]


def run_job(
    spec: TrainSpec,
    root: Path,
    options: JobOptions,
    *,
    progress: Callable[[Progress], None],
    say: Callable[[str], None],
) -> JobResult:
    """Train on the dataset at `root`, export, evaluate, package and report."""
    dataset = open_dataset(root)
    split = split_dataset(
        dataset,
        seed=spec.seed,
        val_frac=spec.val_frac,
        test_frac=None if dataset.test is not None else spec.test_frac,
    )
    say(_split_line(dataset, split))
    options.workdir.mkdir(parents=True, exist_ok=True)
    history: tuple[EpochRecord, ...] = ()  # a multi-worker run's epochs stay with its chief
    if options.workers:
        model, weights = _on_workers(spec, root, split, options, say)
    else:
        result = train(
            spec,
            split,
            dataset.classes,
            workdir=options.workdir,
            progress=progress,
            cache_dir=options.cache_dir,
            dataset_digest=dataset.digest,
        )
        model, weights, history = result.model, {}, result.history
    trained = _Trained(model, weights, history)
    return _finish(spec, dataset, split, trained, options, say=say)


def _on_workers(
    spec: TrainSpec, root: Path, split: Split, options: JobOptions, say: Callable[[str], None]
) -> tuple[keras.Model, dict[str, str]]:
    """Train with MultiWorkerMirroredStrategy on the workers; the chief's model comes back."""
    result = train_distributed(
        spec,
        root,
        list(options.workers),
        out_dir=options.workdir,
        progress=say,
        rejoin_timeout_s=options.rejoin_timeout_s,
    )
    if not result.consistent:
        raise RuntimeError(f"workers ended with different weights: {result.weights}")
    say(f"trained on {', '.join(result.weights)} (chief {result.chief}); weights agree")
    model = keras.models.load_model(result.model_path, compile=False)
    return model, dict(result.weights)


def _finish(
    spec: TrainSpec,
    dataset: Dataset,
    split: Split,
    trained: _Trained,
    options: JobOptions,
    *,
    say: Callable[[str], None],
) -> JobResult:
    """Quantise, evaluate float and int8 side by side, package and report."""
    images, labels = load_images(split.test, spec.input_size)
    float_eval = evaluate_keras(trained.model, images, labels)
    say(f"float model: {float_eval.accuracy:.4f} on {len(labels)} test images; quantising")
    calibration = representative_images(
        split.train, size=spec.input_size, count=spec.representative_images, seed=spec.seed
    )
    int8 = to_tflite_int8(trained.model, calibration)
    int8_eval = evaluate_tflite(int8, images, labels)
    say(f"int8 model: {int8_eval.accuracy:.4f} ({len(int8):,} bytes)")
    manifest = make_package(
        options.out,
        version=spec.version,
        labels=dataset.classes,
        model=int8,
        input_size=spec.input_size,
        metrics=Metrics(
            float_accuracy=float_eval.accuracy,
            int8_accuracy=int8_eval.accuracy,
            test_images=len(labels),
        ),
        dataset_sha256=dataset.digest,
        key=options.key,
    )
    report = write_report(
        options.workdir,
        spec=spec,
        classes=dataset.classes,
        counts={"train": len(split.train), "val": len(split.val), "test": len(split.test)},
        history=trained.history,
        float_eval=float_eval,
        int8_eval=int8_eval,
        timings={},
        package_size=options.out.stat().st_size,
        package=options.out.name,
    )
    return JobResult(manifest, float_eval, int8_eval, report, trained.weights)


def _split_line(dataset: Dataset, split: Split) -> str:
    counts = {"train": len(split.train), "val": len(split.val), "test": len(split.test)}
    given = "its own test half" if dataset.test is not None else "a seeded stratified split"
    return (
        f"{len(dataset.classes)} classes; train {counts['train']:,}, val {counts['val']:,}, "
        f"test {counts['test']:,} images ({given}); dataset {dataset.digest[:16]}"
    )
