"""The records of spl.txt: one sample (:class:`PowerSample`, what meters produce and the writer writes) and a
whole log as columns (:class:`PowerLog`, what :func:`powerlog.spl.read_spl` returns)."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from powerlog.lines import BadLine

__all__ = [
    "MAX_PLAUSIBLE_W",
    "SPL_FIELDS",
    "AnalyzerReadings",
    "ChannelReadings",
    "ChannelSample",
    "FloatArray",
    "PowerLog",
    "PowerSample",
]

FloatArray = npt.NDArray[np.float64]
SPL_FIELDS: tuple[str, ...] = ("power_w", "volts_v", "amps_a", "pf")
# no analyzer PTDaemon drives measures 1 MW on one channel (a full data-centre rack draws tens of kW):
# a reading beyond it is a corrupt line or a broken meter, never a measurement
MAX_PLAUSIBLE_W = 1e6


@dataclass(frozen=True)
class ChannelReadings:
    """One channel's columns; a field that was not requested is None."""

    power_w: FloatArray
    volts_v: FloatArray | None = None
    amps_a: FloatArray | None = None
    pf: FloatArray | None = None


@dataclass(frozen=True)
class AnalyzerReadings:
    """One analyzer's columns: its own Watts/Volts/Amps/PF (``total``; -1 Volts/Amps/PF when it has
    channels) and its ChN blocks (empty for a single-channel analyzer)."""

    total: ChannelReadings
    channels: tuple[ChannelReadings, ...] = ()

    def peak_volts_amps(self, channels: Collection[int] | None = None) -> tuple[float, float] | None:
        """Largest volts and amps over the total columns and the channels numbered (from 1) in
        ``channels``, every channel by default; a total logged as -1 (older multichannel logs) loses to
        any real reading. None when there is no sample or volts and amps were not read."""
        chosen = self.channels if channels is None else (c for i, c in enumerate(self.channels, 1) if i in channels)
        readings = (self.total, *chosen)
        volts = [r.volts_v for r in readings]
        amps = [r.amps_a for r in readings]
        if self.total.power_w.shape[0] == 0 or any(a is None for a in volts + amps):
            return None
        return (
            max(float(np.nanmax(v)) for v in volts if v is not None),
            max(float(np.nanmax(a)) for a in amps if a is not None),
        )


@dataclass(frozen=True)
class ChannelSample:
    power_w: float
    volts_v: float
    amps_a: float
    pf: float


@dataclass(frozen=True)
class PowerSample:
    """One spl.txt line."""

    t_utc_ns: int
    power_w: float
    volts_v: float
    amps_a: float
    pf: float
    mark: str = ""
    channels: tuple[ChannelSample, ...] = ()

    @classmethod
    def multichannel(cls, t_utc_ns: int, channels: tuple[ChannelSample, ...], mark: str = "") -> PowerSample:
        """A sample of several channels, as PTDaemon logs one: Watts is their sum, Volts/Amps/PF are -1."""
        return cls(t_utc_ns, sum(ch.power_w for ch in channels), -1.0, -1.0, -1.0, mark, channels)


@dataclass(frozen=True)
class PowerLog:
    """The samples of one spl.txt, as columns of equal length.

    ``power_w``/``volts_v``/``amps_a``/``pf`` are each line's leading fields (the total of a
    multichannel or multi-analyzer line), ``channels`` the ChN blocks of a single-analyzer
    multichannel file and ``analyzers`` each analyzer's own columns in a multi-analyzer file (empty
    otherwise); :meth:`analyzer_views` gives the analyzers of either kind of file alike.
    ``mark_index[i]`` indexes ``marks`` (empty when read with ``marks=False``). ``line_number[i]``
    is the 1-based line the sample came from. Fields not requested from :func:`read_spl` are None.
    """

    path: str
    t_utc_ns: npt.NDArray[np.int64]
    power_w: FloatArray
    volts_v: FloatArray | None
    amps_a: FloatArray | None
    pf: FloatArray | None
    mark_index: npt.NDArray[np.int32]
    marks: tuple[str, ...]
    channels: tuple[ChannelReadings, ...]
    line_number: npt.NDArray[np.int64]
    bad_lines: tuple[BadLine, ...] = field(default=())
    analyzers: tuple[AnalyzerReadings, ...] = field(default=())

    def __len__(self) -> int:
        return int(self.t_utc_ns.shape[0])

    @property
    def multichannel(self) -> bool:
        return len(self.channels) > 0

    def mark_of(self, i: int) -> str:
        return self.marks[int(self.mark_index[i])] if self.marks else ""

    def implausible(self) -> npt.NDArray[np.bool_]:
        """Per sample: a Watts reading no analyzer measures: not finite, or beyond :data:`MAX_PLAUSIBLE_W` in
        magnitude on a channel or an analyzer (the leading Watts: times the columns it sums). A Watts at or
        below 0 is not one of them: PTDaemon writes -1 (and multichannel sums such as -2) for a sample it did
        not get, a reversed clamp reads negative, and the official metric skips every Watts <= 0."""
        parts = [ch.power_w for ch in self.channels]
        for analyzer in self.analyzers:
            parts.extend([analyzer.total.power_w, *(ch.power_w for ch in analyzer.channels)])
        with np.errstate(invalid="ignore"):
            limit_w = MAX_PLAUSIBLE_W * max(1, len(parts))
            bad = ~np.isfinite(self.power_w) | (np.abs(self.power_w) > limit_w)
            for part in parts:
                bad |= ~np.isfinite(part) | (np.abs(part) > MAX_PLAUSIBLE_W)
        return bad

    def analyzer_views(self) -> tuple[AnalyzerReadings, ...]:
        """Each analyzer's columns: ``analyzers`` for a multi-analyzer file, else one view of the
        leading columns and ``channels``."""
        if self.analyzers:
            return self.analyzers
        return (AnalyzerReadings(ChannelReadings(self.power_w, self.volts_v, self.amps_a, self.pf), self.channels),)

    def peak_volts_amps(self) -> tuple[float, float] | None:
        """Largest volts and amps over the log and every analyzer (over an analyzer's channels when
        it has some, whose totals are -1); None when the log is empty or was read without volts
        and amps."""
        if len(self) == 0:
            return None
        peaks = [view.peak_volts_amps() for view in self.analyzer_views()]
        if any(p is None for p in peaks):
            return None
        return max(p[0] for p in peaks), max(p[1] for p in peaks)  # type: ignore[index]

    def samples(self) -> Iterator[PowerSample]:
        """The samples one at a time (needs every field). A multi-analyzer file's samples carry its
        leading fields only: its analyzers' own columns are in ``analyzers``."""
        if self.volts_v is None or self.amps_a is None or self.pf is None:
            raise ValueError("samples() needs a PowerLog read with every field")
        for i in range(len(self)):
            channels = tuple(
                ChannelSample(
                    float(ch.power_w[i]),
                    float(ch.volts_v[i]),  # type: ignore[index]
                    float(ch.amps_a[i]),  # type: ignore[index]
                    float(ch.pf[i]),  # type: ignore[index]
                )
                for ch in self.channels
            )
            yield PowerSample(
                int(self.t_utc_ns[i]),
                float(self.power_w[i]),
                float(self.volts_v[i]),
                float(self.amps_a[i]),
                float(self.pf[i]),
                self.mark_of(i),
                channels,
            )
