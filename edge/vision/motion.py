"""Motion detection on a small greyscale copy of each frame: the gate in front of the model.

Per frame (all on the small copy, its long side `long_side` pixels, 160 by default):

1. shrink by sampling each block's centre pixel (`INTER_NEAREST_EXACT`: at 640x480 a third
   cheaper than bilinear, itself five times cheaper than area averaging; centres keep boxes
   unbiased, and the blur that follows removes what aliasing sampling adds), convert to grey,
   Gaussian blur;
2. absolute difference to the background (a float running average), threshold;
3. masked areas are cleared; if more than `global_change` of the rest changed at once
   (lights switched, the camera's exposure jumped, a PTZ move), the frame reports no motion
   and the background starts again (a new warm-up, below);
4. dilate (so the pieces of one object join up), then `findContours`; each outer contour's
   box is fitted to the changed pixels inside it of the small copy before its blur (neither
   dilation nor blur widens it: the blur alone spread a bright object's box by 8 px or more a
   side at 640x480, which framed its crop looser than the model's training images), scaled
   back to full-frame pixels, and boxes smaller than `min_area` are dropped;
5. the background learns the frame with `cv2.accumulateWeighted`: at `alpha` where nothing
   moved, and very slowly (`alpha_moving`) under moving blobs, so a moving object leaves no
   ghost trail behind it even when it covers a spot for seconds. A blob (of the dilated mask)
   whose pixels have hardly changed from frame to frame for `settle_frames` frames (at most
   `MOVING_SHARE` of them did) is learned at `alpha` again: an object that stopped fades into
   the background (its visit ends), and so does the "hole" of one that was in the warm-up
   frames and left, about 13 frames after settling for a contrast of 100 grey levels. Judged
   per blob, so the still inside of a slowly moving object is not learned (see
   `_moving_blobs`).

Warm-up. After a start, a reset or a change of frame size, the first `warmup_frames` frames
report no motion (1.5 s at 10 fps by default); the background starts as their per-pixel median,
so an object moving through them is not in it.

Cost. Most frames show nothing moving: once the difference to the background has no changed
pixel, the detector only learns the frame and notes one more quiet frame (added to every
pixel's still count when something next moves), skipping dilation, masks and the contour
search. That frame costs about 0.13 ms alone on a 2-core x86-64 development machine and about
0.2 ms in a running edge with 8 cameras, a third of it shrinking
the 640x480 frame, against about 1.2 ms of CPU for OpenCV to receive and decode the same MJPEG
frame over RTSP. It calls no OpenCV parallel code worth splitting: the edge runs OpenCV
with one thread (`[node] opencv_threads`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import cast

import cv2
import numpy as np

from edge.capture.frame import Pixels
from edge.vision.geometry import Rect

Polygon = tuple[tuple[int, int], ...]
"""Corner points (x, y) in full-frame pixels."""


@dataclass(frozen=True, slots=True)
class MotionOptions:
    """Motion detection settings (pixel sizes in full-frame pixels unless said otherwise).

    `threshold` is in grey levels (0..255) of the blurred small copy; `blur` is the Gaussian
    kernel side on the small copy (odd); `dilate` the dilation iterations (3x3); `alpha` and
    `alpha_moving` the background's learning rates, `settle_frames` how long a changed pixel
    must stay unchanged to be learned quickly, `warmup_frames` how many frames start the
    background after a start or reset (see the module's docstring); `masks` are
    polygons whose motion is ignored (a tree, a road, a clock on a wall).
    """

    long_side: int = 160
    blur: int = 5
    threshold: int = 25
    dilate: int = 2
    min_area: int = 400
    global_change: float = 0.6
    alpha: float = 0.1
    alpha_moving: float = 0.002
    settle_frames: int = 10
    warmup_frames: int = 15
    masks: tuple[Polygon, ...] = ()

    def __post_init__(self) -> None:
        rules = (
            (self.long_side >= 16, "long_side must be 16 or more"),
            (self.blur >= 1 and self.blur % 2 == 1, "blur must be an odd number"),
            (0 < self.threshold < 255, "threshold must be in 1..254"),
            (min(self.dilate, self.min_area, self.settle_frames) >= 0, "negative size or count"),
            (self.warmup_frames >= 1, "warmup_frames must be 1 or more"),
            (0 < self.global_change <= 1, "global_change must be in (0, 1]"),
            (0 <= self.alpha_moving <= self.alpha <= 1, "need 0 <= alpha_moving <= alpha <= 1"),
            (all(len(mask) >= 3 for mask in self.masks), "a mask needs 3 corners or more"),
        )
        for ok, problem in rules:
            if not ok:
                raise ValueError(f"motion options: {problem}")


@dataclass(frozen=True, slots=True)
class Motion:
    """What moved in one frame: boxes in full-frame pixels, the share of (unmasked) pixels
    that changed, and whether the detector was warming up (after a start or a reset) instead."""

    boxes: tuple[Rect, ...]
    changed: float
    reset: bool


@dataclass(frozen=True, slots=True)
class _Geometry:
    """The small copy's size, the scale back to full frame, and what the masks leave."""

    full: tuple[int, int]
    small: tuple[int, int]
    scale: tuple[float, float]
    keep: Pixels | None  # 255 where motion counts, 0 under masks; None without masks
    counted: int  # pixels that count


def _geometry(width: int, height: int, options: MotionOptions) -> _Geometry:
    factor = min(1.0, options.long_side / max(width, height))
    small = (max(1, round(width * factor)), max(1, round(height * factor)))
    scale = (width / small[0], height / small[1])
    keep: Pixels | None = None
    counted = small[0] * small[1]
    if options.masks:
        keep = np.full((small[1], small[0]), 255, np.uint8)
        for mask in options.masks:
            corners = np.array([(x / scale[0], y / scale[1]) for x, y in mask], np.float32)
            cv2.fillPoly(keep, [np.round(corners).astype(np.int32)], 0)
        counted = max(1, cv2.countNonZero(keep))
    return _Geometry((width, height), small, scale, keep, counted)


class _Background:
    """The learnt background (float running average) and, per pixel, how many frames it has
    not changed from one frame to the next (up to 255)."""

    def __init__(self, start: np.ndarray, previous: Pixels) -> None:
        self.mean = start.astype(np.float32)
        self.previous = previous
        self.still = np.zeros_like(previous)
        self.ones = np.ones_like(previous)
        self.quiet = 0  # frames without motion not yet added to `still`

    def pass_quiet(self, small: Pixels) -> None:
        """A frame in which nothing moved: every pixel counts as still, added up lazily (all
        were within the threshold of the background, so any step between two of them is
        noise)."""
        self.quiet += 1
        self.previous = small

    def count_still(self, small: Pixels, *, threshold: int) -> None:
        """Count one more frame for every pixel that changed by at most `threshold` since the
        previous frame (saturating at 255); start again from 0 where it changed more."""
        if self.quiet:
            quiet = np.full_like(self.still, min(self.quiet, 255))
            self.still = cast(Pixels, cv2.add(self.still, quiet))
            self.quiet = 0
        step = cv2.absdiff(small, self.previous)
        _, calm = cv2.threshold(step, threshold, 255, cv2.THRESH_BINARY_INV)
        self.still = cast(Pixels, cv2.bitwise_and(cv2.add(self.still, self.ones), calm))
        self.previous = small

    def settled(self, frames: int) -> Pixels:
        """255 where the picture has not changed from frame to frame for `frames` frames."""
        _, settled = cv2.threshold(self.still, frames - 1, 255, cv2.THRESH_BINARY)
        return cast(Pixels, settled)


class MotionDetector:
    """Motion for one camera's frames, in order (see the module's docstring). Not thread-safe."""

    def __init__(self, options: MotionOptions | None = None) -> None:
        self.options = options or MotionOptions()
        self._kernel = np.ones((3, 3), np.uint8)
        self._geometry: _Geometry | None = None
        self._background: _Background | None = None
        self._warmup: list[Pixels] = []

    def reset(self) -> None:
        """Forget the background: warm up again from the next frame."""
        self._background = None
        self._warmup = []

    def detect(self, pixels: Pixels, grey: Pixels | None = None) -> Motion:
        """Motion in `pixels` (H x W x 3 BGR); `grey` is an optional small greyscale copy of
        the same frame (any size: it is brought to the small size if it differs)."""
        geometry = self._prepare(pixels)
        sharp = self._grey(pixels, grey, geometry.small)
        blur = self.options.blur
        small = cast(Pixels, cv2.GaussianBlur(sharp, (blur, blur), 0))
        background = self._background
        if background is None:
            return self._warm(small, sharp, 0.0)
        reference = cast(Pixels, cv2.convertScaleAbs(background.mean))
        diff = cv2.absdiff(small, reference)
        _, thresholded = cv2.threshold(diff, self.options.threshold, 255, cv2.THRESH_BINARY)
        moving = cast(Pixels, thresholded)
        if geometry.keep is not None:
            moving = cast(Pixels, cv2.bitwise_and(moving, geometry.keep))
        count = cv2.countNonZero(moving)
        if count == 0:
            # The usual frame: nothing moved. What the steps below would do then, without
            # their calls (dilating, masking and searching an empty picture).
            background.pass_quiet(sharp)
            cv2.accumulateWeighted(small, background.mean, self.options.alpha)
            return Motion((), 0.0, reset=False)
        changed = count / geometry.counted
        if changed > self.options.global_change:
            self.reset()
            return self._warm(small, sharp, changed)
        grouped = moving
        if self.options.dilate:
            grouped = cast(Pixels, cv2.dilate(moving, self._kernel, iterations=self.options.dilate))
        edges = self._sharp_change(sharp, reference, geometry)
        self._learn(small, sharp, grouped, background)
        return Motion(self._boxes(edges, moving, grouped, geometry), changed, reset=False)

    def _warm(self, small: Pixels, sharp: Pixels, changed: float) -> Motion:
        """Keep a warm-up frame; with enough of them, start the background from their median."""
        self._warmup.append(small)
        if len(self._warmup) >= self.options.warmup_frames:
            start = np.median(np.stack(self._warmup), axis=0)
            self._background = _Background(start, previous=sharp)
            self._warmup = []
        return Motion((), changed, reset=True)

    def _prepare(self, pixels: Pixels) -> _Geometry:
        """The geometry for this frame's size; a new size restarts the background."""
        height, width = pixels.shape[:2]
        geometry = self._geometry
        if geometry is None or geometry.full != (width, height):
            geometry = self._geometry = _geometry(width, height, self.options)
            self.reset()
        return geometry

    def _grey(self, pixels: Pixels, grey: Pixels | None, size: tuple[int, int]) -> Pixels:
        """The small greyscale copy, before the blur."""
        if grey is None:
            shrunk = cv2.resize(pixels, size, interpolation=cv2.INTER_NEAREST_EXACT)
            return cast(Pixels, cv2.cvtColor(shrunk, cv2.COLOR_BGR2GRAY))
        if (grey.shape[1], grey.shape[0]) != size:
            return cast(Pixels, cv2.resize(grey, size, interpolation=cv2.INTER_LINEAR))
        return grey

    def _sharp_change(self, sharp: Pixels, reference: Pixels, geometry: _Geometry) -> Pixels:
        """Changed pixels of the unblurred copy against `reference` (the background as 8-bit):
        what boxes are fitted to. The blur keeps noise out of the motion mask, but it also
        spreads a bright object's edge by a couple of small pixels (8 or more in the full
        frame), which framed crops looser than the objects."""
        diff = cv2.absdiff(sharp, reference)
        _, changed = cv2.threshold(diff, self.options.threshold, 255, cv2.THRESH_BINARY)
        if geometry.keep is not None:
            changed = cv2.bitwise_and(changed, geometry.keep)
        return cast(Pixels, changed)

    def _learn(
        self, small: Pixels, sharp: Pixels, grouped: Pixels, background: _Background
    ) -> None:
        """Update the background: at `alpha` where nothing moved or a blob has settled, and
        at `alpha_moving` under the other moving blobs. Stillness is judged on the unblurred
        copy: blurred, an evenly coloured object moving a small pixel a frame changes its
        edge by less than the threshold, and would pass for settled."""
        options = self.options
        background.count_still(sharp, threshold=options.threshold)
        settled = background.settled(options.settle_frames)
        moving_now = _moving_blobs(grouped, settled)
        mean = background.mean
        cv2.accumulateWeighted(small, mean, options.alpha, mask=cv2.bitwise_not(moving_now))
        cv2.accumulateWeighted(small, mean, options.alpha_moving, mask=moving_now)

    def _boxes(
        self, sharp: Pixels, moving: Pixels, grouped: Pixels, geometry: _Geometry
    ) -> tuple[Rect, ...]:
        """Boxes of the moving blobs in full-frame pixels, large enough to count.

        Blobs are found on the dilated mask (`grouped`: nearby pieces of one object join up);
        each box is then fitted to the unblurred copy's changed pixels inside it (`sharp`; the
        blurred mask's, `moving`, where it has none), so neither dilation nor blur widens it.
        """
        contours, _ = cv2.findContours(grouped, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        (sx, sy), (width, height) = geometry.scale, geometry.full
        boxes = []
        for contour in contours:
            gx, gy, gw, gh = cv2.boundingRect(contour)
            x, y, w, h = cv2.boundingRect(sharp[gy : gy + gh, gx : gx + gw])
            if w == 0 or h == 0:
                x, y, w, h = cv2.boundingRect(moving[gy : gy + gh, gx : gx + gw])
            if w == 0 or h == 0:  # only dilation there
                continue
            left, top = int((gx + x) * sx), int((gy + y) * sy)
            right = min(width, math.ceil((gx + x + w) * sx))
            bottom = min(height, math.ceil((gy + y + h) * sy))
            box = Rect(left, top, right - left, bottom - top)
            if box.area >= self.options.min_area:
                boxes.append(box)
        boxes.sort(key=lambda box: box.area, reverse=True)
        return tuple(boxes)


MOVING_SHARE = 0.01
"""A blob whose pixels changed from frame to frame within `settle_frames` frames for more than
this share of its area is still moving, all of it."""


def _moving_blobs(grouped: Pixels, settled: Pixels) -> Pixels:
    """255 over the blobs of `grouped` that are still moving (see MOVING_SHARE), 0 elsewhere.

    Judged per blob, not per pixel: the inside of a large, evenly coloured object that moves
    slowly does not change from frame to frame, and learning it as settled burnt the object
    into the background, whose "hole" then widened the object's box for a second or more
    after it moved on (18% of the boxes in a scene of Fashion-MNIST objects were more than
    12 px too wide on a side). A blob that has stopped as a whole settles as before.
    """
    count, labels = cv2.connectedComponents(grouped, connectivity=8)
    unsettled = cv2.bitwise_and(grouped, cv2.bitwise_not(settled))
    changed = np.bincount(labels[unsettled > 0], minlength=count)
    area = np.bincount(labels.ravel(), minlength=count)
    moving = changed > MOVING_SHARE * area
    moving[0] = False  # the label of everything outside the blobs
    return cast(Pixels, np.where(moving[labels], 255, 0).astype(np.uint8))
