"""``none://``: a session with no wall meter, measured by the SUT's component counters alone (informative).

For a machine with neither an analyzer nor a BMC to read: the agent's RAPL and hwmon sources (``--components``)
and its GPUs carry the measurement, and the run's tier is ``components``. This "meter" gives no sample, ever,
and says so in its identity; the session runs its phases, marks and clock exchanges as with any meter, so the
LoadGen window and every component reading are placed the same way. Nothing here is simulated: there is
nothing to simulate.
"""

from __future__ import annotations

from collections.abc import Sequence

from director.meters.base import MeterIdentity, RangelessMeterBase
from director.meters.transport import Exchange
from powerlog.lines import BadLine
from powerlog.spl import PowerSample

__all__ = ["NO_WALL_METER_MODEL", "NoWallMeter"]

NO_WALL_METER_MODEL = "none (no wall meter: the SUT's component counters only)"


class NoWallMeter(RangelessMeterBase):
    """Implements the ``Meter`` protocol for ``none://``: connects to nothing, reads nothing."""

    def __init__(self, name: str = "none://") -> None:
        self.name = name

    @property
    def exchanges(self) -> Sequence[Exchange]:
        return ()

    @property
    def rejected_lines(self) -> Sequence[BadLine]:
        return ()

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def identify(self) -> MeterIdentity:
        return MeterIdentity(NO_WALL_METER_MODEL, None, 0, False, False, NO_WALL_METER_MODEL)

    def start(self, mark: str, interval_ms: int = 1000) -> None:
        pass

    def read_new(self) -> list[PowerSample]:
        return []

    def stop(self) -> bool:
        return True
