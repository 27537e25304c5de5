"""The ``Meter`` protocol every driver implements, and what drivers return."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from director.meters.ranges import Ranges
from director.meters.transport import Exchange
from powerlog.spl import PowerSample

__all__ = ["Meter", "MeterIdentity"]


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

    def stop(self) -> bool: ...

    def restore_ranges(self) -> None: ...

    @property
    def exchanges(self) -> Sequence[Exchange]: ...
