"""A camera's source from its one-line spec, as written in the video server's settings."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from video.sources.base import Source, SourceError
from video.sources.file import FileSource
from video.sources.folder import FolderSource
from video.sources.scene import SceneOptions, SceneSource
from video.sources.testcard import TestCardSource
from video.sources.webcam import WebcamSource

#: Seconds each image of a folder shows when its spec names no hold.
DEFAULT_HOLD_S = 3.0
SPECS = "file:PATH, folder:PATH[?hold=SECONDS], webcam:INDEX|DEVICE, testcard, scene"


def _folder(rest: str, width: int, height: int) -> FolderSource:
    """`PATH` or `PATH?hold=SECONDS`."""
    path, query, hold_text = rest.rpartition("?hold=")
    if not query:
        path, hold_text = rest, str(DEFAULT_HOLD_S)
    try:
        hold_s = float(hold_text)
    except ValueError:
        raise SourceError(f"folder:{rest}: hold must be a number of seconds") from None
    return FolderSource(Path(path), hold_s=hold_s, width=width, height=height)


def open_source(
    spec: str, *, camera: str, width: int, height: int, scene: SceneOptions | None = None
) -> Source:
    """Open the source a spec names, at the stream's width x height:

    - `file:PATH`: a video file, looping (`FileSource`);
    - `folder:PATH` or `folder:PATH?hold=SECONDS`: a slideshow of a folder's images, each
      shown for SECONDS (default 3) (`FolderSource`);
    - `webcam:0` or `webcam:/dev/video0`: a local camera (`WebcamSource`);
    - `testcard`: the test card (`TestCardSource`);
    - `scene`: a generated scene (`SceneSource`) with the `scene` options given, drawn at
      this width x height and named `camera` whatever the options say, so its ground-truth
      boxes are in the stream's own pixels.

    Raises SourceError for an unknown or incomplete spec, naming the ones allowed, and for a
    source that cannot be opened.
    """
    scheme, colon, rest = spec.partition(":")
    if colon and not rest and scheme in ("file", "folder", "webcam"):
        raise SourceError(f"source {spec!r} names no {'device' if scheme == 'webcam' else 'path'}")
    if scheme == "file" and colon:
        return FileSource(Path(rest))
    if scheme == "folder" and colon:
        return _folder(rest, width, height)
    if scheme == "webcam" and colon:
        return WebcamSource(rest)
    if spec == "testcard":
        return TestCardSource(width, height)
    if spec == "scene":
        if scene is None:
            raise SourceError(f"camera {camera}: source 'scene' needs scene settings (a dataset)")
        options = dataclasses.replace(scene, camera=camera, width=width, height=height)
        return SceneSource(options)
    raise SourceError(f"camera {camera}: unknown source {spec!r}; use one of: {SPECS}")
