"""One logging set-up for every command: one line per event, naming the part."""

from __future__ import annotations

import logging
import sys


def setup_logging(part: str, verbose: bool = False) -> None:
    """Log to stderr as `time level part/module: message`."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter(
            f"%(asctime)s %(levelname)-7s {part}/%(name)s: %(message)s", "%Y-%m-%dT%H:%M:%S"
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
