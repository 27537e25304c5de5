"""Prefill and decode: the window split on queries whose answer is worked out by hand (overlapping prefills,
decode-only stretches, idle gaps, queries sticking out of the window), the parts' energies adding up to the
window's, each checked against an integral taken another way, and the GPUs' parts from their counters."""

from __future__ import annotations

import json

import numpy as np
import pytest

from analyzer.metrics import trapezoid_energy_j
from analyzer.prefill_decode import (
    DECODE,
    IDLE,
    PREFILL,
    QueryTimes,
    cumulative_energy_j,
    part_energies_j,
    split_window,
    tokens_in_window,
)
from powerlog.clock_map import ClockPoint, SutClockMap
from powerlog.llm_queries import parse_llm_queries

S = 1_000_000_000
T0 = 1_765_000_000 * S  # the window is [T0, T0 + 100 s]
BEGIN, END = T0, T0 + 100 * S
# (prefill start, first token, completion) in s from T0, prompt and output tokens
QUERIES = [
    (10, 20, 50, 40, 11),  # its decode 20..25 overlaps the next one's prefill: prefill time
    (15, 25, 40, 30, 6),
    (60, 62, 70, 20, 9),  # alone: 62..70 is decode only
    (-5, 5, 8, 10, 4),  # begins before the window: half its prefill is inside
    (95, 98, 110, 12, 13),  # ends after it: 2 of its 12 s of decode are inside
    (120, 121, 130, 50, 5),  # wholly after the window: nothing
]
# worked out by hand
PREFILL_S = [(0, 5), (10, 25), (60, 62), (95, 98)]  # 25 s
DECODE_S = [(5, 8), (25, 50), (62, 70), (98, 100)]  # 38 s
IDLE_S = [(8, 10), (50, 60), (70, 95)]  # 37 s


def _queries(rows: list[tuple[int, int, int, int, int]] = QUERIES) -> QueryTimes:
    def ns(values: list[int]) -> np.ndarray:
        return np.array([T0 + v * S for v in values], dtype=np.int64)

    s, f, c, prompt, output = (list(col) for col in zip(*rows, strict=True))
    return QueryTimes(ns(s), ns(f), ns(c), np.array(prompt, dtype=np.int64), np.array(output, dtype=np.int64))


def _seconds(intervals: list[tuple[int, int]]) -> list[tuple[float, float]]:
    return [((a - T0) / S, (b - T0) / S) for a, b in intervals]


def test_the_window_splits_into_the_parts_worked_out_by_hand() -> None:
    split = split_window(_queries(), BEGIN, END)
    assert _seconds(split.intervals(PREFILL)) == PREFILL_S
    assert _seconds(split.intervals(DECODE)) == DECODE_S
    assert _seconds(split.intervals(IDLE)) == IDLE_S
    assert split.durations_s() == (25.0, 38.0, 37.0)
    assert split.edges_ns[0] == BEGIN and split.edges_ns[-1] == END
    assert _queries().overlapping(BEGIN, END) == 5


def test_no_query_is_all_idle_and_a_window_that_ends_first_is_refused() -> None:
    split = split_window(_queries([(120, 121, 130, 5, 5)]), BEGIN, END)
    assert split.durations_s() == (0.0, 0.0, 100.0) and _seconds(split.intervals(IDLE)) == [(0, 100)]
    with pytest.raises(ValueError, match="ends"):
        split_window(_queries(), END, BEGIN)


def test_tokens_in_the_window_count_the_share_of_each_stage_inside_it() -> None:
    prefill, decode = tokens_in_window(_queries(), BEGIN, END)
    assert prefill == pytest.approx(40 + 30 + 20 + 10 * 5 / 10 + 12)
    assert decode == pytest.approx(10 + 5 + 8 + 3 + 12 * 2 / 12)


def _wall(step_s: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Samples from before the window to after it, their power rising and falling."""
    t_s = np.arange(-3.3, 104, step_s)
    return (T0 + t_s * S).astype(np.int64), 200.0 + 50.0 * np.sin(t_s / 7.0) + t_s


def test_the_parts_energy_adds_up_to_the_window_and_each_is_its_own_integral() -> None:
    t, p = _wall()
    split = split_window(_queries(), BEGIN, END)
    parts = part_energies_j(split, cumulative_energy_j(t, p, split.edges_ns))
    window_j = trapezoid_energy_j(t, p, BEGIN, END)
    assert sum(parts) == pytest.approx(window_j, rel=1e-12)
    for part, hand in ((PREFILL, PREFILL_S), (DECODE, DECODE_S), (IDLE, IDLE_S)):
        each = sum(trapezoid_energy_j(t, p, T0 + a * S, T0 + b * S) for a, b in hand)
        assert parts[part] == pytest.approx(each, rel=1e-9)


def test_a_constant_power_gives_each_part_its_time_share() -> None:
    t = np.array([T0 - 5 * S, T0 + 50 * S, T0 + 200 * S], dtype=np.int64)
    split = split_window(_queries(), BEGIN, END)
    parts = part_energies_j(split, cumulative_energy_j(t, np.full(3, 300.0), split.edges_ns))
    assert parts == pytest.approx((300.0 * 25, 300.0 * 38, 300.0 * 37))


def test_the_cumulative_energy_is_the_trapezoid_integral_anywhere() -> None:
    rng = np.random.default_rng(3)
    t = np.sort(T0 + rng.integers(0, 100 * S, 300)).astype(np.int64)
    p = rng.uniform(50, 500, 300)
    points = np.sort(T0 + rng.integers(-20 * S, 120 * S, 50)).astype(np.int64)  # before, among, after the samples
    energy = cumulative_energy_j(t, p, points)
    for a, b, ea, eb in zip(points[:-1], points[1:], energy[:-1], energy[1:], strict=True):
        assert eb - ea == pytest.approx(trapezoid_energy_j(t, p, int(a), int(b)), rel=1e-9, abs=1e-6)
    with pytest.raises(ValueError, match="no samples"):
        cumulative_energy_j(t[:0], p[:0], points)


def test_query_times_move_onto_the_meters_clock_with_the_runs_map() -> None:
    times = {"issued_ns": T0, "prefill_start_ns": T0 + S, "first_token_ns": T0 + 2 * S, "completed_ns": T0 + 3 * S}
    log = parse_llm_queries(json.dumps({"query_id": 1, **times, "prompt_tokens": 4, "output_tokens": 3}))
    clock = SutClockMap.from_points([ClockPoint(T0, 5_000_000, 100_000)])  # the director 5 ms ahead
    queries = QueryTimes.from_log(log, clock)
    assert queries.prefill_start_ns.tolist() == [T0 + S + 5_000_000]
    assert queries.completed_ns.tolist() == [T0 + 3 * S + 5_000_000]
    assert QueryTimes.from_log(log, None).first_token_ns.tolist() == [T0 + 2 * S]
