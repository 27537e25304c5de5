"""What keeps the director's full garbage collections short (each stops the event loop while it walks every object
the collector tracks): the live feed's events are not tracked, and start-up's objects are frozen out of its view."""

from __future__ import annotations

import gc

from director.live import LiveFeed
from director.serve import _freeze_startup_heap


def test_the_live_feeds_events_add_nothing_for_the_collector_to_walk() -> None:
    feed = LiveFeed(capacity=20_000)
    gc.collect()
    tracked_before = len(gc.get_objects())
    for i in range(20_000):
        feed.publish("gpu", session_id="s", source=f"n{i % 72}:gpu{i % 8}", t_utc_ns=[i, i + 1], power_w=[1.5, 2.5])
    gc.collect()  # a held event is untracked at the first collection it survives
    assert len(gc.get_objects()) - tracked_before < 100
    events = feed.after(19_990)
    assert [e.seq for e in events] == list(range(19_991, 20_001))
    assert events[-1].data == {"session_id": "s", "source": "n55:gpu7", "t_utc_ns": [19_999, 20_000],
                               "power_w": [1.5, 2.5]}  # fmt: skip
    assert events[-1].sse().startswith("id: 20000\nevent: gpu\ndata: {")


def test_serving_freezes_what_start_up_made() -> None:
    gc.unfreeze()
    try:
        _freeze_startup_heap()
        assert gc.get_freeze_count() > 10_000  # the modules, the app: this test process's own start-up
    finally:
        gc.unfreeze()
