"""Keys, package checks, and putting packages on the fleet: `trainer keygen / verify /
push-model / models / assign` against a real hub."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.hub.conftest import RunningHub
from trainer.cli import main
from wire import messages as m
from wire.package import (
    InputSpec,
    Manifest,
    Metrics,
    key_id,
    labels_text,
    load_private_key,
    write_package,
)


def _package(keys: Path, out: Path, version: str) -> Path:
    """A signed package around stand-in model bytes (what is signed is what is tested)."""
    key = load_private_key(keys / "trainer.key")
    model, labels = f"tflite bytes of {version}".encode() * 50, ("bag", "shoe")
    manifest = Manifest(
        version=version,
        created_ms=1_796_000_000_000,
        backbone="efficientnet-lite0",
        labels=labels,
        input=InputSpec(size=96, dtype="uint8"),
        quantisation="int8",
        metrics=Metrics(float_accuracy=0.9, int8_accuracy=0.89, test_images=20),
        dataset_sha256="b" * 64,
        model_sha256=hashlib.sha256(model).hexdigest(),
        model_size=len(model),
        labels_sha256=hashlib.sha256(labels_text(labels)).hexdigest(),
        key_id=key_id(key.public_key()),
    )
    path = out / f"{version}.vpkg"
    write_package(path, manifest, model, key)
    return path


@pytest.fixture
def keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A key pair made by `trainer keygen`."""
    folder = tmp_path / "keys"
    assert main(["keygen", "--keys", str(folder)]) == 0
    capsys.readouterr()
    return folder


def test_keygen_writes_a_private_key_and_a_public_key_for_the_edges(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "keys"
    assert main(["keygen", "--keys", str(folder)]) == 0
    said = capsys.readouterr().out
    assert (folder / "trainer.key").stat().st_mode & 0o777 == 0o600
    assert (folder / "trainer.pub").read_text().startswith("-----BEGIN PUBLIC KEY-----")
    ident = key_id(load_private_key(folder / "trainer.key").public_key())
    assert f"key {ident}" in said and "trainer.pub" in said


def test_keygen_never_overwrites_a_key(keys: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = (keys / "trainer.key").read_bytes()
    assert main(["keygen", "--keys", str(keys)]) == 2
    assert "already holds a trainer key" in capsys.readouterr().err
    assert (keys / "trainer.key").read_bytes() == before


def test_verify_describes_a_good_package_and_refuses_a_changed_one(
    keys: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    package = _package(keys, tmp_path, "shoes-1")
    assert main(["verify", str(package), "--keys", str(keys)]) == 0
    shown = capsys.readouterr().out
    assert "version      shoes-1" in shown and "classes      2: bag, shoe" in shown
    assert "float 0.9000, int8 0.8900 on 20 test images" in shown
    raw = bytearray(package.read_bytes())
    raw[-20] ^= 0x10
    package.write_bytes(raw)
    assert main(["verify", str(package), "--keys", str(keys)]) == 2
    assert "does not match its manifest hash" in capsys.readouterr().err


def test_verify_refuses_a_package_signed_by_another_trainer(
    keys: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other"
    assert main(["keygen", "--keys", str(other)]) == 0
    package = _package(other, tmp_path, "foreign-1")
    assert main(["verify", str(package), "--keys", str(keys)]) == 2
    assert "signature does not verify" in capsys.readouterr().err


def _credential(hub: RunningHub, tmp_path: Path) -> list[str]:
    port = hub.hub.server.address[1]
    path = hub.data.credentials / "trainer-1.toml"
    return ["--credential", str(path), "--hub", f"127.0.0.1:{port}"]


def test_push_model_stores_and_assigns_and_models_shows_it(
    hub: RunningHub, keys: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    link = _credential(hub, tmp_path)
    first, second = _package(keys, tmp_path, "v1"), _package(keys, tmp_path, "v2")
    assert main(["push-model", str(first), "--keys", str(keys), *link]) == 0
    assert main(["push-model", str(second), "--keys", str(keys), "--edge", "edge-1", *link]) == 0
    said = capsys.readouterr().out
    assert "v1 assigned to edge-1, edge-2" in said and "v2 assigned to edge-1" in said
    assert (hub.data.models / f"{hashlib.sha256(second.read_bytes()).hexdigest()}.vpkg").exists()
    assert main(["models", *link]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in listing[1:3]] == ["v2", "v1"]
    edges = {line.split()[0]: line.split()[1] for line in listing[5:]}
    assert edges == {"edge-1": "v2", "edge-2": "v1"}


def test_assign_rolls_an_edge_back_and_the_edge_is_offered_it(
    hub: RunningHub, keys: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    link = _credential(hub, tmp_path)
    for version in ("v1", "v2"):
        assert main(["push-model", str(_package(keys, tmp_path, version)), "--keys", str(keys),
                     *link]) == 0  # fmt: skip
    edge = hub.dial("edge-1")
    first = edge.receive().message
    assert isinstance(first, m.ModelOffer) and first.version == "v2"
    assert main(["assign", "v1", "--edge", "edge-1", *link]) == 0
    assert "v1 assigned to edge-1" in capsys.readouterr().out
    rolled = edge.receive().message
    assert isinstance(rolled, m.ModelOffer) and rolled.version == "v1"


def test_assigning_an_unknown_version_names_it(
    hub: RunningHub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["assign", "nope", *_credential(hub, tmp_path)]) == 2
    assert "no model version nope" in capsys.readouterr().err


def test_pushing_a_package_we_cannot_verify_sends_nothing(
    hub: RunningHub, keys: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    package = tmp_path / "junk.vpkg"
    package.write_bytes(b"junk")
    link = _credential(hub, tmp_path)
    assert main(["push-model", str(package), "--keys", str(keys), *link]) == 2
    assert "not a Vigía model package" in capsys.readouterr().err
    assert not list(hub.data.models.iterdir())
