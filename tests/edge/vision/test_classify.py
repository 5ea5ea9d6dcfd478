"""The classifier: uint8 crops in, dequantised top classes out, from a pool of interpreters."""

from __future__ import annotations

import dataclasses
import threading

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter  # type: ignore[import-untyped]

from edge.modelslot import ModelBundle
from edge.vision.classify import Classifier, ModelError
from tests.edge.vision.colour_model import LABELS, colour_bundle, coloured_square


def crops(size: int = 96) -> list[np.ndarray]:
    """Red, green, blue squares filling half the crop, then a plain grey crop."""
    return [coloured_square(size, label, 0.5) for label in LABELS] + [
        np.full((size, size, 3), 128, np.uint8)
    ]


def test_each_colour_is_its_class_and_grey_is_nobodys(colour_model: ModelBundle) -> None:
    classifier = Classifier(colour_model, threads=1, pool=1)
    classifier.smoke_test()
    predictions = classifier.classify(crops())
    assert [p.label for p in predictions[:3]] == list(LABELS)
    assert [p.label_index for p in predictions[:3]] == [0, 1, 2]
    assert all(p.score > 0.9 for p in predictions[:3]), predictions
    assert predictions[3].score < 0.45  # about 1/3 each
    assert classifier.classify([]) == []
    assert (classifier.version, classifier.input_size) == ("colour-1", 96)


def test_scores_are_the_outputs_dequantised_with_their_own_parameters(
    colour_model: ModelBundle,
) -> None:
    interpreter = Interpreter(model_content=colour_model.tflite)
    interpreter.allocate_tensors()
    (given,), (output,) = interpreter.get_input_details(), interpreter.get_output_details()
    scale, zero = output["quantization"]
    assert scale == pytest.approx(1 / 256) and zero == 0
    crop = coloured_square(96, "green", 0.3)
    interpreter.set_tensor(given["index"], crop[None])
    interpreter.invoke()
    raw = interpreter.get_tensor(output["index"])[0]
    (prediction,) = Classifier(colour_model).classify([crop])
    assert (prediction.label_index, prediction.label) == (1, "green")
    assert prediction.score == pytest.approx(scale * (int(raw[1]) - zero))
    assert 0.5 < prediction.score < 0.99  # a smaller square: a less sure answer


def test_a_dynamic_batch_runs_crops_together_with_the_same_answers(
    colour_model: ModelBundle, colour_model_batched: ModelBundle
) -> None:
    one_by_one = Classifier(colour_model)
    batched = Classifier(colour_model_batched, max_batch=3)
    assert not one_by_one.batching and batched.batching
    many = crops() * 3  # 12 crops: batches of 3
    expected = one_by_one.classify(many)
    got = batched.classify(many)
    assert [p.label for p in got] == [p.label for p in expected]
    assert all(abs(a.score - b.score) <= 0.02 for a, b in zip(got, expected, strict=True))
    assert [p.label for p in batched.classify(many[:2])] == ["red", "green"]  # batch size changes
    batched.smoke_test()


def test_threads_share_the_pool(colour_model: ModelBundle) -> None:
    classifier = Classifier(colour_model, threads=1, pool=2)
    expected = [p.label for p in classifier.classify(crops())]
    results: list[list[str]] = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(20):
            labels = [p.label for p in classifier.classify(crops())]
            with lock:
                results.append(labels)

    workers = [threading.Thread(target=work) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    assert len(results) == 80 and all(labels == expected for labels in results)


def test_crops_of_the_wrong_shape_are_refused(colour_model: ModelBundle) -> None:
    classifier = Classifier(colour_model)
    with pytest.raises(ValueError, match="96x96x3 uint8"):
        classifier.classify([np.zeros((64, 64, 3), np.uint8)])
    with pytest.raises(ValueError, match="96x96x3 uint8"):
        classifier.classify([np.zeros((96, 96, 3), np.float32)])


def test_the_smoke_test_names_what_does_not_fit(colour_model: ModelBundle) -> None:
    float_model = colour_bundle(96, int8=False)
    with pytest.raises(ModelError, match="takes float32 and gives float32; the edge runs uint8"):
        Classifier(float_model).smoke_test()
    wrong_size = dataclasses.replace(colour_model, input_size=224)
    with pytest.raises(ModelError, match=r"input is \(1, 96, 96, 3\), not \(batch, 224, 224, 3\)"):
        Classifier(wrong_size).smoke_test()
    wrong_labels = dataclasses.replace(colour_model, labels=("red", "green"))
    with pytest.raises(ModelError, match=r"output is \(1, 3\), not \(batch, 2\)"):
        Classifier(wrong_labels).smoke_test()
    with pytest.raises(ModelError, match="LiteRT cannot load the model"):
        Classifier(dataclasses.replace(colour_model, tflite=b"not a flatbuffer" * 10))
