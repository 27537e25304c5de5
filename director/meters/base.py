"""The ``Meter`` protocol every driver implements, and what drivers return."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, Self, runtime_checkable

from director.errors import MeterErrorReply
from director.meters.ranges import Ranges
from director.meters.transport import Exchange
from powerlog.lines import BadLine
from powerlog.spl import PowerSample

__all__ = ["Meter", "MeterBase", "MeterIdentity", "RangelessMeterBase"]


@dataclass(frozen=True)
class MeterIdentity:
    model: str
    version: str | None
    channels: int
    dc: bool
    simulated: bool
    raw: str


@runtime_checkable
class Meter(Protocol):
    """What the director needs from a wall meter. Nothing connects before :meth:`open`."""

    name: str

    def open(self) -> None: ...

    def close(self) -> None: ...

    def identify(self) -> MeterIdentity: ...

    def read_ranges(self) -> Ranges: ...

    def set_ranges(self, ranges: Ranges) -> None: ...

    def start(self, mark: str, interval_ms: int = 1000) -> None: ...

    def read_new(self) -> list[PowerSample]: ...

    def read_new_with_uncertainty(self) -> list[tuple[PowerSample, float | None]]: ...  # None: not known

    def stop(self) -> bool: ...

    def restore_ranges(self) -> None: ...

    @property
    def exchanges(self) -> Sequence[Exchange]: ...

    @property
    def rejected_lines(self) -> Sequence[BadLine]: ...  # replies left out as unusable, kept for the run record

    @property
    def skipped_stale(self) -> int: ...  # readings dropped as not fresh: a group's with no fresh partner, a

    # Redfish meter's polls that found nothing new since the last sample

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...


class MeterBase:
    """What every driver does the same way: ``with`` support and putting the first-read ranges back."""

    name: str
    initial_ranges: Ranges | None
    skipped_stale: int = 0  # only a group of meters and a Redfish meter drop readings

    def open(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def set_ranges(self, ranges: Ranges) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read_new(self) -> list[PowerSample]:
        raise NotImplementedError

    def read_new_with_uncertainty(self) -> list[tuple[PowerSample, float | None]]:
        """:meth:`read_new`, each sample with its uncertainty as a fraction of the reading. A driver that cannot
        tell (PTDaemon logs it instead; a group of meters) gives None for every sample."""
        return [(sample, None) for sample in self.read_new()]

    def restore_ranges(self) -> None:
        """Put back the ranges the first read_ranges() found (Auto where they were unknown)."""
        if self.initial_ranges is None:
            raise MeterErrorReply("initial ranges were never read (call read_ranges() first)", meter=self.name)
        self.set_ranges(self.initial_ranges)


class RangelessMeterBase(MeterBase):
    """A meter with no ranges to set (a BMC or PDU, no wall meter at all): what it is asked for is kept only, so
    the session reads back what it asked for, and a session measures its testing phase on Auto."""

    has_ranges = False
    initial_ranges: Ranges | None = None
    ranges: Ranges = Ranges.automatic()  # frozen: replaced, never changed in place

    def read_ranges(self) -> Ranges:
        if self.initial_ranges is None:
            self.initial_ranges = Ranges.automatic()
        return self.ranges

    def set_ranges(self, ranges: Ranges) -> None:
        self.ranges = ranges
