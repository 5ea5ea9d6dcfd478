"""Jobs that go well: one worker, then two; the dataset travels once; the workers agree.

The module runs the same job twice on real worker processes with the stand-in training
function: on worker a alone, then on a and b. The tests then look at what came out.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.trainer.distributed.conftest import WorkerProc, Workers
from tests.trainer.distributed.patterns import accuracy
from trainer.distributed.archive import dataset_digest
from trainer.distributed.coordinator import AttemptRecord, DistributedResult, train_distributed
from trainer.spec import TrainSpec

EPOCHS = 8
SPEC = TrainSpec(version="t1", head_epochs=EPOCHS, batch_size=32, seed=3)
EPOCH_LINE = re.compile(r"^head epoch (\d+)/(\d+): loss [\d.]+, acc [\d.]+ \(reported by (\w+)\)$")


@dataclass
class Runs:
    """The two workers and the two finished jobs, with their progress lines."""

    a: WorkerProc
    b: WorkerProc
    one: DistributedResult
    two: DistributedResult
    one_lines: list[str]
    two_lines: list[str]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, dataset: Path) -> Iterator[Runs]:
    root = tmp_path_factory.mktemp("jobs")
    pool = Workers(root)
    try:
        a, b = pool.start("a"), pool.start("b")
        one_lines: list[str] = []
        one = train_distributed(
            SPEC, dataset, [a.target()], out_dir=root / "one", progress=one_lines.append
        )
        two_lines: list[str] = []
        two = train_distributed(
            SPEC, dataset, [a.target(), b.target()], out_dir=root / "two", progress=two_lines.append
        )
        yield Runs(a, b, one, two, one_lines, two_lines)
    finally:
        pool.stop_all()


def load_weights(path: Path) -> list[object]:
    from trainer.tfrun import keras  # noqa: PLC0415 (TensorFlow only for the tests that need it)

    weights: list[object] = keras.models.load_model(path).get_weights()
    return weights


def test_each_job_succeeds_at_its_first_attempt(runs: Runs) -> None:
    assert runs.one.attempts == (AttemptRecord(1, ("a",), 0, None, "ok"),)
    assert runs.two.attempts == (AttemptRecord(1, ("a", "b"), 0, None, "ok"),)
    assert (runs.one.chief, runs.two.chief) == ("a", "a")


def test_the_dataset_is_sent_once_then_cached(runs: Runs, dataset: Path) -> None:
    digest = dataset_digest(dataset)
    assert runs.one.uploads == ("a",)
    assert runs.two.uploads == ("b",)  # a had it from the first job
    assert f"worker a has dataset {digest[:12]} cached" in runs.two_lines
    assert [line for line in runs.two_lines if line.startswith("sending dataset")] == [
        f"sending dataset {digest[:12]} (0.6 MB) to b"
    ]
    assert runs.a.cached() == [digest]
    assert runs.b.cached() == [digest]


def test_both_workers_end_with_the_same_weights(runs: Runs) -> None:
    assert set(runs.two.weights) == {"a", "b"}
    assert runs.two.weights["a"] == runs.two.weights["b"]
    assert runs.two.consistent


def test_the_model_file_holds_the_chief_s_final_weights(runs: Runs) -> None:
    from trainer.distributed.task import weights_sha256  # noqa: PLC0415

    class Holder:
        def __init__(self, weights: list[object]) -> None:
            self.weights = weights

        def get_weights(self) -> list[object]:
            return self.weights

    assert runs.two.model_path == runs.two.model_path.parent / "model.keras"
    assert weights_sha256(Holder(load_weights(runs.two.model_path))) == runs.two.weights["a"]


def test_two_workers_learn_as_well_as_one(runs: Runs, dataset: Path) -> None:
    alone = accuracy(load_weights(runs.one.model_path), dataset)  # type: ignore[arg-type]
    shared = accuracy(load_weights(runs.two.model_path), dataset)  # type: ignore[arg-type]
    assert alone > 0.6  # three classes: chance is 0.33
    assert abs(shared - alone) <= 0.02
    assert runs.two.metrics["test_acc"] == pytest.approx(shared)


def test_progress_is_one_line_per_epoch_naming_the_worker_that_reported(runs: Runs) -> None:
    for lines, names in ((runs.one_lines, {"a"}), (runs.two_lines, {"a", "b"})):
        epochs = [match for line in lines if (match := EPOCH_LINE.match(line))]
        assert [int(match[1]) for match in epochs] == list(range(1, EPOCHS + 1))
        assert {int(match[2]) for match in epochs} == {EPOCHS}
        assert {match[3] for match in epochs} <= names


def test_no_task_outlives_its_job(runs: Runs) -> None:
    assert runs.a.tasks() == []
    assert runs.b.tasks() == []
    assert not list((runs.a.data / "jobs").glob("*/attempt-1/backup"))
