"""edge.toml: the node, its hub link and model key, inference, defaults, and its cameras.

```toml
[node]
credential = "/etc/vigia/edge.toml.credential"   # from `hub add-peer NAME --role edge`
trainer_key = "/etc/vigia/trainer.pub"           # packages must be signed by this key
data_dir = "/var/lib/vigia/edge"                 # spool/ and models/

[[camera]]
name = "door"
url = "rtsp://192.168.1.50:554/stream1"
```

Every other table has defaults: `[spool]`, `[inference]`, `[defaults]` (each camera's vision
settings unless the camera says otherwise) and `[thresholds]` (a score threshold per class).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Self

from pydantic import Field, field_validator, model_validator

from edge.capture.camera import CameraOptions
from edge.capture.source import SourceOptions
from edge.capture.url import check_url
from edge.delivery.spool import SpoolOptions
from edge.delivery.uplink import UplinkOptions
from edge.vision.motion import MotionOptions
from edge.vision.pipeline import PipelineOptions
from edge.vision.regions import RegionOptions
from edge.vision.snapshot import SnapshotOptions
from edge.vision.tracker import TrackerOptions
from wire.config import Settings, load_toml
from wire.messages import Name

Share = Annotated[float, Field(gt=0, le=1)]
Point = tuple[int, int]


class Node(Settings):
    """Who the edge is and where it keeps things."""

    credential: Path = Path("/etc/vigia/edge-credential.toml")
    trainer_key: Path = Path("/etc/vigia/trainer.pub")
    data_dir: Path = Path("/var/lib/vigia/edge")
    #: A package to install at start when no model is current yet (e.g. the stock model).
    model: Path | None = None
    status_interval_s: float = Field(default=5.0, gt=0)
    #: Threads of OpenCV's own pool (0: one per core). One is cheapest: the cameras' threads
    #: already run in parallel, and the pool's hand-offs cost more than they save per frame.
    opencv_threads: int = Field(default=1, ge=0, le=64)


class Spool(Settings):
    """The on-disk spool of events waiting for the hub."""

    budget_mb: float = Field(default=512, gt=0)
    warn_fraction: Share = 0.8


class Inference(Settings):
    """How models run: interpreters shared by all cameras, threads each."""

    interpreters: int = Field(default=1, ge=1, le=16)
    threads: int = Field(default=2, ge=1, le=16)
    max_batch: int = Field(default=8, ge=1, le=64)


class Vision(Settings):
    """A camera's vision settings; [defaults] sets them for all, a camera may override."""

    fps_limit: float = Field(default=10.0, gt=0)
    motion_threshold: int = Field(default=25, ge=1, le=254)
    min_area: int = Field(default=400, ge=0)
    global_change: Share = 0.6
    pad: float = Field(default=0.15, ge=0)
    max_regions: int = Field(default=4, ge=1)
    min_frames: int = Field(default=2, ge=1)
    threshold: Share = 0.5
    lost_after_ms: int = Field(default=1500, gt=0)
    snapshot_quality: int = Field(default=85, ge=1, le=100)
    thumbnail_side: int = Field(default=160, ge=8)


class Camera(Settings):
    """One camera: its name in events, its URL, vision overrides, masks."""

    name: Name
    url: str
    vision: dict[str, float | int] = Field(default_factory=dict)
    #: Polygons (full-frame pixels) whose motion is ignored.
    masks: list[list[Point]] = Field(default_factory=list)

    @field_validator("url")
    @classmethod
    def _known_kind(cls, url: str) -> str:
        check_url(url)  # rtsp://, picamera2:N, v4l2:/dev/videoN or file:PATH
        return url


class EdgeConfig(Settings):
    """The whole of edge.toml."""

    node: Node = Node()
    spool: Spool = Spool()
    inference: Inference = Inference()
    defaults: Vision = Vision()
    thresholds: dict[str, Share] = Field(default_factory=dict)
    camera: list[Camera] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        names = [c.name for c in self.camera]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"camera names must be unique; repeated: {', '.join(repeated)}")
        for camera in self.camera:
            unknown = set(camera.vision) - set(Vision.model_fields)
            if unknown:
                allowed = ", ".join(Vision.model_fields)
                raise ValueError(
                    f"camera {camera.name}: unknown vision setting(s) {', '.join(sorted(unknown))}"
                    f"; allowed: {allowed}"
                )
            vision_of(self, camera)  # values checked now, not when the camera starts
        return self

    @property
    def spool_dir(self) -> Path:
        """Where events wait for the hub."""
        return self.node.data_dir / "spool"

    @property
    def models_dir(self) -> Path:
        """Where the current and previous packages live."""
        return self.node.data_dir / "models"


def load_config(path: Path) -> EdgeConfig:
    """Read and validate edge.toml; ConfigError names any bad key."""
    return load_toml(path, EdgeConfig)


def vision_of(config: EdgeConfig, camera: Camera) -> Vision:
    """A camera's vision settings: [defaults] with its own on top."""
    return Vision.model_validate({**config.defaults.model_dump(), **camera.vision})


def camera_options(camera: Camera) -> CameraOptions:
    """What the capture thread needs."""
    return CameraOptions(name=camera.name, url=camera.url, source=SourceOptions())


def pipeline_options(config: EdgeConfig, camera: Camera) -> PipelineOptions:
    """What the vision pipeline needs, from [defaults], the camera and [thresholds]."""
    vision = vision_of(config, camera)
    return PipelineOptions(
        fps_limit=vision.fps_limit,
        motion=MotionOptions(
            threshold=vision.motion_threshold,
            min_area=vision.min_area,
            global_change=vision.global_change,
            masks=tuple(tuple(point for point in mask) for mask in camera.masks),
        ),
        regions=RegionOptions(pad=vision.pad, max_regions=vision.max_regions),
        tracker=TrackerOptions(
            min_frames=vision.min_frames,
            default_threshold=vision.threshold,
            thresholds=dict(config.thresholds),
            lost_after_ms=vision.lost_after_ms,
        ),
        snapshot=SnapshotOptions(
            quality=vision.snapshot_quality, thumbnail_side=vision.thumbnail_side
        ),
    )


def uplink_options(config: EdgeConfig) -> UplinkOptions:
    """How the hub link paces itself: [node] status_interval_s, the rest at its defaults."""
    return UplinkOptions(status_interval_s=config.node.status_interval_s)


def spool_options(config: EdgeConfig) -> SpoolOptions:
    """The spool's budget."""
    return SpoolOptions(
        budget_bytes=int(config.spool.budget_mb * 2**20), warn_fraction=config.spool.warn_fraction
    )
