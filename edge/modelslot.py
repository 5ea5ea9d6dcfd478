"""The model an edge runs, and the slot that lets it change between two frames.

The model store puts a verified model in the slot; every camera's pipeline reads the slot once
per frame. Reading and replacing one reference is atomic in Python, so a swap never stops a
camera and no frame ever sees half a model.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar


@dataclass(frozen=True, slots=True)
class ModelBundle:
    """A verified model, ready to load into interpreters."""

    version: str
    labels: tuple[str, ...]
    input_size: int  # square RGB input, uint8
    tflite: bytes


T = TypeVar("T")


class Slot(Generic[T]):
    """Holds the current value; `put` replaces it and tells the listeners."""

    def __init__(self, value: T | None = None) -> None:
        self._value = value
        self._lock = threading.Lock()  # orders writers; readers need none
        self._listeners: list[Callable[[T], None]] = []

    @property
    def current(self) -> T | None:
        """The value now (None before the first)."""
        return self._value

    def put(self, value: T) -> T | None:
        """Replace the value; returns the previous one."""
        with self._lock:
            previous, self._value = self._value, value
            listeners = list(self._listeners)
        for listener in listeners:
            listener(value)
        return previous

    def listen(self, listener: Callable[[T], None]) -> None:
        """Call `listener` with every new value."""
        with self._lock:
            self._listeners.append(listener)
