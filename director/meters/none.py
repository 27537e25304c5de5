"""``none://``: a session with no wall meter, measured by the SUT's component counters alone (informative).

For a machine with neither an analyzer nor a BMC to read: the agent's RAPL and hwmon sources (``--components``)
and its GPUs carry the measurement, and the run's tier is ``components``. This "meter" gives no sample, ever,
and says so in its identity; the session runs its phases, marks and clock exchanges as with any meter, so the
LoadGen window and every component reading are placed the same way. Nothing here is simulated: there is
nothing to simulate.
"""

from __future__ import annotations

from collections.abc import Sequence

from director.errors import MeterConfigError
from director.meters.base import MeterIdentity, RangelessMeterBase
from director.meters.model import MeterModel, MeterUrl
from director.meters.transport import Exchange
from powerlog.lines import BadLine
from powerlog.spl import PowerSample
from powerlog.tiers import MeasurementTier

__all__ = ["NO_WALL_METER_MODEL", "NoWallMeter", "check_none_url"]

NO_WALL_METER_MODEL = "none (no wall meter: the SUT's component counters only)"


def check_none_url(url: MeterUrl) -> MeterUrl:
    """``none://`` names nothing."""
    if url.host or url.port or url.path not in ("", "/"):
        raise MeterConfigError(f"meter URL {url.text!r}: none:// names nothing (no wall meter): write none://")
    return MeterUrl("none", "", 0, "", {}, url.text)


class NoWallMeter(RangelessMeterBase):
    """Implements the ``Meter`` protocol for ``none://``: connects to nothing, reads nothing."""

    meter_model = MeterModel(
        name="no wall meter",
        schemes=("none",),
        tier=MeasurementTier.COMPONENTS,  # the SUT's component counters alone
        open=lambda url: NoWallMeter(),
        options={"none": frozenset()},
        has_ranges=False,
        check_url=lambda url: check_none_url(url),
        example="none:// (no wall meter)",
    )

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
        self.identity = MeterIdentity(NO_WALL_METER_MODEL, None, 0, False, False, NO_WALL_METER_MODEL)
        return self.identity

    def start(self, mark: str, interval_ms: int = 1000) -> None:
        pass

    def read_new(self) -> list[PowerSample]:
        return []

    def stop(self) -> bool:
        return True
