"""Turns a VideoConfig into running streams behind one RTSP server."""

from __future__ import annotations

import logging
import signal
import socket
import threading
from pathlib import Path
from types import FrameType

from video.config import CameraConfig, VideoConfig
from video.rtsp.server import RtspServer
from video.sources.base import Source
from video.sources.open import open_source
from video.sources.scene import SceneOptions
from video.stream import Stream, StreamOptions

log = logging.getLogger("vigia.video.app")


def stream_options(
    camera: CameraConfig, config: VideoConfig, natural_fps: float | None
) -> StreamOptions:
    """A camera's settings with [defaults] filled in; a file's own rate wins over the default."""
    defaults = config.defaults
    return StreamOptions(
        name=camera.name,
        fps=camera.fps or natural_fps or defaults.fps,
        width=camera.width or defaults.width,
        height=camera.height or defaults.height,
        quality=camera.quality or defaults.quality,
        overlay=defaults.overlay if camera.overlay is None else camera.overlay,
    )


def scene_options(
    camera: CameraConfig, config: VideoConfig, width: int, height: int
) -> SceneOptions | None:
    """Scene settings for a scene camera; its truth goes to TRUTH_DIR/NAME.jsonl."""
    scene = config.scene
    if camera.source != "scene" or scene.dataset is None:
        return None
    return SceneOptions(
        dataset=scene.dataset,
        camera=camera.name,
        seed=scene.seed if camera.seed is None else camera.seed,
        width=width,
        height=height,
        visits_per_min=scene.visits_per_min,
        min_gap_s=scene.min_gap_s,
        visit_s=scene.visit_s,
        size_frac=scene.size_frac,
        truth_path=truth_path(config, camera.name),
        truth_interval_ms=scene.truth_interval_ms,
        background=scene.background,
    )


def truth_path(config: VideoConfig, camera: str) -> Path:
    """Where a scene camera writes its ground truth."""
    return config.scene.truth_dir / f"{camera}.jsonl"


def open_camera(camera: CameraConfig, config: VideoConfig) -> Stream:
    """Open a camera's source and wrap it in a stream (not yet started)."""
    defaults = config.defaults
    width, height = camera.width or defaults.width, camera.height or defaults.height
    source: Source = open_source(
        camera.source,
        camera=camera.name,
        width=width,
        height=height,
        scene=scene_options(camera, config, width, height),
    )
    return Stream(stream_options(camera, config, source.natural_fps), source)


def build_server(config: VideoConfig) -> RtspServer:
    """Every camera's stream behind one server; a camera that cannot open stops the start."""
    if config.scene.dataset is not None:
        config.scene.truth_dir.mkdir(parents=True, exist_ok=True)
    streams: list[Stream] = []
    try:
        for camera in config.camera:
            streams.append(open_camera(camera, config))
        return RtspServer(config.server, streams)
    except BaseException:
        for stream in streams:
            stream.stop()
        raise


def camera_url(host: str, port: int, name: str) -> str:
    """A camera's URL; a wildcard listen address shows as this host's name."""
    if host in ("0.0.0.0", "::", ""):
        host = socket.gethostname()
    return f"rtsp://{host}:{port}/{name}"


def serve_forever(server: RtspServer) -> None:
    """Run until SIGTERM or SIGINT, then stop cleanly."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("got %s, stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server.start()
    stop.wait()
    server.stop()
