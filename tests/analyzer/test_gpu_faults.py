"""GPU energy done right (issue #32, item 4), pure: the counter first and integrated power as the cross-check,
counter resets, wraps and stuck stretches, GPUs reporting zero, the power readings' kind and the figures' scope."""

from __future__ import annotations

import numpy as np
import pytest

from analyzer.gpu import (
    AVERAGE_COVERAGE_PERIOD_S,
    DISAGREEMENT,
    MODULE_SCOPE,
    GpuSeries,
    counter_track,
    describe_gpus,
    gpu_record_fields,
    gpu_window,
)
from powerlog.result_record import GpuRecord
from powerlog.sut_samples import (
    COUNTER_WRAP_J,
    FAULT_NO_COUNTER,
    FAULT_RESET,
    FAULT_STUCK,
    FAULT_WRAP,
    FAULT_ZERO,
    counter_scope,
    counter_step_j,
)
from powerlog.wire import GpuDescription

S = 1_000_000_000


def _series(
    power_w: float = 300.0, counter: np.ndarray | None = None, power: np.ndarray | None = None, **about: object
) -> GpuSeries:
    """10 s of readings: power every 20 ms, the counter every second (from 1000 J at ``power_w`` unless given)."""
    t = np.arange(0, 10 * S + 1, 20_000_000, dtype=np.int64)
    energy_t = np.arange(0, 10 * S + 1, S, dtype=np.int64)
    energy = 1000.0 + power_w * energy_t / S if counter is None else counter
    values = np.full(t.shape, power_w) if power is None else power
    return GpuSeries(0, t, values, energy_t, energy, **about)  # type: ignore[arg-type]


def _names(warnings: tuple[str, ...]) -> list[str]:
    return [w.split(":", 1)[0] for w in warnings]


def test_a_counter_step_is_a_difference_a_wrap_or_a_reset() -> None:
    assert counter_step_j(100.0, 350.0, S) == (250.0, None)
    assert counter_step_j(100.0, 100.0, S) == (0.0, None)
    assert counter_step_j(5000.0, 12.0, S) == (12.0, FAULT_RESET)  # from the reload on: a lower bound
    step, fault = counter_step_j(COUNTER_WRAP_J - 200.0, 100.0, S)
    assert fault == FAULT_WRAP and step == pytest.approx(300.0, abs=8)  # 4 J is a float's step up there
    assert counter_step_j(COUNTER_WRAP_J - 50_000.0, 100.0, S)[1] == FAULT_RESET  # 50 kJ in 1 s: no wrap


def test_the_counter_is_the_figure_and_integrated_power_the_cross_check() -> None:
    w = gpu_window(_series(), int(2.5 * S), int(7.5 * S))
    assert w.energy_from == "counter" and w.energy_j == w.counter_energy_j == pytest.approx(1500.0)
    assert w.integrated_energy_j == pytest.approx(1500.0) and w.faults == () and w.warnings == ()
    no_counter = _series(counter=np.zeros(0))
    no_counter = GpuSeries(0, no_counter.power_t_ns, no_counter.power_w, np.zeros(0, np.int64), np.zeros(0))
    w = gpu_window(no_counter, int(2.5 * S), int(7.5 * S))
    assert w.energy_from == "power" and w.energy_j == pytest.approx(1500.0) and w.faults == (FAULT_NO_COUNTER,)
    assert w.warnings[0].startswith(f"{FAULT_NO_COUNTER}: GPU 0 has no energy counter: its energy is the integrated")


def test_a_disagreement_beyond_the_threshold_gives_both_figures() -> None:
    burst = _series(counter=1000.0 + 360.0 * np.arange(11))  # the counter saw 20 % more than the power readings
    w = gpu_window(burst, 1 * S, 9 * S)
    (said,) = [x for x in w.warnings if x.startswith(DISAGREEMENT)]
    assert "2400.0 J" in said and "2880.0 J" in said and "-16.7 %" in said and "trust the counter" in said
    assert w.energy_j == pytest.approx(2880.0)


def test_a_reset_inside_the_window_is_stitched_not_a_negative_energy() -> None:
    counter = 1000.0 + 300.0 * np.arange(11)
    counter[5:] = 300.0 * np.arange(1, 7) - 200.0  # reloaded at 4.67 s: 100 J at 5 s, then 300 J/s
    w = gpu_window(_series(counter=counter), 2 * S, 8 * S)
    assert w.faults == (FAULT_RESET,) and w.energy_from == "counter"
    # 2..4 s: 600 J; 4..5 s (the reload's interval): the power readings' 300 J; 5..8 s: 900 J (the old code
    # took 1600 J - 2200 J: a negative energy)
    assert w.counter_energy_j == pytest.approx(1800.0)
    (said,) = [x for x in w.warnings if x.startswith(FAULT_RESET)]
    assert "from 2200.0 J to 100.0 J after 2.0 s into the window" in said
    blind = _series(counter=counter)
    blind = GpuSeries(0, blind.power_t_ns[:1], blind.power_w[:1], blind.energy_t_ns, blind.energy_j)
    assert gpu_window(blind, 2 * S, 8 * S).counter_energy_j == pytest.approx(1600.0)  # no power: from the reload on
    assert gpu_window(_series(counter=counter), 6 * S, 9 * S).faults == ()  # after the reset: nothing to say


def test_a_wrap_is_undone() -> None:
    start = COUNTER_WRAP_J - 1500.0
    counter = np.array([(start + 300.0 * k) % COUNTER_WRAP_J for k in range(11)])
    w = gpu_window(_series(counter=counter), 1 * S, 9 * S)
    assert w.faults == (FAULT_WRAP,) and w.counter_energy_j == pytest.approx(2400.0, rel=0.01)
    assert counter_track(_series(counter=counter)).running_j[-1] == pytest.approx(3000.0, rel=0.01)


def test_a_stuck_counter_is_not_the_figure() -> None:
    counter = 1000.0 + 300.0 * np.arange(11)
    counter[4:8] = counter[4]  # stands at 2200 J from 4 s to 7 s while the GPU draws 300 W
    counter[8:] -= 900.0
    w = gpu_window(_series(counter=counter), 1 * S, 9 * S)
    assert w.faults == (FAULT_STUCK,) and w.energy_from == "power" and w.energy_j == pytest.approx(2400.0)
    (said,) = [x for x in w.warnings if x.startswith(FAULT_STUCK)]
    assert "stood at 2200.0 J for 3.0 s from 3.0 s into the window" in said and "300.0 W" in said
    idle = _series(power_w=0.0, counter=counter, power=np.full(501, 2.0))  # 2 W: below the stuck threshold
    assert FAULT_STUCK not in gpu_window(idle, 1 * S, 9 * S).faults


def test_a_counter_that_does_not_move_in_a_short_window_with_power_is_stuck_too() -> None:
    counter = np.full(11, 5000.0)
    w = gpu_window(_series(counter=counter), int(4.2 * S), int(5.8 * S))
    assert FAULT_STUCK in w.faults and w.energy_j == pytest.approx(480.0)


def test_gpus_reporting_zero_get_no_figure_rather_than_a_silent_zero() -> None:
    zeros = np.zeros(501)
    absent = _series(power=zeros)
    absent = GpuSeries(0, absent.power_t_ns, zeros, np.zeros(0, np.int64), np.zeros(0))
    w = gpu_window(absent, 1 * S, 9 * S)  # CodeCarbon #1316: no counter, power all 0
    assert w.energy_j is None and w.mean_power_w is None and set(w.faults) == {FAULT_ZERO, FAULT_NO_COUNTER}
    assert any("power read 0 W in all 399 readings" in x for x in w.warnings)
    both = gpu_window(_series(counter=np.full(11, 7.0), power=zeros), 1 * S, 9 * S)
    assert both.energy_j is None and both.faults == (FAULT_ZERO,) and "counter did not move" in both.warnings[-1]
    sensor_only = gpu_window(_series(power=zeros), 1 * S, 9 * S)  # the counter moves: it is still the figure
    assert sensor_only.faults == (FAULT_ZERO,) and sensor_only.energy_j == pytest.approx(2400.0)
    assert sensor_only.disagreement_pct is None


def test_what_the_readings_are_comes_from_the_agents_description() -> None:
    plain = _series()
    described = [
        GpuDescription(index=0, name="NVIDIA GH200 480GB", uuid="GPU-0", energy_counter=True, power_field="instant",
                       power_kind="instant", power_scope="gpu", energy_scope="module"),
    ]  # fmt: skip
    (gh200,) = describe_gpus([plain], described)
    w = gpu_window(gh200, 1 * S, 9 * S)
    assert (w.power_reading_kind, w.scope, w.energy_from) == ("instant", "module", "counter")
    assert any(x.startswith(f"{MODULE_SCOPE}: GPU 0's figure covers the whole module") for x in w.warnings)
    record = GpuRecord(gpu=0, **gpu_record_fields(w))
    assert (record.power_reading_kind, record.scope, record.energy_from) == ("instant", "module", "counter")
    old = [GpuDescription(index=0, name="NVIDIA H100", uuid="GPU-0", energy_counter=True, power_field="average")]
    (h100,) = describe_gpus([plain], old)  # a folder from before power_kind: read off the field's label
    assert (h100.power_kind, h100.power_scope, h100.energy_scope) == ("average", "gpu", "gpu")
    assert gpu_window(h100, 1 * S, 9 * S).scope == "gpu"
    assert counter_scope("NVIDIA GH200 144G HBM3e") == "module" and counter_scope("NVIDIA H200") == "gpu"
    (unknown,) = describe_gpus([plain], [])
    assert gpu_window(unknown, 1 * S, 9 * S).power_reading_kind is None


def test_one_second_averages_cover_their_window_at_one_a_second() -> None:
    t = np.arange(0, 10 * S + 1, S, dtype=np.int64)
    sparse = GpuSeries(0, t, np.full(t.shape, 300.0), t, 1000.0 + 300.0 * t / S)
    assert AVERAGE_COVERAGE_PERIOD_S == 1.0
    instant = gpu_window(GpuSeries(**{**sparse.__dict__, "power_kind": "instant"}), int(0.5 * S), int(9.5 * S))
    average = gpu_window(GpuSeries(**{**sparse.__dict__, "power_kind": "average"}), int(0.5 * S), int(9.5 * S))
    assert any("instant-power readings" in x and "cover too little" in x for x in instant.warnings)
    assert not any("cover too little" in x for x in average.warnings) and average.power_reading_kind == "average"
