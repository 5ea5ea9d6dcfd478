"""A slideshow of the images in a folder, each shown for a while, in name order, looping."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import cast

import cv2
import numpy as np

from video.sources.base import Picture, Pixels, Source, SourceError
from video.sources.encode import resize
from video.sources.jpegcheck import is_rtp_ready

log = logging.getLogger("vigia.video.sources")

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})
#: Decoded pictures kept for the next loop, oldest dropped first past this many bytes, so a
#: folder of thousands of photos cannot fill the memory.
CACHE_BYTES = 256 * 2**20


def _picture_bytes(picture: Picture) -> int:
    if picture.jpeg is not None:
        return len(picture.jpeg)
    return 0 if picture.pixels is None else picture.pixels.nbytes


def list_images(folder: Path) -> list[Path]:
    """The image files directly in `folder` (by suffix, any case), sorted by name."""
    return sorted(
        path
        for path in folder.iterdir()
        if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file()
    )


class FolderSource(Source):
    """Shows each image of a folder for `hold_s` seconds, in name order, then starts over.

    Which image shows depends only on the time since the first read, so a slow reader skips
    images rather than falling behind. Images are read when first shown, kept at the stream's
    size, and reused. A JPEG that RTP/JPEG can carry as it is (see `is_rtp_ready`) is passed
    through byte for byte; anything else is decoded and handed over as pixels. A file that does
    not decode is logged once and left out of the show.
    """

    def __init__(self, path: Path, *, hold_s: float, width: int, height: int) -> None:
        if not hold_s > 0:
            raise SourceError(f"image folder {path}: hold must be more than 0 s, not {hold_s}")
        if not path.is_dir():
            raise SourceError(f"image folder {path} does not exist or is not a folder")
        self.path = path
        self.hold_s = hold_s
        self.width = width
        self.height = height
        self._files = list_images(path)
        if not self._files:
            kinds = " ".join(sorted(IMAGE_SUFFIXES))
            raise SourceError(f"image folder {path} has no images ({kinds})")
        self._pictures: dict[Path, Picture] = {}
        self._cached_bytes = 0
        self._start_ms: int | None = None
        self._picture_at(0)  # fails now, not mid-stream, when no image in it decodes

    def _load(self, file: Path) -> Picture | None:
        """The picture of one file at the stream's size, or None when it does not decode."""
        try:
            data = file.read_bytes()
        except OSError:  # gone since it was listed, or unreadable: as good as undecodable
            return None
        if is_rtp_ready(data, self.width, self.height):
            return Picture(jpeg=data)
        pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if pixels is None:
            return None
        # IMREAD_COLOR always gives 8-bit BGR, whatever the file held (grey, alpha, 16-bit).
        return Picture(pixels=resize(cast(Pixels, pixels), self.width, self.height))

    def _picture_at(self, elapsed_ms: int) -> Picture:
        """The picture for that time into the show, leaving out files that do not decode."""
        while self._files:
            index = int(elapsed_ms / (self.hold_s * 1000)) % len(self._files)
            file = self._files[index]
            picture = self._pictures.get(file) or self._load(file)
            if picture is not None:
                self._remember(file, picture)
                return picture
            log.warning("image folder %s: skipping %s: OpenCV cannot decode it", self.path, file)
            del self._files[index]
        raise SourceError(f"image folder {self.path} has no image that OpenCV can decode")

    def _remember(self, file: Path, picture: Picture) -> None:
        if file in self._pictures:
            return
        self._pictures[file] = picture
        self._cached_bytes += _picture_bytes(picture)
        while self._cached_bytes > CACHE_BYTES and len(self._pictures) > 1:
            oldest = next(iter(self._pictures))
            self._cached_bytes -= _picture_bytes(self._pictures.pop(oldest))

    def read(self, at_ms: int) -> Picture:
        """The image due at `at_ms`, timed from the first read."""
        if self._start_ms is None:
            self._start_ms = at_ms
        return self._picture_at(at_ms - self._start_ms)
