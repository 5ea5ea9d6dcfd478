"""Export the selection: `sightings.csv` and the pictures in `images/`, in one folder.

The columns are those of `hub export` (so the two can be read by the same scripts), plus
`ended` (whether the sighting's final values had arrived). Times are ISO 8601 in UTC. Each
sighting's full snapshot and thumbnail are fetched from the hub and written as
`images/<event_id>.jpg` and `images/<event_id>.thumb.jpg`; a picture the hub no longer has
(retention removed it) leaves its cell empty and is counted, never a reason to stop.
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from watcher.log import Row

log = logging.getLogger("vigia.watcher.export")
COLUMNS = [
    "seq",
    "kind",
    "event_id",
    "edge",
    "camera",
    "label",
    "score",
    "started_at",
    "ended_at",
    "box",
    "model_version",
    "snapshot",
    "thumbnail",
    "ended",
]
CSV_NAME = "sightings.csv"
IMAGES = "images"

Fetch = Callable[[str, bool], bytes]  # (picture id, thumbnail?) -> JPEG, b"" when missing


@dataclass(frozen=True, slots=True)
class ExportResult:
    """What an export wrote."""

    csv_path: Path
    rows: int
    pictures: int
    missing: int  # pictures the hub did not have


def iso(ms: int) -> str:
    """Epoch milliseconds as ISO 8601 UTC, to the millisecond."""
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


def export(rows: Iterable[Row], folder: Path, fetch: Fetch) -> ExportResult:
    """Write `rows` (in the order given) and their pictures into `folder`."""
    images = folder / IMAGES
    images.mkdir(parents=True, exist_ok=True)
    count = pictures = missing = 0
    path = folder / CSV_NAME
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, COLUMNS)
        writer.writeheader()
        for row in rows:
            files: dict[str, str] = {"snapshot": "", "thumbnail": ""}
            for column, thumbnail in (("snapshot", False), ("thumbnail", True)):
                if not row.image_ids:
                    continue
                name = f"{row.event_id}.thumb.jpg" if thumbnail else f"{row.event_id}.jpg"
                if _save(row, thumbnail, images / name, fetch):
                    files[column] = f"{IMAGES}/{name}"
                    pictures += 1
                else:
                    missing += 1
            writer.writerow(_record(row, files))
            count += 1
    log.info(
        "exported %d rows and %d pictures to %s (%d missing)", count, pictures, folder, missing
    )
    return ExportResult(path, count, pictures, missing)


def _save(row: Row, thumbnail: bool, path: Path, fetch: Fetch) -> bool:
    """The row's newest picture the hub has, written to `path`."""
    for image_id in row.image_ids:
        jpeg = fetch(image_id, thumbnail)
        if jpeg:
            path.write_bytes(jpeg)
            return True
    return False


def _record(row: Row, files: dict[str, str]) -> dict[str, object]:
    return {
        "seq": row.seq,
        "kind": row.kind.value,
        "event_id": row.event_id,
        "edge": row.edge,
        "camera": row.camera,
        "label": row.label,
        "score": row.score,
        "started_at": iso(row.started_at),
        "ended_at": iso(row.ended_at),
        "box": json.dumps(row.box.model_dump()) if row.box else "",
        "model_version": row.model_version or "",
        "ended": "true" if row.ended else "false",
        **files,
    }
