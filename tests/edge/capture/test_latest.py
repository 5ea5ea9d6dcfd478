"""LatestFrame: the processing thread always gets the newest frame, and overwrites are counted."""

from __future__ import annotations

import threading
import time

import numpy as np

from edge.capture.frame import Frame
from edge.capture.latest import LatestCounts, LatestFrame


def frame(seq: int) -> Frame:
    return Frame("cam1", seq, 1_000 + seq, np.zeros((4, 4, 3), np.uint8))


def test_take_gives_the_newest_and_counts_the_overwritten() -> None:
    latest = LatestFrame()
    for seq in (1, 2, 3):
        latest.put(frame(seq))
    assert latest.counts() == LatestCounts(frames_in=3, dropped=2, depth=1)
    taken = latest.take(timeout=0)
    assert taken is not None and taken.seq == 3
    assert latest.counts() == LatestCounts(frames_in=3, dropped=2, depth=0)
    assert latest.take(timeout=0) is None  # nothing twice
    latest.put(frame(4))
    taken = latest.take(timeout=0)
    assert taken is not None and taken.seq == 4
    assert latest.counts().dropped == 2  # a frame taken in time is not dropped


def test_take_waits_for_a_frame_and_times_out_without_one() -> None:
    latest = LatestFrame()
    started = time.monotonic()
    assert latest.take(timeout=0.2) is None
    assert time.monotonic() - started >= 0.19
    threading.Timer(0.1, latest.put, args=(frame(7),)).start()
    taken = latest.take(timeout=5)
    assert taken is not None and taken.seq == 7


def test_close_wakes_a_waiting_take() -> None:
    latest = LatestFrame()
    got: list[Frame | None] = []
    waiter = threading.Thread(target=lambda: got.append(latest.take()))
    waiter.start()
    time.sleep(0.05)
    latest.close()
    waiter.join(2)
    assert not waiter.is_alive() and got == [None]


def test_frame_knows_its_size() -> None:
    f = Frame("cam1", 1, 0, np.zeros((48, 64, 3), np.uint8))
    assert (f.width, f.height) == (64, 48)
