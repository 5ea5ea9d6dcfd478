"""Jittered exponential backoff between reconnection attempts."""

from __future__ import annotations

import random


class Backoff:
    """Delays that double from `initial_s` up to `max_s`, each drawn from its upper half.

    The jitter keeps cameras that failed together (a switch rebooting) from all retrying in
    step. `reset` after a success starts again from `initial_s`.
    """

    def __init__(
        self,
        initial_s: float,
        max_s: float,
        *,
        factor: float = 2.0,
        rng: random.Random | None = None,
    ) -> None:
        if not 0 < initial_s <= max_s or factor < 1:
            raise ValueError("backoff needs 0 < initial_s <= max_s and factor >= 1")
        self.initial_s = initial_s
        self.max_s = max_s
        self.factor = factor
        self._rng = rng or random.Random()
        self._failures = 0

    def next(self) -> float:
        """The delay before the next attempt, in seconds."""
        ceiling = min(self.max_s, self.initial_s * self.factor ** min(self._failures, 64))
        self._failures += 1
        return self._rng.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        """The last attempt worked: start from the shortest delay again."""
        self._failures = 0
