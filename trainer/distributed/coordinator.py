"""The coordinator: `trainer train --workers ...` spreads one job over LAN workers.

    check every worker (reachable, authenticated, same versions, not busy)   nothing starts
    send the dataset where it is not cached (content-addressed by digest)    unless all pass
    attempt 1: job_prepare -> job_ready(port) on each, then job_start(cluster, index) on each
      stream progress (one line per epoch), keep the chief's checkpoints, collect the model
    a worker lost (connection dropped) or its task failed:
      cancel the job on the others, wait up to rejoin_timeout_s for the lost one to come back,
      then attempt 2 with the workers there are, every task seeded with the last checkpoint

Task 0 of an attempt is its chief: the first worker of the list that is still there.
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from trainer.dataset.layout import Dataset, open_dataset
from trainer.distributed.archive import dataset_files, file_sha256, pack_dataset
from trainer.distributed.info import Versions, local_versions, mismatches
from trainer.distributed.links import Mailbox, Refused, WorkerLink, WorkerTarget
from trainer.spec import TrainSpec
from wire import messages as m
from wire.connection import Received
from wire.errors import AuthError, CertificateMismatch, WireError

ProgressLine = Callable[[str], None]

CANCEL_WAIT_S = 30.0
"""How long the survivors of a failed attempt get to confirm their task is gone."""
REDIAL_S = 1.0
"""Pause between attempts to re-dial a lost worker."""
MB = 1024 * 1024


class DistributedError(RuntimeError):
    """The job cannot start or cannot finish; the message says why, naming the workers."""


@dataclass(frozen=True)
class AttemptRecord:
    """One attempt of the job: who ran it, where it started from, how it ended."""

    attempt: int
    workers: tuple[str, ...]  # in task order: the first is the chief
    resumed_from_epoch: int  # epochs held by the checkpoint it started from (0: none)
    phase: str | None  # the checkpoint's phase
    outcome: Literal["ok", "failed"]
    reason: str = ""


@dataclass(frozen=True)
class DistributedResult:
    """A finished job: the chief's model, every worker's final weights, the attempts."""

    job: str
    model_path: Path  # the chief's trained float Keras model
    chief: str
    weights: dict[str, str]  # worker -> SHA-256 of its final weights
    attempts: tuple[AttemptRecord, ...]
    uploads: tuple[str, ...]  # the workers the dataset was sent to (the others had it)
    metrics: dict[str, float]  # the chief's final metrics

    @property
    def consistent(self) -> bool:
        """Whether every worker ended with the same weights."""
        return len(set(self.weights.values())) == 1


@dataclass(frozen=True)
class Checkpoint:
    """The latest backup directory of the chief, as a tar."""

    path: Path
    phase: str
    epoch: int


@dataclass
class _Fault:
    link: WorkerLink
    reason: str
    lost: bool  # the connection dropped (else: the task failed or the worker refused)


@dataclass
class _Attempt:
    number: int
    links: list[WorkerLink]
    pending: set[str] = field(default_factory=set)  # started tasks not yet done
    weights: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    model: Path | None = None
    faults: list[_Fault] = field(default_factory=list)
    reported: set[tuple[str, int]] = field(default_factory=set)
    aborting: bool = False

    @property
    def chief(self) -> WorkerLink:
        return self.links[0]

    def fault(self, link: WorkerLink, reason: str, *, lost: bool) -> None:
        self.faults.append(_Fault(link, reason, lost))
        if lost:
            self.pending.discard(link.name)


def _versions_message(versions: Versions) -> m.WorkerInfoRequest:
    return m.WorkerInfoRequest(**asdict(versions))


def _unreachable(target: WorkerTarget, exc: WireError) -> str:
    if isinstance(exc, AuthError | CertificateMismatch):
        return f"worker {target.name} at {target.endpoint} refused our credential: {exc}"
    return f"worker {target.name} is unreachable at {target.endpoint}: {exc}"


class Coordinator:
    """One distributed job, from the checks to the model; `run` once, then `close`."""

    def __init__(
        self,
        spec: TrainSpec,
        dataset_root: Path,
        workers: list[WorkerTarget],
        *,
        out_dir: Path,
        progress: ProgressLine,
        rejoin_timeout_s: float,
        max_attempts: int,
    ) -> None:
        self.spec, self.dataset_root, self.targets = spec, dataset_root, workers
        self.out_dir, self.progress = out_dir, progress
        self.rejoin_timeout_s, self.max_attempts = rejoin_timeout_s, max_attempts
        self.job = str(uuid.uuid4())
        self.mailbox = Mailbox()
        self.versions = local_versions()
        self.spool = out_dir / "spool"
        self.links: dict[str, WorkerLink] = {}
        self.dataset: Dataset | None = None
        self.dataset_tar: Path | None = None
        self.uploads: list[str] = []
        self.checkpoint: Checkpoint | None = None
        self.attempts: list[AttemptRecord] = []

    # --- the whole job -------------------------------------------------------------------------

    def run(self) -> DistributedResult:
        """Check, distribute the dataset, and run attempts until one succeeds."""
        self.spool.mkdir(parents=True, exist_ok=True)
        self._open_all()
        self.dataset = open_dataset(self.dataset_root)
        for link in self.links.values():
            self._ensure_dataset(link)
        active = list(self.links.values())
        for number in range(1, self.max_attempts + 1):
            attempt = self._attempt(number, active)
            if not attempt.faults:
                return self._finish(attempt)
            if number < self.max_attempts:
                active = self._regroup(active, attempt)
        raise DistributedError(
            f"job {self.job} failed {self.max_attempts} times; last: {self.attempts[-1].reason}"
        )

    def close(self) -> None:
        """Close every connection (a worker kills a task whose coordinator left)."""
        for link in self.links.values():
            link.close("coordinator done")
        if self.dataset_tar is not None:
            self.dataset_tar.unlink(missing_ok=True)
        shutil.rmtree(self.spool, ignore_errors=True)

    # --- checks and the dataset ----------------------------------------------------------------

    def _open_all(self) -> None:
        problems = []
        for target in self.targets:
            try:
                self.links[target.name] = self._dial(target)
            except DistributedError as exc:
                problems.append(str(exc))
        if problems:
            raise DistributedError("cannot start the job: " + "; ".join(problems))

    def _dial(self, target: WorkerTarget) -> WorkerLink:
        """Connect and check one worker; DistributedError naming it when it will not do."""
        try:
            link = WorkerLink.open(target, self.mailbox, spool_dir=self.spool)
        except WireError as exc:
            raise DistributedError(_unreachable(target, exc)) from None
        try:
            info = link.request(_versions_message(self.versions), m.WorkerInfo, timeout=15)
        except WireError as exc:
            link.close("no answer")
            raise DistributedError(f"worker {target.name} did not answer: {exc}") from None
        theirs = Versions(info.vigia, info.tensorflow, info.keras, info.python)
        problem = ""
        if differences := mismatches(self.versions, theirs):
            problem = f"worker {target.name} runs {', '.join(differences)}"
        elif info.job is not None:
            problem = f"worker {target.name} is busy with job {info.job}"
        if problem:
            link.close(problem)
            raise DistributedError(problem)
        self.progress(
            f"worker {target.name} at {target.endpoint}: {theirs.describe()}, {info.cpus} CPUs"
        )
        return link

    def _pack(self) -> Path:
        assert self.dataset is not None
        if self.dataset_tar is None:
            tar = self.out_dir / f"dataset-{self.dataset.digest[:16]}.tar"
            pack_dataset(self.dataset, tar)
            self.dataset_tar = tar
        return self.dataset_tar

    def _ensure_dataset(self, link: WorkerLink) -> None:
        """Send the dataset unless the worker has it cached."""
        assert self.dataset is not None
        digest = self.dataset.digest
        size = sum(path.stat().st_size for path in dataset_files(self.dataset))
        try:
            status = link.request(m.DatasetOffer(digest=digest, size=size), m.DatasetStatus)
            if status.cached:
                self.progress(f"worker {link.name} has dataset {digest[:12]} cached")
                return
            tar = self._pack()
            tar_size = tar.stat().st_size
            self.progress(f"sending dataset {digest[:12]} ({tar_size / MB:.1f} MB) to {link.name}")
            upload = m.DatasetUpload(digest=digest, size=tar_size, sha256=file_sha256(tar))
            timeout = 300 + tar_size / (5 * MB)  # unpacking and hashing on the worker
            status = link.request(upload, m.DatasetStatus, body=tar, timeout=timeout)
        except WireError as exc:
            raise DistributedError(f"worker {link.name}: dataset not delivered: {exc}") from None
        if not status.cached:
            raise DistributedError(f"worker {link.name} did not keep dataset {digest}")
        self.uploads.append(link.name)

    # --- one attempt ---------------------------------------------------------------------------

    def _attempt(self, number: int, links: list[WorkerLink]) -> _Attempt:
        attempt = _Attempt(number, links)
        seed = self.checkpoint
        self._announce(attempt)
        ports = self._prepare(attempt)
        if ports is not None:
            self._start(attempt, ports)
        while attempt.pending and not attempt.faults:
            self._next(attempt, timeout=None)
        if not attempt.faults and attempt.model is None:
            attempt.fault(attempt.chief, "finished without sending its model", lost=False)
        if attempt.faults:
            self._abort(attempt)
        first = attempt.faults[0] if attempt.faults else None
        self.attempts.append(
            AttemptRecord(
                attempt=number,
                workers=tuple(link.name for link in links),
                resumed_from_epoch=seed.epoch if seed else 0,
                phase=seed.phase if seed else None,
                outcome="failed" if first else "ok",
                reason=f"worker {first.link.name}: {first.reason}" if first else "",
            )
        )
        return attempt

    def _announce(self, attempt: _Attempt) -> None:
        names = ", ".join(link.name for link in attempt.links)
        where = f"on {names} ({attempt.chief.name} is the chief)"
        ckpt = self.checkpoint
        if ckpt is None:
            self.progress(f"attempt {attempt.number}: job {self.job} {where}, from the start")
        else:
            self.progress(
                f"attempt {attempt.number}: resuming from epoch {ckpt.epoch} of phase "
                f"'{ckpt.phase}' (the last checkpoint) {where}"
            )

    def _prepare(self, attempt: _Attempt) -> list[int] | None:
        ports = []
        for link in attempt.links:
            ask = m.JobPrepare(job=self.job, attempt=attempt.number, dataset=self._digest())
            try:
                ports.append(link.request(ask, m.JobReady).port)
            except Refused as exc:
                attempt.fault(link, f"refused the job: {exc}", lost=False)
                return None
            except WireError as exc:
                attempt.fault(link, f"connection lost: {exc}", lost=True)
                return None
        return ports

    def _digest(self) -> str:
        assert self.dataset is not None
        return self.dataset.digest

    def _start(self, attempt: _Attempt, ports: list[int]) -> None:
        cluster = [f"{link.host}:{port}" for link, port in zip(attempt.links, ports, strict=True)]
        ckpt = self.checkpoint
        for index, link in enumerate(attempt.links):
            start = m.JobStart(
                job=self.job,
                attempt=attempt.number,
                spec=self.spec.model_dump(mode="json"),
                dataset=self._digest(),
                cluster=cluster,
                index=index,
                checkpoint_epoch=None if ckpt is None else ckpt.epoch,
                size=0 if ckpt is None else ckpt.path.stat().st_size,
            )
            try:
                link.send(start, None if ckpt is None else ckpt.path)
            except WireError as exc:
                attempt.fault(link, f"connection lost: {exc}", lost=True)
                return
            attempt.pending.add(link.name)

    def _next(self, attempt: _Attempt, timeout: float | None) -> bool:
        """Handle the next item from any link; False when none came within `timeout`."""
        entry = self.mailbox.get(timeout=timeout)
        if entry is None:
            return False
        link, item = entry
        if link not in attempt.links:  # a worker of an earlier attempt
            _drop_body(item)
        elif isinstance(item, WireError):
            attempt.fault(link, f"connection lost: {item}", lost=True)
        else:
            try:
                self._handle(attempt, link, item)
            finally:
                _drop_body(item)  # unless it was moved into out_dir
        return True

    def _handle(self, attempt: _Attempt, link: WorkerLink, item: Received) -> None:
        msg = item.message
        if isinstance(msg, m.Error):
            attempt.fault(link, f"refused: {msg.code}: {msg.message}", lost=False)
            return
        if getattr(msg, "job", None) != self.job or getattr(msg, "attempt", 0) != attempt.number:
            return  # late news of an earlier attempt
        if isinstance(msg, m.JobProgress):
            self._line(attempt, link, msg)
        elif isinstance(msg, m.JobCheckpoint) and link is attempt.chief:
            if (path := self._keep(item, "checkpoint.tar", msg.sha256)) is not None:
                self.checkpoint = Checkpoint(path, msg.phase, msg.epoch)
        elif isinstance(msg, m.JobResult) and link is attempt.chief:
            attempt.model = self._keep(item, msg.filename, msg.sha256)
            if attempt.model is None:
                attempt.fault(link, "sent a damaged model file", lost=False)
        elif isinstance(msg, m.JobDone):
            self._done(attempt, link, msg)

    def _keep(self, item: Received, name: str, sha256: str) -> Path | None:
        """Move a received file into out_dir once its hash is checked; None if damaged."""
        assert item.body_path is not None
        if (found := file_sha256(item.body_path)) != sha256:
            self.progress(f"warning: {name} arrived damaged (SHA-256 {found}, sent {sha256})")
            return None
        dest = self.out_dir / name
        item.body_path.replace(dest)
        return dest

    def _line(self, attempt: _Attempt, link: WorkerLink, msg: m.JobProgress) -> None:
        """One line per epoch: the first worker to report it is named."""
        if (msg.phase, msg.epoch) in attempt.reported:
            return
        attempt.reported.add((msg.phase, msg.epoch))
        metrics = ", ".join(f"{key} {value:.4g}" for key, value in msg.metrics.items())
        self.progress(
            f"{msg.phase} epoch {msg.epoch}/{msg.epochs}: {metrics} (reported by {link.name})"
        )

    def _done(self, attempt: _Attempt, link: WorkerLink, msg: m.JobDone) -> None:
        attempt.pending.discard(link.name)
        if msg.state == "ok":
            attempt.weights[link.name] = msg.weights_sha256 or ""
            if link is attempt.chief:
                attempt.metrics = dict(msg.metrics)
        elif not attempt.aborting:
            attempt.fault(link, f"task {msg.state}: {msg.reason}", lost=False)

    # --- failures ------------------------------------------------------------------------------

    def _abort(self, attempt: _Attempt) -> None:
        """Cancel the attempt everywhere and wait for the survivors' tasks to end."""
        first = attempt.faults[0]
        self.progress(f"attempt {attempt.number} failed: worker {first.link.name}: {first.reason}")
        attempt.aborting = True
        reason = f"attempt {attempt.number} failed on {first.link.name}"
        for link in attempt.links:
            if link.alive:
                try:
                    link.send(m.JobCancel(job=self.job, reason=reason))
                except WireError as exc:
                    attempt.fault(link, f"connection lost: {exc}", lost=True)
        deadline = time.monotonic() + CANCEL_WAIT_S
        while attempt.pending and (left := deadline - time.monotonic()) > 0:
            if not self._next(attempt, timeout=left):
                break
        for name in attempt.pending:  # never confirmed: treat it as lost
            link = self.links[name]
            attempt.fault(link, "did not confirm the cancellation", lost=True)

    def _regroup(self, active: list[WorkerLink], attempt: _Attempt) -> list[WorkerLink]:
        """The workers for the next attempt: the survivors, and the lost ones that are back."""
        lost = {fault.link.name: fault for fault in attempt.faults if fault.lost}
        dropped = lost or {attempt.faults[0].link.name: attempt.faults[0]}
        for name, fault in dropped.items():
            self.progress(f"worker {name} dropped: {fault.reason}")
            self.links.pop(name).close(f"dropped: {fault.reason}"[:200])
        survivors = [link for link in active if link.name not in dropped and link.alive]
        back = self._rejoin([link.target for link in active if link.name in lost])
        order = [target.name for target in self.targets]
        chosen = sorted(survivors + back, key=lambda link: order.index(link.name))
        if not chosen:
            raise DistributedError(
                f"job {self.job}: no worker left ({'; '.join(self._reasons(attempt))})"
            )
        return chosen

    def _reasons(self, attempt: _Attempt) -> list[str]:
        return [f"{fault.link.name}: {fault.reason}" for fault in attempt.faults]

    def _rejoin(self, targets: list[WorkerTarget]) -> list[WorkerLink]:
        """Re-dial lost workers for up to rejoin_timeout_s; those that answer rejoin."""
        if not targets:
            return []
        names = ", ".join(target.name for target in targets)
        self.progress(f"waiting up to {self.rejoin_timeout_s:.0f} s for {names} to come back")
        deadline = time.monotonic() + self.rejoin_timeout_s
        back: list[WorkerLink] = []
        waiting = list(targets)
        while waiting and time.monotonic() < deadline:
            for target in list(waiting):
                try:
                    link = self._dial(target)
                    self._ensure_dataset(link)
                except DistributedError:
                    continue
                self.links[target.name] = link
                back.append(link)
                waiting.remove(target)
                self.progress(f"worker {target.name} is back")
            if waiting:
                time.sleep(max(0.0, min(REDIAL_S, deadline - time.monotonic())))
        for target in waiting:
            self.progress(f"worker {target.name} did not come back; going on without it")
        return back

    # --- success -------------------------------------------------------------------------------

    def _finish(self, attempt: _Attempt) -> DistributedResult:
        assert attempt.model is not None
        hashes = attempt.weights
        if len(set(hashes.values())) == 1:
            digest = next(iter(hashes.values()))
            who = "the worker" if len(hashes) == 1 else f"all {len(hashes)} workers"
            self.progress(f"{who} ended with weights sha256 {digest[:16]}")
        else:
            detail = ", ".join(f"{name} {digest[:16]}" for name, digest in hashes.items())
            self.progress(f"warning: the workers' final weights differ: {detail}")
        self.progress(f"model from {attempt.chief.name}: {attempt.model}")
        if self.checkpoint is not None:
            self.checkpoint.path.unlink(missing_ok=True)
        return DistributedResult(
            job=self.job,
            model_path=attempt.model,
            chief=attempt.chief.name,
            weights=dict(hashes),
            attempts=tuple(self.attempts),
            uploads=tuple(self.uploads),
            metrics=attempt.metrics,
        )


def _drop_body(item: Received | WireError) -> None:
    if isinstance(item, Received) and item.body_path is not None:
        item.body_path.unlink(missing_ok=True)


def train_distributed(
    spec: TrainSpec,
    dataset_root: Path,
    workers: list[WorkerTarget],
    *,
    out_dir: Path,
    progress: ProgressLine,
    rejoin_timeout_s: float = 60.0,
    max_attempts: int | None = None,
) -> DistributedResult:
    """Train `spec` on the dataset at `dataset_root` over `workers` (the first is the chief).

    Every worker is checked before anything starts: DistributedError names each one that is
    unreachable, refuses our credential, is busy, or runs other versions (naming both). The
    model file, the latest checkpoint and the dataset tar (removed at the end) go to
    `out_dir`. `progress` gets one line per epoch and a line for every check, upload, lost
    worker and restart. A lost worker is waited for `rejoin_timeout_s`; the job then resumes
    from the chief's last checkpoint with the workers there are, at most `max_attempts`
    times in all (default: twice the number of workers, plus one).
    """
    names = [target.name for target in workers]
    if not names:
        raise DistributedError("no workers given")
    if len(set(names)) != len(names):
        raise DistributedError(f"a worker is named twice: {', '.join(names)}")
    if len(names) > 1 and spec.finetune_epochs > 0 and spec.finetune_on == "cache":
        raise DistributedError("finetune_on = 'cache' trains on one machine: use 'images'")
    out_dir.mkdir(parents=True, exist_ok=True)
    coordinator = Coordinator(
        spec,
        dataset_root,
        workers,
        out_dir=out_dir,
        progress=progress,
        rejoin_timeout_s=rejoin_timeout_s,
        max_attempts=max_attempts or 2 * len(workers) + 1,
    )
    try:
        return coordinator.run()
    finally:
        coordinator.close()
