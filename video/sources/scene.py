"""Generated scene cameras: objects from a labelled dataset pass one at a time in front of a
static background, and every visit is logged as ground truth.

The dataset is a folder with one subfolder per class, named by its label, of images of any
size (28x28 greyscale like Fashion-MNIST will do). A `_background` subfolder holds no class:
its images may serve as backgrounds. Each object is pasted as its whole rectangle, scaled up,
so a crop around it looks like the training image it came from. Everything about a scene
(background, which objects, when and where) follows from its seed and camera name alone.
"""

from __future__ import annotations

import logging
import math
import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import cv2
import numpy as np

from video.sources.base import Picture, Pixels, Source, SourceError
from video.sources.encode import resize
from video.sources.folder import list_images
from video.sources.truth import (
    SIDES,
    Box,
    Exit,
    TruthLog,
    Visit,
    VisitTruth,
    clip_box,
    object_box,
)

log = logging.getLogger("vigia.video.sources")

BACKGROUND_CLASS = "_background"
#: Where on its side an object enters or leaves: away from the corners, so it is seen whole.
ALONG = (0.3, 0.7)
OPPOSITE: dict[str, Exit] = {"left": "right", "right": "left", "top": "bottom", "bottom": "top"}


@dataclass(frozen=True, slots=True)
class SceneOptions:
    """How one scene camera behaves (sizes in pixels, times in seconds unless named _ms).

    Visits come `visits_per_min` a minute on average, never overlapping and at least
    `min_gap_s` apart; each lasts `visit_s` (uniform range) and the object's height grows
    over `size_frac` (fractions of the frame height). Ground truth goes to `truth_path`
    (JSON Lines, appended) with a box every `truth_interval_ms`. The background is the image
    `background`, else one of the dataset's `_background` images, else generated.
    """

    dataset: Path
    camera: str
    seed: int
    width: int = 640
    height: int = 480
    visits_per_min: float = 6.0
    min_gap_s: float = 1.0
    visit_s: tuple[float, float] = (3.0, 6.0)
    size_frac: tuple[float, float] = (0.25, 0.6)
    truth_path: Path | None = None
    truth_interval_ms: int = 200
    background: Path | None = None

    def __post_init__(self) -> None:
        rules = (
            (min(self.width, self.height) >= 16, "width and height must be 16 or more"),
            (self.visits_per_min > 0, "visits_per_min must be more than 0"),
            (self.min_gap_s >= 0, "min_gap_s must not be negative"),
            (0 < self.visit_s[0] <= self.visit_s[1], "visit_s must be (shortest, longest) > 0"),
            (all(0 < size <= 1 for size in self.size_frac), "size_frac must be in (0, 1]"),
            (self.truth_interval_ms > 0, "truth_interval_ms must be more than 0"),
        )
        for ok, problem in rules:
            if not ok:
                raise ValueError(f"scene {self.camera}: {problem}")


@dataclass(frozen=True, slots=True)
class Dataset:
    """A dataset's classes (label -> image paths relative to its folder, sorted) and its
    background images."""

    root: Path
    classes: dict[str, tuple[str, ...]]
    backgrounds: tuple[Path, ...]


def read_dataset(root: Path) -> Dataset:
    """List a dataset folder; SourceError when it is missing or has no class with images."""
    if not root.is_dir():
        raise SourceError(f"scene dataset {root} does not exist or is not a folder")
    classes: dict[str, tuple[str, ...]] = {}
    for folder in sorted(path for path in root.iterdir() if path.is_dir()):
        if folder.name.startswith("_"):
            continue
        images = tuple(path.relative_to(root).as_posix() for path in list_images(folder))
        if images:
            classes[folder.name] = images
    if not classes:
        raise SourceError(f"scene dataset {root} has no class folder with images in it")
    background_folder = root / BACKGROUND_CLASS
    backgrounds = tuple(list_images(background_folder)) if background_folder.is_dir() else ()
    return Dataset(root, classes, backgrounds)


def plan_visits(options: SceneOptions, dataset: Dataset) -> Iterator[Visit]:
    """The scene's visits in time order, without end; the same for the same seed, camera
    name and dataset listing.

    Gaps are `min_gap_s` plus an exponential draw whose mean makes the average rate
    `visits_per_min`; when visits are too long for that rate, they follow `min_gap_s` apart.
    """
    rng = random.Random(f"scene:{options.seed}:{options.camera}")
    mean_visit_s = sum(options.visit_s) / 2
    extra_gap_s = 60 / options.visits_per_min - mean_visit_s - options.min_gap_s
    labels = sorted(dataset.classes)
    end_ms = 0
    while True:
        gap_s = options.min_gap_s + (rng.expovariate(1 / extra_gap_s) if extra_gap_s > 0 else 0)
        start_ms = end_ms + math.ceil(gap_s * 1000)
        end_ms = start_ms + max(1, round(rng.uniform(*options.visit_s) * 1000))
        label = rng.choice(labels)
        entry = rng.choice(SIDES)
        # Across to the opposite side, or away: a path to a neighbouring side cuts the corner,
        # and a large object on it is never seen whole.
        exits: list[Exit] = [OPPOSITE[entry]]
        yield Visit(
            start_ms=start_ms,
            end_ms=end_ms,
            label=label,
            image=rng.choice(dataset.classes[label]),
            entry=entry,
            exit=rng.choice([*exits, "away"]),
            entry_along=rng.uniform(*ALONG),
            exit_along=rng.uniform(*ALONG),
            size_from=options.size_frac[0],
            size_to=options.size_frac[1],
        )


def generated_background(width: int, height: int, key: str) -> Pixels:
    """A calm, static scene for `key`: sky and ground gradients, soft shapes, faint texture.

    Nothing in it changes between frames, so motion detection sees only the objects.
    """
    rng = np.random.default_rng(random.Random(key).getrandbits(64))
    horizon = int(height * rng.uniform(0.35, 0.6))
    sky = np.linspace(rng.integers(120, 230, 3), rng.integers(90, 200, 3), horizon)
    ground = np.linspace(rng.integers(60, 160, 3), rng.integers(30, 120, 3), height - horizon)
    column = np.concatenate([sky, ground]).astype(np.uint8)
    scene = np.ascontiguousarray(np.repeat(column[:, np.newaxis], width, axis=1))
    for _ in range(int(rng.integers(5, 10))):
        centre = (int(rng.integers(0, width)), int(rng.integers(horizon // 2, height)))
        axes = (
            int(rng.integers(width // 20, width // 5)),
            int(rng.integers(height // 20, height // 6)),
        )
        colour = tuple(int(c) for c in rng.integers(40, 200, 3))
        cv2.ellipse(scene, centre, axes, 0, 0, 360, colour, cv2.FILLED)
    soft = cv2.GaussianBlur(scene, (0, 0), max(2.0, width / 160))
    coarse = rng.normal(0, 6, (height // 8 + 1, width // 8 + 1)).astype(np.float32)
    texture = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    textured = soft.astype(np.float32) + texture[:, :, np.newaxis]
    background: Pixels = np.clip(textured, 0, 255).astype(np.uint8)
    return background


def _read_image(path: Path) -> Pixels | None:
    """An image file as 8-bit BGR (greyscale and alpha converted), or None if undecodable."""
    pixels = cv2.imread(str(path), cv2.IMREAD_COLOR)
    return None if pixels is None else cast(Pixels, pixels)


def scene_background(options: SceneOptions, dataset: Dataset) -> Pixels:
    """The scene's background at its size: the options' image, else one of the dataset's
    `_background` images (picked by the seed), else a generated one."""
    key = f"background:{options.seed}:{options.camera}"
    if options.background is not None:
        pixels = _read_image(options.background)
        if pixels is None:
            raise SourceError(f"scene background {options.background} is not an image")
        return resize(pixels, options.width, options.height)
    if dataset.backgrounds:
        chosen = random.Random(key).choice(dataset.backgrounds)
        pixels = _read_image(chosen)
        if pixels is not None:
            return resize(pixels, options.width, options.height)
        log.warning(
            "scene %s: background %s is not an image; generating one", options.camera, chosen
        )
    return generated_background(options.width, options.height, key)


class _Sprite:
    """One visit's object image, resized once per size step and kept for the visit."""

    def __init__(self, image: Pixels, max_height: int) -> None:
        height, width = image.shape[:2]
        self.aspect = width / height
        if height > max_height:  # a large photo: shrink it once, not every frame
            image = resize(image, max(1, round(max_height * self.aspect)), max_height)
        self._image = image
        self._sizes: dict[tuple[int, int], Pixels] = {}

    def at(self, width: int, height: int) -> Pixels:
        """The image at width x height: upscaled bilinearly (small images stay smooth)."""
        resized = self._sizes.get((width, height))
        if resized is None:
            resized = self._sizes[(width, height)] = resize(self._image, width, height)
        return resized


def paste(frame: Pixels, image: Pixels, box: Box) -> Box | None:
    """Copy `image` (box.w x box.h) into `frame` at `box`, cut to the frame; the part drawn."""
    frame_height, frame_width = frame.shape[:2]
    shown = clip_box(box, frame_width, frame_height)
    if shown is not None:
        left, top = shown.x - box.x, shown.y - box.y
        frame[shown.y : shown.y + shown.h, shown.x : shown.x + shown.w] = image[
            top : top + shown.h, left : left + shown.w
        ]
    return shown


class SceneSource(Source):
    """A generated scene camera (see the module's docstring and SceneOptions).

    The first read's `at_ms` is the scene's start; every read draws the scene at its own
    `at_ms`, so frames are the same for the same times whatever the frame rate. Thread-safe.
    """

    def __init__(self, options: SceneOptions) -> None:
        self.options = options
        self.dataset = read_dataset(options.dataset)
        self.background = scene_background(options, self.dataset)
        self.background.flags.writeable = False  # every frame starts as a copy of it
        self._visits = plan_visits(options, self.dataset)
        self._visit = next(self._visits)
        self._sprite: _Sprite | None = None
        self._sprite_visit: Visit | None = None
        self._unreadable: set[str] = set()
        self._truth: VisitTruth | None = None
        self._start_ms: int | None = None
        self._lock = threading.Lock()
        try:
            self._log = TruthLog(options.truth_path) if options.truth_path else None
        except OSError as error:
            raise SourceError(f"scene {options.camera}: cannot write truth: {error}") from error

    def read(self, at_ms: int) -> Picture:
        """The scene as it is at `at_ms`."""
        with self._lock:
            if self._start_ms is None:
                self._start_ms = at_ms
            t_ms = at_ms - self._start_ms
            while t_ms >= self._visit.end_ms:
                self._end_visit(partial=False)
                self._visit = next(self._visits)
            frame = self.background.copy()
            if t_ms >= self._visit.start_ms:
                self._draw(frame, t_ms, at_ms)
            return Picture(pixels=frame)

    def _draw(self, frame: Pixels, t_ms: int, at_ms: int) -> None:
        sprite = self._visit_sprite()
        if sprite is None:
            return
        width, height = self.options.width, self.options.height
        box = object_box(self._visit, t_ms, aspect=sprite.aspect, width=width, height=height)
        if box is None:
            return
        shown = paste(frame, sprite.at(box.w, box.h), box)
        if shown is None:
            return
        if self._truth is None:
            visit = self._visit
            self._truth = VisitTruth(
                camera=self.options.camera,
                label=visit.label,
                image=visit.image,
                frame=(width, height),
                interval_ms=self.options.truth_interval_ms,
                enter_ms=at_ms,
            )
        self._truth.seen(at_ms, shown)

    def _visit_sprite(self) -> _Sprite | None:
        """The current visit's object, read when first needed; None if it does not decode."""
        if self._sprite_visit is not self._visit:
            self._sprite_visit = self._visit
            self._sprite = None
            image = _read_image(self.dataset.root / self._visit.image)
            if image is not None:
                max_height = round(
                    max(self._visit.size_from, self._visit.size_to) * self.options.height
                )
                self._sprite = _Sprite(image, max(1, max_height))
            elif self._visit.image not in self._unreadable:
                self._unreadable.add(self._visit.image)
                log.warning(
                    "scene %s: skipping %s: not an image", self.options.camera, self._visit.image
                )
        return self._sprite

    def _end_visit(self, *, partial: bool) -> None:
        """Log what was shown of the current visit, if anything was."""
        if self._truth is not None and self._log is not None:
            self._log.write(self._truth.line(partial=partial))
        self._truth = None

    def close(self) -> None:
        """Log the visit in progress (marked partial) and close the truth file."""
        with self._lock:
            self._end_visit(partial=True)
            if self._log is not None:
                self._log.close()
                self._log = None
