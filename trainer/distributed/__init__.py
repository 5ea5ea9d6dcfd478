"""Distributed training over LAN PCs: a coordinator on the desktop, a worker on each PC.

    layout       a worker's data directory, worker.toml, and worker_init
    worker       `trainer worker`: the server, the dataset cache, one task process at a time
    runner       the worker's side of a task process: start, relay its reports, kill
    task         the task process: MultiWorkerMirroredStrategy around the training function
    links        the coordinator's connections to its workers
    coordinator  train_distributed: checks, dataset, attempts, fault tolerance
    archive      tars of datasets and checkpoints; the worker's dataset cache
    info         the versions that must match

Only `task` imports TensorFlow, and only in the task process. See docs/training.md.
"""

from trainer.distributed.coordinator import (
    AttemptRecord,
    DistributedError,
    DistributedResult,
    train_distributed,
)
from trainer.distributed.layout import DEFAULT_WORKERS_DIR, add_coordinator, worker_init
from trainer.distributed.links import WorkerTarget
from trainer.distributed.worker import serve_worker

__all__ = [
    "DEFAULT_WORKERS_DIR",
    "AttemptRecord",
    "DistributedError",
    "DistributedResult",
    "WorkerTarget",
    "add_coordinator",
    "serve_worker",
    "train_distributed",
    "worker_init",
]
