"""``serve``'s own output while it runs: one line per session event, read from the live feed.

Opened (by which agent), each phase started and stopped, closed with its verdicts, failed or aborted with the
reason. Lines are written by a thread of their own: a terminal or pipe nobody reads (a full pipe blocks a
write) must never stall the event loop that holds the meter; past ``MAX_WAITING`` lines waiting, more are
counted and dropped.
"""

from __future__ import annotations

import asyncio
import queue
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, TextIO

from director.live import LiveEvent

if TYPE_CHECKING:
    from director.registry import Director

__all__ = ["SessionEventLines"]

POLL_S = 0.2
MAX_WAITING = 1000


class SessionEventLines:
    """Follows the director's feed from now on; :meth:`run` on the event loop, :meth:`flush` before exit."""

    def __init__(self, director: Director, out: TextIO | None = None) -> None:
        self._director = director
        self._out = out
        self._seq = director.feed.last_seq
        self._waiting: queue.Queue[str] = queue.Queue(MAX_WAITING)
        self.dropped = 0
        threading.Thread(target=self._write_lines, name="session-event-lines", daemon=True).start()

    async def run(self) -> None:
        while True:
            self.poll()
            await asyncio.sleep(POLL_S)

    def poll(self) -> None:
        """Queue a line for each session event published since the last poll."""
        for event in self._director.feed.after(self._seq):
            self._seq = event.seq
            line = self.line(event)
            if line is None:
                continue
            try:
                self._waiting.put_nowait(f"{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} {line}")
            except queue.Full:
                self.dropped += 1

    def flush(self, timeout_s: float = 2.0) -> None:
        """Queue what is left and give the writer up to ``timeout_s`` to write it."""
        self.poll()
        deadline = time.monotonic() + timeout_s
        while self._waiting.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)

    def line(self, event: LiveEvent) -> str | None:
        """The line for one feed event, or None for an event not worth a line (samples, LoadGen windows)."""
        if event.kind not in ("marker", "state"):
            return None  # samples: no line, and not parsed
        data: dict[str, Any] = event.data
        session_id = data.get("session_id")
        session = self._director.sessions.get(session_id) if isinstance(session_id, str) else None
        head = f"session {session_id}:"
        if event.kind == "marker" and data.get("what") in ("start", "stop"):
            phase = data["phase"]
            if data["what"] == "start":
                return f"{head} {phase} started"
            samples = session.pump.samples.get(phase, 0) if session is not None else "?"
            return f"{head} {phase} stopped ({samples} wall samples)"
        if event.kind != "state":
            return None
        state = data.get("state")
        if state == "open" and session is not None:
            agent = session.agent
            return f"{head} opened by agent {agent.label or '(no label)'!r} on {agent.host or '?'}"
        if state == "closed":
            official = f", official check {data['official_verdict']}" if data.get("official_verdict") else ""
            return f"{head} closed, verdict {data.get('verdict') or '?'}{official}"
        if state == "failed":
            return f"{head} failed: {data.get('error') or 'no reason recorded'}"
        return None

    def _write_lines(self) -> None:
        while True:
            line = self._waiting.get()
            try:
                print(line, file=self._out or sys.stdout, flush=True)
            except (OSError, ValueError):  # stdout closed: nobody to tell
                pass
            finally:
                self._waiting.task_done()
