"""One SUT-to-director time mapping: accurate under drift, and the same for LoadGen's window and the GPU series."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from analyzer.run import load_run
from powerlog.clock_map import ClockPoint, SutClockMap
from powerlog.sut_samples import SAMPLES_DIR, write_parquet
from tests.support.paths import FIXTURES

S = 1_000_000_000
OFFSET_NS = 800_000_000  # the SUT clock is 0.8 s behind the director's ...
DRIFT = 50e-6  # ... and runs 50 ppm fast


def _sut_of(director_ns: int, t0_ns: int) -> int:
    """The drifting SUT clock's reading at a director time."""
    return round(director_ns - OFFSET_NS + DRIFT * (director_ns - t0_ns))


def _director_of(sut_ns: int, t0_ns: int) -> float:
    """The inverse: the director time at which the SUT clock read ``sut_ns``."""
    return (sut_ns + OFFSET_NS + DRIFT * t0_ns) / (1 + DRIFT)


def _measurements(t0_ns: int, at_s: list[float], bound_ns: int, rng: np.random.Generator) -> list[dict[str, int]]:
    """Clock reports as the agent makes them: the true offset, wrong by at most the bound."""
    reports = []
    for at in at_s:
        director_ns = t0_ns + round(at * S)
        sut_ns = _sut_of(director_ns, t0_ns)
        error_ns = int(rng.integers(-bound_ns, bound_ns + 1))
        reports.append({"offset_ns": director_ns - sut_ns + error_ns, "bound_ns": bound_ns, "agent_utc_ns": sut_ns})
    return reports


def test_a_drifting_sut_clock_is_followed_within_the_bound() -> None:
    """+0.8 s and 50 ppm over a 660 s phase (30 ms of drift): every mapped time, at the window's ends and at
    each GPU reading, lies within the reported bound of the truth; the old mean offset was 15 ms off."""
    rng = np.random.default_rng(7)
    t0 = 1_700_000_000 * S
    bound_ns = 200_000  # 0.2 ms, a LAN's round trip
    reports = _measurements(t0, [0.0, 5.0, 665.0, 670.0, 1340.0], bound_ns, rng)  # session, ranging, testing
    clock_map = SutClockMap.from_reports(reports)
    sut = np.arange(_sut_of(t0 + 670 * S, t0), _sut_of(t0 + 1335 * S, t0), 10_000_000, dtype=np.int64)
    mapped = clock_map.to_director_array(sut)
    truth = np.array([_director_of(int(s), t0) for s in sut])
    errors_ns = np.abs(mapped - truth)
    bounds_ns = np.array([clock_map.bound_ns(int(s)) for s in sut])
    assert np.all(errors_ns <= bounds_ns + 1), (errors_ns.max(), bounds_ns.max())
    assert errors_ns.max() < 400_000  # 0.4 ms
    for end in (int(sut[0]), int(sut[-1])):  # the scalar path agrees with the array path
        assert clock_map.to_director_ns(end) == mapped[0 if end == sut[0] else -1]
    mean = round(np.mean([r["offset_ns"] for r in reports]))
    assert np.abs(sut + mean - truth).max() > 10_000_000  # what one mean offset for the session got wrong


def test_the_map_holds_the_nearest_measurement_outside_and_interpolates_the_bound() -> None:
    m = SutClockMap.from_points([ClockPoint(10 * S, 2_000, 100), ClockPoint(0, 1_000, 300)])
    assert m.points[0].sut_utc_ns == 0  # sorted
    assert m.to_director_ns(-5 * S) == -5 * S + 1_000 and m.to_director_ns(20 * S) == 20 * S + 2_000
    assert m.offset_ns(5 * S) == 1_500 and m.bound_ns(5 * S) == 200
    assert SutClockMap(()).to_director_ns(42) == 42 and SutClockMap(()).bound_ns(42) is None
    assert SutClockMap.from_reports([{"offset_ns": 5}, {"bound_ns": 1}]).points == ()  # incomplete entries left out


def test_loadgen_window_and_gpu_series_are_placed_by_the_same_map(tmp_path: Path) -> None:
    """In a result folder with mlpower's session.json and a GPU series, the wall window and the GPU times come
    from the one map (SUT times stored as the SUT wrote them)."""
    perf = tmp_path / "performance"
    shutil.copytree(FIXTURES["xe8545_resnet_offline"], perf)
    window_sut = load_run(perf).testing.window_utc_ns
    assert window_sut is not None
    begin, end = window_sut
    drift_ns = 30_000_000
    reports = [
        {"phase": "testing", "when": "before", "offset_ns": 5_000_000, "bound_ns": 100_000, "agent_utc_ns": begin - S},
        {
            "phase": "testing",
            "when": "after",
            "offset_ns": 5_000_000 + drift_ns,
            "bound_ns": 300_000,
            "agent_utc_ns": end + S,
        },
    ]
    (perf / "session.json").write_text(json.dumps({"clock": reports}))
    (perf / SAMPLES_DIR).mkdir()
    sut_t = np.arange(begin, end, 100_000_000, dtype=np.int64)
    write_parquet(perf / SAMPLES_DIR / "gpu0.power.parquet", {"t_utc_ns": sut_t, "power_w": np.full(len(sut_t), 300.0)})
    run = load_run(perf)
    clock_map = SutClockMap.from_reports(reports)
    assert run.testing.meter_window_utc_ns == (clock_map.to_director_ns(begin), clock_map.to_director_ns(end))
    assert np.array_equal(run.gpus[0].power_t_ns, clock_map.to_director_array(sut_t))
    clock = run.testing.clock
    assert clock is not None and clock.change_ns == drift_ns
    # the window's ends are ~1 s inside the measurements: the bound is interpolated between 0.1 and 0.3 ms
    assert 100_000 < clock.bound_ns < 300_000
    assert clock.offset_ns == pytest.approx(5_000_000 + drift_ns / 2, abs=drift_ns * 0.01)
