"""The built-in LLM benchmark: the numpy transformer, its continuous batching, the LoadGen settings, real short
LoadGen runs with token reporting (as subprocesses), and ``mlpower-agent run --benchmark builtin-llm``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from agent.builtin.__main__ import SINGLE_THREAD_ENV
from agent.builtin.llm_engine import ContinuousBatcher, Request
from agent.builtin.llm_harness import (
    LLM_PERFORMANCE_KEYS,
    PROFILES,
    QUERY_LOG_NAME,
    TPOT_P99_KEY,
    TTFT_P99_KEY,
    LlmSpeed,
    build_llm_test_settings,
    measure_llm_speed,
    parse_llm_scenario,
    read_query_log,
)
from agent.builtin.llm_model import (
    MAX_CONTEXT,
    OUTPUT_TOKENS_RANGE,
    PROMPT_TOKENS_RANGE,
    VOCAB_SIZE,
    KVCache,
    LlmSample,
    TinyLanguageModel,
    synthetic_prompts,
)
from agent.cli import build_parser
from agent.workload import builtin_workload
from powerlog.mllog import read_detail_log
from tests.support.paths import REPO_ROOT
from tests.support.processes import SUT_NICE

SPEED = LlmSpeed(max_batch=16, queries_per_s=40.0, tokens_per_s=1600.0, mean_prefill_ns=8e6, mean_tpot_ns=9e6)


def single_threaded_env() -> dict[str, str]:
    return {**os.environ, **dict.fromkeys(SINGLE_THREAD_ENV, "1")}


def run_llm_cli(*args: str) -> subprocess.CompletedProcess[str]:
    command = [*SUT_NICE, sys.executable, "-m", "agent.builtin", "--model", "llm", *args]
    return subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=False)


# --- the model -----------------------------------------------------------------


def test_same_seed_gives_the_same_model_and_text() -> None:
    samples = synthetic_prompts(4, seed=3)
    assert all(np.array_equal(a.prompt, b.prompt) for a, b in zip(samples, synthetic_prompts(4, seed=3), strict=True))
    first = TinyLanguageModel(seed=7).generate(samples[0].prompt, 12)
    assert first == TinyLanguageModel(seed=7).generate(samples[0].prompt, 12)
    assert len(first) == 12 and all(0 <= t < VOCAB_SIZE for t in first)
    assert not np.array_equal(
        TinyLanguageModel(seed=7).full_logits(samples[0].prompt),
        TinyLanguageModel(seed=8).full_logits(samples[0].prompt),
    )


def test_the_data_set_stays_in_its_ranges() -> None:
    samples = synthetic_prompts(200, seed=0)
    lengths = [len(s.prompt) for s in samples]
    outputs = [s.output_tokens for s in samples]
    assert PROMPT_TOKENS_RANGE[0] <= min(lengths) and max(lengths) <= PROMPT_TOKENS_RANGE[1]
    assert OUTPUT_TOKENS_RANGE[0] <= min(outputs) and max(outputs) <= OUTPUT_TOKENS_RANGE[1]
    assert OUTPUT_TOKENS_RANGE[0] >= 2 and PROMPT_TOKENS_RANGE[1] + OUTPUT_TOKENS_RANGE[1] <= MAX_CONTEXT
    assert len(set(lengths)) > 10  # lengths vary, as an LLM data set's do


def test_prefill_then_decode_gives_the_logits_of_a_full_recompute() -> None:
    model = TinyLanguageModel(seed=1)
    prompt = synthetic_prompts(1, seed=1)[0].prompt
    generated = model.generate(prompt, 10)
    full = model.full_logits(np.concatenate([prompt, np.array(generated[:-1], dtype=np.int32)]))
    cache = KVCache(3)
    stepwise = [model.prefill(cache, 2, prompt)]
    for token in generated[:-1]:
        stepwise.append(model.decode(cache, [2], [token])[0])
    assert np.allclose(np.stack(stepwise), full[len(prompt) - 1 :], atol=1e-4)
    assert full.std() > 0.5  # logits that pick tokens, not a flat distribution
    assert [int(row.argmax()) for row in stepwise] == generated


def test_a_batched_decode_step_equals_one_sequence_at_a_time() -> None:
    """Sequences of different lengths in one batch each attend only to their own positions."""
    model = TinyLanguageModel(seed=2)
    samples = synthetic_prompts(5, seed=2)
    batched, alone = KVCache(5), KVCache(5)
    for slot, sample in enumerate(samples):
        model.prefill(batched, slot, sample.prompt)
        model.prefill(alone, slot, sample.prompt)
    assert len({len(s.prompt) for s in samples}) > 1
    slots, tokens = [4, 0, 2, 1], [11, 22, 33, 44]
    for _ in range(3):
        together = model.decode(batched, slots, tokens)
        one_by_one = np.stack([model.decode(alone, [s], [t])[0] for s, t in zip(slots, tokens, strict=True)])
        assert np.allclose(together, one_by_one, atol=1e-4)
        tokens = [int(t) for t in together.argmax(axis=1)]
    assert np.array_equal(batched.lengths, alone.lengths)


def test_the_model_explains_bad_input() -> None:
    model = TinyLanguageModel()
    cache = KVCache(2)
    with pytest.raises(ValueError, match=f"token ids must be in 0..{VOCAB_SIZE - 1}"):
        model.prefill(cache, 0, [1, VOCAB_SIZE])
    with pytest.raises(ValueError, match="slot 2 is not in a cache of 2 slots"):
        model.prefill(cache, 2, [1, 2])
    with pytest.raises(ValueError, match="prefilled slots"):
        model.decode(cache, [1], [3])
    with pytest.raises(ValueError, match=f"1 to {MAX_CONTEXT} tokens"):
        model.full_logits([])


# --- continuous batching ---------------------------------------------------------


def test_continuous_batching_generates_what_each_sequence_alone_would() -> None:
    model = TinyLanguageModel(seed=4)
    samples = synthetic_prompts(7, seed=4)
    events: list[tuple[str, int]] = []
    engine = ContinuousBatcher(
        model,
        max_batch=3,
        on_first_token=lambda rs: events.extend(("first", r.query_id) for r in rs),
        on_complete=lambda rs: events.extend(("done", r.query_id) for r in rs),
    )
    requests = [Request(i, i, s.prompt[: 8 + i], 1 + i, issued_ns=1) for i, s in enumerate(samples)]
    engine.add(requests)
    most_in_flight = 0
    while not engine.idle:
        engine.step()
        most_in_flight = max(most_in_flight, engine.in_flight)
    assert most_in_flight == 3
    for request in requests:
        assert request.tokens == model.generate(request.prompt, request.output_tokens)
        assert 1 <= request.issued_ns <= request.prefill_start_ns <= request.first_token_ns <= request.completed_ns
        assert events.index(("first", request.query_id)) < events.index(("done", request.query_id))
    assert sorted(events) == sorted([("first", i) for i in range(7)] + [("done", i) for i in range(7)])


def test_the_admission_limit_holds_requests_back() -> None:
    model = TinyLanguageModel(seed=0)
    started: list[int] = []
    engine = ContinuousBatcher(model, 4, lambda rs: started.extend(r.query_id for r in rs), lambda _rs: None)
    engine.add(Request(i, i, s.prompt, s.output_tokens) for i, s in enumerate(synthetic_prompts(3)))
    engine.step(admit_limit=1)
    assert started == [0] and engine.waiting == 2
    engine.step(admit_limit=1)
    assert started == [0]
    engine.step()
    assert started == [0, 1, 2]
    left = engine.abandon()
    assert {r.query_id for r in left} == {0, 1, 2} and engine.idle


# --- settings ----------------------------------------------------------------------


def test_scenarios_are_parsed_case_insensitively_and_a_bad_one_is_explained() -> None:
    assert parse_llm_scenario("interactive") == "Interactive"
    with pytest.raises(ValueError, match="unknown LLM scenario 'SingleStream': choose one of Offline, Server"):
        parse_llm_scenario("SingleStream")


def test_settings_turn_token_latencies_on_and_follow_the_measured_speed() -> None:
    offline = build_llm_test_settings("Offline", 2.5, SPEED)
    assert offline.use_token_latencies and offline.min_duration_ms == 2500 and offline.min_query_count == 1
    assert offline.offline_expected_qps * 1.1 == pytest.approx(40.0 * PROFILES["Offline"].load_fraction)
    server = build_llm_test_settings("Server", 2.5, SPEED)
    profile = PROFILES["Server"]
    assert server.use_token_latencies and server.server_target_latency_ns == 0  # MLPerf's LLMs: TTFT/TPOT only
    assert server.server_target_qps == pytest.approx(40.0 * profile.load_fraction)
    assert server.tpot_latency == max(profile.tpot_floor_ns, int(profile.tpot_factor * 9e6))
    assert server.ttft_latency == max(profile.ttft_floor_ns, int(profile.ttft_factor * 17e6))
    assert server.max_duration_ms > 2500
    interactive = build_llm_test_settings("Interactive", 2.5, SPEED)
    assert interactive.scenario == server.scenario  # LoadGen runs Interactive as Server ...
    assert interactive.ttft_latency < server.ttft_latency and interactive.tpot_latency < server.tpot_latency
    assert interactive.server_target_qps < server.server_target_qps  # ... with tighter limits and a lighter load
    slow = LlmSpeed(16, 4.0, 160.0, 80e6, 90e6)  # a machine 10x slower: limits from its speed, not the floors
    assert build_llm_test_settings("Server", 2.5, slow).tpot_latency == int(profile.tpot_factor * 90e6)
    with pytest.raises(ValueError, match="duration"):
        build_llm_test_settings("Server", 0, SPEED)


def test_the_speed_is_measured_with_the_engine() -> None:
    short = [LlmSample(s.prompt[:8], 3) for s in synthetic_prompts(8)]  # light: numpy's BLAS threads in pytest
    speed = measure_llm_speed(TinyLanguageModel(0), short, max_batch=2, seconds=0.05)
    assert speed.max_batch == 2 and speed.queries_per_s > 0 and speed.mean_prefill_ns > 0 and speed.mean_tpot_ns > 0
    assert speed.tokens_per_s == pytest.approx(3 * speed.queries_per_s)


# --- real LoadGen runs ----------------------------------------------------------------


def _check_query_log(log_dir: Path, queries: int, token_check: tuple[float, float] | None = None) -> None:
    """One record per query and its stages in order. Offline (``token_check``: tokens/s and samples/s): their output
    tokens are all that LoadGen counted, since its two rates share one duration (tokens = tokens/s x samples /
    samples/s, to the 6 digits it prints). Server's two rates do not share one (820 tokens from them against 777
    reported in one run), and timing the records' span instead is off by the hand-over between LoadGen's thread
    and the SUT's (3 % on a loaded machine): there only the count of queries is exact."""
    records = read_query_log(log_dir / QUERY_LOG_NAME)
    assert len(records) == queries
    for r in records:
        assert r["issued_ns"] <= r["prefill_start_ns"] <= r["first_token_ns"] <= r["completed_ns"]
        assert r["output_tokens"] >= 2 and r["prompt_tokens"] >= 1
    if token_check is not None:
        tokens_per_s, samples_per_s = token_check
        assert sum(r["output_tokens"] for r in records) == pytest.approx(
            tokens_per_s * queries / samples_per_s, rel=1e-4
        )


@pytest.mark.slow
@pytest.mark.parametrize("scenario", ["Offline", "Server", "Interactive"])
def test_a_two_second_loadgen_run_logs_the_token_figures(scenario: str, tmp_path: Path) -> None:
    log_dir = tmp_path / "loadgen"
    result = run_llm_cli("--scenario", scenario, "--duration", "2", "--log-dir", str(log_dir))
    assert result.returncode == 0, result.stderr
    assert f"scenario:    {scenario}" in result.stdout and "tokens/s" in result.stdout
    detail = read_detail_log(log_dir / "mlperf_log_detail.txt")
    assert detail.value("requested_use_token_latencies") is True
    assert detail.value("result_validity") in ("VALID", "INVALID")
    assert (detail.timestamp_ns("power_end") - detail.timestamp_ns("power_begin")) / 1e9 >= 1.5  # no upper bound
    key = LLM_PERFORMANCE_KEYS[scenario]
    assert detail.value(key) > 0
    if scenario == "Offline":
        assert detail.value("effective_scenario") == "Offline" and detail.value("result_min_duration_met") is True
        samples = int(detail.value("generated_samples_per_query"))
        _check_query_log(log_dir, samples, (detail.value(key), detail.value("result_samples_per_second")))
        return
    assert detail.value("effective_scenario") == "Server"
    assert detail.value("requested_server_ttft_latency") > 0 and detail.value("requested_server_tpot_latency") > 0
    assert detail.value(TTFT_P99_KEY) > 0 and detail.value(TPOT_P99_KEY) > 0
    assert detail.value("result_perf_constraints_met") in (True, False)  # the TTFT/TPOT limits were applied
    assert "early_stopping_tpot_result" in {e.key for e in detail.events}
    _check_query_log(log_dir, int(detail.value("result_query_count")))
    assert f"TTFT p99:    {detail.value(TTFT_P99_KEY) / 1e6:.1f} ms" in result.stdout


@pytest.mark.slow
@pytest.mark.parametrize("paced", [True, False])
def test_an_offline_run_sized_for_a_slower_machine_lasts_its_duration_only_when_paced(
    paced: bool, tmp_path: Path
) -> None:
    """The machine got 10x faster than it was measured: the issued queries would be done in a fraction of the
    duration, INVALID. Paced, their prefills are spread over the duration and the run is VALID."""
    code = (
        "import sys; from pathlib import Path\n"
        "from agent.builtin.llm_harness import LlmSpeed, run_builtin_llm\n"
        "speed = LlmSpeed(32, 3.0, 120.0, 5e6, 5e6)\n"
        "r = run_builtin_llm('Offline', 2.0, Path(sys.argv[1]), speed=speed, paced=sys.argv[2] == 'paced')\n"
        "print(r.validity)\n"
    )
    argv = [sys.executable, "-c", code, str(tmp_path), "paced" if paced else "unpaced"]
    result = subprocess.run(
        argv, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=False, env=single_threaded_env()
    )
    assert result.returncode == 0, result.stderr
    detail = read_detail_log(tmp_path / "mlperf_log_detail.txt")
    assert detail.value("result_min_duration_met") is paced
    assert result.stdout.strip() == ("VALID" if paced else "INVALID")
    assert json.loads((tmp_path / QUERY_LOG_NAME).read_text().splitlines()[0])["output_tokens"] >= 2


@pytest.mark.slow
@pytest.mark.parametrize("method", ["prefill", "decode"])
def test_a_model_failure_still_answers_every_query_and_is_reported(method: str, tmp_path: Path) -> None:
    """LoadGen waits for every query it issued: when the model fails mid-run, the SUT answers the rest (with
    padding) so that the run ends, and the harness raises what failed."""
    code = (
        "import sys; from pathlib import Path\n"
        "from agent.builtin import llm_model\n"
        "from agent.builtin.harness import BuiltinBenchmarkError\n"
        "from agent.builtin.llm_harness import LlmSpeed, run_builtin_llm\n"
        "calls = []\n"
        "model = llm_model.TinyLanguageModel\n"
        "real = getattr(model, sys.argv[2])\n"
        "def failing(self, *args):\n"
        "    calls.append(1)\n"
        "    if len(calls) > 3: raise FloatingPointError('simulated model failure')\n"
        "    return real(self, *args)\n"
        "setattr(model, sys.argv[2], failing)\n"
        "try:\n"
        "    run_builtin_llm('Server', 1.0, Path(sys.argv[1]), speed=LlmSpeed(16, 20.0, 800.0, 5e6, 5e6))\n"
        "except BuiltinBenchmarkError as e:\n"
        "    print('raised:', e)\n"
    )
    argv = [sys.executable, "-c", code, str(tmp_path), method]
    result = subprocess.run(
        argv, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=False, env=single_threaded_env()
    )
    assert result.returncode == 0, result.stderr
    assert "raised: the model failed during the run: FloatingPointError('simulated model failure')" in result.stdout
    detail = read_detail_log(tmp_path / "mlperf_log_detail.txt")
    assert detail.value("result_query_count") >= 1


# --- the command lines ---------------------------------------------------------------------


def test_a_scenario_the_model_does_not_run_is_refused() -> None:
    for model, scenario in (("llm", "SingleStream"), ("cnn", "Interactive")):
        command = [sys.executable, "-m", "agent.builtin", "--model", model, "--scenario", scenario, "--duration", "1"]
        result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode == 2 and f"--model {model} runs" in result.stderr and "Traceback" not in result.stderr


def test_the_agent_takes_the_llm_benchmark() -> None:
    base = ["run", "--director", "http://127.0.0.1:9", "--token", "t" * 16]
    args = build_parser().parse_args([*base, "--benchmark", "builtin-llm", "--scenario", "Interactive"])
    assert (args.benchmark, args.scenario) == ("builtin-llm", "Interactive")
    with pytest.raises(SystemExit):
        build_parser().parse_args([*base, "--benchmark", "builtin-gpt"])
    llm = builtin_workload("Interactive", 2, "llm")
    assert llm.builtin and llm.argv[-6:] == ("--scenario", "Interactive", "--duration", "2", "--model", "llm")
    assert "--model" not in builtin_workload("Offline", 2).argv  # the CNN's command is unchanged


@pytest.mark.parametrize(
    ("benchmark", "scenario", "message"),
    [
        ("builtin-llm", "SingleStream", "--benchmark builtin-llm runs Offline, Server, Interactive, not --scenario"),
        ("builtin", "Interactive", "--benchmark builtin runs Offline, Server, SingleStream, MultiStream, not"),
        ("builtin-llm", "Interactive", "cannot reach the director"),  # accepted: it went on to the director
    ],
)
def test_the_agent_refuses_a_scenario_its_benchmark_does_not_run(benchmark: str, scenario: str, message: str) -> None:
    exe = Path(sys.executable).parent / "mlpower-agent"
    command = [str(exe), "run", "--director", "http://127.0.0.1:9", "--token", "t" * 16, "--retry-s", "0"]
    command += ["--benchmark", benchmark, "--scenario", scenario, "--gpus", "none"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr, result.stderr
