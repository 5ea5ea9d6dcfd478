"""One logging set-up for every command: one line per event, naming the part."""

from __future__ import annotations

import logging
import sys


class _PartFormatter(logging.Formatter):
    """`time level part/module: message`, with the `vigia.` namespace left out."""

    def __init__(self, part: str) -> None:
        super().__init__(
            "%(asctime)s %(levelname)-7s %(part)s/%(module_name)s: %(message)s", "%Y-%m-%dT%H:%M:%S"
        )
        self.part = part

    def format(self, record: logging.LogRecord) -> str:
        record.part = self.part
        record.module_name = record.name.removeprefix("vigia.")
        return super().format(record)


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is at the time (a caller may have replaced it since)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def setup_logging(part: str, verbose: bool = False) -> None:
    """Log to stderr, one line per event, as `part/module`."""
    handler = _Stderr()
    handler.setFormatter(_PartFormatter(part))
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h.formatter, _PartFormatter)]:
        root.removeHandler(old)  # set up twice (tests): replace ours, keep anyone else's
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
