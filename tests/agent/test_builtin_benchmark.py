"""The built-in benchmark: the numpy model, and real short LoadGen runs as subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from agent.builtin import SCENARIOS, TinyConvNet, parse_scenario, synthetic_images
from agent.builtin.harness import (
    LOADGEN_OFFLINE_HEADROOM,
    MAX_PREGENERATED_QUERIES,
    MULTI_STREAM_SAMPLES_PER_QUERY,
    OFFLINE_LOAD_FRACTION,
    SERVER_LOAD_FRACTION,
    STREAM_LATENCY_HEADROOM,
    ModelSpeed,
    OfflinePace,
    build_test_settings,
    measure_model_speed,
    run_builtin,
    sustained_seconds,
    sustained_throughput_sps,
)
from agent.builtin.model import NUM_CLASSES, _conv3x3_same
from powerlog.mllog import read_detail_log
from powerlog.timestamps import parse_ptd_timestamp
from tests.support.paths import REPO_ROOT
from tests.support.processes import SUT_NICE

LOG_DIR_ENV = "MLPOWER_LOADGEN_DIR"


def run_builtin_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    command = [*SUT_NICE, sys.executable, "-m", "agent.builtin", *args]
    return subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False, env=env)


def env_without_log_dir() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key != LOG_DIR_ENV}


# --- the model ---------------------------------------------------------------


def test_same_seed_gives_same_labels() -> None:
    images = synthetic_images(32, seed=3)
    assert np.array_equal(images, synthetic_images(32, seed=3))
    first = TinyConvNet(seed=7).predict(images)
    second = TinyConvNet(seed=7).predict(images)
    assert np.array_equal(first, second)
    assert not np.array_equal(TinyConvNet(seed=7).logits(images), TinyConvNet(seed=8).logits(images))


@pytest.mark.parametrize("count", [1, 5, 64])
def test_batch_of_n_gives_n_labels_in_range(count: int) -> None:
    labels = TinyConvNet(seed=0).predict(synthetic_images(count, seed=1))
    assert labels.shape == (count,)
    assert labels.dtype == np.int64
    assert labels.min() >= 0 and labels.max() < NUM_CLASSES


def test_batched_and_one_by_one_predictions_agree() -> None:
    model = TinyConvNet(seed=2)
    images = synthetic_images(16, seed=2)
    one_by_one = np.concatenate([model.predict(images[i : i + 1]) for i in range(len(images))])
    assert np.array_equal(model.predict(images), one_by_one)


def test_probabilities_are_a_softmax() -> None:
    probabilities = TinyConvNet(seed=0).probabilities(synthetic_images(4, seed=0))
    assert probabilities.shape == (4, NUM_CLASSES)
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert (probabilities > 0).all()


def test_im2col_convolution_matches_a_direct_one() -> None:
    rng = np.random.default_rng(0)
    channels, batch, size, filters = 3, 2, 6, 4
    features = rng.standard_normal((channels, batch, size, size)).astype(np.float32)
    weights = rng.standard_normal((channels * 9, filters)).astype(np.float32)
    bias = rng.standard_normal(filters).astype(np.float32)
    padded = np.pad(features, ((0, 0), (0, 0), (1, 1), (1, 1)))
    kernel = weights.reshape(channels, 3, 3, filters)
    expected = np.zeros((filters, batch, size, size)) + bias[:, None, None, None]
    for ky in range(3):
        for kx in range(3):
            window = padded[:, :, ky : ky + size, kx : kx + size]
            expected += np.einsum("cnhw,cf->fnhw", window, kernel[:, ky, kx, :])
    assert np.allclose(_conv3x3_same(features, weights, bias), expected, atol=1e-4)


def test_model_rejects_wrong_image_shape() -> None:
    with pytest.raises(ValueError, match=r"shape \(N, 3, 32, 32\)"):
        TinyConvNet().predict(np.zeros((2, 32, 32, 3), dtype=np.float32))


# --- settings ----------------------------------------------------------------


def test_parse_scenario_is_case_insensitive_and_explains_a_bad_name() -> None:
    assert parse_scenario("offline") == "Offline"
    assert parse_scenario("MultiStream") == "MultiStream"
    with pytest.raises(ValueError, match="unknown scenario 'Batch': choose one of Offline, Server"):
        parse_scenario("Batch")


def test_settings_follow_duration_and_model_speed() -> None:
    speed = ModelSpeed(
        single_image_latency_ns=500_000,
        multi_stream_query_latency_ns=2_000_000,
        batch_throughput_sps=8000,
        single_image_fastest_ns=400_000,
        single_image_sustained_sps=1600,
    )
    settings = build_test_settings("MultiStream", 2.5, speed)
    assert settings.min_duration_ms == 2500 and settings.max_duration_ms == 0  # no cap: it must not end early
    assert settings.min_query_count == 1
    assert settings.multi_stream_samples_per_query == MULTI_STREAM_SAMPLES_PER_QUERY
    assert settings.multi_stream_expected_latency_ns == 2_000_000 / STREAM_LATENCY_HEADROOM
    single = build_test_settings("SingleStream", 2.5, speed)
    assert single.single_stream_expected_latency_ns == 400_000 / STREAM_LATENCY_HEADROOM
    long_single = build_test_settings("SingleStream", 3600, speed)  # the query count is capped
    assert long_single.single_stream_expected_latency_ns == 2 * 3600e9 / MAX_PREGENERATED_QUERIES
    server = build_test_settings("Server", 2.5, speed)
    # the sustained rate, not the median image's 2,000/s (a starved process runs one image fast, not many)
    assert server.server_target_qps == pytest.approx(1600 * SERVER_LOAD_FRACTION) and server.max_duration_ms > 2500
    assert server.server_coalesce_queries
    offline = build_test_settings("Offline", 2.5, speed)
    assert offline.offline_expected_qps * LOADGEN_OFFLINE_HEADROOM == pytest.approx(8000 * OFFLINE_LOAD_FRACTION)
    with pytest.raises(ValueError, match="duration"):
        build_test_settings("Offline", 0, speed)


# --- real LoadGen runs ---------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_two_second_loadgen_run(scenario: str, tmp_path: Path) -> None:
    log_dir = tmp_path / "loadgen"
    result = run_builtin_cli("--scenario", scenario, "--duration", "2", "--log-dir", str(log_dir))
    assert result.returncode == 0, result.stderr
    assert f"scenario:    {scenario}" in result.stdout
    assert "short non-submission run" in result.stdout
    assert (log_dir / "mlperf_log_summary.txt").is_file()
    detail = read_detail_log(log_dir / "mlperf_log_detail.txt")
    assert detail.value("effective_scenario") == scenario
    assert detail.value("result_validity") in ("VALID", "INVALID")
    begin_ns = parse_ptd_timestamp(detail.value("power_begin"))
    end_ns = parse_ptd_timestamp(detail.value("power_end"))
    assert (end_ns - begin_ns) / 1e9 >= 1.5  # the duration (no upper bound: the run's length depends on the load)
    if scenario == "Offline":  # sized from the measured speed, as build_test_settings says
        expected_qps = float(detail.value("requested_offline_expected_qps"))
        samples = int(detail.value("generated_samples_per_query"))
        assert samples == pytest.approx(LOADGEN_OFFLINE_HEADROOM * expected_qps * 2.0, abs=1.0)


def _loadgen_span_s(log_dir: Path) -> float:
    detail = read_detail_log(log_dir / "mlperf_log_detail.txt")
    return (parse_ptd_timestamp(detail.value("power_end")) - parse_ptd_timestamp(detail.value("power_begin"))) / 1e9


@pytest.mark.slow
def test_a_server_run_keeps_its_duration_beside_cpu_bound_processes(tmp_path: Path) -> None:
    """Two CPU-bound processes of the benchmark's priority beside it on this machine: the Server load comes
    from what the machine sustains now, so LoadGen's run ends soon after its 2 s (it took 8.5 s here when the
    load came from the median time of one image, and 44 s beside processes of higher priority)."""
    hogs = [subprocess.Popen([*SUT_NICE, sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        result = run_builtin_cli("--scenario", "Server", "--duration", "2", "--log-dir", str(tmp_path))
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    assert result.returncode == 0, result.stderr
    assert 2.0 <= _loadgen_span_s(tmp_path) <= 2.0 + 5.0


def test_offline_pace_holds_answers_back_until_their_share_of_the_time() -> None:
    import time

    start_ns = time.perf_counter_ns()
    pace = OfflinePace(samples=100, min_s=0.3, start_ns=start_ns)
    assert pace.due_ns(50) == start_ns + 150_000_000 and pace.due_ns(500) == start_ns + 300_000_000
    pace.wait(100)  # all answered at once: held back until the whole minimum has passed
    assert time.perf_counter_ns() - start_ns >= 300_000_000 and pace.waited_s > 0.25
    pace.wait(100)  # on time already: no wait
    assert pace.waited_s < 0.31


@pytest.mark.slow
@pytest.mark.parametrize("paced", [True, False])
def test_an_offline_run_sized_for_a_slower_machine_lasts_its_duration_only_when_paced(
    paced: bool, tmp_path: Path
) -> None:
    """The machine got 3x faster than it was measured (its load dropped): the issued samples would be done in
    a quarter of the duration, INVALID. Paced, the answers are spread over the duration and the run is VALID."""
    measured = measure_model_speed(TinyConvNet(0), synthetic_images(256, 0))
    slow = ModelSpeed(
        measured.single_image_latency_ns,
        measured.multi_stream_query_latency_ns,
        measured.batch_throughput_sps / 3,
        measured.single_image_fastest_ns,
        measured.single_image_sustained_sps,
    )
    result = run_builtin("Offline", 2.0, tmp_path / "loadgen", speed=slow, paced=paced)
    detail = read_detail_log(tmp_path / "loadgen" / "mlperf_log_detail.txt")
    assert result.validity == ("VALID" if paced else "INVALID")
    assert detail.value("result_min_duration_met") is paced


@pytest.mark.slow
@pytest.mark.realtime
@pytest.mark.parametrize("scenario", ["SingleStream", "MultiStream"])
def test_a_stream_run_sized_for_a_slower_machine_still_lasts_its_duration(scenario: str, tmp_path: Path) -> None:
    """The machine got 3x faster than it was measured: the queries LoadGen pre-generates still outlast the
    duration, and LoadGen stops at it, VALID. Realtime (run alone after the parallel suite): beside the other
    workers the model's speed is measured under one load and run under another, and once ran more than 3x
    faster than measured."""
    measured = measure_model_speed(TinyConvNet(0), synthetic_images(256, 0))
    slow = ModelSpeed(
        measured.single_image_latency_ns,
        measured.multi_stream_query_latency_ns * 3,
        measured.batch_throughput_sps,
        measured.single_image_fastest_ns * 3,
        measured.single_image_sustained_sps,
    )
    run_builtin(scenario, 1.5, tmp_path / "loadgen", speed=slow)
    detail = read_detail_log(tmp_path / "loadgen" / "mlperf_log_detail.txt")
    assert detail.value("result_min_duration_met") is True
    span_s = (parse_ptd_timestamp(detail.value("power_end")) - parse_ptd_timestamp(detail.value("power_begin"))) / 1e9
    assert span_s >= 1.5


@pytest.mark.slow
def test_log_dir_defaults_to_the_environment(tmp_path: Path) -> None:
    env = {**os.environ, LOG_DIR_ENV: str(tmp_path / "from-env")}
    result = run_builtin_cli("--scenario", "SingleStream", "--duration", "0.3", env=env)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "from-env" / "mlperf_log_detail.txt").is_file()


# --- command-line errors -------------------------------------------------------


def test_bad_scenario_exits_nonzero_with_a_clear_message(tmp_path: Path) -> None:
    result = run_builtin_cli("--scenario", "Batch", "--duration", "2", "--log-dir", str(tmp_path))
    assert result.returncode != 0
    assert "unknown scenario 'Batch'" in result.stderr
    assert "Offline, Server, SingleStream, MultiStream" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "mlperf_log_detail.txt").exists()


def test_bad_duration_exits_nonzero_with_a_clear_message(tmp_path: Path) -> None:
    result = run_builtin_cli("--scenario", "Offline", "--duration", "-1", "--log-dir", str(tmp_path))
    assert result.returncode != 0
    assert "duration must be" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_log_dir_exits_nonzero_with_a_clear_message() -> None:
    result = run_builtin_cli("--scenario", "Offline", "--duration", "2", env=env_without_log_dir())
    assert result.returncode != 0
    assert f"pass --log-dir DIR or set {LOG_DIR_ENV}" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_offline_rate_is_a_sustained_one_not_the_fastest_batch() -> None:
    """A batch that takes 10 ms after a first fast one: the rate is the sustained ~6,400 samples/s, not the
    fastest batch's (the fastest of a few batches sized a 30 s phase that ran 389 s)."""
    import time as _time

    calls = []

    def batch() -> None:
        calls.append(1)
        if len(calls) > 1:
            _time.sleep(0.010)

    rate = sustained_throughput_sps(batch, 64, 0.3)
    assert 64 / 0.030 < rate <= 64 / 0.010 * 1.02  # sleeping only makes it slower (a busy machine)
    assert len(calls) >= 1 + 0.3 / 0.010 * 0.5
    assert sustained_seconds(30) == 1.5 and sustained_seconds(5) == 1.0 and sustained_seconds(3600) == 5.0
