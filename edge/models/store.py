"""The model store: which signed model package the edge runs, and the one before it.

A package (from the hub's `model_offer`, or a local file) becomes current only when

1. its signature verifies with the pinned trainer key and its model and labels match the
   manifest's hashes (`wire.package.read_package`), and it is the version it was offered as;
2. its manifest suits the edge: uint8 input, distinct labels;
3. a smoke inference passes (edge.models.smoke: LiteRT loads it, one run on zeros, one score
   per label).

Then it is kept as `current.vpkg` (the old current becoming `previous.vpkg`), put in the slot
(each camera's pipeline picks it up before its next frame) and reported `running`. A package
that fails is refused with its reason (`model_report(refused, reason)`) and the old model keeps
running. On start `current.vpkg` is checked the same way; if it fails, `previous.vpkg` takes its
place and `rolled_back` is reported. `rollback()` swaps back on request.

    DIR/current.vpkg    the package running now
    DIR/previous.vpkg   the one it replaced, for rollback
    DIR/refused.vpkg    the last current package that failed at start, kept for a look
    DIR/staged.vpkg     a package being checked (a leftover is deleted at start)

Every file is put in place by rename after an fsync, and the directory fsynced, in an order
where a crash at any point leaves a current package that had passed every check (or none yet).
The bytes checked are the bytes kept: a package is first copied to `staged.vpkg`, then verified
and smoke-tested there, then renamed to `current.vpkg`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from edge.models.smoke import Loader, SmokeTestFailed, litert_loader, smoke_test
from edge.modelslot import ModelBundle, Slot
from edge.system.files import copy_atomic, fsync_dir, part_of, remove_partials
from wire import messages as m
from wire.package import MAGIC, Manifest, PackageError, file_sha256, read_package

log = logging.getLogger("vigia.edge.models")

CURRENT, PREVIOUS, REFUSED, STAGED = "current.vpkg", "previous.vpkg", "refused.vpkg", "staged.vpkg"
_SWAP = "swap.vpkg"
_PACKAGE_HEADER = struct.Struct("!8sIIQI")  # wire.package's layout; only to name a bad package
State = Literal["running", "refused", "rolled_back"]
Report = Callable[[m.ModelReport], None]


class ModelRefused(Exception):
    """A package may not run here; the message says why."""


@dataclass(frozen=True, slots=True)
class InstallResult:
    """What became of a package: the version concerned, and the state reported to the hub."""

    version: str
    state: State
    reason: str  # empty when running


@dataclass(frozen=True, slots=True)
class _Running:
    bundle: ModelBundle
    sha256: str


def _no_report(report: m.ModelReport) -> None:
    """The default: nobody to tell (`edge check`)."""


class ModelStore:
    """Verifies, keeps, swaps and rolls back model packages; safe to use from any thread."""

    def __init__(
        self,
        directory: Path,
        trusted_key: Ed25519PublicKey,
        slot: Slot[ModelBundle],
        *,
        loader: Loader = litert_loader,
        on_report: Report = _no_report,
    ) -> None:
        """`trusted_key`: the pinned trainer key; `on_report`: sends a model_report."""
        self.directory = directory
        self.trusted_key = trusted_key
        self.slot = slot
        self.loader = loader
        self.on_report = on_report
        self._running: _Running | None = None
        self._lock = threading.Lock()
        directory.mkdir(parents=True, exist_ok=True)

    @property
    def current(self) -> ModelBundle | None:
        """The model running now (None before the first)."""
        running = self._running
        return running.bundle if running else None

    def check(self, path: Path, *, version: str | None = None) -> ModelBundle:
        """Verify and smoke-test a package without installing it; ModelRefused says why not."""
        try:
            package = read_package(path, self.trusted_key)
        except PackageError as exc:
            raise ModelRefused(str(exc)) from None
        manifest = package.manifest
        _check_manifest(manifest, version)
        try:
            smoke_test(
                package.model,
                input_size=manifest.input.size,
                labels=manifest.labels,
                loader=self.loader,
            )
        except SmokeTestFailed as exc:
            raise ModelRefused(f"model {manifest.version}: smoke test failed: {exc}") from None
        return ModelBundle(manifest.version, manifest.labels, manifest.input.size, package.model)

    # --- installing -----------------------------------------------------------------------

    def start(self) -> InstallResult | None:
        """Load `current.vpkg` (rolling back to `previous.vpkg` if it fails); None if there
        is no model yet."""
        with self._lock:
            remove_partials(self.directory)
            for leftover in (STAGED, _SWAP):
                (self.directory / leftover).unlink(missing_ok=True)
            current = self.directory / CURRENT
            if not current.exists():
                log.info("models %s: no model installed yet", self.directory)
                return None
            try:
                bundle = self.check(current)
            except ModelRefused as exc:
                return self._recover(str(exc))
            self._run(bundle, file_sha256(current))
        log.info("running model %s (%d labels)", bundle.version, len(bundle.labels))
        return InstallResult(bundle.version, "running", "")

    def accept_offer(self, offer: m.ModelOffer, path: Path) -> InstallResult:
        """Install the package the hub offered (its body at `path`, which is consumed)."""
        try:
            return self._install(path, version=offer.version, sha256=offer.sha256)
        finally:
            path.unlink(missing_ok=True)

    def install_file(self, path: Path) -> InstallResult:
        """Install a local package file (it is copied; the file stays)."""
        return self._install(path, version=None, sha256=None)

    def rollback(self) -> InstallResult:
        """Run the previous package again (the current one becomes previous); ModelRefused
        if there is none or it fails its checks (the current model then keeps running)."""
        with self._lock:
            previous, current = self.directory / PREVIOUS, self.directory / CURRENT
            running = self._running
            if running is None or not previous.exists():
                raise ModelRefused("no previous model to roll back to")
            bundle = self.check(previous)
            _keep_copy(current, self.directory / _SWAP)
            os.replace(previous, current)
            os.replace(self.directory / _SWAP, previous)
            fsync_dir(self.directory)
            self._run(bundle, file_sha256(current))
        reason = f"rolled back to {bundle.version} on request"
        log.warning("model %s: %s", running.bundle.version, reason)
        return self._tell(InstallResult(running.bundle.version, "rolled_back", reason))

    def _install(self, source: Path, *, version: str | None, sha256: str | None) -> InstallResult:
        """Stage, check, keep and run a package, or refuse it and keep the model running."""
        name = version or _claimed_version(source)
        staged = self.directory / STAGED
        with self._lock:
            try:
                copy_atomic(source, staged)
                digest = file_sha256(staged)
                if sha256 is not None and digest != sha256:
                    raise ModelRefused(f"package hash {digest} is not the offered {sha256}")
                if self._running is not None and digest == self._running.sha256:
                    log.info("model %s: already running", self._running.bundle.version)
                    return self._tell(InstallResult(self._running.bundle.version, "running", ""))
                bundle = self.check(staged, version=version)
                self._promote(staged)
            except (ModelRefused, OSError) as exc:
                reason = str(exc) if isinstance(exc, ModelRefused) else f"cannot keep it: {exc}"
                log.warning("model %s refused: %s", name, reason)
                return self._tell(InstallResult(name, "refused", reason))
            finally:
                staged.unlink(missing_ok=True)
            self._run(bundle, digest)
        log.info("model %s installed and running (%d labels)", bundle.version, len(bundle.labels))
        return self._tell(InstallResult(bundle.version, "running", ""))

    def _promote(self, staged: Path) -> None:
        """staged -> current, the old current kept as previous; durable at every step."""
        current = self.directory / CURRENT
        if current.exists():
            _keep_copy(current, self.directory / PREVIOUS)
        os.replace(staged, current)
        fsync_dir(self.directory)

    def _recover(self, reason: str) -> InstallResult:
        """current.vpkg failed at start: set it aside, run previous.vpkg if that passes."""
        current, previous = self.directory / CURRENT, self.directory / PREVIOUS
        bad = _claimed_version(current)
        os.replace(current, self.directory / REFUSED)
        log.error("model %s no longer passes its checks: %s", bad, reason)
        try:
            if not previous.exists():
                raise ModelRefused("no previous model to roll back to")
            bundle = self.check(previous)
        except ModelRefused as exc:
            log.error("models %s: no model can run: %s", self.directory, exc)
            return self._tell(InstallResult(bad, "refused", f"{reason}; {exc}"))
        os.replace(previous, current)
        fsync_dir(self.directory)
        self._run(bundle, file_sha256(current))
        log.warning("rolled back from model %s to %s", bad, bundle.version)
        return self._tell(InstallResult(bad, "rolled_back", f"{reason}; running {bundle.version}"))

    def _run(self, bundle: ModelBundle, sha256: str) -> None:
        self._running = _Running(bundle, sha256)
        self.slot.put(bundle)

    def _tell(self, result: InstallResult) -> InstallResult:
        """Report a result to the hub (through on_report) and return it."""
        try:
            self.on_report(
                m.ModelReport(
                    version=result.version[:64], state=result.state, reason=result.reason[:4096]
                )
            )
        except Exception:  # the reporter is the app's; the install itself stands
            log.exception("model %s: could not report %s", result.version, result.state)
        return result


def _check_manifest(manifest: Manifest, version: str | None) -> None:
    """What this edge can run: the version offered, uint8 input, distinct labels."""
    if version is not None and manifest.version != version:
        raise ModelRefused(f"the package holds model {manifest.version}, offered as {version}")
    if manifest.input.dtype != "uint8":
        raise ModelRefused(
            f"model {manifest.version}: input is {manifest.input.dtype}; the edge runs uint8 models"
        )
    if len(set(manifest.labels)) != len(manifest.labels):
        raise ModelRefused(f"model {manifest.version}: its labels are not distinct")


def _keep_copy(source: Path, target: Path) -> None:
    """Make `target` a durable copy of `source` (a hard link where the disk allows)."""
    partial = part_of(target)
    partial.unlink(missing_ok=True)
    try:
        os.link(source, partial)
    except OSError:
        copy_atomic(source, target)
        return
    os.replace(partial, target)
    fsync_dir(target.parent)


def _claimed_version(path: Path) -> str:
    """The version a package's manifest claims, unverified: only to name it in a report."""
    with (
        contextlib.suppress(OSError, ValueError, AttributeError, struct.error),
        path.open("rb") as src,
    ):
        magic, manifest_len, *_ = _PACKAGE_HEADER.unpack(src.read(_PACKAGE_HEADER.size))
        if magic == MAGIC and manifest_len <= 1 << 20:
            version = json.loads(src.read(manifest_len)).get("version")
            if isinstance(version, str) and 0 < len(version) <= 64:
                return version
    return path.stem[:64] or "unknown"
