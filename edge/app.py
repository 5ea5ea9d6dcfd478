"""The running edge: cameras, vision, the model store and the hub link, wired together.

Threads: per camera, a capture thread (decoding and the motion gate) and a vision thread
(classifying, tracking, reporting what moved); the model
interpreters are shared by all cameras; the uplink has its own session and status threads.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import cv2

from edge.capture.camera import Camera
from edge.config import Camera as CameraSettings
from edge.config import (
    EdgeConfig,
    camera_options,
    pipeline_options,
    spool_options,
    uplink_options,
)
from edge.delivery.spool import Spool, SpoolError
from edge.delivery.uplink import Uplink
from edge.models.store import ModelStore
from edge.modelslot import ModelBundle, Slot
from edge.sighting import Report
from edge.system.status import StatusSource
from edge.vision.classify import Classifier
from edge.vision.pipeline import CameraPipeline
from edge.vision.worker import CameraWorker
from wire import messages as m
from wire.credential import load_credential
from wire.package import load_public_key

log = logging.getLogger("vigia.edge")
# At a stop, how long the hub gets to acknowledge the last sightings and ends (systemd waits
# 90 s by default); an unreachable hub costs nothing: the wait is only while connected.
DRAIN_S = 3.0


@dataclass
class CameraUnit:
    """One camera's capture and vision threads."""

    camera: Camera
    pipeline: CameraPipeline
    worker: CameraWorker
    last_processed: int = 0
    last_at: float = 0.0

    def fps(self, processed: int) -> float:
        """Frames processed per second since the previous status."""
        now = time.monotonic()
        rate = (processed - self.last_processed) / (now - self.last_at) if self.last_at else 0.0
        self.last_processed, self.last_at = processed, now
        return max(rate, 0.0)


class Edge:
    """Everything `edge run` starts; `stop` leaves the spool intact."""

    def __init__(self, config: EdgeConfig) -> None:
        self.config = config
        limit_opencv_threads(config.node.opencv_threads)
        self.models: Slot[ModelBundle] = Slot()
        self.classifier: Slot[Classifier] = Slot()
        self.models.listen(self._load_classifier)
        self.spool = Spool(config.spool_dir, spool_options(config))
        self.uplink = Uplink(
            load_credential(config.node.credential),
            self.spool,
            status_source=StatusSource(
                self.camera_statuses, self._model_version, extra_flags=self.spool.status_flags
            ),
            on_model=self._offered,
            options=uplink_options(config),
            incoming_dir=config.node.data_dir / "incoming",
        )
        self.store = ModelStore(
            config.models_dir,
            load_public_key(config.node.trainer_key),
            self.models,
            on_report=self.uplink.report,
        )
        self.units = [self._unit(camera) for camera in config.camera]

    def _unit(self, camera_config: CameraSettings) -> CameraUnit:
        pipeline = CameraPipeline(
            camera_config.name,
            pipeline_options(self.config, camera_config),
            self.classifier,
            self._sighting,
        )
        worker = CameraWorker(pipeline)
        camera = Camera(camera_options(camera_config), on_state=self._camera_state, sink=worker)
        return CameraUnit(camera, pipeline, worker)

    def start(self) -> None:
        """Load the model, start the hub link, then every camera."""
        self.store.start()
        if self.store.current is None and self.config.node.model is not None:
            result = self.store.install_file(self.config.node.model)
            log.info("installed %s from %s: %s", result.version, self.config.node.model,
                     result.state)  # fmt: skip
        if self.store.current is None:
            log.warning("no model yet: cameras run motion only until the hub sends one")
        self.uplink.start()
        for unit in self.units:
            unit.camera.start()
            unit.worker.start()
        log.info("edge running %d camera(s)", len(self.units))

    def stop(self) -> None:
        """Stop cameras first (no new sightings; the visits open are ended), give the hub a
        moment to take them, then stop the hub link; what it has not taken stays spooled."""
        for unit in self.units:
            unit.worker.stop()
            unit.camera.stop()
        self.uplink.drain(DRAIN_S)
        self.uplink.stop()
        log.info("edge stopped; %d event(s) wait in the spool", len(self.spool))

    def healthy(self) -> bool:
        """Every camera's threads still run (the systemd watchdog stops pinging otherwise)."""
        return all(unit.worker.alive and unit.camera.alive for unit in self.units)

    def camera_statuses(self) -> list[m.CameraStatus]:
        """Every camera's figures for the status message."""
        statuses = []
        for unit in self.units:
            stats = unit.worker.stats()
            statuses.append(
                m.CameraStatus(
                    camera=unit.pipeline.camera,
                    online=unit.camera.online,
                    fps=unit.fps(stats.processed),
                    inference_ms=stats.inference_ms or 0.0,
                    frames_in=stats.frames_in,
                    processed=stats.processed,
                    dropped=stats.dropped,
                    queue_depth=stats.queue_depth,
                )
            )
        return statuses

    def _model_version(self) -> str | None:
        bundle = self.models.current
        return None if bundle is None else bundle.version

    def _load_classifier(self, bundle: ModelBundle) -> None:
        """A new model: build its interpreters, then swap it in (between frames)."""
        inference = self.config.inference
        classifier = Classifier(
            bundle,
            threads=inference.threads,
            pool=inference.interpreters,
            max_batch=inference.max_batch,
        )
        self.classifier.put(classifier)
        log.info("model %s running (%d classes)", bundle.version, len(bundle.labels))

    def _offered(self, offer: m.ModelOffer, package: Path) -> None:
        """The hub sent a model: the store checks it, swaps it in, reports."""
        self.store.accept_offer(offer, package)

    def _camera_state(self, camera: str, online: bool) -> None:
        log.info("camera %s %s", camera, "online" if online else "offline")
        self.uplink.status_now()

    def _sighting(self, sighting: Report) -> None:
        try:
            self.uplink.submit(sighting)
        except SpoolError as exc:
            log.error("camera %s: sighting %s lost: %s", sighting.camera, sighting.event_id, exc)


def limit_opencv_threads(threads: int) -> None:
    """Size OpenCV's process-wide thread pool (0: OpenCV's default, one thread per core).

    Per frame the edge calls OpenCV many times on small pictures (shrinking, motion); with a
    pool, every call wakes its threads and waits for them, which at 640x480 costs more CPU than
    it spreads. The cameras' own threads are the parallelism. FFmpeg's decoding threads are
    FFmpeg's, not this pool: decoding costs the same either way.
    """
    cv2.setNumThreads(threads or -1)  # OpenCV: 0 would mean none at all, -1 its default
    log.info("OpenCV runs %d thread(s)", cv2.getNumThreads())


def wait_for_stop(stop: threading.Event) -> None:
    """Block until `stop` is set (by a signal handler)."""
    while not stop.wait(1.0):
        pass
