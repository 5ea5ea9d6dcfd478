"""Motion detection: still scenes are quiet, moving things get a box, lights and masks do not."""

from __future__ import annotations

from typing import cast

import cv2
import numpy as np
import pytest

from edge.capture.frame import Pixels
from edge.vision.geometry import Rect
from edge.vision.motion import Motion, MotionDetector, MotionOptions

WIDTH, HEIGHT = 640, 480


def scene(seed: int = 3) -> Pixels:
    """A textured, static background."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(60, 190, (HEIGHT // 16, WIDTH // 16, 3), dtype=np.uint8)
    return cast(Pixels, cv2.resize(coarse, (WIDTH, HEIGHT), interpolation=cv2.INTER_CUBIC))


def with_noise(pixels: Pixels, rng: np.random.Generator, sigma: float = 3.0) -> Pixels:
    """Sensor noise on a frame."""
    noisy = pixels.astype(np.float32) + rng.normal(0, sigma, pixels.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def with_square(pixels: Pixels, box: Rect, bgr: tuple[int, int, int] = (20, 20, 230)) -> Pixels:
    frame = pixels.copy()
    frame[box.y : box.bottom, box.x : box.right] = bgr
    return frame


def run(detector: MotionDetector, frames: list[Pixels]) -> list[Motion]:
    return [detector.detect(frame) for frame in frames]


def started(background: Pixels, options: MotionOptions | None = None) -> MotionDetector:
    """A detector whose warm-up frames were all `background`."""
    detector = MotionDetector(options)
    warming = run(detector, [background] * detector.options.warmup_frames)
    assert all(m.reset and not m.boxes for m in warming)
    return detector


def test_a_still_scene_gives_no_boxes_after_the_warm_up() -> None:
    rng = np.random.default_rng(0)
    background = scene()
    results = run(MotionDetector(), [with_noise(background, rng) for _ in range(40)])
    assert all(r.reset and not r.boxes for r in results[:15])  # warming up
    assert all(not r.boxes and not r.reset for r in results[15:])
    assert max(r.changed for r in results[15:]) < 0.01


def test_what_moves_during_the_warm_up_is_not_in_the_background() -> None:
    background = scene()
    detector = MotionDetector(MotionOptions(warmup_frames=9))
    passing = [with_square(background, Rect(40 + 60 * k, 200, 80, 80)) for k in range(9)]
    assert all(m.reset for m in run(detector, passing))
    assert detector.detect(background).boxes == ()  # no trace of it
    square = Rect(300, 100, 80, 80)
    (box,) = detector.detect(with_square(background, square)).boxes
    assert box.iou(square) > 0.8


def test_a_moving_square_gets_a_box_around_it_and_no_trail() -> None:
    rng = np.random.default_rng(1)
    background = scene()
    detector = started(background)
    for step in range(12):
        square = Rect(60 + 25 * step, 150, 90, 90)
        motion = detector.detect(with_noise(with_square(background, square), rng))
        assert len(motion.boxes) == 1, (step, motion.boxes)
        (box,) = motion.boxes
        assert box.intersection(square) >= 0.95 * square.area  # all of it, to a few pixels
        assert box.iou(square) > 0.85  # and not much more: no trail behind it


def test_a_global_brightness_change_resets_and_reports_nothing() -> None:
    rng = np.random.default_rng(2)
    background = scene()
    detector = started(background)
    brighter = cast(Pixels, cv2.add(background, np.full_like(background, 70)))
    lights_on = detector.detect(with_noise(brighter, rng))
    assert lights_on.reset and not lights_on.boxes and lights_on.changed > 0.6
    after = run(detector, [with_noise(brighter, rng) for _ in range(20)])
    assert all(not m.boxes for m in after)
    assert [m.reset for m in after] == [True] * 14 + [False] * 6  # warmed up again
    square = Rect(300, 200, 80, 80)
    moved = detector.detect(with_noise(with_square(brighter, square), rng))
    assert len(moved.boxes) == 1 and moved.boxes[0].iou(square) > 0.8  # still detecting


def test_motion_under_a_mask_is_ignored() -> None:
    left_half = ((0, 0), (320, 0), (320, 480), (0, 480))
    background = scene()
    detector = started(background, MotionOptions(masks=(left_half,)))
    hidden = detector.detect(with_square(background, Rect(100, 100, 100, 100)))
    assert not hidden.boxes and hidden.changed == 0
    shown_square = Rect(420, 100, 100, 100)
    shown = detector.detect(with_square(background, shown_square))
    assert len(shown.boxes) == 1 and shown.boxes[0].iou(shown_square) > 0.8
    straddling = detector.detect(with_square(background, Rect(270, 300, 100, 100)))
    assert len(straddling.boxes) == 1 and straddling.boxes[0].x >= 312  # cut at the mask


def test_boxes_smaller_than_the_minimum_area_are_dropped() -> None:
    background = scene()
    speck = with_square(background, Rect(400, 300, 14, 14))
    strict = started(background, MotionOptions(min_area=2000))
    lenient = started(background, MotionOptions(min_area=0))
    assert strict.detect(speck).boxes == ()
    assert len(lenient.detect(speck).boxes) == 1


def test_a_small_grey_copy_from_the_camera_is_used_as_given() -> None:
    background = scene()
    square = Rect(200, 120, 120, 120)
    moving = with_square(background, square)

    def grey_of(frame: Pixels) -> Pixels:
        small = cv2.resize(frame, (320, 240), interpolation=cv2.INTER_AREA)
        return cast(Pixels, cv2.cvtColor(small, cv2.COLOR_BGR2GRAY))

    detector = MotionDetector(MotionOptions(warmup_frames=1))
    detector.detect(background, grey_of(background))
    # The full frame says nothing moved; the grey copy (the analysis stream) is what counts.
    motion = detector.detect(background, grey_of(moving))
    assert len(motion.boxes) == 1 and motion.boxes[0].iou(square) > 0.8


def test_a_new_frame_size_starts_again_and_options_are_checked() -> None:
    detector = started(scene())
    smaller = cast(Pixels, cv2.resize(scene(), (320, 240)))
    assert detector.detect(smaller).reset
    with pytest.raises(ValueError, match="odd"):
        MotionOptions(blur=4)
    with pytest.raises(ValueError, match="alpha"):
        MotionOptions(alpha=0.01, alpha_moving=0.1)


def test_what_stops_or_leaves_a_hole_fades_into_the_background() -> None:
    rng = np.random.default_rng(4)
    background = scene()
    parked = Rect(100, 100, 120, 120)
    detector = started(with_square(background, parked))  # there while warming up
    frames = [with_noise(background, rng) for _ in range(40)]  # then it has gone
    boxes = [m.boxes for m in run(detector, frames)]
    assert boxes[0] and boxes[0][0].iou(parked) > 0.8  # its hole shows at first
    assert boxes[25:] == [()] * 15  # and is gone about 10 + 13 frames later

    arrived = Rect(400, 250, 100, 100)
    stays = [with_noise(with_square(background, arrived), rng) for _ in range(40)]
    boxes = [m.boxes for m in run(detector, stays)]
    assert all(len(b) == 1 for b in boxes[:8])  # seen while it is new
    assert boxes[25:] == [()] * 15  # then part of the scene


def test_the_still_inside_of_a_slowly_moving_object_is_not_learned_into_the_background() -> None:
    # A large, evenly coloured object moving 4 px a frame: its inside does not change from
    # frame to frame for many frames. Were it learned as settled, the spot it left would show
    # as motion and stretch its box backwards.
    rng = np.random.default_rng(5)
    background = scene()
    detector = started(background)
    squares = [Rect(40 + 4 * k, 140, 200, 200) for k in range(60)]
    frames = [with_noise(with_square(background, square), rng) for square in squares]
    for square, motion in zip(squares, run(detector, frames), strict=True):
        assert len(motion.boxes) == 1
        box = motion.boxes[0]
        assert abs(box.x - square.x) <= 4 and abs(box.right - square.right) <= 4


def test_with_nothing_moving_the_background_still_follows_slow_light_changes() -> None:
    # The usual frame (nothing changed beyond the threshold) takes a short cut in the
    # detector; the background must keep learning there, or dusk would become "motion".
    background = scene()
    detector = started(background)
    dusk = [cast(Pixels, cv2.subtract(background, np.full_like(background, i))) for i in range(61)]
    results = run(detector, dusk)
    assert all(not r.boxes and not r.reset for r in results)
    assert max(r.changed for r in results) == 0.0  # 60 levels darker, a level a frame
    square = Rect(300, 200, 80, 80)
    moved = detector.detect(with_square(dusk[-1], square, (250, 250, 250)))
    assert len(moved.boxes) == 1 and moved.boxes[0].iou(square) > 0.8
