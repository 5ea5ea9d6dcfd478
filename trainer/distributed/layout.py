"""A trainer worker's data directory and settings, and `worker_init`, which makes them.

DATA_DIR/
  worker.toml          settings: name, host, port, collective ports, ...
  tls.crt tls.key      the worker's certificate (pinned by the coordinator) and key
  peers.toml           the coordinators allowed to run jobs: name = secret (mode 0600)
  credentials/NAME.toml  the coordinator's credential, to copy to the desktop
  cache/DIGEST/        datasets, unpacked and verified, by digest
  jobs/JOB/attempt-N/  one attempt's spec, backup dir, work dir, model and task log
  spool/               message bodies being received
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import Field, StringConstraints

from wire.auth import PeerRecord, StaticDirectory, new_secret
from wire.config import Settings, load_toml
from wire.credential import Credential, Secret, save_credential
from wire.messages import Name
from wire.roles import Role
from wire.tls import create_identity, load_identity

DEFAULT_PORT = 7710
DEFAULT_COLLECTIVE_PORT = 7711
DEFAULT_COORDINATOR = "trainer"
#: Where the desktop keeps the credentials of its workers, one NAME.toml per worker.
DEFAULT_WORKERS_DIR = Path("~/.config/vigia/workers")
#: The training function a task runs unless worker.toml names another ("module:function").
DEFAULT_TRAIN = "trainer.distributed.task:fit_train"


class WorkerConfig(Settings):
    """`worker.toml`: what `serve_worker` needs; `--host`/`--port` override these."""

    name: Name
    host: str = "0.0.0.0"
    port: Annotated[int, Field(ge=0, le=65535)] = DEFAULT_PORT  # 0: any free port (tests)
    tls: bool = True
    #: TensorFlow's collective traffic of a job takes the first free port from here up.
    collective_port: Annotated[int, Field(ge=1, le=65535)] = DEFAULT_COLLECTIVE_PORT
    collective_ports: Annotated[int, Field(ge=1, le=1000)] = 50
    #: The largest dataset (tar) a coordinator may send.
    max_dataset_gb: Annotated[float, Field(gt=0, le=1024)] = 16.0
    #: The training function, "module:function" (see trainer.distributed.task.TrainFunction).
    train: Annotated[str, StringConstraints(pattern=r"^[\w.]+:\w+$")] = DEFAULT_TRAIN

    @property
    def max_body(self) -> int:
        """The largest message body accepted, in bytes."""
        return int(self.max_dataset_gb * 2**30)


class Peers(Settings):
    """`peers.toml`: the coordinators allowed, by name, with their secrets."""

    coordinators: dict[Name, Secret] = Field(default_factory=dict)


def config_text(name: str, port: int) -> str:
    """worker.toml as `worker_init` writes it: every key, with its default and what it does."""
    entries = [
        (f"name = {json.dumps(name)}", "the worker's name in handshakes, logs, progress lines"),
        ('host = "0.0.0.0"', "where to listen for coordinators"),
        (f"port = {port}", "jobs from the coordinator (our protocol, TLS)"),
        ("tls = true", "plain TCP only for tests and links protected otherwise"),
        (f"collective_port = {DEFAULT_COLLECTIVE_PORT}", "TensorFlow's traffic: first free port"),
        ("collective_ports = 50", "... from collective_port up, among this many"),
        ("max_dataset_gb = 16", "the largest dataset a coordinator may send"),
    ]
    width = max(len(setting) for setting, _ in entries) + 2
    lines = ["# Vigía trainer worker settings. Every key but name is optional; shown: defaults."]
    lines += [f"{setting.ljust(width)}# {comment}" for setting, comment in entries]
    lines += ["# The training function, module:function (tests put a stand-in here):"]
    lines += [f"# train = {json.dumps(DEFAULT_TRAIN)}"]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class WorkerDir:
    """Paths inside one worker data directory."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "worker.toml"

    @property
    def peers(self) -> Path:
        return self.root / "peers.toml"

    @property
    def credentials(self) -> Path:
        return self.root / "credentials"

    @property
    def cache(self) -> Path:
        return self.root / "cache"

    @property
    def jobs(self) -> Path:
        return self.root / "jobs"

    @property
    def spool(self) -> Path:
        return self.root / "spool"

    def make_tree(self) -> None:
        """Create the folders (private to the worker's user)."""
        for folder in (self.root, self.credentials, self.cache, self.jobs, self.spool):
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)

    def check(self) -> None:
        """FileNotFoundError naming what is missing, if this is not an initialised worker."""
        for needed in (self.config, self.peers, self.root / "tls.crt", self.root / "tls.key"):
            if not needed.exists():
                raise FileNotFoundError(
                    f"{needed} is missing: is {self.root} a trainer worker data directory? "
                    f"(make one with: trainer worker init {self.root} --name NAME)"
                )

    def load_config(self, overrides: dict[str, object] | None = None) -> WorkerConfig:
        """worker.toml, with the overrides that are not None."""
        given = {key: value for key, value in (overrides or {}).items() if value is not None}
        return load_toml(self.config, WorkerConfig, given)

    def load_peers(self) -> Peers:
        """peers.toml."""
        return load_toml(self.peers, Peers)

    def directory(self) -> StaticDirectory:
        """The coordinators allowed, as the server's peer directory (all role `trainer`)."""
        return StaticDirectory(
            [
                PeerRecord(name, Role.TRAINER, secret)
                for name, secret in self.load_peers().coordinators.items()
            ]
        )


def worker_init(
    data_dir: Path,
    *,
    name: str,
    port: int = DEFAULT_PORT,
    advertise: str | None = None,
    coordinator: str = DEFAULT_COORDINATOR,
) -> Path:
    """Make a worker data directory: settings, TLS identity, and one coordinator's secret.

    Returns the coordinator's credential (role `trainer`; the worker's address `advertise`,
    default this host's name and `port`; the certificate pin; the secret), to be copied to
    the desktop as ~/.config/vigia/workers/NAME.toml. Refuses an initialised directory.
    """
    data = WorkerDir(data_dir.resolve())
    if data.config.exists():
        raise FileExistsError(f"{data.root} is already a trainer worker data directory")
    data.make_tree()
    data.config.write_text(config_text(name, port), encoding="utf-8")
    config = data.load_config()  # refuses a bad name now, naming it
    create_identity(data.root, config.name)
    _write_peers(data, Peers())
    return add_coordinator(
        data.root, coordinator, advertise=advertise or f"{socket.gethostname()}:{port}"
    )


def add_coordinator(
    data_dir: Path, coordinator: str, *, advertise: str, out: Path | None = None
) -> Path:
    """Allow one more coordinator (a desktop) and write its credential file; returns it."""
    data = WorkerDir(data_dir)
    config = data.load_config()
    peers = data.load_peers()
    if coordinator in peers.coordinators:
        raise FileExistsError(f"coordinator '{coordinator}' is already allowed on {config.name}")
    credential = Credential(
        name=coordinator,
        role=Role.TRAINER,
        hub=advertise,
        fingerprint=load_identity(data.root).fingerprint,
        secret=new_secret(),
    )
    _write_peers(data, Peers(coordinators={**peers.coordinators, coordinator: credential.secret}))
    default_name = (
        f"{config.name}.toml"
        if coordinator == DEFAULT_COORDINATOR
        else f"{config.name}.{coordinator}.toml"
    )
    path = out or data.credentials / default_name
    save_credential(path, credential)
    return path


def _write_peers(data: WorkerDir, peers: Peers) -> None:
    """Rewrite peers.toml (mode 0600) through a temporary file and a rename."""
    lines = [
        "# Coordinators allowed to run jobs on this worker: name = secret. Keep it private.",
        "[coordinators]",
    ]
    lines += [f"{json.dumps(n)} = {json.dumps(s)}" for n, s in peers.coordinators.items()]
    partial = data.peers.with_suffix(".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")
    os.replace(partial, data.peers)
