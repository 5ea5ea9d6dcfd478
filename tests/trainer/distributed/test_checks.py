"""Before a job starts, every worker is checked; one that will not do stops it, named."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pytest

from tests.trainer.distributed.conftest import Workers, free_port
from trainer.distributed.coordinator import DistributedError, train_distributed
from trainer.distributed.info import local_versions
from trainer.distributed.layout import worker_init
from trainer.distributed.links import WorkerTarget
from trainer.spec import TrainSpec
from wire.auth import new_secret

SPEC = TrainSpec(version="t1", head_epochs=1, batch_size=16)
PATCH = """
import dataclasses
real = worker.local_versions()
worker.local_versions = lambda: dataclasses.replace(real, **{changed!r})
"""


def nothing_started(lines: list[str], *workers_data: Path) -> bool:
    """No dataset sent, no attempt announced, no job folder on any worker."""
    if any(line.startswith(("sending dataset", "attempt")) for line in lines):
        return False
    return not any(
        list((data / "cache").iterdir()) or list((data / "jobs").iterdir()) for data in workers_data
    )


@pytest.mark.parametrize(
    ("changed", "named"),
    [
        ({"vigia": "9.9.9"}, "vigia 9.9.9 (this trainer: {vigia})"),
        ({"tensorflow": "2.20.0"}, "TensorFlow 2.20.0 (this trainer: {tensorflow})"),
    ],
)
def test_a_worker_on_other_versions_is_refused_before_anything_starts(
    workers: Workers, dataset: Path, tmp_path: Path, changed: dict[str, str], named: str
) -> None:
    good = workers.start("good")
    old = workers.start("old", patch=PATCH.format(changed=changed))
    lines: list[str] = []
    with pytest.raises(DistributedError) as caught:
        train_distributed(
            SPEC,
            dataset,
            [good.target(), old.target()],
            out_dir=tmp_path / "out",
            progress=lines.append,
        )
    problems = str(caught.value).removeprefix("cannot start the job: ")
    assert problems == "worker old runs " + named.format(**asdict(local_versions()))
    assert nothing_started(lines, good.data, old.data)


def test_an_unreachable_worker_is_named_before_anything_starts(
    workers: Workers, dataset: Path, tmp_path: Path
) -> None:
    good = workers.start("good")
    port = free_port()
    ghost = worker_init(tmp_path / "ghost", name="ghost", port=port, advertise=f"127.0.0.1:{port}")
    lines: list[str] = []
    with pytest.raises(DistributedError) as caught:
        train_distributed(
            SPEC,
            dataset,
            [good.target(), WorkerTarget.load(ghost, "ghost")],
            out_dir=tmp_path / "out",
            progress=lines.append,
        )
    assert str(caught.value).startswith(
        f"cannot start the job: worker ghost is unreachable at 127.0.0.1:{port}: cannot reach"
    )
    assert "good" not in str(caught.value)
    assert nothing_started(lines, good.data)


def test_a_worker_refusing_our_secret_is_named_before_anything_starts(
    workers: Workers, dataset: Path, tmp_path: Path
) -> None:
    worker = workers.start("pc-a")
    target = worker.target()
    forged = WorkerTarget("pc-a", target.credential.model_copy(update={"secret": new_secret()}))
    with pytest.raises(DistributedError, match=r"worker pc-a at 127\.0\.0\.1:\d+ refused our "):
        train_distributed(SPEC, dataset, [forged], out_dir=tmp_path / "out", progress=print)
    assert nothing_started([], worker.data)


def test_a_worker_listed_twice_is_refused(tmp_path: Path, dataset: Path) -> None:
    cred = worker_init(tmp_path / "w", name="pc-a", advertise="127.0.0.1:9")
    target = WorkerTarget.load(cred)
    with pytest.raises(DistributedError, match="a worker is named twice: pc-a, pc-a"):
        train_distributed(SPEC, dataset, [target, target], out_dir=tmp_path / "o", progress=print)


def test_fine_tuning_on_cached_activations_is_refused_with_several_workers(
    tmp_path: Path, dataset: Path
) -> None:
    spec = TrainSpec(version="cut", finetune_epochs=1, finetune_on="cache")
    pcs = [
        WorkerTarget.load(worker_init(tmp_path / name, name=name, advertise="127.0.0.1:9"))
        for name in ("pc-a", "pc-b")
    ]
    with pytest.raises(DistributedError, match="'cache' trains on one machine"):
        train_distributed(spec, dataset, pcs, out_dir=tmp_path / "o", progress=print)
