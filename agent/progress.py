"""Progress while a phase runs: phase, elapsed time against the expected duration, live wall watts
and samples from the director. Plain lines (one every ``every_s``), so it reads the same in a
terminal, a log file or CI."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from agent.errors import AgentError
from powerlog.wire import SessionStatus

__all__ = ["PhaseProgress"]


class PhaseProgress:
    def __init__(
        self,
        phase: str,
        expected_s: float | None,
        status: Callable[[], SessionStatus],
        say: Callable[[str], None] = print,
        every_s: float = 10.0,
    ) -> None:
        self.phase = phase
        self.expected_s = expected_s
        self.status = status
        self.say = say
        self.every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"progress {phase}", daemon=True)

    def __enter__(self) -> PhaseProgress:
        self._started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def line(self, status: SessionStatus | None) -> str:
        elapsed_s = time.monotonic() - self._started
        of = f" of ~{self.expected_s:.0f} s" if self.expected_s else ""
        if status is None:
            return f"[{self.phase}] {elapsed_s:.0f} s{of}; director not answering"
        watts = "n/a" if status.last_power_w is None else f"{status.last_power_w:.1f} W"
        return (
            f"[{self.phase}] {elapsed_s:.0f} s{of}; wall {watts}; "
            f"{status.samples.get(self.phase, 0)} samples; {status.energy_j.get(self.phase, 0.0):.0f} J so far"
        )

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                status: SessionStatus | None = self.status()
            except AgentError:
                status = None
            self.say(self.line(status))
