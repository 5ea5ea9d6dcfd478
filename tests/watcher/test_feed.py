"""The connection thread against a real hub: backlog from the cursor then live, pictures on
request, and a hub stopped and restarted: the feed reconnects by itself and resumes with no
gap and no duplicate."""

from __future__ import annotations

import uuid

from tests.hub.conftest import HubFactory, RunningHub
from tests.watcher.conftest import make_feed, photo_event, send, seqs, until
from watcher import feed as f
from watcher.config import Filters
from watcher.log import Log
from wire import messages as m


def _caught_up(updates: list[f.Update]) -> bool:
    return any(isinstance(u, f.CaughtUp) for u in updates)


def test_backlog_then_live_with_the_cursor(hub: RunningHub, feeds: list[f.HubFeed]) -> None:
    edge = hub.dial("edge-1")
    for n in range(3):
        send(edge, *photo_event(n=n))
    feed = make_feed(hub)
    feeds.append(feed)
    feed.start()
    got = until(feed, _caught_up, [])
    assert seqs(got) == [1, 2, 3] and feed.cursor == 3
    links = [u.link for u in got if isinstance(u, f.LinkChanged)]
    assert links == [f.Link.CONNECTING, f.Link.CATCHING_UP, f.Link.LIVE]
    live = photo_event(camera="yard", n=4)
    send(edge, *live)
    got = until(feed, lambda u: 4 in seqs(u), [])
    (arrived,) = [u for u in got if isinstance(u, f.EntryArrived)]
    assert arrived.entry.camera == "yard" and arrived.entry.event_id == live[0].event_id
    assert arrived.thumbnail == b""  # a laptop asks for the thumbnails it shows


def test_the_hub_filters_what_the_feed_subscribes_to(
    hub: RunningHub, feeds: list[f.HubFeed]
) -> None:
    edge = hub.dial("edge-1")
    for n, (camera, label) in enumerate([("door", "cat"), ("yard", "cat"), ("door", "dog")]):
        send(edge, *photo_event(camera=camera, label=label, n=n))
    feed = make_feed(hub, Filters(cameras=("door",), labels=("cat",)))
    feeds.append(feed)
    feed.start()
    assert seqs(until(feed, _caught_up, [])) == [1]


def test_pictures_on_request_and_a_missing_one(hub: RunningHub, feeds: list[f.HubFeed]) -> None:
    event, body = photo_event()
    send(hub.dial("edge-1"), event, body)
    feed = make_feed(hub)
    feeds.append(feed)
    feed.start()
    until(feed, _caught_up, [])
    thumb = feed.request_picture(event.event_id, thumbnail=True)
    full = feed.request_picture(event.event_id, thumbnail=False)
    unknown = feed.request_picture("00000000-0000-4000-8000-000000000000", thumbnail=True)
    assert thumb.result(10) == body[event.snapshot_len :]
    assert full.result(10) == body[: event.snapshot_len]
    assert unknown.result(10) == b""
    pictures = until(feed, lambda u: sum(isinstance(x, f.Picture) for x in u) >= 3, [])
    assert {(p.image_id, p.thumbnail) for p in pictures if isinstance(p, f.Picture)} == {
        (event.event_id, True),
        (event.event_id, False),
        ("00000000-0000-4000-8000-000000000000", True),
    }


def test_a_restarted_hub_resumes_with_no_gap_and_no_duplicate(
    start_hub: HubFactory, feeds: list[f.HubFeed]
) -> None:
    first = start_hub()
    port = first.hub.server.address[1]
    edge = first.dial("edge-1")
    for n in range(3):
        send(edge, *photo_event(n=n))
    feed = make_feed(first)
    feeds.append(feed)
    feed.start()
    got = until(feed, _caught_up, [])
    first.hub.stop()  # the hub goes away; the feed notices and keeps trying
    got = until(
        feed, lambda u: any(getattr(x, "link", None) is f.Link.DISCONNECTED for x in u), got
    )
    second = start_hub(first.data, port=port)  # the same log, the same address
    edge = second.dial("edge-1")
    for n in range(2):
        send(edge, *photo_event(n=n))
    got = until(
        feed, lambda u: len(seqs(u)) >= 5 and sum(isinstance(x, f.CaughtUp) for x in u) >= 2, got
    )
    assert seqs(got) == [1, 2, 3, 4, 5]  # resumed after seq 3: no gap, no duplicate
    links = [u.link for u in got if isinstance(u, f.LinkChanged)]
    assert links[-2:] == [f.Link.CATCHING_UP, f.Link.LIVE] and f.Link.DISCONNECTED in links
    send(edge, *photo_event(n=5))  # and live again from there
    got = until(feed, lambda u: len(seqs(u)) >= 6, got)
    assert seqs(got) == [1, 2, 3, 4, 5, 6] and feed.cursor == 6


def _end_of(event: m.Event, label: str, body: bytes) -> m.EventEnd:
    snapshot_len = len(body) - len(body) // 5 if body else 0
    return m.EventEnd(
        end_id=str(uuid.uuid4()),
        event_id=event.event_id,
        camera=event.camera,
        label=label,
        score=0.97,
        ended_at=event.ended_at + 4000,
        box=m.Box(x=10, y=10, w=100, h=100),
        snapshot_len=snapshot_len,
        thumbnail_len=len(body) - snapshot_len,
    )


def test_a_sighting_end_updates_its_row_in_place(hub: RunningHub, feeds: list[f.HubFeed]) -> None:
    edge = hub.dial("edge-1")
    event, body = photo_event(label="dog")
    send(edge, event, body)
    better = photo_event(n=3)[1]
    end = _end_of(event, "cat", better)
    edge.send(end, better)
    assert edge.expect(m.EventAck).event_id == end.end_id
    feed = make_feed(hub)
    feeds.append(feed)
    feed.start()
    log = Log()
    for update in until(feed, lambda u: any(isinstance(x, f.CaughtUp) for x in u), []):
        if isinstance(update, f.EntryArrived):
            log.apply(update.entry)
    (row,) = log.visible()
    assert (row.event_id, row.label, row.score, row.ended) == (event.event_id, "cat", 0.97, True)
    newest = feed.request_picture(row.image_ids[0], thumbnail=True).result(10)
    assert newest == better[end.snapshot_len :]  # the better view the end brought


def test_an_end_whose_sighting_is_before_the_cursor_shows_as_that_sighting(
    hub: RunningHub, feeds: list[f.HubFeed]
) -> None:
    edge = hub.dial("edge-1")
    event, body = photo_event(label="dog")
    sighting_seq = send(edge, event, body)
    end = _end_of(event, "fox", b"")
    edge.send(end)
    edge.expect(m.EventAck)
    feed = make_feed(hub)
    feed.cursor = sighting_seq  # as if it had seen the log up to the sighting, then restarted
    feeds.append(feed)
    feed.start()
    log = Log()
    for update in until(feed, lambda u: any(isinstance(x, f.CaughtUp) for x in u), []):
        if isinstance(update, f.EntryArrived):
            log.apply(update.entry)
    (row,) = log.visible()
    assert (row.event_id, row.label, row.ended) == (event.event_id, "fox", True)
    thumb = feed.request_picture(row.image_ids[0], thumbnail=True).result(10)
    assert thumb == body[event.snapshot_len :]  # no better view: the sighting's own picture
