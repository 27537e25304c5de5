"""What the PTDaemon-protocol server measures with: the :class:`PtdInstrument` protocol, the samples it
streams, and PTDaemon's Identify reply. Two instruments implement it: a real analyzer read through mlpower's
drivers (:mod:`director.ptd_front.meter_instrument`) and the simulated one
(:mod:`director.sim.ptd_analyzer`).
"""

from __future__ import annotations

import platform
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, replace
from typing import Protocol

from director.errors import DirectorError
from powerlog.spl import PowerSample

__all__ = ["AnalyzerSample", "PtdInstrument", "RangeError", "identify_reply", "with_mean_heads"]


class RangeError(DirectorError, ValueError):
    """A range the analyzer does not have."""


@dataclass(frozen=True)
class AnalyzerSample:
    sample: PowerSample
    uncertainty: float | None  # of the total, a fraction of the reading; None = unknown
    current_too_high: bool
    channel_uncertainties: tuple[float | None, ...] = ()  # each channel's, multichannel only


def with_mean_heads(sample: PowerSample) -> PowerSample:
    """A multichannel sample as PTDaemon 1.10+ logs it: Watts the channels' sum, Volts, Amps and PF their
    means (PTDaemon 1.9.2 wrote -1 there)."""
    if not sample.channels:
        return sample
    n = len(sample.channels)
    return replace(
        sample,
        volts_v=sum(ch.volts_v for ch in sample.channels) / n,
        amps_a=sum(ch.amps_a for ch in sample.channels) / n,
        pf=sum(ch.pf for ch in sample.channels) / n,
    )


def identify_reply(model: str, version: str, channels: int, dc: bool, instrument_idn: str) -> str:
    """An Identify reply in PTDaemon's shape: the model, capabilities, ``version=``, ``OS=``, ``mode=``, the
    element count, and last the instrument's own ``*IDN?`` with its commas as semicolons."""
    mode = "dc" if dc else "power"
    return (
        f"{model},1000,1,1,1,1,0,0,1,version={version},OS={platform.system()},mode={mode},1,1,{channels},"
        f"0,0,no_cal_date,{instrument_idn.replace(',', ';')}"
    )


class PtdInstrument(Protocol):
    """What the PTDaemon-protocol server needs from the analyzer behind it."""

    @property
    def model(self) -> str: ...  # the Identify reply's model name, e.g. YokogawaWT310 or SimulatedWT310

    @property
    def yokogawa_model(self) -> str: ...  # the analyzer model its "Uncertainty checking for ..." line names

    channels: int
    dc: bool
    volts_range_v: float | None  # None = Auto
    amps_range_a: float | None

    def identify_reply(self) -> str: ...

    def startup_lines(self) -> list[str]: ...  # what it says about itself when the server starts

    def set_volts_range(self, value_v: float | None) -> float | None: ...  # RangeError: not a range it has

    def set_amps_range(self, value_a: float | None) -> float | None: ...

    def interval_error(self, interval_ms: int) -> str | None: ...  # why Go cannot sample at this interval

    def stream(self, interval_ms: int, mark: Callable[[], str]) -> AsyncGenerator[AnalyzerSample, None]: ...

    def halt(self) -> None: ...  # Stop: end the measurement now (the stream then yields nothing more)
