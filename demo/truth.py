"""The hub's sightings scored against the scene cameras' ground truth.

A visit is one object's passage through one camera's view, as its scene camera logged it (one
JSON line per visit in the video server's `truth_dir`). A sighting matches a visit when it is
on the same camera and their times overlap, give or take `slack_ms` (the edge stamps frames
when they arrive, after encoding, RTP and decoding). Recall and precision ignore the label;
the label accuracy is that of the first sighting matched to each visit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from hub.db import Reader, stored_event

SLACK_MS = 400


@dataclass(frozen=True)
class Visit:
    """One object's passage, in UTC ms of its first and last frame."""

    camera: str
    label: str
    image: str  # the dataset image shown, relative to the dataset folder
    enter_ms: int
    leave_ms: int


@dataclass(frozen=True)
class Sighting:
    """One sighting as the hub stored it (its final values, after its sighting_end)."""

    camera: str
    label: str
    started_at: int
    ended_at: int
    received_ms: int  # when the hub committed it, which the edge's acknowledgement waited for


def read_visits(folder: Path) -> list[Visit]:
    """Every whole visit logged in `folder` (those cut by the camera's stop are left out)."""
    visits = []
    for path in sorted(folder.glob("*.jsonl")):
        for line in path.read_text().splitlines():
            record = json.loads(line)
            if not record["partial"]:
                visits.append(
                    Visit(
                        record["camera"],
                        record["label"],
                        record["image"],
                        record["enter_ms"],
                        record["leave_ms"],
                    )
                )
    return visits


def read_sightings(database: Path, edge: str) -> list[Sighting]:
    """The sightings of one edge in a hub's database, in the order the hub logged them."""
    rows = (
        Reader(database)
        .db()
        .execute("SELECT * FROM events WHERE kind = 'sighting' AND edge = ? ORDER BY seq", (edge,))
    )
    sightings = []
    for row in rows:
        stored = stored_event(row)
        e = stored.entry
        sightings.append(Sighting(e.camera, e.label, e.started_at, e.ended_at, stored.received_ms))
    return sightings


def overlaps(sighting: Sighting, visit: Visit, slack_ms: int = SLACK_MS) -> bool:
    """Same camera, and the times overlap within the slack."""
    return (
        sighting.camera == visit.camera
        and sighting.started_at <= visit.leave_ms + slack_ms
        and visit.enter_ms - slack_ms <= sighting.ended_at
    )


@dataclass
class Score:
    """Visits against sightings over one judged span."""

    visits: int = 0
    found: int = 0  # visits with at least one sighting
    split: int = 0  # visits with more than one
    labelled_right: int = 0  # found visits whose first sighting has the visit's label
    sightings: int = 0
    true_sightings: int = 0  # sightings that match at least one visit
    merged: int = 0  # sightings that match several visits
    latencies_ms: list[float] = field(default_factory=list)  # appearance to the hub's commit
    recognised_ms: list[float] = field(default_factory=list)  # appearance to the first frame
    # the edge recognised it in (the sighting's started_at); the rest is confirmation and delivery
    wrong: list[tuple[str, str]] = field(default_factory=list)  # (visit image, label given)

    @property
    def recall(self) -> float:
        return self.found / self.visits if self.visits else float("nan")

    @property
    def precision(self) -> float:
        return self.true_sightings / self.sightings if self.sightings else float("nan")

    @property
    def label_accuracy(self) -> float:
        return self.labelled_right / self.found if self.found else float("nan")

    def latency_ms(self, percent: float) -> float:
        """Nearest-rank percentile of the latencies (NaN for none)."""
        return percentile(self.latencies_ms, percent)


def percentile(values: list[float], percent: float) -> float:
    """Nearest-rank percentile (NaN for no values)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(percent / 100 * len(ordered)) - 1))]


def score(
    visits: list[Visit],
    sightings: list[Sighting],
    start_ms: int,
    end_ms: int,
    slack_ms: int = SLACK_MS,
) -> Score:
    """Judge the visits wholly inside [start_ms, end_ms], and the sightings inside it too."""
    judged = [v for v in visits if start_ms < v.enter_ms and v.leave_ms < end_ms]
    result = Score(visits=len(judged))
    for visit in judged:
        matched = [s for s in sightings if overlaps(s, visit, slack_ms)]
        if not matched:
            continue
        result.found += 1
        result.split += len(matched) > 1
        first = min(matched, key=lambda s: s.received_ms)
        if first.label == visit.label:
            result.labelled_right += 1
        else:
            result.wrong.append((visit.image, first.label))
        result.latencies_ms.append(first.received_ms - visit.enter_ms)
        result.recognised_ms.append(first.started_at - visit.enter_ms)
    inside = [s for s in sightings if start_ms < s.started_at and s.ended_at < end_ms]
    # Against every visit: a sighting of a visit that began before the span is no false one.
    matches = [sum(overlaps(s, v, slack_ms) for v in visits) for s in inside]
    result.sightings = len(inside)
    result.true_sightings = sum(n > 0 for n in matches)
    result.merged = sum(n > 1 for n in matches)
    return result
