"""Several meters read as one multichannel meter: each ``--meter`` becomes channels of one spl.txt.

A server with two power supplies on two analyzers (or a WT310 and a WT333) is measured as the sum
of all of them. The meters are not synchronised, so samples are joined on the first meter's
clock: a combined sample at the first meter's time t holds, from every other meter, its newest
reading at or before t + half an interval. A combined sample is only made once every other meter
has reported past that point (so a meter that is merely slower to be read is waited for), and only
when every other meter's reading is fresh (no older than ``max_age_intervals`` intervals):
otherwise the sample is skipped and counted in ``skipped_stale``, never made up from old values.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Sequence

from director.errors import MeterError
from director.meters.base import Meter, MeterBase, MeterIdentity
from director.meters.ranges import Ranges
from director.meters.transport import Exchange
from powerlog.lines import BadLine
from powerlog.spl import ChannelSample, PowerSample
from powerlog.timestamps import NS_PER_MS

__all__ = ["MeterGroup", "SampleJoin", "combine_channels"]


def _channels_of(sample: PowerSample) -> tuple[ChannelSample, ...]:
    if sample.channels:
        return sample.channels
    return (ChannelSample(sample.power_w, sample.volts_v, sample.amps_a, sample.pf),)


def combine_channels(t_utc_ns: int, mark: str, parts: Sequence[PowerSample]) -> PowerSample:
    """One multichannel sample from one reading per meter: channels in meter order, total = their sum."""
    return PowerSample.multichannel(t_utc_ns, tuple(ch for part in parts for ch in _channels_of(part)), mark)


class MeterGroup(MeterBase):
    """Implements the ``Meter`` protocol over several meters; nothing connects before :meth:`open`."""

    def __init__(self, meters: Sequence[Meter], interval_ms: int, max_age_intervals: float = 2.0) -> None:
        if len(meters) < 2:
            raise ValueError("a meter group needs at least two meters")
        self.meters = list(meters)
        self.name = "+".join(m.name for m in self.meters)
        self._interval_ms, self._max_age_intervals = interval_ms, max_age_intervals
        self._identities: list[MeterIdentity] = []
        self._join = SampleJoin(len(self.meters), interval_ms, max_age_intervals)
        self.skipped_stale = 0

    @property
    def exchanges(self) -> Sequence[Exchange]:
        return [e for m in self.meters for e in m.exchanges]

    @property
    def has_ranges(self) -> bool:
        """False when no meter has ranges to set (all are BMCs or PDUs read through Redfish)."""
        return any(m.has_ranges for m in self.meters)

    @property
    def identities(self) -> Sequence[MeterIdentity]:
        """Each meter's identity, in the group's order, once :meth:`identify` read them."""
        return self._identities

    @property
    def rejected_lines(self) -> list[BadLine]:
        return [line for m in self.meters for line in m.rejected_lines]

    def open(self) -> None:
        opened: list[Meter] = []
        try:
            for meter in self.meters:
                meter.open()
                opened.append(meter)
        except MeterError:
            for meter in opened:
                with contextlib.suppress(MeterError):
                    meter.close()
            raise

    def close(self) -> None:
        first_error: MeterError | None = None
        for meter in self.meters:
            try:
                meter.close()
            except MeterError as e:
                first_error = first_error or e
        if first_error is not None:
            raise first_error

    def identify(self) -> MeterIdentity:
        self._identities = identities = [m.identify() for m in self.meters]
        self.identity = MeterIdentity(
            model="+".join(i.model for i in identities),
            version=",".join(i.version or "?" for i in identities),
            channels=sum(i.channels for i in identities),
            dc=any(i.dc for i in identities),
            simulated=any(i.simulated for i in identities),
            raw=" | ".join(i.raw for i in identities),
        )
        return self.identity

    def read_ranges(self) -> Ranges:
        ranges = [m.read_ranges() for m in self.meters]
        if any(r.auto for r in ranges):
            return Ranges.automatic()
        return Ranges(max(r.volts_v or 0.0 for r in ranges), max(r.amps_a or 0.0 for r in ranges))

    def set_ranges(self, ranges: Ranges) -> None:
        # every channel sees the same ranges, as PTDaemon's SR does on a multichannel analyzer
        for meter in self.meters:
            meter.set_ranges(ranges)

    def restore_ranges(self) -> None:
        for meter in self.meters:
            meter.restore_ranges()

    def start(self, mark: str, interval_ms: int = 1000) -> None:
        self._join = SampleJoin(len(self.meters), self._interval_ms, self._max_age_intervals)
        self._join.skipped_stale = self.skipped_stale
        for meter in self.meters:
            meter.start(mark, interval_ms)

    def stop(self) -> bool:
        return any([m.stop() for m in self.meters])  # a list: stop every one, not just until the first True

    def read_new(self) -> list[PowerSample]:
        for i, meter in enumerate(self.meters):
            self._join.add(i, meter.read_new())
        joined = self._join.joined()
        self.skipped_stale = self._join.skipped_stale
        return joined


class SampleJoin:
    """The join rule of the module docstring over ``sources`` streams of samples: source 0 is the clock."""

    def __init__(self, sources: int, interval_ms: int, max_age_intervals: float = 2.0) -> None:
        self.interval_ns = interval_ms * NS_PER_MS
        self.max_age_ns = int(max_age_intervals * self.interval_ns)
        self.skipped_stale = 0
        self._pending: list[deque[PowerSample]] = [deque() for _ in range(sources)]
        self._held: list[PowerSample | None] = [None] * sources
        self._seen_ns: list[int | None] = [None] * sources

    def add(self, source: int, samples: Sequence[PowerSample]) -> None:
        self._pending[source].extend(samples)
        if samples:
            self._seen_ns[source] = samples[-1].t_utc_ns

    def joined(self) -> list[PowerSample]:
        """The combined samples that can be made now, oldest first."""
        half_ns = self.interval_ns // 2
        others = range(1, len(self._pending))
        seen = [self._seen_ns[j] for j in others]
        if any(s is None for s in seen):
            return []
        watermark_ns = min(s for s in seen if s is not None)
        joined: list[PowerSample] = []
        primary = self._pending[0]
        while primary and primary[0].t_utc_ns - half_ns <= watermark_ns:
            sample = primary.popleft()
            parts = [sample]
            for j in others:
                pending = self._pending[j]
                while pending and pending[0].t_utc_ns <= sample.t_utc_ns + half_ns:
                    self._held[j] = pending.popleft()
                held = self._held[j]
                if held is None or sample.t_utc_ns - held.t_utc_ns > self.max_age_ns:
                    break
                parts.append(held)
            if len(parts) < len(self._pending):
                self.skipped_stale += 1
                continue
            joined.append(combine_channels(sample.t_utc_ns, sample.mark, parts))
        return joined
