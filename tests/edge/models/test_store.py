"""The model store: only a package signed by the pinned key, intact, made for this edge and
passing a real LiteRT smoke inference ever runs; anything else is refused with its reason while
the old model keeps running; the previous model stays at hand for rollback."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.models.store import ModelRefused, ModelStore
from edge.modelslot import ModelBundle, Slot
from tests.edge.models.packages import SIZE, make_package, tiny_tflite
from wire import messages as m


class Fixture:
    """A store in tmp_path with its slot, the trainer's key, and what it reported."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.key = Ed25519PrivateKey.generate()
        self.slot: Slot[ModelBundle] = Slot()
        self.reports: list[m.ModelReport] = []
        self.dir = tmp_path / "models"
        self.store = self.reopen()

    def reopen(self) -> ModelStore:
        return ModelStore(self.dir, self.key.public_key(), self.slot, on_report=self.reports.append)

    def package(
        self,
        version: str,
        *,
        key: Ed25519PrivateKey | None = None,
        labels: tuple[str, ...] = ("cat", "dog", "person"),
        model: bytes | None = None,
        dtype: str = "uint8",
    ) -> Path:
        """A signed package (by the trusted key unless another is given) in tmp_path."""
        return make_package(
            self.tmp / f"{version}.vpkg",
            key or self.key,
            version=version,
            labels=labels,
            model=model,
            dtype=dtype,
        )

    def running(self) -> str | None:
        bundle = self.slot.current
        return bundle.version if bundle else None


@pytest.fixture
def fx(tmp_path: Path) -> Fixture:
    return Fixture(tmp_path)


def _report(version: str, state: str, reason: str = "") -> m.ModelReport:
    return m.ModelReport(version=version, state=state, reason=reason)  # type: ignore[arg-type]


def test_a_good_package_becomes_current_and_is_reported_running(fx: Fixture) -> None:
    package = fx.package("v1")
    result = fx.store.install_file(package)
    assert (result.version, result.state, result.reason) == ("v1", "running", "")
    assert fx.slot.current == ModelBundle("v1", ("cat", "dog", "person"), SIZE, tiny_tflite(3))
    assert fx.reports == [_report("v1", "running")]
    assert (fx.dir / "current.vpkg").read_bytes() == package.read_bytes()
    assert package.exists()  # a local file is copied, not taken


def test_a_newer_package_keeps_the_older_as_previous(fx: Fixture) -> None:
    first, second = fx.package("v1"), fx.package("v2", labels=("cat", "dog"))
    fx.store.install_file(first)
    fx.store.install_file(second)
    assert fx.running() == "v2" and fx.slot.current is not None
    assert fx.slot.current.labels == ("cat", "dog")
    assert (fx.dir / "current.vpkg").read_bytes() == second.read_bytes()
    assert (fx.dir / "previous.vpkg").read_bytes() == first.read_bytes()


def test_a_package_with_one_byte_changed_is_refused_and_the_old_model_runs_on(
    fx: Fixture,
) -> None:
    fx.store.install_file(fx.package("v1"))
    altered = fx.package("v2")
    data = bytearray(altered.read_bytes())
    data[len(data) - 200] ^= 0x01  # inside the model flatbuffer
    altered.write_bytes(bytes(data))
    result = fx.store.install_file(altered)
    assert result.state == "refused" and result.version == "v2"
    assert "does not match its manifest hash" in result.reason
    assert fx.reports[-1] == _report("v2", "refused", result.reason)
    assert fx.running() == "v1"
    assert not (fx.dir / "previous.vpkg").exists()  # nothing moved
    assert sorted(p.name for p in fx.dir.iterdir()) == ["current.vpkg"]


def test_a_package_signed_by_another_key_is_refused(fx: Fixture) -> None:
    fx.store.install_file(fx.package("v1"))
    forged = fx.package("v2", key=Ed25519PrivateKey.generate())
    result = fx.store.install_file(forged)
    assert result.state == "refused" and "signature does not verify" in result.reason
    assert fx.reports[-1].state == "refused" and fx.reports[-1].version == "v2"
    assert fx.running() == "v1"


def test_a_model_that_fails_the_smoke_inference_is_refused(fx: Fixture) -> None:
    fx.store.install_file(fx.package("v1"))
    mismatched = fx.package("v2", labels=("cat", "dog"), model=tiny_tflite(3))  # 3 scores
    result = fx.store.install_file(mismatched)
    assert result.state == "refused"
    assert "smoke test failed" in result.reason and "for 2 labels" in result.reason
    not_a_model = fx.package("v3", model=b"this is no flatbuffer" * 10)
    assert "the model does not load" in fx.store.install_file(not_a_model).reason
    assert fx.running() == "v1"


def test_a_float_input_model_is_refused_by_its_manifest(fx: Fixture) -> None:
    result = fx.store.install_file(fx.package("f1", dtype="float32"))
    assert result.state == "refused" and "the edge runs uint8 models" in result.reason
    assert fx.slot.current is None


def test_an_offer_must_match_its_hash_and_version(fx: Fixture) -> None:
    package = fx.package("v1")
    digest = hashlib.sha256(package.read_bytes()).hexdigest()
    size = package.stat().st_size
    wrong_hash = m.ModelOffer(version="v1", sha256="0" * 64, size=size)
    body = fx.tmp / "body-1"
    body.write_bytes(package.read_bytes())
    assert "is not the offered" in fx.store.accept_offer(wrong_hash, body).reason
    assert not body.exists()  # the offer's file is consumed either way
    renamed = m.ModelOffer(version="v9", sha256=digest, size=size)
    body.write_bytes(package.read_bytes())
    refusal = fx.store.accept_offer(renamed, body)
    assert "holds model v1, offered as v9" in refusal.reason and refusal.version == "v9"
    good = m.ModelOffer(version="v1", sha256=digest, size=size)
    body.write_bytes(package.read_bytes())
    assert fx.store.accept_offer(good, body).state == "running"
    body.write_bytes(package.read_bytes())
    again = fx.store.accept_offer(good, body)  # offered again (a lost report): no change
    assert again.state == "running" and not (fx.dir / "previous.vpkg").exists()


def test_rollback_swaps_current_and_previous(fx: Fixture) -> None:
    with pytest.raises(ModelRefused, match="no previous model"):
        fx.store.rollback()
    first, second = fx.package("v1"), fx.package("v2")
    fx.store.install_file(first)
    fx.store.install_file(second)
    result = fx.store.rollback()
    assert (result.version, result.state) == ("v2", "rolled_back")
    assert fx.reports[-1] == _report("v2", "rolled_back", "rolled back to v1 on request")
    assert fx.running() == "v1"
    assert (fx.dir / "current.vpkg").read_bytes() == first.read_bytes()
    assert (fx.dir / "previous.vpkg").read_bytes() == second.read_bytes()
    fx.store.rollback()
    assert fx.running() == "v2"


def test_on_start_the_current_package_runs_again(fx: Fixture) -> None:
    fx.store.install_file(fx.package("v1"))
    fx.slot = Slot()  # a new process
    fx.reports.clear()
    store = fx.reopen()
    result = store.start()
    assert result is not None and (result.version, result.state) == ("v1", "running")
    assert fx.running() == "v1" and store.current == fx.slot.current
    assert fx.reports == []  # nothing new for the hub


def test_on_start_a_damaged_current_package_rolls_back_to_the_previous(fx: Fixture) -> None:
    fx.store.install_file(fx.package("v1"))
    fx.store.install_file(fx.package("v2"))
    current = fx.dir / "current.vpkg"
    data = bytearray(current.read_bytes())
    data[-300] ^= 0xFF  # SD card damage
    current.write_bytes(bytes(data))
    fx.slot = Slot()
    fx.reports.clear()
    result = fx.reopen().start()
    assert result is not None and (result.version, result.state) == ("v2", "rolled_back")
    assert "does not match its manifest hash" in result.reason and "running v1" in result.reason
    assert fx.reports == [_report("v2", "rolled_back", result.reason)]
    assert fx.running() == "v1"
    assert (fx.dir / "refused.vpkg").read_bytes() == bytes(data)
    assert not (fx.dir / "previous.vpkg").exists()
    fx.slot = Slot()
    again = fx.reopen().start()  # and the next start runs v1 without fuss
    assert again is not None and again.state == "running" and fx.running() == "v1"


def test_with_nothing_to_roll_back_to_a_damaged_model_is_refused(fx: Fixture) -> None:
    fx.store.install_file(fx.package("v1"))
    (fx.dir / "current.vpkg").write_bytes(b"VGIAPKG1 but nothing else")
    fx.slot = Slot()
    fx.reports.clear()
    result = fx.reopen().start()
    assert result is not None and result.state == "refused"
    assert "no previous model to roll back to" in result.reason
    assert fx.slot.current is None and fx.reports[-1].state == "refused"


def test_a_store_without_a_model_starts_empty(fx: Fixture) -> None:
    assert fx.store.start() is None and fx.slot.current is None


def test_check_verifies_without_installing(fx: Fixture) -> None:
    bundle = fx.store.check(fx.package("v1"))
    assert bundle.version == "v1" and bundle.input_size == SIZE
    assert fx.slot.current is None and fx.reports == []
    assert not (fx.dir / "current.vpkg").exists()
