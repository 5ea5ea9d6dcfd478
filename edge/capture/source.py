"""What every kind of camera gives the capture thread: open, read a picture, close.

A source is made without touching the camera; `open` connects (and may take up to the open
timeout), `read` returns the next picture (and may block up to the read timeout), `close`
lets go. Every failure to connect or read is a `CaptureError`: the camera thread closes the
source and opens a new one after a pause. `EndOfStream` means there is nothing more to read
(a file played once), and the camera thread stops.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from edge.capture.frame import Pixels


class CaptureError(RuntimeError):
    """A camera cannot be opened or read now; worth trying again later."""


class EndOfStream(CaptureError):
    """The source has no more pictures and never will (a file that does not loop)."""


@dataclass(frozen=True, slots=True)
class Picture:
    """What a source read: BGR pixels, and a small greyscale copy if the source made one."""

    pixels: Pixels
    grey: Pixels | None = None


TRANSPORTS = ("tcp", "udp")


@dataclass(frozen=True, slots=True)
class SourceOptions:
    """How to open and read a camera; each kind of source uses the fields that concern it.

    - `open_timeout_s`, `read_timeout_s`: RTSP (OpenCV/FFmpeg), V4L2 where the driver allows,
      picamera2 (read only).
    - `transports`: RTSP lower transports to try, in order. TCP first: interleaved RTP loses
      nothing on a busy Wi-Fi link and passes NAT and firewalls; UDP for cameras without it.
    - `size`: (width, height) asked of a V4L2 or Pi camera (None: the camera's default; for
      a Pi camera, 1280x720).
    - `analysis_size`: (width, height) of a Pi camera's small YUV stream used for motion.
    - `fps`: frame rate asked of a V4L2 or Pi camera; for a file, the pace to play it at
      instead of its own.
    - `loop`: a file starts again at its end (else the camera stops there).
    """

    open_timeout_s: float = 10.0
    read_timeout_s: float = 5.0
    transports: tuple[str, ...] = TRANSPORTS
    size: tuple[int, int] | None = None
    analysis_size: tuple[int, int] = (320, 240)
    fps: float | None = None
    loop: bool = True

    def __post_init__(self) -> None:
        if self.open_timeout_s <= 0 or self.read_timeout_s <= 0:
            raise ValueError("open and read timeouts must be more than 0")
        if not self.transports or any(t not in TRANSPORTS for t in self.transports):
            raise ValueError(f"transports must be some of {TRANSPORTS}, not {self.transports}")
        if self.fps is not None and self.fps <= 0:
            raise ValueError("fps must be more than 0")


class Source(ABC):
    """One camera connection (see the module's docstring)."""

    #: What to call the source in logs: no password in it.
    description: str = "camera"

    @abstractmethod
    def open(self) -> None:
        """Connect; CaptureError when the camera cannot be reached or opened."""

    @abstractmethod
    def read(self) -> Picture:
        """The next picture; CaptureError when it fails or times out."""

    @abstractmethod
    def close(self) -> None:
        """Let go of the camera; safe to call when not open, and more than once."""
