"""Export: the selected rows as CSV (the columns of `hub export`, plus `ended`) with their
snapshots and thumbnails fetched from a real hub; a picture the hub lacks leaves its cell
empty and is counted."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from tests.hub.conftest import RunningHub
from tests.watcher.conftest import entry, make_feed, photo_event, send, until
from watcher import feed as f
from watcher.export import COLUMNS, export
from watcher.log import Log


def test_export_writes_csv_and_pictures(
    hub: RunningHub, feeds: list[f.HubFeed], tmp_path: Path
) -> None:
    edge = hub.dial("edge-1")
    sent = [photo_event(label=label, n=n) for n, label in enumerate(["cat", "dog"])]
    for event, body in sent:
        send(edge, event, body)
    feed = make_feed(hub)
    feeds.append(feed)
    feed.start()
    log = Log()
    for update in until(feed, lambda u: any(isinstance(x, f.CaughtUp) for x in u), []):
        if isinstance(update, f.EntryArrived):
            log.apply(update.entry)
    gone = entry(99, label="owl")  # a row whose pictures the hub does not have
    log.apply(gone)

    def fetch(image_id: str, thumbnail: bool) -> bytes:
        return feed.request_picture(image_id, thumbnail=thumbnail).result(10)

    result = export(log.visible(), tmp_path / "out", fetch)
    assert (result.rows, result.pictures, result.missing) == (3, 4, 2)
    with result.csv_path.open(encoding="utf-8") as data:
        reader = csv.DictReader(data)
        assert reader.fieldnames == COLUMNS
        rows = {row["event_id"]: row for row in reader}
    for event, body in sent:
        row = rows[event.event_id]
        assert (row["label"], row["camera"], row["edge"], row["ended"]) == (
            event.label,
            "door",
            "edge-1",
            "false",
        )
        assert json.loads(row["box"]) == event.box.model_dump()
        assert row["started_at"].endswith("+00:00")
        snapshot = (tmp_path / "out" / row["snapshot"]).read_bytes()
        thumbnail = (tmp_path / "out" / row["thumbnail"]).read_bytes()
        assert snapshot + thumbnail == body
    assert rows[gone.event_id]["snapshot"] == "" and rows[gone.event_id]["label"] == "owl"
