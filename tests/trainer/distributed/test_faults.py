"""Jobs that go wrong: a worker killed mid-job, a coordinator that leaves, a worker stopped.

Epochs of the stand-in are slowed down ($STANDIN_EPOCH_S) so that the test can act between
them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.trainer.distributed.conftest import Workers, wait_for
from trainer.distributed.coordinator import train_distributed
from trainer.spec import TrainSpec

EPOCHS = 5
SPEC = TrainSpec(version="t1", head_epochs=EPOCHS, batch_size=32, seed=5)
SLOW = {"STANDIN_EPOCH_S": "0.5"}
EPOCH_LINE = re.compile(r"^head epoch (\d+)/\d+: .* \(reported by (\w+)\)$")


class Abandon(Exception):
    """Raised from the progress callback: the coordinator goes away mid-job."""


def test_a_worker_killed_mid_job_is_dropped_and_the_job_resumes_from_its_checkpoint(
    workers: Workers, dataset: Path, tmp_path: Path
) -> None:
    a, b = workers.start("a", env=SLOW), workers.start("b", env=SLOW)
    lines: list[str] = []

    def progress(line: str) -> None:
        lines.append(line)
        if line.startswith("head epoch 2/") and a.proc.poll() is None:
            a.kill()  # SIGKILL: the chief's worker vanishes, its task must follow by itself

    result = train_distributed(
        SPEC,
        dataset,
        [a.target(), b.target()],
        out_dir=tmp_path / "out",
        progress=progress,
        rejoin_timeout_s=2,
    )
    first, second = result.attempts
    assert (first.outcome, first.workers) == ("failed", ("a", "b"))
    assert first.reason.startswith("worker a: connection lost")
    assert (second.outcome, second.workers) == ("ok", ("b",))
    assert second.resumed_from_epoch > 0
    assert any(line.startswith("worker a dropped: connection lost") for line in lines)
    assert "worker a did not come back; going on without it" in lines
    resumed = [m[1] for line in lines if (m := re.search(r"resuming from epoch (\d+)", line))]
    assert resumed == [str(second.resumed_from_epoch)]
    restart = next(i for i, line in enumerate(lines) if line.startswith("attempt 2:"))
    after = [int(m[1]) for line in lines[restart:] if (m := EPOCH_LINE.match(line))]
    assert after == list(range(second.resumed_from_epoch + 1, EPOCHS + 1))
    assert (result.chief, set(result.weights)) == ("b", {"b"})
    assert result.model_path.is_file()
    assert wait_for(lambda: a.tasks() == [], 10)  # the orphaned task ended itself
    assert b.tasks() == []


def test_a_task_ends_with_its_coordinator_and_with_its_worker(
    workers: Workers, dataset: Path, tmp_path: Path
) -> None:
    a, b = workers.start("a", env=SLOW), workers.start("b", env=SLOW)
    running: list[tuple[int, int]] = []

    def progress(line: str) -> None:
        if line.startswith("head epoch 1/"):
            running.append((len(a.tasks()), len(b.tasks())))
            b.stop()  # SIGTERM: the worker stops cleanly and kills its task
            raise Abandon  # and the coordinator leaves without a word to a

    with pytest.raises(Abandon):
        train_distributed(
            SPEC, dataset, [a.target(), b.target()], out_dir=tmp_path / "out", progress=progress
        )
    assert running == [(1, 1)]
    assert b.proc.returncode == 0
    assert wait_for(lambda: a.tasks() == [] and b.tasks() == [], 10)
    assert a.proc.poll() is None  # a lives on, free for the next job


def test_a_lost_worker_that_comes_back_rejoins_from_the_checkpoint(
    workers: Workers, dataset: Path, tmp_path: Path
) -> None:
    a, b = workers.start("a", env=SLOW), workers.start("b", env=SLOW)
    lines: list[str] = []

    def progress(line: str) -> None:
        lines.append(line)
        if line.startswith("head epoch 2/") and not any(x.startswith("waiting") for x in lines):
            b.kill()
        elif line.startswith("waiting up to"):
            b.spawn()  # the same worker, back on its port with its cache

    result = train_distributed(
        SPEC,
        dataset,
        [a.target(), b.target()],
        out_dir=tmp_path / "out",
        progress=progress,
        rejoin_timeout_s=30,
    )
    first, second = result.attempts
    assert first.outcome == "failed"
    assert first.reason.startswith("worker b: connection lost")
    assert (second.outcome, second.workers) == ("ok", ("a", "b"))
    assert second.resumed_from_epoch > 0
    assert "worker b is back" in lines
    assert result.uploads == ("a", "b")  # b kept its cache: nothing sent again
    assert set(result.weights) == {"a", "b"}
    assert result.consistent  # both restored the same checkpoint
