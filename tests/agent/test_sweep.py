"""``run_sweep`` around SIMULATED GPUs whose limits live in a state folder (as another process would see them), with
a stand-in for the measurement session: a sweep interrupted half-way keeps its finished points in sweep.json, the
limits are back, and ``--resume`` runs only the rest; limits outside the range, or a process that may not set
limits, stop the sweep before any session starts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.cli import build_parser
from agent.errors import AgentError
from agent.gpu.errors import GpuLimitError, GpuPermissionError
from agent.gpu.sim_limit_model import DEFAULT_MODEL, read_limits
from agent.gpu.simulated import SIM_MAX_CLOCK_MHZ, SimulatedGpus
from agent.run import SessionOutcome
from agent.sweep import SWEEP_FILE, SweepOptions, parse_limits, run_sweep
from powerlog.result_record import CheckRecord, PerformanceRecord, QuantityRecord, ReportRecord, ResultJson
from powerlog.wire import GivenRanges, SessionOpened, SessionState

# relative work per setting (hand-made): 40 W does as much as 50 W for less power, so it is the best
WORK = {30.0: 78.0, 40.0: 99.0, 50.0: 100.0}
TESTED_ON = GivenRanges(volts_v=300.0, amps_a=2.0)  # the testing ranges of a full session


class _Measure:
    """One 'session' per call, at the limit the SIMULATED GPUs hold now; ``fail_at``: that limit is interrupted."""

    def __init__(self, gpus: SimulatedGpus, out: Path, fail_at: float | None = None) -> None:
        self.gpus, self.out, self.fail_at = gpus, out, fail_at
        self.limits_seen: list[float] = []
        self.ranges_given: list[GivenRanges | None] = []

    def __call__(self, watts: float, ranges: GivenRanges | None = None) -> SessionOutcome:
        held = self.gpus.power_limit_w(0)  # what the GPUs hold while the session runs
        self.limits_seen.append(held)
        self.ranges_given.append(ranges)
        if watts == self.fail_at:
            raise KeyboardInterrupt("interrupted mid-session")
        wall_w = 50.0 + 2 * held
        perf = WORK[watts]
        folder = self.out / f"run-{watts:g}"
        report = ReportRecord(
            folder=str(folder),
            loadgen_validity="VALID",
            avg_power_w=wall_w,
            performance=PerformanceRecord(value=perf, unit="samples/s"),
            efficiency=QuantityRecord(value=perf / wall_w, unit="samples/s/W"),
        )
        opened = SessionOpened(
            session_id=f"s{watts:g}", session_name="n", server_uuid="u", settle_s=0, state=SessionState.CLOSED,
            session_secret="x", lease_s=60,
        )  # fmt: skip
        result = ResultJson(report=report, check=CheckRecord(folder=str(folder)))
        return SessionOutcome(opened, result, folder, [], TESTED_ON if ranges is None else ranges)


def test_an_interrupted_sweep_keeps_its_finished_points_and_resume_runs_the_rest(tmp_path: Path) -> None:
    state, out = tmp_path / "sim-gpus", tmp_path / "sweep"
    options = SweepOptions(parse_limits("30,40,50"), out, gpus_spec="sim:2")
    first = _Measure(SimulatedGpus(2, state_dir=state), out, fail_at=40.0)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(options, SimulatedGpus(2, state_dir=state), first, say=lambda _: None)
    assert first.limits_seen == [30.0, 40.0]
    kept = json.loads((out / SWEEP_FILE).read_text())
    assert [p["limit_w"] for p in kept["points"]] == [30.0] and kept["answer"] is None
    assert kept["original_limits_w"] == {"0": 75.0, "1": 75.0}
    assert set(read_limits(state).values()) == {75.0}  # the guard put the originals back

    with pytest.raises(AgentError, match="give --resume"):
        run_sweep(options, SimulatedGpus(2, state_dir=state), first, say=lambda _: None)

    second = _Measure(SimulatedGpus(2, state_dir=state), out)
    resumed = SweepOptions(options.limits_w, out, resume=True, gpus_spec="sim:2")
    sweep = run_sweep(resumed, SimulatedGpus(2, state_dir=state), second, say=lambda _: None)
    assert second.limits_seen == [40.0, 50.0]  # 30 W was not measured again
    done = json.loads((out / SWEEP_FILE).read_text())
    assert [p["limit_w"] for p in done["points"]] == [30.0, 40.0, 50.0]
    assert done["answer"]["best_limit_w"] == 40.0 and sweep.default_limit_w == 75.0
    assert done["answer"]["gain_pct"] is None  # 75 W, the default, was not among the settings
    assert (out / "sweep.html").is_file() and (out / "sweep.parquet").is_file()
    assert set(read_limits(state).values()) == {75.0}


def test_limits_outside_the_range_stop_the_sweep_before_any_session(tmp_path: Path) -> None:
    measure = _Measure(SimulatedGpus(1), tmp_path)
    with pytest.raises(GpuLimitError, match=r"20, 90 W outside this GPU's range 30-75 W"):
        run_sweep(SweepOptions((20.0, 40.0, 90.0), tmp_path / "out"), SimulatedGpus(1), measure, say=lambda _: None)
    assert measure.limits_seen == []


class _NotRoot(SimulatedGpus):
    def set_power_limit_w(self, index: int, watts: float) -> None:
        raise GpuPermissionError(index, "may not set the power limit: run as root")


def test_a_process_that_may_not_set_limits_is_told_before_any_session(tmp_path: Path) -> None:
    measure = _Measure(SimulatedGpus(1), tmp_path)
    with pytest.raises(GpuPermissionError, match="run as root"):
        run_sweep(SweepOptions((40.0,), tmp_path / "out"), _NotRoot(1), measure, say=lambda _: None)
    assert measure.limits_seen == []
    assert not (tmp_path / "out" / SWEEP_FILE).exists()  # refused before the sweep began


@pytest.mark.parametrize("text", ["", "300,abc", "300,-5", "300,300", "nan"])
def test_bad_limit_lists_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="--gpu-power-limit-w"):
        parse_limits(text)


def test_sweep_takes_every_option_of_run_and_leaves_run_as_it_was() -> None:
    parser = build_parser()
    common = ["--director", "http://d", "--token-file", "t"]
    sweep = parser.parse_args(["sweep", *common, "--gpu-power-limit-w", "30,40", "--gpus", "sim:2", "--idle-s", "5",
                               "--resume", "--", "my-benchmark", "--fast"])  # fmt: skip
    assert (sweep.gpu_power_limit_w, sweep.gpus, sweep.idle_s, sweep.resume) == ((30.0, 40.0), "sim:2", 5.0, True)
    assert sweep.workload == ["--", "my-benchmark", "--fast"]
    run = parser.parse_args(["run", *common, "--benchmark", "builtin"])
    assert run.out == sweep.out == Path("mlpower-agent-runs") and not hasattr(run, "gpu_power_limit_w")


def test_testing_only_measures_the_first_setting_in_full_and_the_rest_on_its_ranges(tmp_path: Path) -> None:
    measure = _Measure(SimulatedGpus(1), tmp_path)
    options = SweepOptions(parse_limits("30,40,50"), tmp_path / "out", testing_only=True)
    sweep = run_sweep(options, SimulatedGpus(1), measure, say=lambda _: None)
    assert measure.ranges_given == [None, TESTED_ON, TESTED_ON]  # ranging once, then testing on its ranges
    assert [p.submittable for p in sweep.points] == [True, False, False]
    saved = json.loads((tmp_path / "out" / SWEEP_FILE).read_text())
    assert [p["submittable"] for p in saved["points"]] == [True, False, False]
    plain = _Measure(SimulatedGpus(1), tmp_path)
    run_sweep(SweepOptions((30.0, 40.0), tmp_path / "plain"), SimulatedGpus(1), plain, say=lambda _: None)
    assert plain.ranges_given == [None, None]  # by default every setting has its own ranging


def test_each_setting_records_the_gpus_clock_and_temperature_under_its_limit(tmp_path: Path) -> None:
    """The sweep polls its own GPU source while a setting is measured: the SIMULATED board at full load clocks
    down under a lower cap (the model's clock), and runs cooler."""
    control = SimulatedGpus(1, load=lambda _gpu: 1.0)
    sweep = run_sweep(
        SweepOptions(parse_limits("30,40,50"), tmp_path / "out"), control, _Measure(SimulatedGpus(1), tmp_path),
        say=lambda _: None,
    )  # fmt: skip
    clocks = [p.gpu_clock_mhz for p in sweep.points]
    expected = [SIM_MAX_CLOCK_MHZ * DEFAULT_MODEL.clock(w, 1.0) for w in (30.0, 40.0, 50.0)]
    assert clocks == pytest.approx(expected)
    temperatures = [p.gpu_temperature_c for p in sweep.points]
    assert all(t is not None for t in temperatures) and temperatures == sorted(temperatures)
    saved = json.loads((tmp_path / "out" / SWEEP_FILE).read_text())
    assert [p["gpu_clock_mhz"] for p in saved["points"]] == pytest.approx(expected)
