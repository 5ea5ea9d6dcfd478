"""The tracker: detections frame by frame become one visit per object, with its best view,
reported once when confirmed and once when ended."""

from __future__ import annotations

import numpy as np
import pytest

from edge.vision.classify import Prediction
from edge.vision.geometry import Rect
from edge.vision.tracker import Detection, FrameContext, Tracker, TrackerOptions, Visit

WIDTH, HEIGHT = 640, 480
LABELS = ("cat", "dog", "person")
T0 = 1_800_000_000_000


def detection(box: Rect, label: str, score: float) -> Detection:
    return Detection(box, Prediction(LABELS.index(label), label, score))


def frame(at_ms: int, marker: int = 0) -> FrameContext:
    """A frame at `at_ms`; its first pixel holds `marker` so a kept frame can be recognised."""
    pixels = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    pixels[0, 0, 0] = marker
    return FrameContext(at_ms, pixels, "m1")


def feed(tracker: Tracker, frames: list[list[Detection]], start: int = T0) -> list[Visit]:
    """One frame every 100 ms from `start`, then empty frames until everything ended; the
    visits that ended."""
    visits: list[Visit] = []
    for k, detections in enumerate(frames):
        visits += tracker.update(detections, frame(start + 100 * k, marker=k)).ended
    at = start + 100 * len(frames)
    while tracker.active:
        visits += tracker.update([], frame(at)).ended
        at += 100
    return visits


def walk(steps: int, label: str = "cat", score: float = 0.8, dx: int = 20) -> list[list[Detection]]:
    return [[detection(Rect(100 + dx * k, 200, 80, 80), label, score)] for k in range(steps)]


def test_one_object_across_frames_is_one_visit_once_it_is_lost() -> None:
    tracker = Tracker(TrackerOptions(lost_after_ms=500))
    visits = []
    for k, detections in enumerate(walk(6)):
        visits += tracker.update(detections, frame(T0 + 100 * k)).ended
    assert visits == [] and tracker.active == 1
    assert tracker.update([], frame(T0 + 500 + 400)).ended == []  # 400 ms unseen: not yet
    (visit,) = tracker.update([], frame(T0 + 500 + 500)).ended
    assert (visit.label, visit.started_ms, visit.ended_ms) == ("cat", T0, T0 + 500)
    assert (visit.frames, visit.counted, visit.best.model_version) == (6, 6, "m1")
    assert tracker.active == 0


def test_too_few_sure_frames_is_no_visit() -> None:
    tracker = Tracker(TrackerOptions(min_frames=3))
    assert feed(tracker, walk(2)) == []
    unsure = walk(5, score=0.4)  # under the default threshold 0.5
    assert feed(tracker, unsure) == []
    assert len(feed(tracker, walk(3))) == 1


def test_each_class_has_its_threshold() -> None:
    options = TrackerOptions(thresholds={"person": 0.9}, default_threshold=0.5)
    assert feed(Tracker(options), walk(5, label="person", score=0.8)) == []
    assert len(feed(Tracker(options), walk(5, label="person", score=0.95))) == 1
    assert len(feed(Tracker(options), walk(5, label="dog", score=0.6))) == 1


def test_the_label_is_the_class_with_the_highest_summed_score() -> None:
    frames = walk(4, label="dog", score=0.6) + [
        [detection(Rect(180 + 20 * k, 200, 80, 80), "cat", 0.9)] for k in range(2)
    ]
    (visit,) = feed(Tracker(), frames)
    assert visit.label == "dog"  # 2.4 against 1.8
    assert visit.totals == pytest.approx({"dog": 2.4, "cat": 1.8})
    assert visit.best.label == "dog" and visit.best.score == 0.6


def test_views_cut_by_the_border_do_not_decide_the_label_when_whole_ones_exist() -> None:
    coming_in = [[detection(Rect(0, 200, 60 + 20 * k, 120), "dog", 0.9)] for k in range(4)]
    whole = [[detection(Rect(100 + 10 * k, 200, 120, 120), "cat", 0.6)] for k in range(2)]
    (visit,) = feed(
        Tracker(TrackerOptions(iou_threshold=0.01, centre_distance=2)), coming_in + whole
    )
    assert visit.label == "cat"  # 1.2 seen whole, against 3.6 of slivers at the border
    assert visit.totals == pytest.approx({"dog": 3.6, "cat": 1.2})
    only_slivers = [[detection(Rect(0, 200, 60 + 20 * k, 120), "dog", 0.9)] for k in range(3)]
    (visit,) = feed(Tracker(), only_slivers)
    assert visit.label == "dog"  # nothing better to go by


def test_the_best_view_is_large_sure_and_not_cut_by_the_border() -> None:
    frames = [
        [detection(Rect(300, 200, 40, 40), "cat", 0.9)],  # small
        [detection(Rect(290, 190, 160, 160), "cat", 0.8)],  # large, inside: best
        [detection(Rect(480, 180, 160, 160), "cat", 0.95)],  # large, touches the right edge
        [detection(Rect(300, 200, 150, 150), "cat", 0.6)],  # large, less sure
    ]
    (visit,) = feed(Tracker(TrackerOptions(iou_threshold=0.01, centre_distance=2)), frames)
    assert visit.best.box == Rect(290, 190, 160, 160)
    assert int(visit.best.pixels[0, 0, 0]) == 1  # the frame of that view was kept
    assert visit.best.score == 0.8 and visit.best.at_ms == T0 + 100


def test_a_fast_mover_is_followed_by_its_centre_a_far_object_is_another() -> None:
    fast = [[detection(Rect(50 + 100 * k, 200, 80, 80), "cat", 0.8)] for k in range(5)]
    (visit,) = feed(Tracker(TrackerOptions(centre_distance=1.5)), fast)  # no IoU between frames
    assert visit.frames == 5
    jump = [
        [detection(Rect(50 + 10 * k + 400 * (k >= 3), 200, 80, 80), "cat", 0.8)] for k in range(6)
    ]
    visits = feed(Tracker(TrackerOptions(centre_distance=1.5)), jump)  # 400 px: too far
    assert [(v.frames, v.best.box.x < 300) for v in visits] == [(3, True), (3, False)]


def test_two_objects_at_once_are_two_visits() -> None:
    frames = [
        [
            detection(Rect(100 + 10 * k, 100, 60, 60), "cat", 0.8),
            detection(Rect(400 - 10 * k, 300, 70, 70), "person", 0.7),
        ]
        for k in range(5)
    ]
    visits = feed(Tracker(), frames)
    assert sorted(v.label for v in visits) == ["cat", "person"]
    assert all(v.frames == 5 for v in visits)


def test_flush_ends_the_confirmed_tracks_now() -> None:
    tracker = Tracker()
    for k, detections in enumerate([*walk(4), [detection(Rect(500, 50, 50, 50), "dog", 0.9)]]):
        tracker.update(detections, frame(T0 + 100 * k))
    visits = tracker.flush()
    assert [v.label for v in visits] == ["cat"] and tracker.active == 0


def test_a_visit_is_reported_once_when_confirmed_with_its_values_so_far() -> None:
    tracker = Tracker(TrackerOptions(min_frames=3, lost_after_ms=500))
    updates = [tracker.update(d, frame(T0 + 100 * k, marker=k)) for k, d in enumerate(walk(6))]
    assert [len(u.confirmed) for u in updates] == [0, 0, 1, 0, 0, 0]  # the third sure frame
    assert all(u.ended == [] for u in updates)
    confirmed = updates[2].confirmed[0]
    assert (confirmed.label, confirmed.started_ms, confirmed.ended_ms) == ("cat", T0, T0 + 200)
    assert confirmed.counted == 3 and int(confirmed.best.pixels[0, 0, 0]) in (0, 1, 2)
    ended = tracker.update([], frame(T0 + 1000))
    assert ended.confirmed == [] and [v.track_id for v in ended.ended] == [confirmed.track_id]
    assert (ended.ended[0].ended_ms, ended.ended[0].counted) == (T0 + 500, 6)


def test_the_best_view_object_changes_only_for_a_better_view() -> None:
    tracker = Tracker(TrackerOptions(min_frames=2, iou_threshold=0.01, centre_distance=2))
    boxes = [Rect(300, 200, 100, 100), Rect(290, 190, 160, 160), Rect(300, 200, 100, 100)]
    confirmed = []
    for k, box in enumerate(boxes):
        confirmed += tracker.update([detection(box, "cat", 0.8)], frame(T0 + 100 * k)).confirmed
    (at_confirmation,) = confirmed  # at the second frame: the large view is already the best
    (ended,) = tracker.flush()
    assert ended.best is at_confirmation.best  # no better view since: the same object
    tracker = Tracker(TrackerOptions(min_frames=2, iou_threshold=0.01, centre_distance=2))
    confirmed = []
    for k, box in enumerate([boxes[0], boxes[2], boxes[1]]):  # the large view comes last
        confirmed += tracker.update([detection(box, "cat", 0.8)], frame(T0 + 100 * k)).confirmed
    (ended,) = tracker.flush()
    assert ended.best is not confirmed[0].best and ended.best.box == Rect(290, 190, 160, 160)


def test_an_unconfirmed_track_is_never_reported() -> None:
    tracker = Tracker(TrackerOptions(min_frames=3, lost_after_ms=300))
    updates = [tracker.update(d, frame(T0 + 100 * k)) for k, d in enumerate(walk(2))]
    updates.append(tracker.update([], frame(T0 + 1000)))
    assert all(u.confirmed == [] and u.ended == [] for u in updates)
    assert tracker.active == 0 and tracker.flush() == []


def test_an_object_seen_after_the_last_one_was_lost_is_a_new_visit() -> None:
    """Processing paused (a busy CPU) for longer than lost_after_ms, and the next frame shows
    a new object where the last one was: the old visit ended before that frame, so it is not
    stretched over the gap to swallow the new one (two visits 1 s apart used to be one)."""
    tracker = Tracker(TrackerOptions(lost_after_ms=700))
    ended: list[Visit] = []
    for k, detections in enumerate(walk(5)):
        ended += tracker.update(detections, frame(T0 + 100 * k)).ended
    again = T0 + 400 + 1000  # 1 s after the last frame, no frame in between
    later = [detection(Rect(180 + 20 * k, 200, 80, 80), "dog", 0.8) for k in range(5)]
    confirmed: list[Visit] = []
    for k, d in enumerate(later):
        update = tracker.update([d], frame(again + 100 * k))
        ended, confirmed = ended + update.ended, confirmed + update.confirmed
    assert [(v.label, v.started_ms, v.ended_ms) for v in ended] == [("cat", T0, T0 + 400)]
    assert [(v.label, v.started_ms) for v in confirmed] == [("dog", again)]
    (last,) = tracker.flush()
    assert (last.label, last.started_ms, last.ended_ms) == ("dog", again, again + 400)
