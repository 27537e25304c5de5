"""The ``Meter`` protocol every driver implements, and the base class through which drivers declare their model."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Protocol, Self, runtime_checkable

from director.errors import MeterErrorReply
from director.meters.model import MeterModel
from director.meters.ranges import Ranges
from director.meters.transport import Exchange
from powerlog.lines import BadLine
from powerlog.ptd_identity import MeterIdentity
from powerlog.spl import PowerSample

__all__ = ["Meter", "MeterBase", "MeterIdentity", "RangelessMeterBase", "declared_models"]

_DECLARED: list[MeterModel] = []


def declared_models() -> tuple[MeterModel, ...]:
    """The models of the driver classes defined so far (:mod:`director.meters.registry` imports them all first)."""
    return tuple(_DECLARED)


@runtime_checkable
class Meter(Protocol):
    """What the director needs from a wall meter. Nothing connects before :meth:`open`."""

    name: str

    def open(self) -> None: ...

    def close(self) -> None: ...

    def identify(self) -> MeterIdentity: ...

    @property
    def identities(self) -> Sequence[MeterIdentity]: ...  # each meter's identity once read: a group's, in order

    @property
    def has_ranges(self) -> bool: ...  # False: nothing to set (a BMC, a PDU, no wall meter)

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

    meter_model: ClassVar[MeterModel | None] = None  # a driver of one model declares it; registered when defined
    name: str
    initial_ranges: Ranges | None
    identity: MeterIdentity | None = None  # what identify() read last
    skipped_stale: int = 0  # only a group of meters and a Redfish meter drop readings

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        declared = cls.__dict__.get("meter_model")
        if isinstance(declared, MeterModel) and declared not in _DECLARED:
            _DECLARED.append(declared)

    @property
    def identities(self) -> Sequence[MeterIdentity]:
        return [] if self.identity is None else [self.identity]

    @property
    def has_ranges(self) -> bool:
        return self.meter_model is None or self.meter_model.has_ranges

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

    initial_ranges: Ranges | None = None
    ranges: Ranges = Ranges.automatic()  # frozen: replaced, never changed in place

    @property
    def has_ranges(self) -> bool:
        return False

    def read_ranges(self) -> Ranges:
        if self.initial_ranges is None:
            self.initial_ranges = Ranges.automatic()
        return self.ranges

    def set_ranges(self, ranges: Ranges) -> None:
        self.ranges = ranges
