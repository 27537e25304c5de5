"""The poll schedule of a device that refreshes on its own cycle, against a device simulated on paper: its refreshes
every ``T_d`` from a phase of its own, polls late by a jitter, a reading new when its refresh number changed."""

from __future__ import annotations

import math
from collections.abc import Callable

from director.meters.poll_schedule import PollSchedule

MIN_STEP_S = 0.1


class PaperDevice:
    """Refresh number ``floor((t - phase_s) / update_s)`` at time ``t``; what the polls saw."""

    def __init__(self, update_s: float, phase_s: float, frozen_after: int | None = None) -> None:
        self.update_s, self.phase_s, self.frozen_after = update_s, phase_s, frozen_after
        self.seen: list[int] = []
        self.poll_times_s: list[float] = []

    def number(self, t_s: float) -> int:
        n = math.floor((t_s - self.phase_s) / self.update_s)
        return n if self.frozen_after is None else min(n, self.frozen_after)

    def missed(self) -> list[int]:
        return sorted(set(range(self.seen[0], self.seen[-1] + 1)) - set(self.seen))


def run(device: PaperDevice, poll_s: float, first_after_s: float, polls: int, late_s: Callable[[int], float]) -> None:
    """Start at t = 0 (the baseline: refresh 0's number read), then ``polls`` polls, the k-th ``late_s(k)`` late."""
    schedule = PollSchedule(poll_s, 0.0, first_after_s, MIN_STEP_S)
    last = device.number(0.0)
    for k in range(polls):
        t_s = schedule.next_s + late_s(k)
        n = device.number(t_s)
        new = n != last
        if new:
            device.seen.append(n)
            last = n
        device.poll_times_s.append(t_s)
        schedule.polled(t_s, new)


def fixed_schedule(device: PaperDevice, poll_s: float, first_after_s: float, polls: int, late_s) -> None:
    """The control: every ``poll_s`` from the first poll, as a plain loop polls."""
    last = device.number(0.0)
    for k in range(polls):
        n = device.number(first_after_s + k * poll_s + late_s(k))
        if n != last:
            device.seen.append(n)
            last = n


def straddling(k: int) -> float:
    return 0.03 if k % 2 else 0.0  # every other poll 30 ms late


def test_a_device_refreshing_at_the_poll_rate_is_read_at_every_refresh_where_a_fixed_schedule_skips() -> None:
    # the first poll 10 ms before the device's refresh, and every other poll 30 ms late: straddling it
    control = PaperDevice(1.0, phase_s=0.51)
    fixed_schedule(control, 1.0, 0.5, 200, straddling)
    assert len(control.missed()) > 50  # the aliasing the schedule is for
    device = PaperDevice(1.0, phase_s=0.51)
    run(device, 1.0, 0.5, 220, straddling)
    assert device.missed() == [] and len(device.seen) >= 200
    # once caught up, each poll comes within a quarter interval after the refresh (plus the lateness of the poll
    # that caught up and of its own): one poll a refresh
    assert len(device.poll_times_s) <= len(device.seen) + 5
    settled = device.poll_times_s[-100:]
    assert all(0.0 < (t - device.phase_s) % 1.0 <= 0.25 + 2 * 0.03 for t in settled)


def test_the_first_reading_comes_within_a_quarter_interval_of_the_first_refresh() -> None:
    device = PaperDevice(1.0, phase_s=0.1)  # refreshes at 0.1 s, just after a first poll at 0.05 s
    run(device, 1.0, 0.05, 10, lambda k: 0.0)
    first_new_s = next(t for t in device.poll_times_s if device.number(t) == device.seen[0])
    assert device.seen[0] == 0 and first_new_s <= 0.1 + 0.25  # a fixed schedule would see it at 1.05 s
    assert device.missed() == []


def test_a_stuck_sensor_costs_at_most_two_polls_an_interval() -> None:
    device = PaperDevice(1.0, phase_s=0.3, frozen_after=3)
    run(device, 1.0, 0.5, 200, lambda k: 0.0)
    assert device.seen == [0, 1, 2, 3]  # the baseline at the start is refresh -1
    span_s = device.poll_times_s[-1] - device.poll_times_s[0]
    assert len(device.poll_times_s) <= 2 * span_s + 2


def test_a_device_slower_than_the_polls_is_read_at_every_refresh_without_doubling_them() -> None:
    device = PaperDevice(2.0, phase_s=0.7)
    run(device, 1.0, 0.2, 200, straddling)
    assert device.missed() == []
    span_s = device.poll_times_s[-1] - device.poll_times_s[0]
    assert len(device.poll_times_s) <= 1.3 * span_s  # about one poll a second, a catch-up now and then


def test_the_first_poll_is_where_the_caller_drew_it_and_a_late_poll_skips_turns_without_bunching() -> None:
    schedule = PollSchedule(1.0, 100.0, 0.37, MIN_STEP_S)
    assert schedule.next_s == 100.37 and schedule.update_interval_s is None
    schedule.polled(100.37, new=True)
    assert schedule.next_s == 101.37
    schedule.polled(104.0, new=True)  # 2.6 s late (a stalled process): one poll now, not the three it missed
    assert schedule.next_s == 104.0
    schedule.polled(104.1, new=True)
    assert schedule.next_s == 105.0
    schedule.polled(105.0, new=True)
    assert schedule.update_interval_s is not None and abs(schedule.update_interval_s - 0.9) < 1e-9
