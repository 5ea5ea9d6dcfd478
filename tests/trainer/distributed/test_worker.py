"""A worker on its own: worker_init, authentication, roles, the dataset cache, ports.

Each test runs a real worker process and speaks to it over TLS as the coordinator would.
"""

from __future__ import annotations

import io
import stat
import tarfile
from pathlib import Path

import pytest

from tests.trainer.distributed.conftest import WorkerProc, Workers, free_port
from tests.trainer.distributed.samples import JOB
from trainer.dataset.layout import open_dataset
from trainer.distributed.archive import file_sha256, pack_dataset
from trainer.distributed.info import local_versions
from trainer.distributed.layout import WorkerDir, worker_init
from wire import messages as m
from wire.auth import new_secret
from wire.client import connect
from wire.config import ConfigError
from wire.connection import Connection
from wire.credential import load_credential
from wire.errors import AuthError
from wire.handshake import ClientIdentity
from wire.roles import Role
from wire.tls import load_identity

VERSIONS = {
    "vigia": local_versions().vigia,
    "tensorflow": local_versions().tensorflow,
    "keras": local_versions().keras,
    "python": local_versions().python,
}


def dial(worker: WorkerProc, *, secret: str | None = None) -> Connection:
    """A session with the worker, as its coordinator (or with another secret)."""
    cred = load_credential(worker.credential)
    return connect(cred.endpoint(), ClientIdentity(cred.name, cred.role, secret or cred.secret))


def refusal(conn: Connection) -> m.Error:
    got = conn.receive().message
    assert isinstance(got, m.Error), got
    assert not got.fatal
    return got


def upload(conn: Connection, tar: Path, digest: str) -> None:
    size = tar.stat().st_size
    conn.send_file(m.DatasetUpload(digest=digest, size=size, sha256=file_sha256(tar)), tar)


def test_worker_init_writes_a_private_credential_for_the_coordinator(tmp_path: Path) -> None:
    root = tmp_path / "pc-a"
    path = worker_init(root, name="pc-a", port=7710, advertise="192.168.1.21:7710")
    cred = load_credential(path)
    assert path == root / "credentials" / "pc-a.toml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert (cred.name, cred.role, cred.hub) == ("trainer", Role.TRAINER, "192.168.1.21:7710")
    assert cred.fingerprint == load_identity(root).fingerprint
    data = WorkerDir(root)
    assert data.load_peers().coordinators == {"trainer": cred.secret}
    assert stat.S_IMODE(data.peers.stat().st_mode) == 0o600
    assert (data.load_config().name, data.load_config().port) == ("pc-a", 7710)
    assert all(folder.is_dir() for folder in (data.cache, data.jobs, data.spool))


def test_worker_init_refuses_an_initialised_directory(tmp_path: Path) -> None:
    worker_init(tmp_path / "w", name="pc-a", advertise="pc-a:7710")
    with pytest.raises(FileExistsError, match="already a trainer worker data directory"):
        worker_init(tmp_path / "w", name="pc-b", advertise="pc-b:7710")


def test_worker_init_refuses_a_bad_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="bad value 'pc a!' for 'name'"):
        worker_init(tmp_path / "w", name="pc a!", advertise="pc-a:7710")


def test_the_coordinator_credential_opens_a_session(workers: Workers) -> None:
    worker = workers.start("pc-a")
    conn = dial(worker)
    assert conn.peer is not None and conn.peer.name == "pc-a"
    conn.send(m.WorkerInfoRequest(**VERSIONS))
    info = conn.expect(m.WorkerInfo)
    assert (info.worker, info.job) == ("pc-a", None)
    assert (info.vigia, info.tensorflow, info.keras, info.python) == tuple(VERSIONS.values())
    assert info.cpus >= 1


def test_a_wrong_secret_is_refused(workers: Workers) -> None:
    worker = workers.start("pc-a")
    with pytest.raises(AuthError, match="bad_credentials"):
        dial(worker, secret=new_secret())


def test_a_coordinator_may_not_send_what_only_a_worker_sends(workers: Workers) -> None:
    conn = dial(workers.start("pc-a"))
    done = m.JobDone(
        job=JOB, attempt=1, index=0, state="ok", reason="", weights_sha256=None, metrics={}
    )
    conn.send(done)
    assert refusal(conn).code == "forbidden"
    conn.send(m.WorkerInfoRequest(**VERSIONS))
    assert conn.expect(m.WorkerInfo).worker == "pc-a"  # the session goes on


def test_a_dataset_is_kept_only_under_the_digest_it_unpacks_to(
    workers: Workers, dataset: Path, tmp_path: Path
) -> None:
    worker = workers.start("pc-a")
    conn = dial(worker)
    digest = open_dataset(dataset).digest
    tar = tmp_path / "dataset.tar"
    pack_dataset(open_dataset(dataset), tar)
    upload(conn, tar, "0" * 64)
    refused = refusal(conn)
    assert (refused.code, refused.ref) == ("conflict", "0" * 64)
    assert f"unpacks to digest {digest}" in refused.message
    assert worker.cached() == []
    upload(conn, tar, digest)
    assert conn.expect(m.DatasetStatus) == m.DatasetStatus(digest=digest, cached=True)
    assert worker.cached() == [digest]
    conn.send(m.DatasetOffer(digest=digest, size=1))
    assert conn.expect(m.DatasetStatus).cached
    assert not list((worker.data / "spool").iterdir())


def test_a_tar_reaching_out_of_its_folder_is_refused(workers: Workers, tmp_path: Path) -> None:
    worker = workers.start("pc-a")
    tar = tmp_path / "evil.tar"
    with tarfile.open(tar, "w") as out:
        member = tarfile.TarInfo("../../escaped.txt")
        member.size = 4
        out.addfile(member, io.BytesIO(b"evil"))
    conn = dial(worker)
    upload(conn, tar, "1" * 64)
    assert refusal(conn).code == "conflict"
    assert not list(worker.data.parent.rglob("escaped.txt"))
    assert worker.cached() == []


def test_a_job_needs_its_dataset_and_a_prepared_attempt(workers: Workers) -> None:
    conn = dial(workers.start("pc-a"))
    conn.send(m.JobPrepare(job=JOB, attempt=1, dataset="2" * 64))
    refused = refusal(conn)
    assert (refused.code, refused.ref) == ("not_found", "2" * 64)
    start = m.JobStart(
        job=JOB,
        attempt=1,
        spec={"version": "v1"},
        dataset="2" * 64,
        cluster=["127.0.0.1:7711"],
        index=0,
        checkpoint_epoch=None,
        size=0,
    )
    conn.send(start)
    refused = refusal(conn)
    assert (refused.code, refused.message) == ("not_found", "no such prepared job attempt")


def test_workers_on_one_host_reserve_distinct_collective_ports(
    workers: Workers, dataset: Path, tmp_path: Path
) -> None:
    base = free_port()
    first, second = (workers.start(n, collective_port=base) for n in ("pc-a", "pc-b"))
    digest = open_dataset(dataset).digest
    tar = tmp_path / "dataset.tar"
    pack_dataset(open_dataset(dataset), tar)
    conns = [dial(first), dial(second)]
    ports = []
    for conn in conns:
        upload(conn, tar, digest)
        conn.expect(m.DatasetStatus)
        conn.send(m.JobPrepare(job=JOB, attempt=1, dataset=digest))
        ports.append(conn.expect(m.JobReady).port)
    assert ports[0] != ports[1]
    assert all(base <= port < base + 50 for port in ports)
    conns[0].send(m.JobCancel(job=JOB, reason="test"))  # releases the port
    conns[0].send(m.JobPrepare(job=JOB, attempt=2, dataset=digest))
    assert conns[0].expect(m.JobReady).port == ports[0]
