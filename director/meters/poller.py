"""A meter's polling thread, for drivers that read on their own schedule (serial SCPI analyzers, Redfish).

The driver's loop runs in the thread until :attr:`Poller.stopping` is set and hands each reading over with
:meth:`Poller.put`; the session takes them with :meth:`Poller.take`. A loop that ends with a ``MeterError``
stores it, and so does one that dies of anything else (translated into a ``MeterConnectionError`` naming
the cause): a poller that died silently would leave its phase with no samples and no gap. Once what was
read before the error has been taken, :meth:`Poller.take` raises the error, so the director reconnects
and records the gap.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from director.errors import MeterConnectionError, MeterError

__all__ = ["Poller"]

T = TypeVar("T")


class Poller(Generic[T]):
    """One run of a polling loop at a time, what it read and nobody has taken yet, and the error that ended it."""

    def __init__(self, meter_name: str, lock: threading.Lock | None = None) -> None:
        self.meter_name = meter_name
        self.lock = lock if lock is not None else threading.Lock()  # a driver may share it with its transport
        self.stopping = threading.Event()
        self.error: MeterError | None = None
        self._items: list[T] = []
        self._thread: threading.Thread | None = None

    def start(self, loop: Callable[[], None], thread_name: str) -> None:
        """Run ``loop`` in a new thread; an error of an earlier run (before a reconnect) is forgotten."""
        self.error = None
        self.stopping.clear()
        self._thread = threading.Thread(target=self._run, args=(loop,), name=thread_name, daemon=True)
        self._thread.start()

    def _run(self, loop: Callable[[], None]) -> None:
        try:
            loop()
        except MeterError as e:
            self.error = e
        except Exception as e:
            self.error = MeterConnectionError(f"the meter's poller stopped: {e!r}", meter=self.meter_name)

    def put(self, item: T) -> None:
        with self.lock:
            self._items.append(item)

    def take(self) -> list[T]:
        """What was read since the last take; the error that ended the loop once nothing is left."""
        with self.lock:
            items, self._items = self._items, []
        if not items and self.error is not None:
            raise self.error
        return items

    def stop(self, join_timeout_s: float) -> bool:
        """Stop the loop and wait for it; whether it was still running."""
        running = self._thread is not None and self._thread.is_alive()
        self.stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=join_timeout_s)
            self._thread = None
        return running
