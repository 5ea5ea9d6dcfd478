"""One valid example of every trainer worker message kind (kinds 60-79), with its body length.

`tests/wire/samples.py` can add these to its SAMPLES so that the wire tests (round trips,
truncated frames) cover them too.
"""

from __future__ import annotations

from wire import messages as m

JOB = "6f1c2a9e-0d3b-4e5f-8a7b-9c0d1e2f3a4b"
HEX = "cd" * 32
VERSIONS = {"vigia": "0.1.0", "tensorflow": "2.21.0", "keras": "2.21.0", "python": "3.11.7"}

WORKER_SAMPLES: list[tuple[m.Message, int]] = [
    (m.WorkerInfoRequest(**VERSIONS), 0),
    (m.WorkerInfo(worker="pc-a", **VERSIONS, cpus=8, job=None), 0),
    (m.DatasetOffer(digest=HEX, size=123_456), 0),
    (m.DatasetStatus(digest=HEX, cached=False), 0),
    (m.DatasetUpload(digest=HEX, size=2048, sha256=HEX), 2048),
    (m.JobPrepare(job=JOB, attempt=1, dataset=HEX), 0),
    (m.JobReady(job=JOB, attempt=1, port=7711), 0),
    (
        m.JobStart(
            job=JOB,
            attempt=2,
            spec={"version": "v1", "input_size": 96, "val_frac": 0.1, "augment": True},
            dataset=HEX,
            cluster=["pc-a:7711", "192.168.1.22:7711"],
            index=1,
            checkpoint_epoch=3,
            size=4096,
        ),
        4096,
    ),
    (m.JobStarted(job=JOB, attempt=1, index=0), 0),
    (
        m.JobProgress(
            job=JOB,
            attempt=1,
            index=0,
            phase="head",
            epoch=3,
            epochs=20,
            metrics={"loss": 0.41, "acc": 0.88},
        ),
        0,
    ),
    (m.JobCheckpoint(job=JOB, attempt=1, phase="head", epoch=3, size=500, sha256=HEX), 500),
    (m.JobResult(job=JOB, attempt=1, filename="model.keras", size=900, sha256=HEX), 900),
    (
        m.JobDone(
            job=JOB,
            attempt=1,
            index=0,
            state="ok",
            reason="",
            weights_sha256=HEX,
            metrics={"val_acc": 0.9},
        ),
        0,
    ),
    (m.JobCancel(job=JOB, reason="worker pc-b lost"), 0),
]
