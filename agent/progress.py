"""Progress while a phase runs: phase, elapsed time against the expected duration, live wall watts
and samples from the director.

:class:`PhaseProgress` writes plain lines (one every ``every_s``), which read the same in a log
file or CI; :class:`LivePhaseProgress` redraws a ``rich`` panel in place on a terminal.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table

from agent.errors import AgentError
from powerlog.wire import SessionStatus

__all__ = ["STALLED_AFTER_S", "LivePhaseProgress", "PhaseProgress"]

STALLED_AFTER_S = 5.0  # a phase whose wall-sample count has not grown this long says so


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
        self._samples_seen = -1
        self._samples_since_s = 0.0  # elapsed time when the wall-sample count last grew

    def __enter__(self) -> PhaseProgress:
        self._started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self._started

    def poll(self) -> SessionStatus | None:
        try:
            return self.status()
        except AgentError:
            return None

    def line(self, status: SessionStatus | None) -> str:
        elapsed_s = self.elapsed_s
        of = f" of ~{self.expected_s:.0f} s" if self.expected_s else ""
        if status is None:
            return f"[{self.phase}] {elapsed_s:.0f} s{of}; director not answering"
        samples = status.samples.get(self.phase, 0)
        if samples != self._samples_seen:
            self._samples_seen, self._samples_since_s = samples, elapsed_s
        stalled_s = elapsed_s - self._samples_since_s
        stalled = f"; NO new wall samples for {stalled_s:.0f} s (the meter?)" if stalled_s >= STALLED_AFTER_S else ""
        return (
            f"[{self.phase}] {elapsed_s:.0f} s{of}; wall {_watts(status)}; "
            f"{samples} samples; {status.energy_j.get(self.phase, 0.0):.0f} J so far{stalled}"
        )

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self.say(self.line(self.poll()))


def _watts(status: SessionStatus) -> str:
    return "n/a" if status.last_power_w is None else f"{status.last_power_w:.1f} W"


class LivePhaseProgress(PhaseProgress):
    """The same figures as a panel redrawn in place (``rich``), asking the director every ``every_s``."""

    def __init__(
        self,
        phase: str,
        expected_s: float | None,
        status: Callable[[], SessionStatus],
        console: Console,
        every_s: float = 1.0,
    ) -> None:
        super().__init__(phase, expected_s, status, console.print, every_s)
        self.console = console
        self._latest: SessionStatus | None = None
        self._answered = False

    def render(self) -> Group:
        elapsed_s = self.elapsed_s
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold")
        table.add_column()
        of = f" of ~{self.expected_s:.0f} s" if self.expected_s else ""
        table.add_row("phase", self.phase)
        table.add_row("elapsed", f"{elapsed_s:.0f} s{of}")
        status = self._latest
        if status is None:
            table.add_row("director", "asking..." if not self._answered else "[red]not answering[/red]")
        else:
            table.add_row("wall power", _watts(status) + (" [yellow](SIMULATED)[/yellow]" if status.simulated else ""))
            table.add_row("samples", str(status.samples.get(self.phase, 0)))
            table.add_row("energy so far", f"{status.energy_j.get(self.phase, 0.0):.0f} J")
        parts: list[Table | ProgressBar] = [table]
        if self.expected_s:
            parts.append(ProgressBar(total=self.expected_s, completed=min(elapsed_s, self.expected_s), width=40))
        return Group(*parts)

    def _run(self) -> None:
        with Live(self.render(), console=self.console, refresh_per_second=4, transient=False) as live:
            while True:
                self._latest = self.poll()
                self._answered = True
                live.update(self.render())
                if self._stop.wait(self.every_s):
                    break
