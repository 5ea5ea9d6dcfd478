"""A live bar on a terminal, one line an epoch in logs."""

from __future__ import annotations

import io

import pytest

from trainer.train.progress import EpochRecord, Progress
from trainer.train.progressbar import ProgressBar, bar_line, duration, epoch_line


def batch(done: int, total: int = 100, rate: float = 50.0) -> Progress:
    return Progress("head", "batch", 2, 5, done, total, rate, done / rate if rate else 0.0)


EPOCH = Progress("head", "epoch", 2, 5, 100, 100, 50.0, 2.25, 0.5, 0.75, 0.25, 0.875)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0:00"), (59.4, "0:59"), (61, "1:01"), (3725, "1:02:05"), (-3, "0:00")],
)
def test_durations(seconds: float, text: str) -> None:
    assert duration(seconds) == text


def test_bar_shows_fill_count_rate_and_eta() -> None:
    line = bar_line(batch(25), width=20)
    assert line == "head 2/5 [#####...............] 25/100  50 img/s  ETA 0:02"
    assert "ETA ?" in bar_line(batch(0, rate=0.0))


def test_epoch_line_has_the_metrics() -> None:
    line = epoch_line(EPOCH)
    assert line == (
        "head 2/5: loss 0.5000 acc 0.750 val_loss 0.2500 val_acc 0.875  50 img/s  2.2 s"
    )
    embed = Progress("embed", "epoch", 1, 1, 900, 900, 300.0, 3.0)
    assert epoch_line(embed) == "embed: 900 images  300 img/s  3.0 s"
    cached = Progress("embed", "epoch", 1, 1, 900, 900, 0.0, 0.0, cached=True)
    assert "from the cache" in epoch_line(cached)


def test_terminal_bar_is_redrawn_in_place_then_replaced_by_the_epoch_line() -> None:
    out = io.StringIO()
    bar = ProgressBar(out, tty=True)
    bar(batch(50))
    bar(batch(100))
    bar(EPOCH)
    text = out.getvalue()
    assert text.count("\r") == 3
    assert text.count("\n") == 1
    assert text.startswith("\r" + bar_line(batch(50)))
    last = text.rsplit("\r", 1)[1]
    assert last == epoch_line(EPOCH).ljust(len(bar_line(batch(100)))) + "\n"


def test_logs_get_one_line_an_epoch_and_no_bar() -> None:
    out = io.StringIO()
    bar = ProgressBar(out, tty=False)
    for done in (10, 50, 100):
        bar(batch(done))
    bar(EPOCH)
    bar(EPOCH)
    assert out.getvalue() == (epoch_line(EPOCH) + "\n") * 2
    assert "\r" not in out.getvalue()


def test_close_ends_a_bar_left_on_screen() -> None:
    out = io.StringIO()
    bar = ProgressBar(out, tty=True)
    bar.close()
    assert out.getvalue() == ""
    bar(batch(10))
    bar.close()
    assert out.getvalue().endswith("\n")


def test_stream_decides_by_default() -> None:
    assert not ProgressBar(io.StringIO()).tty


def test_epoch_record_of_an_epoch_report() -> None:
    record = EpochRecord.of(EPOCH)
    assert record == EpochRecord("head", 2, 0.5, 0.75, 0.25, 0.875, 50.0, 2.25)
