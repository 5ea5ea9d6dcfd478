"""A tiny dataset trains into a signed int8 package the edge runtime loads and that recognises
its own test images; the report shows float and int8 results side by side."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from tests.trainer.train.conftest import DIGEST, Run
from tests.trainer.train.shapes import CLASSES, Split
from trainer.train.evaluate import evaluate_tflite, interpreter, tflite_predict
from trainer.train.export import UINT8_SOFTMAX_SCALE, check_int8_interface
from trainer.train.fit import WEIGHTS, train
from trainer.train.model import load_classifier
from trainer.train.progress import Progress
from wire.package import PackageError, labels_text, new_key, read_package

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_package_verifies_with_the_trainer_key_and_runs_on_litert(run: Run) -> None:
    package = read_package(run.package, run.key.public_key())
    assert package.model == run.int8
    manifest = package.manifest
    assert manifest == run.manifest
    assert manifest.labels == CLASSES
    assert manifest.backbone == "efficientnet-lite0"
    assert (manifest.input.size, manifest.input.dtype) == (96, "uint8")
    assert manifest.quantisation == "int8"
    assert manifest.dataset_sha256 == DIGEST
    assert manifest.model_size == len(run.int8)
    assert manifest.model_sha256 == hashlib.sha256(run.int8).hexdigest()
    assert manifest.labels_sha256 == hashlib.sha256(labels_text(CLASSES)).hexdigest()
    assert manifest.metrics.test_images == len(run.shapes.split.test) == 18
    assert manifest.metrics.int8_accuracy == run.int8_eval.accuracy
    assert manifest.metrics.float_accuracy == run.float_eval.accuracy
    # The edge's own runtime takes the packaged bytes and names most test images right.
    result = evaluate_tflite(package.model, run.test_images, run.test_labels)
    assert result.accuracy >= 0.8  # chance is 1/3
    with pytest.raises(PackageError, match="signature does not verify"):
        read_package(run.package, new_key().public_key())


def test_int8_model_takes_uint8_pixels_and_gives_uint8_probabilities(run: Run) -> None:
    runner = interpreter(run.int8)
    (given,) = runner.get_input_details()
    (output,) = runner.get_output_details()
    assert list(given["shape"]) == [1, 96, 96, 3]
    assert given["dtype"] == np.uint8
    assert given["quantization"] == (1.0, 0)  # raw bytes in, no scaling on the edge
    assert list(output["shape"]) == [1, 3]
    assert output["dtype"] == np.uint8
    assert output["quantization"] == (UINT8_SOFTMAX_SCALE, 0)
    probabilities = tflite_predict(run.int8, run.test_images[:4])
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=0.03)
    check_int8_interface(run.int8)


def test_float_and_int8_models_agree(run: Run) -> None:
    assert run.float_eval.accuracy >= 0.8
    assert run.int8_eval.accuracy >= run.float_eval.accuracy - 0.12  # at most 2 of 18 lost
    float_probs = run.result.model.predict(run.test_images, verbose=0)
    int8_probs = tflite_predict(run.int8, run.test_images)
    assert (int8_probs.argmax(axis=1) == float_probs.argmax(axis=1)).mean() >= 0.85
    assert np.abs(int8_probs - float_probs).max() < 0.25


def test_report_holds_float_and_int8_side_by_side(run: Run) -> None:
    json_path, png_path = run.report
    report = json.loads(json_path.read_text())
    assert report["accuracy"] == {
        "float": run.float_eval.accuracy,
        "int8": run.int8_eval.accuracy,
    }
    assert report["classes"] == list(CLASSES)
    assert report["counts"] == {"train": 60, "val": 12, "test": 18}
    assert report["spec"]["version"] == "shapes-1"
    assert [row["class"] for row in report["per_class"]] == list(CLASSES)
    assert set(report["per_class"][0]) == {
        "class",
        "float_precision",
        "float_recall",
        "int8_precision",
        "int8_recall",
    }
    for side in ("float", "int8"):
        matrix = np.array(report[side]["confusion"])
        assert matrix.shape == (3, 3)
        assert matrix.sum() == 18
    assert np.trace(np.array(report["int8"]["confusion"])) == round(run.int8_eval.accuracy * 18)
    assert len(report["history"]) == len(run.result.history) >= 1
    assert report["history"][0]["phase"] == "head"
    assert report["package"]["size"] == run.package.stat().st_size
    assert png_path.read_bytes()[:8] == PNG_MAGIC
    assert png_path.stat().st_size > 10_000


def test_progress_reports_batches_and_epochs(run: Run) -> None:
    by_phase: dict[str, list[Progress]] = {}
    for event in run.events:
        by_phase.setdefault(event.phase, []).append(event)
    assert list(by_phase) == ["embed", "head"]
    embed_epoch = [e for e in by_phase["embed"] if e.kind == "epoch"]
    assert len(embed_epoch) == 1
    assert embed_epoch[0].images_done == 60 + 12
    assert not embed_epoch[0].cached
    head_epochs = [e for e in by_phase["head"] if e.kind == "epoch"]
    assert [e.epoch for e in head_epochs] == list(range(1, len(head_epochs) + 1))
    assert all(e.epochs == run.spec.head_epochs for e in head_epochs)
    assert all(e.val_loss is not None and e.val_acc is not None for e in head_epochs)
    batches = [e for e in by_phase["head"] if e.kind == "batch"]
    assert batches
    assert all(0 < e.images_done <= e.images_total == 60 for e in batches)
    assert any(e.images_done == 60 for e in batches)  # each epoch's last batch is reported
    assert all(e.images_per_s > 0 for e in batches)
    history = run.result.history
    assert [(r.phase, r.epoch) for r in history] == [(e.phase, e.epoch) for e in head_epochs]
    assert history[-1].val_acc >= 0.8


def test_workdir_keeps_weights_and_history(run: Run) -> None:
    history = json.loads((run.workdir / "history.json").read_text())
    assert len(history) == len(run.result.history)
    assert history[0]["phase"] == "head"
    rebuilt = load_classifier(run.spec, 3, run.workdir / WEIGHTS)
    np.testing.assert_allclose(
        rebuilt.predict(run.test_images, verbose=0),
        run.result.model.predict(run.test_images, verbose=0),
        atol=1e-6,
    )


def test_embeddings_cache_file_is_where_asked(run: Run) -> None:
    files = list(run.cache_dir.glob("*.npy"))
    assert len(files) == 1
    assert np.load(files[0]).shape == (60 + 12, 1280)
    assert run.result.timings.embed_s > 0
    assert not run.result.timings.embed_cached


def test_bad_labels_and_empty_validation_are_refused(run: Run, tmp_path: Path) -> None:
    split = run.shapes.split
    with pytest.raises(ValueError, match="at least 2 classes"):
        train(run.spec, split, ("one",), workdir=tmp_path, progress=print)
    with pytest.raises(ValueError, match="both the train and the validation"):
        train(
            run.spec, Split(split.train, (), split.test), CLASSES, workdir=tmp_path, progress=print
        )
    with pytest.raises(ValueError, match="label 2 is not one of 2 classes"):
        train(run.spec, split, CLASSES[:2], workdir=tmp_path, progress=print)
