"""The terminal view of training progress.

On a terminal: a one-line bar redrawn in place (`\\r`) during each epoch — phase, epoch, bar,
images done, images/s, ETA — replaced by the epoch's summary line when it ends. Elsewhere (a log
file, a pipe, CI): only the summary lines, one an epoch, so logs stay readable.

    head 3/20 [#########...............] 1408/3712  5120 img/s  ETA 0:00
    head 3/20: loss 0.2154 acc 0.934  val_loss 0.2411 val_acc 0.925  5120 img/s  0.8 s
"""

from __future__ import annotations

import sys
from typing import TextIO

from trainer.train.progress import Progress


def duration(seconds: float) -> str:
    """m:ss, or h:mm:ss from an hour on."""
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def bar_line(progress: Progress, width: int = 24) -> str:
    """The live line of a batch report."""
    total = max(progress.images_total, 1)
    filled = min(width, progress.images_done * width // total)
    rate = progress.images_per_s
    eta = duration((progress.images_total - progress.images_done) / rate) if rate > 0 else "?"
    return (
        f"{progress.phase} {progress.epoch}/{progress.epochs} "
        f"[{'#' * filled}{'.' * (width - filled)}] "
        f"{progress.images_done}/{progress.images_total}  {rate:.0f} img/s  ETA {eta}"
    )


def epoch_line(progress: Progress) -> str:
    """The summary line of an epoch report."""
    if progress.phase == "embed":
        if progress.cached:
            return f"embed: {progress.images_total} images, embeddings from the cache"
        return (
            f"embed: {progress.images_total} images  {progress.images_per_s:.0f} img/s  "
            f"{progress.seconds:.1f} s"
        )
    metrics = [
        f"{name} {value:.4f}" if "loss" in name else f"{name} {value:.3f}"
        for name, value in (
            ("loss", progress.loss),
            ("acc", progress.acc),
            ("val_loss", progress.val_loss),
            ("val_acc", progress.val_acc),
        )
        if value is not None
    ]
    return (
        f"{progress.phase} {progress.epoch}/{progress.epochs}: {' '.join(metrics)}  "
        f"{progress.images_per_s:.0f} img/s  {progress.seconds:.1f} s"
    )


class ProgressBar:
    """A `Progress` callback that writes to a stream (stderr by default).

    tty: draw the live bar; by default, whether the stream is a terminal.
    """

    def __init__(self, stream: TextIO | None = None, *, tty: bool | None = None) -> None:
        self.stream = sys.stderr if stream is None else stream
        self.tty = self.stream.isatty() if tty is None else tty
        self._shown = 0  # length of the bar on screen, 0 when none

    def __call__(self, progress: Progress) -> None:
        if progress.kind == "batch":
            if self.tty:
                self._draw(bar_line(progress))
            return
        line = epoch_line(progress)
        if self._shown:
            line = "\r" + line.ljust(self._shown)
            self._shown = 0
        self.stream.write(line + "\n")
        self.stream.flush()

    def _draw(self, line: str) -> None:
        self.stream.write("\r" + line.ljust(self._shown))
        self.stream.flush()
        self._shown = len(line)

    def close(self) -> None:
        """End a bar still on screen with a newline."""
        if self._shown:
            self.stream.write("\n")
            self.stream.flush()
            self._shown = 0
