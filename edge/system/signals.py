"""SIGTERM and SIGINT set a stop event, so the edge stops cleanly: cameras closed, the uplink
closed with `bye`, and whatever the hub has not acknowledged left in the spool for next time."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterable
from types import FrameType

log = logging.getLogger("vigia.edge.system")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
_Handler = Callable[[int, FrameType | None], object] | int | signal.Handlers | None


def stop_on_signals(
    stop: threading.Event, signals: Iterable[signal.Signals] = STOP_SIGNALS
) -> Callable[[], None]:
    """Make each of `signals` set `stop` (call from the main thread); returns a function that
    puts the previous handlers back. A second signal while stopping is logged, nothing more."""

    def on_signal(signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if stop.is_set():
            log.warning("got %s again; still stopping", name)
        else:
            log.info("got %s: stopping", name)
        stop.set()

    previous: dict[signal.Signals, _Handler] = {}
    for sig in signals:
        previous[sig] = signal.signal(sig, on_signal)

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore
