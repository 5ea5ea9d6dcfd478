"""Every message kind of the protocol, one typed class each, with its encode and decode.

A message's fields travel as the frame's JSON header; its `BODY` says whether a binary body
follows and how the receiver keeps it (in memory, or streamed to a file). Every field is
required on the wire (`null` where a value is absent); unknown kinds, missing or extra fields
and wrong types are rejected with a `MessageError` that names the message and the field.
docs/protocol.md lists the same kinds, fields and rules; change both together.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum, StrEnum
from typing import Annotated, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from wire.errors import MessageError
from wire.roles import Role


class Body(Enum):
    """How a message kind carries a binary body."""

    NONE = "none"
    BYTES = "bytes"  # small (JPEG): held in memory
    FILE = "file"  # large (model package): streamed to and from a file


Hex64 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")]
Text = Annotated[str, StringConstraints(max_length=4096)]
Uuid = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$")]
Count = Annotated[int, Field(ge=0)]
Millis = Annotated[int, Field(ge=0)]
Version = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class Model(BaseModel):
    """Strict, closed, immutable: what every wire structure is built from."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class Message(Model):
    """Base of every message kind; subclasses are registered with `@kind`."""

    KIND: ClassVar[int]
    NAME: ClassVar[str]
    BODY: ClassVar[Body]

    def check_body(self, body_len: int) -> None:
        """Raise MessageError if a body of `body_len` bytes does not fit this message."""
        if self.BODY is Body.NONE and body_len:
            raise MessageError(f"message '{self.NAME}' carries no body, got {body_len} bytes")

    def encode(self) -> bytes:
        """The UTF-8 JSON header of this message."""
        return self.model_dump_json().encode()


REGISTRY: dict[int, type[Message]] = {}
M = TypeVar("M", bound=type[Message])


def kind(code: int, name: str, body: Body = Body.NONE) -> Callable[[M], M]:
    """Register a message class under its one-byte kind code and its name."""

    def register(cls: M) -> M:
        if code in REGISTRY or not 0 < code < 256:
            raise ValueError(f"message kind {code} is taken or out of range")
        cls.KIND, cls.NAME, cls.BODY = code, name, body
        REGISTRY[code] = cls
        return cls

    return register


def decode(kind_code: int, raw: bytes | bytearray) -> Message:
    """Decode the JSON header of a frame of kind `kind_code` into its typed message."""
    cls = REGISTRY.get(kind_code)
    if cls is None:
        raise MessageError(f"unknown message kind {kind_code}")
    try:
        return cls.model_validate_json(raw)
    except ValidationError as exc:
        raise MessageError(f"message '{cls.NAME}': {_first_problem(exc, raw)}") from None


def _first_problem(exc: ValidationError, raw: bytes | bytearray) -> str:
    try:
        bytes(raw).decode("utf-8")
    except UnicodeDecodeError as bad:
        return f"JSON header is not valid UTF-8: {bad}"
    err = exc.errors(include_url=False)[0]
    where = ".".join(str(part) for part in err["loc"])
    problem = err["msg"]
    if err["type"] not in ("missing", "json_invalid"):
        problem += f" (got {err['input']!r:.80})"
    return f"field '{where}': {problem}" if where else problem


# --- session: handshake, keepalive, errors -----------------------------------------------------


@kind(1, "hello")
class Hello(Message):
    """Client, first frame: who it is and which versions it speaks, with its fresh nonce."""

    versions: Annotated[list[int], Field(min_length=1, max_length=16)]
    peer: Name
    role: Role
    nonce: Hex64
    software: Text


@kind(2, "challenge")
class Challenge(Message):
    """Server: the version chosen, its name and its own fresh nonce."""

    version: int
    hub: Name
    nonce: Hex64


@kind(3, "auth")
class Auth(Message):
    """Client: proof that it holds the peer secret, bound to both nonces."""

    proof: Hex64


@kind(4, "welcome")
class Welcome(Message):
    """Server: its own proof, the session id and the session's timing and size limits."""

    proof: Hex64
    session: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    keepalive_s: Annotated[float, Field(gt=0)]
    dead_after_s: Annotated[float, Field(gt=0)]
    max_body: Count


@kind(5, "ping")
class Ping(Message):
    """Either side, when it has sent nothing for a keepalive interval."""

    sent_ms: Millis


@kind(6, "pong")
class Pong(Message):
    """Answer to ping, echoing its time so the sender learns the round trip."""

    sent_ms: Millis


@kind(7, "error")
class Error(Message):
    """Either side: something was refused. `code` is a wire.errors.ErrorCode value (a newer
    peer may send codes this one does not know); `fatal` means the sender closes after it."""

    code: Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,40}$")]
    message: Text
    ref: Annotated[str, StringConstraints(max_length=128)] | None
    fatal: bool


@kind(8, "bye")
class Bye(Message):
    """Either side: a clean close, with the reason."""

    reason: Text


# --- events: edge -> hub -------------------------------------------------------------------------


class Box(Model):
    """A bounding box in snapshot pixels."""

    x: Count
    y: Count
    w: Count
    h: Count


@kind(20, "event", Body.BYTES)
class Event(Message):
    """Edge: one sighting. Body: the full-frame snapshot JPEG, then the thumbnail JPEG."""

    event_id: Uuid
    camera: Name
    label: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    score: Annotated[float, Field(ge=0, le=1)]
    started_at: Millis
    ended_at: Millis
    box: Box
    model_version: Version
    snapshot_len: Count
    thumbnail_len: Count

    def check_body(self, body_len: int) -> None:
        """The body is exactly the snapshot followed by the thumbnail."""
        if self.snapshot_len + self.thumbnail_len != body_len:
            raise MessageError(
                f"message 'event': snapshot_len {self.snapshot_len} + thumbnail_len "
                f"{self.thumbnail_len} != body length {body_len}"
            )


@kind(23, "event_end", Body.BYTES)
class EventEnd(Message):
    """Edge: the sighting `event_id` (sent when its visit was confirmed) has ended; its final
    values. `end_id` is this message's own idempotency key. Body: a better full-frame snapshot
    JPEG, then its thumbnail JPEG, when the best view changed since; else empty (both lens 0)."""

    end_id: Uuid
    event_id: Uuid
    camera: Name
    label: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    score: Annotated[float, Field(ge=0, le=1)]
    ended_at: Millis
    box: Box
    snapshot_len: Count
    thumbnail_len: Count

    def check_body(self, body_len: int) -> None:
        """The body is exactly the snapshot followed by the thumbnail, or empty."""
        if self.snapshot_len + self.thumbnail_len != body_len:
            raise MessageError(
                f"message 'event_end': snapshot_len {self.snapshot_len} + thumbnail_len "
                f"{self.thumbnail_len} != body length {body_len}"
            )
        if (self.snapshot_len == 0) != (self.thumbnail_len == 0):
            raise MessageError("message 'event_end': a snapshot needs its thumbnail and back")


@kind(21, "event_ack")
class EventAck(Message):
    """Hub: the event (or event_end: then `event_id` is its `end_id`) is durable (committed,
    images fsynced); `duplicate` if it already was."""

    event_id: Uuid
    seq: Count
    duplicate: bool


class CameraStatus(Model):
    """One camera's health, as its edge sees it."""

    camera: Name
    online: bool
    fps: Annotated[float, Field(ge=0)]
    inference_ms: Annotated[float, Field(ge=0)]
    frames_in: Count
    processed: Count
    dropped: Count
    queue_depth: Count


class NodeStatus(Model):
    """An edge node's health: its cameras, its model, and on a Pi its temperature."""

    sent_at: Millis
    model_version: Version | None
    cpu_load: Annotated[float, Field(ge=0)]
    cpu_temp_c: float | None
    throttled: Annotated[
        list[Annotated[str, StringConstraints(max_length=64)]], Field(max_length=32)
    ]
    cameras: Annotated[list[CameraStatus], Field(max_length=256)]


@kind(22, "status")
class Status(Message):
    """Edge, every few seconds: its current health."""

    node: NodeStatus


# --- watchers: watcher -> hub -> watcher ---------------------------------------------------------


class EventKind(StrEnum):
    """What a log entry records."""

    SIGHTING = "sighting"
    SIGHTING_END = "sighting_end"  # the final values of the sighting named by `ends`
    CAMERA_OFFLINE = "camera_offline"
    CAMERA_ONLINE = "camera_online"


@kind(30, "subscribe")
class Subscribe(Message):
    """Watcher: send me the log after `after_seq` (backlog, then live), filtered."""

    after_seq: Count
    cameras: Annotated[list[Name], Field(max_length=256)]
    labels: Annotated[
        list[Annotated[str, StringConstraints(max_length=128)]], Field(max_length=1024)
    ]
    since_ms: Millis | None
    until_ms: Millis | None
    thumbnails: bool  # push each entry's thumbnail with it, or let the watcher ask


@kind(31, "log_entry", Body.BYTES)
class LogEntry(Message):
    """Hub: one entry of the log, with `seq` its cursor. Body: the thumbnail JPEG when the
    subscription asked for thumbnails (empty otherwise, and for camera changes)."""

    seq: Count
    kind: EventKind
    event_id: Uuid
    edge: Name
    camera: Name
    label: Annotated[str, StringConstraints(max_length=128)]
    score: Annotated[float, Field(ge=0, le=1)]
    started_at: Millis
    ended_at: Millis
    box: Box | None
    model_version: Version | None
    ends: Uuid | None = None  # for a sighting_end: the sighting it ends (whose row to update)


@kind(32, "caught_up")
class CaughtUp(Message):
    """Hub: the backlog is sent up to `seq`; what follows is live."""

    seq: Count


@kind(33, "snapshot_request")
class SnapshotRequest(Message):
    """Watcher: send me the full snapshot of this event (or only its thumbnail)."""

    event_id: Uuid
    thumbnail: bool


@kind(34, "snapshot", Body.BYTES)
class Snapshot(Message):
    """Hub: one event's full snapshot JPEG (or its thumbnail, as asked), as the body."""

    event_id: Uuid
    thumbnail: bool


@kind(35, "status_notice")
class StatusNotice(Message):
    """Hub: the latest status of one edge, and whether it is connected."""

    edge: Name
    online: bool
    last_seen_ms: Millis
    node: NodeStatus | None


# --- models: trainer -> hub -> edges -------------------------------------------------------------


class _Package(Message):
    """A message whose body is a model package file of `size` bytes with this SHA-256."""

    version: Version
    sha256: Hex64
    size: Count

    def check_body(self, body_len: int) -> None:
        """The body is the whole package, `size` bytes."""
        if body_len != self.size:
            raise MessageError(f"message '{self.NAME}': size {self.size} != body {body_len}")


@kind(40, "model_upload", Body.FILE)
class ModelUpload(_Package):
    """Trainer: store this signed package in the registry."""


@kind(41, "model_stored")
class ModelStored(Message):
    """Hub: the package is durable in the registry."""

    version: Version
    sha256: Hex64


@kind(42, "model_assign")
class ModelAssign(Message):
    """Trainer or admin: run this version on these edges (empty list: every edge)."""

    version: Version
    edges: Annotated[list[Name], Field(max_length=4096)]


@kind(43, "model_assigned")
class ModelAssigned(Message):
    """Hub: the assignment is recorded for these edges."""

    version: Version
    edges: list[Name]


@kind(44, "model_offer", Body.FILE)
class ModelOffer(_Package):
    """Hub: the package assigned to this edge."""


@kind(45, "model_report")
class ModelReport(Message):
    """Edge: what became of a version: running it, refused it, or rolled back from it."""

    version: Version
    state: Literal["running", "refused", "rolled_back"]
    reason: Text


@kind(46, "model_list_request")
class ModelListRequest(Message):
    """Trainer or admin: which versions the registry holds, and which edge runs which."""

    limit: Count  # newest first; 0: every version


class ModelEntry(Model):
    """One version in the registry."""

    version: Version
    sha256: Hex64
    size: Count
    uploaded_ms: Millis
    uploaded_by: Name


class EdgeModel(Model):
    """One edge's model: what it was assigned and what it last reported."""

    edge: Name
    assigned: Version | None
    reported: Version | None
    state: Literal["running", "refused", "rolled_back"] | None
    reason: Text
    reported_ms: Millis | None


@kind(47, "model_list")
class ModelList(Message):
    """Hub: the registry's versions (newest first) and every edge's model."""

    models: list[ModelEntry]
    edges: list[EdgeModel]


# --- trainer workers: trainer (coordinator) -> worker -> trainer ---------------------------------

Attempt = Annotated[int, Field(ge=1)]
Port = Annotated[int, Field(ge=1, le=65535)]
HostPort = Annotated[str, StringConstraints(pattern=r"^[^\s:]+:[0-9]{1,5}$")]
Phase = Annotated[str, StringConstraints(max_length=64)]
Metrics = Annotated[
    dict[Annotated[str, StringConstraints(min_length=1, max_length=64)], float],
    Field(max_length=64),
]
FileName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")]
SpecValue = str | int | float | bool | None
Spec = Annotated[
    dict[Annotated[str, StringConstraints(min_length=1, max_length=64)], SpecValue],
    Field(max_length=128),
]


def _body_is(msg: Message, size: int, body_len: int) -> None:
    if body_len != size:
        raise MessageError(f"message '{msg.NAME}': size {size} != body {body_len}")


@kind(60, "worker_info_request")
class WorkerInfoRequest(Message):
    """Trainer: who are you and what do you run? Carries the trainer's own versions."""

    vigia: Version
    tensorflow: Version
    keras: Version
    python: Version


@kind(61, "worker_info")
class WorkerInfo(Message):
    """Worker: its name, versions (all must match the trainer's), CPUs and current job."""

    worker: Name
    vigia: Version
    tensorflow: Version
    keras: Version
    python: Version
    cpus: Count
    job: Uuid | None


@kind(62, "dataset_offer")
class DatasetOffer(Message):
    """Trainer: do you hold the dataset with this digest? Its tar would take `size` bytes."""

    digest: Hex64
    size: Count


@kind(63, "dataset_status")
class DatasetStatus(Message):
    """Worker: whether the dataset is in its cache (after an offer, or once an upload is in)."""

    digest: Hex64
    cached: bool


@kind(64, "dataset_upload", Body.FILE)
class DatasetUpload(Message):
    """Trainer: the dataset with this digest, as a tar file (the body)."""

    digest: Hex64
    size: Count
    sha256: Hex64

    def check_body(self, body_len: int) -> None:
        """The body is the whole tar, `size` bytes."""
        _body_is(self, self.size, body_len)


@kind(65, "job_prepare")
class JobPrepare(Message):
    """Trainer: reserve a TensorFlow collective port for this attempt of a job."""

    job: Uuid
    attempt: Attempt
    dataset: Hex64


@kind(66, "job_ready")
class JobReady(Message):
    """Worker: the port reserved for the attempt's TensorFlow traffic."""

    job: Uuid
    attempt: Attempt
    port: Port


@kind(67, "job_start", Body.FILE)
class JobStart(Message):
    """Trainer: run the attempt as task `index` of `cluster`; the body (empty: none) is a
    checkpoint tar that seeds the task's backup directory."""

    job: Uuid
    attempt: Attempt
    spec: Spec
    dataset: Hex64
    cluster: Annotated[list[HostPort], Field(min_length=1, max_length=64)]
    index: Count
    checkpoint_epoch: Count | None
    size: Count

    def check_body(self, body_len: int) -> None:
        """The body is the checkpoint tar, `size` bytes (0: no checkpoint)."""
        _body_is(self, self.size, body_len)


@kind(68, "job_started")
class JobStarted(Message):
    """Worker: the task process is running."""

    job: Uuid
    attempt: Attempt
    index: Count


@kind(69, "job_progress")
class JobProgress(Message):
    """Worker: its task finished an epoch."""

    job: Uuid
    attempt: Attempt
    index: Count
    phase: Phase
    epoch: Count
    epochs: Count
    metrics: Metrics


@kind(70, "job_checkpoint", Body.FILE)
class JobCheckpoint(Message):
    """Worker (the chief's): the task's backup directory as a tar, holding `epoch` epochs."""

    job: Uuid
    attempt: Attempt
    phase: Phase
    epoch: Count
    size: Count
    sha256: Hex64

    def check_body(self, body_len: int) -> None:
        """The body is the tar, `size` bytes."""
        _body_is(self, self.size, body_len)


@kind(71, "job_result", Body.FILE)
class JobResult(Message):
    """Worker (the chief's): the trained model file (the body)."""

    job: Uuid
    attempt: Attempt
    filename: FileName
    size: Count
    sha256: Hex64

    def check_body(self, body_len: int) -> None:
        """The body is the model file, `size` bytes."""
        _body_is(self, self.size, body_len)


@kind(72, "job_done")
class JobDone(Message):
    """Worker: its task ended: ok, failed (with the reason) or cancelled."""

    job: Uuid
    attempt: Attempt
    index: Count
    state: Literal["ok", "failed", "cancelled"]
    reason: Text
    weights_sha256: Hex64 | None
    metrics: Metrics


@kind(73, "job_cancel")
class JobCancel(Message):
    """Trainer: stop this job's task (prepared or running), for `reason`."""

    job: Uuid
    reason: Text
