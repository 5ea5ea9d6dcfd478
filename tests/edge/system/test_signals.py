"""SIGTERM and SIGINT only set the stop event; the previous handlers come back after."""

from __future__ import annotations

import os
import signal
import threading

from edge.system.signals import stop_on_signals


def test_sigterm_and_sigint_set_the_stop_event() -> None:
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    for sig in (signal.SIGTERM, signal.SIGINT):
        stop = threading.Event()
        restore = stop_on_signals(stop)
        try:
            os.kill(os.getpid(), sig)
            assert stop.wait(2)
        finally:
            restore()
    assert {sig: signal.getsignal(sig) for sig in before} == before
