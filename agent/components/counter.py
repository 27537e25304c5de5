"""Energy counters into energy and power: the wrap-around undone (pure).

A counter E (integer µJ) is read at times t_0 < t_1 < ... (ns). RAPL's ``energy_uj`` counts up from 0
and, after ``max_energy_range_uj`` = R, starts again from 0 (the hardware register is 32 bits of a
model-specific energy unit; the kernel scales it and gives R). Between two readings:

    dE_k = E_k - E_{k-1}              when E_k >= E_{k-1}
    dE_k = (R - E_{k-1}) + E_k        when E_k <  E_{k-1}: the counter passed R once and wrapped

(R is where the count restarts; whether the register shows R itself before 0 is a matter of one µJ.)
Several wraps between two readings cannot be told from one, so the interval must be shorter than R over
the highest power: with R = 262,143 J (a common value) and 500 W, 8.7 minutes; the sampler reads ten
times a second. A counter that gives no R (hwmon's ``energyN_input``: the driver keeps a 64-bit count)
is taken never to wrap, and a lower reading is a *reset* (driver reloaded, counter cleared): that
interval's energy is unknown, counted as 0 and reported.

The energy since the first reading is the sum of the dE_k, kept as an integer (exact), in J:
energy_j_k = sum(dE_1..dE_k) / 1e6. The power over interval k is its mean power,

    P_k = dE_k / (t_k - t_{k-1})      [µJ/ns * 1e3 = W]

stamped at the middle of the interval, (t_{k-1} + t_k) / 2: the mean of a power curve over an interval
is its value near the middle, so integrating these points (trapezoids) gives back the counter's energy
to within the curve's curvature, and the analyzer's comparison of the two (counter vs integrated)
stays meaningful.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CounterStep", "EnergyCounter", "counter_delta_uj"]


def counter_delta_uj(previous_uj: int, current_uj: int, max_range_uj: int | None) -> int | None:
    """The energy between two readings (µJ), a wrap-around undone; None for a reset of a counter without range."""
    if current_uj >= previous_uj:
        return current_uj - previous_uj
    if max_range_uj is None or max_range_uj <= 0 or previous_uj > max_range_uj:
        return None  # lower, and not because it wrapped at a known range: a reset
    return (max_range_uj - previous_uj) + current_uj


@dataclass(frozen=True)
class CounterStep:
    energy_j: float  # since the first reading
    power_w: float | None  # over the interval since the previous reading (None for the first, or a reset)
    power_t_utc_ns: int | None  # the middle of that interval
    wrapped: bool = False
    reset: bool = False


class EnergyCounter:
    """One counter's readings in order: the running energy since the first, and each interval's power."""

    def __init__(self, max_range_uj: int | None) -> None:
        self.max_range_uj = max_range_uj
        self.total_uj = 0
        self.wraps = 0
        self.resets = 0
        self._last: tuple[int, int] | None = None  # (t_utc_ns, raw µJ) of the previous reading

    def update(self, t_utc_ns: int, raw_uj: int) -> CounterStep:
        last, self._last = self._last, (t_utc_ns, raw_uj)
        if last is None:
            return CounterStep(0.0, None, None)
        t0, e0 = last
        delta = counter_delta_uj(e0, raw_uj, self.max_range_uj)
        if delta is None:
            self.resets += 1
            return CounterStep(self.total_uj / 1e6, None, None, reset=True)
        wrapped = raw_uj < e0
        self.wraps += wrapped
        self.total_uj += delta
        dt = t_utc_ns - t0
        if dt <= 0:
            return CounterStep(self.total_uj / 1e6, None, None, wrapped=wrapped)
        return CounterStep(self.total_uj / 1e6, delta * 1e3 / dt, t0 + dt // 2, wrapped=wrapped)
