"""Several meters summed as channels: the join on the first meter's clock, staleness, and real pty meters."""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence

import pytest

from director.errors import MeterConnectionError
from director.meters.group import MeterGroup, combine_channels
from director.meters.ranges import Ranges
from director.sim.wt3xx import simulated_serial_meter
from powerlog.ptd_identity import MeterIdentity
from powerlog.spl import ChannelSample, PowerSample, format_spl_line

MS = 1_000_000
T0 = 1_800_000_000_000_000_000


class ListMeter:
    """A meter that hands out prepared readings, a batch per read_new (the hardware edge, nothing else)."""

    def __init__(self, name: str, batches: Sequence[Sequence[PowerSample]], fail_open: bool = False) -> None:
        self.name = name
        self.batches = list(batches)
        self.fail_open = fail_open
        self.opened = self.closed = False
        self.ranges: list[Ranges] = []
        self.exchanges: list[object] = []
        self.has_ranges = True
        self.identities: list[MeterIdentity] = []

    def open(self) -> None:
        if self.fail_open:
            raise MeterConnectionError(f"{self.name}: refused")
        self.opened = True

    def close(self) -> None:
        self.closed = True

    def identify(self) -> MeterIdentity:
        return MeterIdentity(f"Model{self.name}", "1.0", 1, False, True, f"{self.name} SIMULATED")

    def read_ranges(self) -> Ranges:
        return Ranges(300.0, 5.0)

    def set_ranges(self, ranges: Ranges) -> None:
        self.ranges.append(ranges)

    def restore_ranges(self) -> None:
        self.ranges.append(Ranges(300.0, 5.0))

    def start(self, mark: str, interval_ms: int = 1000) -> None:
        pass

    def stop(self) -> bool:
        return True

    def read_new(self) -> list[PowerSample]:
        return list(self.batches.pop(0)) if self.batches else []


def _s(t_ms: int, watts: float) -> PowerSample:
    return PowerSample(T0 + t_ms * MS, watts, 230.0, watts / 230.0, 0.95, "m")


def test_combined_sample_is_the_sum_with_one_channel_per_meter() -> None:
    a = PowerSample(T0, 100.0, 230.0, 0.5, 0.9, "run")
    b = PowerSample(T0 + 3 * MS, 60.0, -1.0, -1.0, -1.0, "run", (ChannelSample(25.0, 229.0, 0.12, 0.9),
                                                                 ChannelSample(35.0, 231.0, 0.16, 0.95)))  # fmt: skip
    joined = combine_channels(T0, "run", [a, b])
    assert joined.power_w == 160.0 and len(joined.channels) == 3
    assert joined.channels[0] == ChannelSample(100.0, 230.0, 0.5, 0.9)
    line = format_spl_line(joined)
    assert ",Watts,160.000000,Volts,-1.000000," in line and line.count(",Ch") == 3


def test_join_waits_for_the_slower_meter_and_never_pairs_twice() -> None:
    first = ListMeter("a", [[_s(0, 100), _s(100, 101), _s(200, 102)], [_s(300, 103)]])
    second = ListMeter("b", [[_s(5, 50)], [_s(105, 51), _s(205, 52), _s(305, 53)]])
    group = MeterGroup([first, second], interval_ms=100)
    group.start("m")
    got = group.read_new()  # b has reported up to 5 ms: only a's sample at 0 can be joined
    assert [(s.t_utc_ns - T0) // MS for s in got] == [0]
    assert got[0].power_w == 150.0
    got = group.read_new()
    assert [(s.t_utc_ns - T0) // MS for s in got] == [100, 200, 300]
    assert [s.power_w for s in got] == [152.0, 154.0, 156.0]
    assert group.skipped_stale == 0


def test_stale_readings_are_skipped_not_reused() -> None:
    # b stops reporting between 100 ms and 600 ms: a's samples in the hole have no fresh partner
    first = ListMeter("a", [[_s(t, 100) for t in range(0, 800, 100)]])
    second = ListMeter("b", [[_s(0, 10), _s(100, 11), _s(600, 16), _s(700, 17)]])
    group = MeterGroup([first, second], interval_ms=100, max_age_intervals=2)
    group.start("m")
    got = group.read_new()
    times = [(s.t_utc_ns - T0) // MS for s in got]
    assert times == [0, 100, 200, 300, 600, 700]  # 200 and 300 use b at 100 ms (within 2 intervals)
    assert group.skipped_stale == 2  # 400 and 500 are skipped
    assert got[2].channels[1].power_w == 11.0


def test_open_closes_what_it_opened_when_one_meter_fails() -> None:
    first, second = ListMeter("a", []), ListMeter("b", [], fail_open=True)
    group = MeterGroup([first, second], interval_ms=1000)
    with pytest.raises(MeterConnectionError):
        group.open()
    assert first.opened and first.closed


def test_identity_ranges_and_restore_cover_every_meter() -> None:
    first, second = ListMeter("a", []), ListMeter("b", [])
    group = MeterGroup([first, second], interval_ms=1000)
    identity = group.identify()
    assert identity.channels == 2 and identity.simulated and identity.model == "Modela+Modelb"
    assert group.read_ranges() == Ranges(300.0, 5.0)
    group.set_ranges(Ranges(150.0, 2.0))
    group.restore_ranges()
    assert first.ranges == second.ranges == [Ranges(150.0, 2.0), Ranges(300.0, 5.0)]
    with pytest.raises(ValueError):
        MeterGroup([first], interval_ms=1000)


@pytest.mark.slow
@pytest.mark.realtime
def test_two_simulated_wt310s_on_ptys_give_two_channel_samples_at_10_hz() -> None:
    group = MeterGroup(
        [simulated_serial_meter("constant:200"), simulated_serial_meter("constant:300")], interval_ms=100
    )
    group.open()
    try:
        assert group.identify().channels == 2
        group.read_ranges()
        group.set_ranges(Ranges.automatic())
        group.start("m", 100)
        samples: list[PowerSample] = []
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            time.sleep(0.1)
            samples += group.read_new()
        group.stop()
    finally:
        group.close()
    assert 45 <= len(samples) <= 51
    assert all(len(s.channels) == 2 for s in samples)
    assert all(abs(s.power_w - (s.channels[0].power_w + s.channels[1].power_w)) < 1e-9 for s in samples)
    assert [ch.power_w for ch in samples[-1].channels] == [pytest.approx(200, rel=0.05), pytest.approx(300, rel=0.05)]
    times = [s.t_utc_ns for s in samples]
    assert times == sorted(set(times))  # none twice
    assert max(b - a for a, b in itertools.pairwise(times)) < 200 * MS
