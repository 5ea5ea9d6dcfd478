"""`hub export`: the log as CSV or JSON lines, in a time range, with its images."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from hub.cli import main as hub_main
from hub.export import parse_time
from tests.hub.conftest import RunningHub, send_event, sighting

DAY = 86_400_000


def _three_days(hub: RunningHub) -> list[tuple[str, bytes, int]]:
    """One sighting on each of 2026-11-20, -21 and -22 at noon UTC."""
    edge = hub.dial("edge-1")
    noon = parse_time("2026-11-20T12:00:00")
    sent = []
    for day in range(3):
        event, body = sighting(started_at=noon + day * DAY)
        send_event(edge, event, body)
        sent.append((event.event_id, body[: event.snapshot_len], event.snapshot_len))
    return sent


def test_jsonl_in_a_time_range(hub: RunningHub, capsys: pytest.CaptureFixture[str]) -> None:
    sent = _three_days(hub)
    capsys.readouterr()
    assert (
        hub_main(
            [
                "export",
                "--data",
                str(hub.data.root),
                "--format",
                "jsonl",
                "--since",
                "2026-11-21",
                "--until",
                "2026-11-21T23:59:59",
            ]
        )
        == 0
    )
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["event_id"] for r in rows] == [sent[1][0]]
    assert rows[0]["started_at"] == "2026-11-21T12:00:00.000+00:00"
    assert rows[0]["box"] == {"x": 4, "y": 8, "w": 32, "h": 16}


def test_csv_with_images(hub: RunningHub, tmp_path: Path) -> None:
    sent = _three_days(hub)
    out, images = tmp_path / "log.csv", tmp_path / "photos"
    assert (
        hub_main(
            ["export", "--data", str(hub.data.root), "--out", str(out), "--images", str(images)]
        )
        == 0
    )
    with out.open() as f:
        rows = list(csv.DictReader(f))
    assert [r["event_id"] for r in rows] == [s[0] for s in sent]
    for row, (_, snapshot, _) in zip(rows, sent, strict=True):
        assert row["snapshot"].startswith("photos/")
        assert (tmp_path / row["snapshot"]).read_bytes() == snapshot


def test_a_bad_time_is_named(hub: RunningHub, capsys: pytest.CaptureFixture[str]) -> None:
    assert hub_main(["export", "--data", str(hub.data.root), "--since", "yesterday"]) == 2
    assert "'yesterday' is not an ISO 8601 date" in capsys.readouterr().err
