"""The live feed behind the dashboard: what happened, numbered, kept for a while, streamed as SSE.

Sessions publish events (wall samples, GPU readings, phase and LoadGen-window markers, state
changes) from the event loop or from worker threads; each SSE client reads the events after
the last number it saw, so a client that reconnects with ``Last-Event-ID`` misses nothing the
feed still holds. The feed keeps the newest ``capacity`` events: with a 10 Hz meter and 8 GPUs
(GPU batches thinned to 10 points each), 50,000 events are about 40 minutes and some 50 MB.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["LiveEvent", "LiveFeed", "sse_stream"]

DEFAULT_CAPACITY = 50_000
POLL_S = 0.05
KEEPALIVE_S = 10.0


@dataclass(frozen=True)
class LiveEvent:
    """One event, its data kept as the JSON it is sent as (parsed only by the few readers that look inside)."""

    seq: int
    kind: str  # "power" | "gpu" | "wall_source" | "marker" | "state"
    data_json: str

    @property
    def data(self) -> dict[str, Any]:
        """The data, parsed anew at each use (for the few readers that look inside an event)."""
        parsed: dict[str, Any] = json.loads(self.data_json)
        return parsed

    def sse(self) -> str:
        return f"id: {self.seq}\nevent: {self.kind}\ndata: {self.data_json}\n\n"


_Held = tuple[int, str, str]  # (seq, kind, data_json): a LiveEvent as the feed keeps it


class LiveFeed:
    """The newest ``capacity`` events. They are held as plain tuples of a number and two strings, which the garbage
    collector stops tracking at its first pass; the events are made only for the readers. A rack's feed holds
    50,000 events (576 GPU events a second at 72 nodes), and every object the collector tracks is walked at each
    full collection, which stops the director's event loop: as dicts of lists they stalled it 100 to 210 ms, as
    dataclass instances (still tracked) 90 to 400 ms with 22,000 of them held (bench_rack, 2 cores)."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self._events: deque[_Held] = deque(maxlen=capacity)
        self._lock = threading.Lock()
        self._seq = 0

    @property
    def last_seq(self) -> int:
        return self._seq

    def publish(self, kind: str, **data: Any) -> int:
        with self._lock:
            self._seq += 1
            self._events.append((self._seq, kind, json.dumps(data, separators=(",", ":"))))
            return self._seq

    def after(self, seq: int, limit: int = 5000) -> list[LiveEvent]:
        """Events numbered above ``seq``, oldest first (at most ``limit``)."""
        with self._lock:
            if not self._events or self._events[-1][0] <= seq:
                return []
            first = self._events[0][0]
            start = max(0, seq + 1 - first)
            held = [self._events[i] for i in range(start, min(len(self._events), start + limit))]
        return [LiveEvent(*event) for event in held]


async def sse_stream(
    feed: LiveFeed, after_seq: int, snapshot: Callable[[], dict[str, Any]], closed: Callable[[], bool]
) -> AsyncIterator[str]:
    """The SSE body: a snapshot of the director's state first, then every event as it is published."""
    yield f"event: snapshot\ndata: {json.dumps(snapshot(), separators=(',', ':'))}\n\n"
    seq = after_seq
    idle_s = 0.0
    while True:
        events = feed.after(seq)
        if events:
            seq = events[-1].seq
            idle_s = 0.0
            yield "".join(e.sse() for e in events)
            continue
        if closed():  # only once everything published has gone out
            return
        await asyncio.sleep(POLL_S)
        idle_s += POLL_S
        if idle_s >= KEEPALIVE_S:  # a comment line keeps proxies and the browser from timing out
            idle_s = 0.0
            yield ": keep-alive\n\n"
