"""This machine's CPU utilisation, the load signal both simulators (wall meter, GPUs) follow."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["CpuUtilisation"]


class CpuUtilisation:
    """Share of CPU time spent busy since the previous call, from /proc/stat (load average elsewhere)."""

    def __init__(self, stat_path: Path = Path("/proc/stat")) -> None:
        self.stat_path = stat_path
        self._last: tuple[int, int] | None = None

    def _cpu_times(self) -> tuple[int, int] | None:
        try:
            with self.stat_path.open() as f:
                fields = f.readline().split()
        except OSError:
            return None
        if not fields or fields[0] != "cpu":
            return None
        values = [int(x) for x in fields[1:]]
        idle = values[3] + (values[4] if len(values) > 4 else 0)
        return sum(values), idle

    def __call__(self) -> float:
        now = self._cpu_times()
        if now is None:
            load1, _, _ = os.getloadavg()
            return min(1.0, load1 / (os.cpu_count() or 1))
        last, self._last = self._last, now
        if last is None or now[0] == last[0]:
            return 0.0
        busy = (now[0] - last[0]) - (now[1] - last[1])
        return min(1.0, max(0.0, busy / (now[0] - last[0])))
