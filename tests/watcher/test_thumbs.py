"""Thumbnails: asked for once when first shown, kept in an LRU cache, the older picture tried
when the newest is missing, asked again when a sighting ends with a better view."""

from __future__ import annotations

from watcher.thumbs import ThumbnailCache


def test_asked_once_then_cached() -> None:
    asked: list[str] = []
    cache = ThumbnailCache(16, asked.append)
    assert cache.get("a", ("a",)) is None
    assert cache.get("a", ("a",)) is None  # still on its way: not asked twice
    assert asked == ["a"]
    cache.put("a", b"jpeg-a")
    assert cache.get("a", ("a",)) == b"jpeg-a" and asked == ["a"]


def test_least_recently_used_goes_first() -> None:
    cache = ThumbnailCache(16, lambda _id: None)
    for n in range(16):
        cache.put(f"row{n}", b"x")
    assert cache.get("row0", ("row0",)) == b"x"  # now the most recently used
    cache.put("row16", b"x")
    assert len(cache) == 16
    assert cache.get("row1", ("row1",)) is None  # the least recently used went
    assert cache.get("row0", ("row0",)) == b"x"


def test_a_missing_picture_falls_back_to_the_older_one() -> None:
    asked: list[str] = []
    cache = ThumbnailCache(16, asked.append)
    cache.get("row", ("end", "row"))
    cache.missing("row", "end")
    cache.get("row", ("end", "row"))
    assert asked == ["end", "row"]
    cache.missing("row", "row")
    assert cache.get("row", ("end", "row")) is None and asked == ["end", "row"]


def test_a_better_view_is_asked_for_again() -> None:
    asked: list[str] = []
    cache = ThumbnailCache(16, asked.append)
    cache.put("row", b"old")
    cache.forget("row")
    assert cache.get("row", ("end", "row")) is None and asked == ["end"]
