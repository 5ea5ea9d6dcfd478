"""video.toml: the server, defaults for every camera, scene settings, and the cameras.

```toml
[server]
port = 8554

[defaults]
fps = 10
width = 640
height = 480

[scene]
dataset = "/srv/datasets/fashion-mnist/train"
truth_dir = "truth"

[[camera]]
name = "door"
source = "file:/srv/videos/door.mp4"

[[camera]]
name = "yard"
source = "scene"
seed = 7
```
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Self

from pydantic import Field, PositiveFloat, model_validator

from video.rtp.jpeg import MAX_SIDE
from video.rtsp.context import ServerOptions
from wire.config import Settings

CameraName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
Fraction = Annotated[float, Field(gt=0, le=1)]
Side = Annotated[int, Field(ge=16, le=MAX_SIDE, multiple_of=16)]


class Defaults(Settings):
    """What a camera gets unless it says otherwise."""

    fps: float = Field(default=10.0, gt=0, le=60)
    width: Side = 640
    height: Side = 480
    quality: int = Field(default=80, ge=10, le=100)
    overlay: bool = False


class SceneConfig(Settings):
    """Generated scene cameras (source = "scene"): one object at a time comes in, nears, leaves.

    `visit_s` is the (shortest, longest) visit; `size_frac` the object's height, as a share of
    the frame's, when it enters and when it is nearest.
    """

    dataset: Path | None = None
    truth_dir: Path = Path("truth")
    visits_per_min: float = Field(default=6.0, gt=0, le=120)
    min_gap_s: float = Field(default=1.0, ge=0)
    visit_s: tuple[PositiveFloat, PositiveFloat] = (3.0, 6.0)
    size_frac: tuple[Fraction, Fraction] = (0.25, 0.6)
    seed: int = 1
    truth_interval_ms: int = Field(default=200, ge=10)
    background: Path | None = None


class CameraConfig(Settings):
    """One camera path, rtsp://HOST:PORT/NAME; unset fields take [defaults]."""

    name: CameraName
    source: str
    fps: float | None = Field(default=None, gt=0, le=60)
    width: Side | None = None
    height: Side | None = None
    quality: int | None = Field(default=None, ge=10, le=100)
    overlay: bool | None = None
    seed: int | None = None


class VideoConfig(Settings):
    """The whole of video.toml."""

    server: ServerOptions = ServerOptions()
    defaults: Defaults = Defaults()
    scene: SceneConfig = SceneConfig()
    camera: list[CameraConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        names = [c.name for c in self.camera]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"camera names must be unique; repeated: {', '.join(duplicates)}")
        if self.scene.dataset is None and any(c.source == "scene" for c in self.camera):
            raise ValueError("scene cameras need scene.dataset (a folder with a folder per class)")
        return self


def scene_cameras(count: int, *, first_seed: int) -> list[CameraConfig]:
    """`count` scene cameras named cam1..camN, each with its own seed."""
    return [
        CameraConfig(name=f"cam{i}", source="scene", seed=first_seed + i - 1)
        for i in range(1, count + 1)
    ]
