"""One worker's share of a job, in its own process: `python -m trainer.distributed.task JOB`.

The worker starts it with `TF_CONFIG` naming the cluster and this task's index, and
`TF_USE_LEGACY_KERAS=1`. It creates `tf.distribute.MultiWorkerMirroredStrategy()` first (before
any other TensorFlow op, as the strategy requires), runs the training function inside it, and
reports to the worker as JSON lines on the pipe `--report-fd`. A cluster of one task has nothing
to mirror: it trains under TensorFlow's default strategy instead, as fast as a plain
`model.fit` (MultiWorkerMirroredStrategy with one worker runs at about 40% of that here):

    {"type": "progress", "phase": "head", "epoch": 3, "epochs": 20, "metrics": {...}}
    {"type": "checkpoint", "path": ".../ckpt-3.tar", "phase": "head", "epoch": 3}   (chief)
    {"type": "done", "weights_sha256": "...", "model": ".../model.keras", "metrics": {...}}
    {"type": "failed", "reason": "..."}

Only the chief (task 0) keeps BackupAndRestore's checkpoint, so after each epoch it packs its
backup directory into a tar for the worker to forward to the coordinator. Every task saves the
model and hashes its weights, the chief into the attempt's model file and the others into a
scratch file that is removed (reading synchronised variables is collective: all must do it).
The task dies with its worker: it watches its standard input, which only the worker holds open.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import importlib
import json
import math
import os
import shutil
import sys
import threading
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict

from trainer.distributed.archive import pack_dir
from trainer.spec import TrainSpec

MODEL_FILE = "model.keras"
#: Progress fields that are counts of the moment, not metrics.
NOT_METRICS = ("images_done", "images_total")
EXIT_ORPHANED = 70
_SAVED_EPOCH = "ckpt_saved_epoch/.ATTRIBUTES/VARIABLE_VALUE"

Report = Callable[[dict[str, Any]], None]
Progress = Callable[[Any], None]


class TrainFunction(Protocol):
    """What a task runs: build and train the model inside `strategy.scope()`, calling
    `progress` after each epoch (an object with `phase`, `epoch`, `epochs` and metrics),
    keeping `keras.callbacks.BackupAndRestore(backup_dir)`; return the trained float Keras
    model, or an object whose `model` it is (and whose `metrics` mapping is reported)."""

    def __call__(
        self,
        spec: TrainSpec,
        dataset: Path,
        *,
        workdir: Path,
        progress: Progress,
        strategy: Any,
        backup_dir: Path,
    ) -> object: ...


class TaskJob(BaseModel):
    """The job file the worker writes for its task."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    job: str
    attempt: int
    index: int
    cluster: list[str]
    spec: dict[str, Any]
    dataset: Path
    workdir: Path
    backup_dir: Path
    checkpoints: Path
    model_dir: Path
    train: str

    @property
    def chief(self) -> bool:
        """Task 0 keeps the checkpoints and the model."""
        return self.index == 0

    def tf_config(self) -> str:
        """The TF_CONFIG this task runs under."""
        return json.dumps(
            {"cluster": {"worker": self.cluster}, "task": {"type": "worker", "index": self.index}}
        )


def fit_train(
    spec: TrainSpec,
    dataset: Path,
    *,
    workdir: Path,
    progress: Progress,
    strategy: Any,
    backup_dir: Path,
) -> object:
    """The real training: open and split the dataset, then `trainer.train.fit.train`, with
    the embedding cache next to the worker's dataset cache."""
    from trainer.dataset.layout import open_dataset  # noqa: PLC0415 (TensorFlow: task only)
    from trainer.dataset.split import split_dataset  # noqa: PLC0415
    from trainer.train.fit import train  # noqa: PLC0415

    opened = open_dataset(dataset)
    split = split_dataset(opened, seed=spec.seed, val_frac=spec.val_frac, test_frac=spec.test_frac)
    return train(
        spec,
        split,
        opened.classes,
        workdir=workdir,
        progress=progress,
        strategy=strategy,
        backup_dir=backup_dir,
        cache_dir=dataset.parent / "embeddings",
        dataset_digest=opened.digest,
    )


def resolve(name: str) -> TrainFunction:
    """The function named "module:attribute"."""
    module, _, attribute = name.partition(":")
    function: TrainFunction = getattr(importlib.import_module(module), attribute)
    return function


def _finite(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if not isinstance(value, int | float):
        try:
            value = float(value)  # type: ignore[arg-type]  # NumPy and TensorFlow scalars
        except (TypeError, ValueError):
            return None
    number = float(value)
    return number if math.isfinite(number) else None


def _as_dict(event: object) -> dict[str, Any]:
    if dataclasses.is_dataclass(event) and not isinstance(event, type):
        return dataclasses.asdict(event)
    if isinstance(event, BaseModel):
        return event.model_dump()
    if isinstance(event, Mapping):
        return dict(event)
    return dict(vars(event))


def metrics_of(raw: Mapping[str, Any]) -> dict[str, float]:
    """The finite numbers of a mapping (one level of nesting flattened), keys cut to 64."""
    found: dict[str, float] = {}
    for key, value in raw.items():
        if isinstance(value, Mapping):
            found.update(metrics_of(value))
        elif (number := _finite(value)) is not None:
            found[str(key)[:64]] = number
    return dict(list(found.items())[:64])


def progress_fields(event: object) -> tuple[bool, dict[str, Any]]:
    """A training function's progress event: whether it ends an epoch (events without a
    `kind` do; `kind="batch"` ones do not), and the fields of its `progress` line."""
    raw = _as_dict(event)
    at_epoch_end = raw.pop("kind", "epoch") == "epoch"
    phase = str(raw.pop("phase", "") or "")[:64]
    epoch = int(raw.pop("epoch", 0) or 0)
    epochs = int(raw.pop("epochs", 0) or 0)
    for count in NOT_METRICS:
        raw.pop(count, None)
    fields = {"phase": phase, "epoch": epoch, "epochs": epochs, "metrics": metrics_of(raw)}
    return at_epoch_end, fields


def result_metrics(result: object) -> dict[str, float]:
    """What a training result says of its final state: its `metrics` mapping, else the
    numbers of the last record of its `history`."""
    metrics = getattr(result, "metrics", None)
    if isinstance(metrics, Mapping):
        return metrics_of(metrics)
    history = getattr(result, "history", None)
    if isinstance(history, tuple | list) and history:
        last = _as_dict(history[-1])
        last.pop("epoch", None)
        return metrics_of(last)
    return {}


class Snapshots:
    """The chief's checkpoints: after each epoch, its backup directory packed into a tar,
    when it holds a checkpoint newer than the last one packed."""

    def __init__(self, job: TaskJob, report: Report, tf: Any) -> None:
        self.job, self.report, self.tf = job, report, tf
        self.count = 0
        self.last: tuple[str, float] | None = None

    def _latest(self) -> Path | None:
        states = [
            state
            for state in self.job.backup_dir.rglob("checkpoint")
            if not any(part.startswith("workertemp") for part in state.parts)
        ]
        return max(states, key=lambda state: state.stat().st_mtime) if states else None

    def _saved_epochs(self, folder: Path) -> int | None:
        try:
            saved = int(self.tf.train.load_checkpoint(str(folder)).get_tensor(_SAVED_EPOCH))
        except Exception:  # no such variable: a checkpoint not made by BackupAndRestore
            return None
        return saved + 1 if saved >= 0 else None

    def take(self, phase: str, reported_epoch: int) -> None:
        """Pack the backup directory if its checkpoint changed since the last time."""
        state = self._latest()
        if state is None:
            return
        key = (str(state), state.stat().st_mtime)
        if key == self.last:
            return
        self.last = key
        epoch = self._saved_epochs(state.parent)
        self.count += 1
        tar = self.job.checkpoints / f"ckpt-{self.count}.tar"
        pack_dir(self.job.backup_dir, tar, skip=lambda rel: rel.parts[0].startswith("workertemp"))
        self.report(
            {
                "type": "checkpoint",
                "path": str(tar),
                "phase": phase,
                "epoch": reported_epoch if epoch is None else epoch,
            }
        )


def weights_sha256(model: Any) -> str:
    """SHA-256 over every weight array's dtype, shape and bytes, in the model's order."""
    digest = hashlib.sha256()
    for array in model.get_weights():
        digest.update(f"{array.dtype}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def save_model(model: Any, job: TaskJob) -> Path | None:
    """Every task saves; the chief's file is kept and its path returned."""
    folder = job.model_dir if job.chief else job.workdir / f"scratch-model-{job.index}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / MODEL_FILE
    model.save(path)
    if job.chief:
        return path
    shutil.rmtree(folder, ignore_errors=True)
    return None


def run_task(job: TaskJob, *, train: TrainFunction, report: Report) -> None:
    """Create the strategy, train, save, hash, and report `done`."""
    from trainer.tfrun import keras, tf  # noqa: PLC0415 (the worker never imports TensorFlow)

    if len(job.cluster) > 1:
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    else:
        strategy = tf.distribute.get_strategy()
    spec = TrainSpec.model_validate(job.spec)
    keras.utils.set_random_seed(spec.seed)
    for folder in (job.workdir, job.backup_dir, job.checkpoints, job.model_dir):
        folder.mkdir(parents=True, exist_ok=True)
    snapshots = Snapshots(job, report, tf) if job.chief else None

    def on_progress(event: object) -> None:
        at_epoch_end, fields = progress_fields(event)
        if at_epoch_end:
            report({"type": "progress", **fields})
        if snapshots is not None:  # also on batches: BackupAndRestore may save after us
            done = fields["epoch"] if at_epoch_end else fields["epoch"] - 1
            snapshots.take(fields["phase"], max(done, 0))

    result = train(
        spec,
        job.dataset,
        workdir=job.workdir,
        progress=on_progress,
        strategy=strategy,
        backup_dir=job.backup_dir,
    )
    model = getattr(result, "model", result)
    path = save_model(model, job)
    report(
        {
            "type": "done",
            "weights_sha256": weights_sha256(model),
            "model": None if path is None else str(path),
            "metrics": result_metrics(result),
        }
    )


class Reporter:
    """JSON lines to the worker, one per event, flushed at once."""

    def __init__(self, fd: int) -> None:
        self._out = os.fdopen(fd, "w", encoding="utf-8", buffering=1)
        self._lock = threading.Lock()

    def __call__(self, event: dict[str, Any]) -> None:
        line = json.dumps(event, allow_nan=False)
        with self._lock:
            self._out.write(line + "\n")
            self._out.flush()


def _die_with_worker() -> None:
    """End this process when standard input closes: the worker holds the only other end."""

    def watch() -> None:
        while os.read(0, 4096):  # the raw descriptor: no lock to trip over at exit
            pass
        os._exit(EXIT_ORPHANED)

    threading.Thread(target=watch, name="task-watchdog", daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    """Entry point of the task process; ends it with os._exit, after flushing, so that
    neither the watchdog nor TensorFlow's threads can stall the interpreter's shutdown."""
    parser = argparse.ArgumentParser(prog="python -m trainer.distributed.task")
    parser.add_argument("job", type=Path, help="the job file the worker wrote")
    parser.add_argument("--report-fd", type=int, required=True, help="pipe for JSON lines")
    args = parser.parse_args(argv)
    _die_with_worker()
    report = Reporter(args.report_fd)
    code = 0
    try:
        job = TaskJob.model_validate_json(args.job.read_text(encoding="utf-8"))
        run_task(job, train=resolve(job.train), report=report)
    except BaseException as exc:
        traceback.print_exc()
        report({"type": "failed", "reason": f"{type(exc).__name__}: {exc}"[:4000]})
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
