"""The GPUs' SM clock and temperature while a sweep measures one setting: polled from the sweep's own GPU source.

The session's sampler streams power and energy; clocks and temperatures are what a power limit changes and what a
sweep reports per setting, so the sweep polls them itself, once when the session starts, every
:data:`POLL_S` while it runs, and once when it ends, from the GPU source it sets the limits with.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from types import TracebackType

from agent.gpu.base import GpuInfo, GpuSource

__all__ = ["POLL_S", "GpuWatch"]

POLL_S = 1.0


class GpuWatch:
    """A context manager: every GPU's clock and temperature polled while it is entered; nothing before."""

    def __init__(self, source: GpuSource, gpus: Sequence[GpuInfo], poll_s: float = POLL_S) -> None:
        self.source, self.gpus, self.poll_s = source, list(gpus), poll_s
        self.clocks_mhz: list[float] = []
        self.temperatures_c: list[float] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.errors: list[str] = []

    @property
    def mean_clock_mhz(self) -> float | None:
        return sum(self.clocks_mhz) / len(self.clocks_mhz) if self.clocks_mhz else None

    @property
    def max_temperature_c(self) -> float | None:
        return max(self.temperatures_c, default=None)

    def poll(self) -> None:
        """One reading of every GPU; a GPU that cannot say (or fails) adds nothing, and the failure is kept."""
        for gpu in self.gpus:
            try:
                clock_mhz, temperature_c = self.source.clock_and_temperature(gpu.index)
            except Exception as e:  # a poll must never stop the measurement it watches
                self.errors.append(f"GPU {gpu.index}: {e}")
                continue
            if clock_mhz is not None:
                self.clocks_mhz.append(clock_mhz)
            if temperature_c is not None:
                self.temperatures_c.append(temperature_c)

    def _run(self) -> None:
        while not self._stop.wait(self.poll_s):
            self.poll()

    def __enter__(self) -> GpuWatch:
        self.poll()
        self._thread = threading.Thread(target=self._run, name="sweep-gpu-watch", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if kind is None:
            self.poll()
