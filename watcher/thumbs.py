"""Thumbnails loaded lazily: asked of the hub only when a row is shown, kept in an LRU cache.

The cache holds JPEG bytes by row id (the sighting's event id); the GUI turns the few it shows
into Tk images. A row whose sighting ended with a better view asks again for the new picture.
Each picture is asked once at a time; one the hub does not have is remembered as missing.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

Request = Callable[[str], None]  # ask the hub for the thumbnail of this picture id


class ThumbnailCache:
    """JPEG thumbnails by row id, at most `capacity` of them, least recently used out first."""

    def __init__(self, capacity: int, request: Request) -> None:
        self.capacity = capacity
        self.request = request
        self._jpegs: OrderedDict[str, bytes] = OrderedDict()
        self._asked: dict[str, str] = {}  # row id -> picture id asked for
        self._missing: set[str] = set()  # picture ids the hub has no thumbnail for
        self.requests = 0  # how many the hub was asked for, for tests and the benchmark
        self.paused = False  # while a backlog streams in, rows fly past: ask for nothing

    def __len__(self) -> int:
        return len(self._jpegs)

    def get(self, row_id: str, image_ids: tuple[str, ...]) -> bytes | None:
        """The thumbnail of a row if cached; else None, after asking the hub for the newest
        of its pictures that is not known to be missing."""
        jpeg = self._jpegs.get(row_id)
        if jpeg is not None:
            self._jpegs.move_to_end(row_id)
            return jpeg
        if row_id not in self._asked and not self.paused:
            wanted = next((i for i in image_ids if i not in self._missing), None)
            if wanted is not None:
                self._asked[row_id] = wanted
                self.requests += 1
                self.request(wanted)
        return None

    def put(self, row_id: str, jpeg: bytes) -> None:
        """A thumbnail arrived (pushed with its entry, or asked for)."""
        self._asked.pop(row_id, None)
        if not jpeg:
            return
        self._jpegs[row_id] = jpeg
        self._jpegs.move_to_end(row_id)
        while len(self._jpegs) > self.capacity:
            self._jpegs.popitem(last=False)

    def missing(self, row_id: str, image_id: str) -> None:
        """The hub has no thumbnail under `image_id`: the next `get` tries an older one."""
        self._missing.add(image_id)
        if self._asked.get(row_id) == image_id:
            del self._asked[row_id]

    def forget(self, row_id: str) -> None:
        """The row's picture changed (its sighting ended with a better view)."""
        self._jpegs.pop(row_id, None)
        self._asked.pop(row_id, None)
