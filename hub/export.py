"""`hub export`: the log as CSV or JSON lines, optionally with its images."""

from __future__ import annotations

import csv
import datetime
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from hub.db import Filters, Reader, StoredEvent

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
    "ends",
]


def parse_time(text: str) -> int:
    """An ISO 8601 date or date-time (UTC unless it says otherwise) as epoch milliseconds."""
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"'{text}' is not an ISO 8601 date or time, e.g. 2026-11-24 or "
            f"2026-11-24T18:30:00+01:00"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return int(moment.timestamp() * 1000)


def _iso(ms: int) -> str:
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC).isoformat(
        timespec="milliseconds"
    )


def _record(stored: StoredEvent, images: Path | None, data_root: Path) -> dict[str, object]:
    """One exported row; with `images`, the pictures are copied there and named relatively."""
    e = stored.entry
    files = {"snapshot": stored.snapshot, "thumbnail": stored.thumbnail}
    if images is not None:
        for key, relative in files.items():
            if relative and (data_root / relative).exists():
                name = Path(relative).name
                shutil.copyfile(data_root / relative, images / name)
                files[key] = f"{images.name}/{name}"
            else:
                files[key] = None
    return {
        "seq": e.seq,
        "kind": e.kind.value,
        "event_id": e.event_id,
        "edge": e.edge,
        "camera": e.camera,
        "label": e.label,
        "score": e.score,
        "started_at": _iso(e.started_at),
        "ended_at": _iso(e.ended_at),
        "box": e.box.model_dump() if e.box else None,
        "model_version": e.model_version,
        **files,
        "ends": e.ends,
    }


def export(
    reader: Reader,
    data_root: Path,
    filters: Filters,
    fmt: str,
    out: TextIO,
    *,
    images: Path | None = None,
) -> int:
    """Write every matching entry to `out`; returns how many."""
    if images is not None:
        images.mkdir(parents=True, exist_ok=True)
    rows = (_record(s, images, data_root) for s in reader.iter_events(filters))
    return _write_csv(rows, out) if fmt == "csv" else _write_jsonl(rows, out)


def _write_csv(rows: Iterator[dict[str, object]], out: TextIO) -> int:
    writer = csv.DictWriter(out, COLUMNS)
    writer.writeheader()
    count = 0
    for row in rows:
        row["box"] = json.dumps(row["box"]) if row["box"] else ""
        writer.writerow(row)
        count += 1
    return count


def _write_jsonl(rows: Iterator[dict[str, object]], out: TextIO) -> int:
    count = 0
    for row in rows:
        out.write(json.dumps(row) + "\n")
        count += 1
    return count
