"""Rectangles in full-frame pixels, and the measures the vision steps take of them."""

from __future__ import annotations

import math
from dataclasses import dataclass

from wire import messages as m


@dataclass(frozen=True, slots=True)
class Rect:
    """Left, top, width, height in pixels (width and height at least 1)."""

    x: int
    y: int
    w: int
    h: int

    @property
    def right(self) -> int:
        """One past the last column."""
        return self.x + self.w

    @property
    def bottom(self) -> int:
        """One past the last row."""
        return self.y + self.h

    @property
    def area(self) -> int:
        """Width times height."""
        return self.w * self.h

    @property
    def centre(self) -> tuple[float, float]:
        """The middle point."""
        return self.x + self.w / 2, self.y + self.h / 2

    def intersection(self, other: Rect) -> int:
        """The area both rectangles cover."""
        w = min(self.right, other.right) - max(self.x, other.x)
        h = min(self.bottom, other.bottom) - max(self.y, other.y)
        return w * h if w > 0 and h > 0 else 0

    def iou(self, other: Rect) -> float:
        """Intersection over union, 0..1."""
        inter = self.intersection(other)
        return inter / (self.area + other.area - inter) if inter else 0.0

    def union(self, other: Rect) -> Rect:
        """The smallest rectangle holding both."""
        x, y = min(self.x, other.x), min(self.y, other.y)
        return Rect(x, y, max(self.right, other.right) - x, max(self.bottom, other.bottom) - y)

    def gap(self, other: Rect) -> int:
        """Pixels between the two (the larger of the horizontal and vertical gaps); 0 when
        they touch or overlap."""
        dx = max(other.x - self.right, self.x - other.right, 0)
        dy = max(other.y - self.bottom, self.y - other.bottom, 0)
        return max(dx, dy)

    def centre_distance(self, other: Rect) -> float:
        """Distance between the two centres, in pixels."""
        (ax, ay), (bx, by) = self.centre, other.centre
        return math.hypot(ax - bx, ay - by)

    def touches_edge(self, width: int, height: int, margin: int = 2) -> bool:
        """Whether it reaches within `margin` pixels of a width x height frame's border."""
        return (
            self.x <= margin
            or self.y <= margin
            or self.right >= width - margin
            or self.bottom >= height - margin
        )

    def to_box(self) -> m.Box:
        """The wire's box."""
        return m.Box(x=self.x, y=self.y, w=self.w, h=self.h)
