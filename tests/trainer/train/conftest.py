"""One tiny dataset and one trained, exported, packaged and reported run, shared by the tests.

Three classes of coloured shapes, 30 images each at 64x64, trained at input size 96: small
enough for a 2-core CPU, hard enough that chance (1/3) and a working model (~1.0) differ plainly.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.trainer.train.shapes import CLASSES, Split, make_dataset, split_items
from trainer.spec import TrainSpec
from trainer.train.evaluate import Evaluation, evaluate_keras, evaluate_tflite
from trainer.train.export import (
    make_package,
    representative_images,
    to_tflite_int8,
)
from trainer.train.fit import TrainResult, train
from trainer.train.images import load_images
from trainer.train.progress import Progress
from trainer.train.report import write_report
from wire.package import Manifest, Metrics, new_key

DIGEST = "d" * 64


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: the slowest tests of the folder (tens of seconds)")


@dataclass(frozen=True)
class Shapes:
    """The dataset on disk and its split."""

    root: Path
    split: Split


@dataclass(frozen=True)
class Run:
    """Everything one training run produced."""

    spec: TrainSpec
    shapes: Shapes
    workdir: Path
    cache_dir: Path
    result: TrainResult
    events: list[Progress]
    int8: bytes
    float_eval: Evaluation
    int8_eval: Evaluation
    package: Path
    manifest: Manifest
    key: Ed25519PrivateKey
    report: tuple[Path, Path]
    test_images: np.ndarray
    test_labels: np.ndarray


@pytest.fixture(scope="session")
def shapes(tmp_path_factory: pytest.TempPathFactory) -> Shapes:
    root = tmp_path_factory.mktemp("shapes")
    items = make_dataset(root, per_class=30)
    return Shapes(root, split_items(items, val=4, test=6))


def tiny_spec(**changes: object) -> TrainSpec:
    base: dict[str, object] = {
        "version": "shapes-1",
        "input_size": 96,
        "batch_size": 16,
        "head_epochs": 12,
        "patience": 3,
        "representative_images": 24,
        "seed": 1,
    }
    return TrainSpec.model_validate(base | changes)


def package_it(
    path: Path,
    spec: TrainSpec,
    int8: bytes,
    float_eval: Evaluation,
    int8_eval: Evaluation,
    *,
    key: Ed25519PrivateKey,
) -> Manifest:
    metrics = Metrics(
        float_accuracy=float_eval.accuracy,
        int8_accuracy=int8_eval.accuracy,
        test_images=int8_eval.count,
    )
    return make_package(
        path,
        version=spec.version,
        labels=CLASSES,
        model=int8,
        input_size=spec.input_size,
        metrics=metrics,
        dataset_sha256=DIGEST,
        key=key,
    )


def report_it(
    workdir: Path, result: TrainResult, evals: tuple[Evaluation, Evaluation], package: Path
) -> tuple[Path, Path]:
    return write_report(
        workdir,
        spec=tiny_spec(),
        classes=CLASSES,
        counts=result.counts,
        history=result.history,
        float_eval=evals[0],
        int8_eval=evals[1],
        timings={"train_s": result.timings.total_s},
        package_size=package.stat().st_size,
        package=package.name,
    )


@pytest.fixture(scope="session")
def run(shapes: Shapes, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """Train on cached embeddings, export to int8, evaluate, package and report."""
    spec = tiny_spec()
    workdir = tmp_path_factory.mktemp("work")
    cache_dir = workdir / "cache"
    events: list[Progress] = []
    result = train(
        spec,
        shapes.split,
        CLASSES,
        workdir=workdir,
        progress=events.append,
        cache_dir=cache_dir,
        dataset_digest=DIGEST,
    )
    representative = representative_images(
        shapes.split.train, size=96, count=spec.representative_images, seed=spec.seed
    )
    int8 = to_tflite_int8(result.model, representative)
    images, labels = load_images(shapes.split.test, 96)
    float_eval = evaluate_keras(result.model, images, labels)
    int8_eval = evaluate_tflite(int8, images, labels)
    key = new_key()
    package = workdir / "shapes-1.vpkg"
    manifest = package_it(package, spec, int8, float_eval, int8_eval, key=key)
    report = report_it(workdir, result, (float_eval, int8_eval), package)
    return Run(
        spec=spec,
        shapes=shapes,
        workdir=workdir,
        cache_dir=cache_dir,
        result=result,
        events=events,
        int8=int8,
        float_eval=float_eval,
        int8_eval=int8_eval,
        package=package,
        manifest=manifest,
        key=key,
        report=report,
        test_images=images,
        test_labels=labels,
    )
