"""LoadGen wiring for the built-in LLM benchmark: token-latency settings, a streaming SUT, the run, its token log.

The run is a real ``mlperf_loadgen`` performance run of :class:`TinyLanguageModel` with token latencies
on (``use_token_latencies``), as MLPerf's LLM benchmarks run: the SUT calls ``FirstTokenComplete`` when a
query's first token exists and ``QuerySamplesComplete`` with the query's token count when it ends, so
LoadGen's detail log carries what a published LLM result does (tokens per second, time to first token
(TTFT) and time per output token (TPOT) percentiles, and a validity that applies the TTFT/TPOT limits).
Interactive is LoadGen's Server scenario with tighter TTFT/TPOT limits (what MLPerf's ``*-interactive``
configurations set; LoadGen logs it as Server).

The work is sized from a timing of the continuous-batching engine first (see :class:`LlmSpeed`), on the
machine as busy as it is then. Beside LoadGen's logs the harness writes :data:`QUERY_LOG_NAME`: one JSON
line per query with its issue, prefill start, first-token and completion times (UTC ns) and token counts.
"""

from __future__ import annotations

import json
import queue
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import mlperf_loadgen as lg
import numpy as np

from agent.builtin.harness import (
    DETAIL_LOG_NAME,
    LOADGEN_OFFLINE_HEADROOM,
    OFFLINE_PACE_FACTOR,
    SUMMARY_LOG_NAME,
    BuiltinBenchmarkError,
    QueueWorkerSut,
    check_duration,
    parse_scenario,
    prepare_log_dir,
    run_loadgen,
    sustained_seconds,
)
from agent.builtin.llm_engine import ContinuousBatcher, Request
from agent.builtin.llm_model import LlmSample, TinyLanguageModel, synthetic_prompts
from powerlog.mllog import DetailLog, read_detail_log

__all__ = [
    "CHECK_KEYS",
    "LLM_PERFORMANCE_KEYS",
    "LLM_SCENARIOS",
    "PROFILES",
    "QSL_PERFORMANCE_COUNT",
    "QSL_TOTAL_COUNT",
    "QUERY_LOG_NAME",
    "TPOT_P99_KEY",
    "TTFT_P99_KEY",
    "LlmResult",
    "LlmSpeed",
    "ScenarioProfile",
    "build_llm_test_settings",
    "measure_llm_speed",
    "parse_llm_scenario",
    "read_query_log",
    "run_builtin_llm",
]

LLM_SCENARIOS = ("Offline", "Server", "Interactive")
LLM_PERFORMANCE_KEYS: dict[str, str] = {
    "Offline": "result_tokens_per_second",
    "Server": "result_completed_tokens_per_second",
    "Interactive": "result_completed_tokens_per_second",
}
"""The detail-log key of each scenario's headline figure: what the MLPerf checker reads for an LLM."""
QUERY_LOG_NAME = "mlpower_llm_queries.jsonl"
CHECK_KEYS = ("result_min_duration_met", "result_min_queries_met", "result_perf_constraints_met", "early_stopping_met")
"""LoadGen's checks behind ``result_validity``; early stopping needs a few hundred queries at the 99th percentile."""
TTFT_P99_KEY = "result_first_token_99.00_percentile_latency_ns"
TPOT_P99_KEY = "result_time_per_output_token_99.00_percentile_ns"
QSL_TOTAL_COUNT = 512
QSL_PERFORMANCE_COUNT = 256
_TRACE_LOG_NAME = "mlperf_log_trace.json"


@dataclass(frozen=True)
class ScenarioProfile:
    """How a scenario batches, how hard it is loaded and its latency limits, relative to the measured speed.

    Server and Interactive: LoadGen's target QPS is ``load_fraction`` of the engine's sustained rate at
    ``max_batch``; the TPOT limit is ``tpot_factor`` x the TPOT measured at that saturation, the TTFT limit
    ``ttft_factor`` x (mean prefill + that TPOT), each no less than its floor (a timeslice or two of a busy
    machine). Interactive has a smaller batch, a lighter load and tighter limits, as MLPerf's interactive
    configurations tighten TTFT about 4 times and TPOT 3 to 5 times against Server.
    """

    max_batch: int
    load_fraction: float
    ttft_factor: float = 0.0
    tpot_factor: float = 0.0
    ttft_floor_ns: int = 0
    tpot_floor_ns: int = 0


PROFILES: dict[str, ScenarioProfile] = {
    "Offline": ScenarioProfile(max_batch=32, load_fraction=0.8),
    "Server": ScenarioProfile(
        max_batch=16,
        load_fraction=0.3,
        ttft_factor=20.0,
        tpot_factor=3.0,
        ttft_floor_ns=200_000_000,
        tpot_floor_ns=20_000_000,
    ),
    "Interactive": ScenarioProfile(
        max_batch=4,
        load_fraction=0.2,
        ttft_factor=5.0,
        tpot_factor=2.0,
        ttft_floor_ns=50_000_000,
        tpot_floor_ns=6_000_000,
    ),
}


@dataclass(frozen=True)
class LlmSpeed:
    """The engine's speed with a full queue at one ``max_batch``, sustained (steps back to back for a second
    or more, after a warm-up), on the machine as busy as it is now: what sizes the run (see
    :mod:`agent.builtin.harness` for why a sustained rate and not the fastest of a few).

    Tokens are counted as they come, not requests as they finish: the requests of a full batch start
    together and finish in waves, and waiting for a few to finish took tens of seconds on a starved
    machine. The query rate is the token rate over the data set's mean output length.
    """

    max_batch: int
    queries_per_s: float
    tokens_per_s: float
    """Output tokens per second."""
    mean_prefill_ns: float
    """Prefill start to first token, mean over every prefill of the measurement (warm-up included)."""
    mean_tpot_ns: float
    """Time between two tokens of a sequence at saturation: the time over the decode steps, prefills between
    them included."""


@dataclass(frozen=True)
class LlmResult:
    """What one built-in LLM run produced, read back from LoadGen's detail log."""

    scenario: str
    log_dir: Path
    validity: str | None
    performance: float | None
    """Output tokens per second (``performance_key``)."""
    performance_key: str
    duration_s: float
    ttft_p99_ns: float | None
    tpot_p99_ns: float | None
    ttft_limit_ns: int | None
    """The TTFT limit LoadGen applied (Server, Interactive); None for Offline."""
    tpot_limit_ns: int | None
    queries: int
    """Queries answered (all of LoadGen's, Offline's samples included)."""
    unmet: tuple[str, ...] = ()
    """The detail-log checks that failed (``result_perf_constraints_met``, ``early_stopping_met``, ...)."""

    @property
    def detail_log(self) -> Path:
        return self.log_dir / DETAIL_LOG_NAME

    @property
    def query_log(self) -> Path:
        return self.log_dir / QUERY_LOG_NAME


def parse_llm_scenario(name: str) -> str:
    """The canonical name of an LLM scenario (case-insensitive)."""
    return parse_scenario(name, LLM_SCENARIOS, "LLM scenario")


def _requests(samples: Sequence[LlmSample], start: int, count: int) -> list[Request]:
    return [
        Request(i, i % len(samples), samples[i % len(samples)].prompt, samples[i % len(samples)].output_tokens)
        for i in range(start, start + count)
    ]


def measure_llm_speed(
    model: TinyLanguageModel, samples: Sequence[LlmSample], max_batch: int, seconds: float = 1.0
) -> LlmSpeed:
    """Run the engine with a full queue for ``seconds`` (three decode steps at least) after a quarter of that
    (one step at least) to warm up; its rates and mean latencies over that time (see :class:`LlmSpeed`)."""
    if not samples:
        raise ValueError("need at least one sample to time the model")
    engine = ContinuousBatcher(model, max_batch, lambda _r: None, lambda _r: None)
    issued = 0

    def run_until(end_ns: int, min_steps: int) -> None:
        nonlocal issued
        while time.perf_counter_ns() < end_ns or engine.steps < min_steps:
            if engine.waiting < max_batch:
                engine.add(_requests(samples, issued, max_batch))
                issued += max_batch
            engine.step()

    run_until(time.perf_counter_ns() + int(seconds * 0.25e9), 1)
    steps, tokens = engine.steps, engine.tokens
    start_ns = time.perf_counter_ns()
    run_until(start_ns + int(seconds * 1e9), steps + 3)
    elapsed_ns = max(time.perf_counter_ns() - start_ns, 1)
    tokens_per_s = (engine.tokens - tokens) * 1e9 / elapsed_ns
    return LlmSpeed(
        max_batch=max_batch,
        queries_per_s=tokens_per_s / float(np.mean([s.output_tokens for s in samples])),
        tokens_per_s=tokens_per_s,
        mean_prefill_ns=engine.prefill_ns / max(engine.admitted, 1),
        mean_tpot_ns=elapsed_ns / (engine.steps - steps),
    )


def build_llm_test_settings(scenario: str, duration_s: float, speed: LlmSpeed) -> lg.TestSettings:
    """Performance-only settings with token latencies on, sized so that a run lasts about ``duration_s``.

    Offline issues its profile's ``load_fraction`` (0.8) of what the sustained rate does in the duration
    (LoadGen issues 1.1 x ``offline_expected_qps`` x the duration) and paces the prefills over the duration
    (as the CNN benchmark paces its answers). Server and
    Interactive issue queries at the profile's fraction of the sustained rate and apply its TTFT/TPOT
    limits (see :class:`ScenarioProfile`); ``server_target_latency_ns`` is 0, as in MLPerf's LLM
    configurations, whose only latency limits are TTFT and TPOT.
    """
    scenario = parse_llm_scenario(scenario)
    check_duration(duration_s)
    profile = PROFILES[scenario]
    settings = lg.TestSettings()
    settings.mode = lg.TestMode.PerformanceOnly
    settings.use_token_latencies = True
    min_duration_ms = int(duration_s * 1000)
    settings.min_duration_ms = min_duration_ms
    settings.min_query_count = 1
    if scenario == "Offline":
        settings.scenario = lg.TestScenario.Offline
        settings.offline_expected_qps = profile.load_fraction / LOADGEN_OFFLINE_HEADROOM * speed.queries_per_s
        return settings
    settings.scenario = lg.TestScenario.Server
    settings.max_duration_ms = min_duration_ms + max(5_000, min_duration_ms // 4)
    settings.server_target_qps = profile.load_fraction * speed.queries_per_s
    settings.server_target_latency_ns = 0
    tpot_ns = max(profile.tpot_floor_ns, int(profile.tpot_factor * speed.mean_tpot_ns))
    settings.tpot_latency = tpot_ns
    settings.ttft_latency = max(
        profile.ttft_floor_ns, int(profile.ttft_factor * (speed.mean_prefill_ns + speed.mean_tpot_ns))
    )
    return settings


class _StreamingSUT(QueueWorkerSut[list[Request]]):
    """Answers LoadGen's queries from a worker thread running a :class:`ContinuousBatcher`.

    ``issue_queries`` only enqueues (LoadGen's issuing thread is never blocked by inference). The worker
    takes what is queued, runs engine steps, and reports each first token (``FirstTokenComplete``) and
    each completion with its token count. With ``offline_min_s``, the first query's prefills are spread
    over at least that long (:class:`OfflinePace`: the k-th of n starts no earlier than (k+1)/n of it).
    """

    def __init__(
        self,
        model: TinyLanguageModel,
        samples: Sequence[LlmSample],
        max_batch: int,
        offline_min_s: float | None = None,
    ) -> None:
        super().__init__("builtin-llm-sut", offline_min_s)
        self._samples = samples
        self._engine = ContinuousBatcher(model, max_batch, self._first_tokens, self._completed)
        self.finished: list[Request] = []

    def issue_queries(self, samples: list[lg.QuerySample]) -> None:
        now_ns = time.time_ns()
        requests = [
            Request(s.id, s.index, self._samples[s.index].prompt, self._samples[s.index].output_tokens, now_ns)
            for s in samples
        ]
        self._enqueue(requests, len(requests))

    def flush_queries(self) -> None:
        """Nothing to flush: the engine never holds a request back waiting for a fuller batch."""

    def _admit_limit(self) -> int | None:
        """How many prefills may have started by now: all without a pace; the k-th (from 1) of n paced
        ones at ``k / n`` of the pace's time."""
        if self.pace is None:
            return None
        elapsed_ns = time.perf_counter_ns() - self.pace.start_ns
        return min(self.pace.samples, int(elapsed_ns * self.pace.samples / (self.pace.min_s * 1e9)))

    def _serve(self) -> None:
        stopping = False
        while not (stopping and self._engine.idle):
            block = self._engine.in_flight == 0 and not stopping
            stopping = self._take(block, self._pace_wait_s()) or stopping
            try:
                if self.error is None:
                    self._engine.step(self._admit_limit())
                else:
                    self._answer_unserved(self._engine.abandon())
            except Exception as e:  # still answer: LoadGen would wait forever for these queries
                self.error = e

    def _pace_wait_s(self) -> float | None:
        """How long the worker may wait for new queries when nothing is in flight: until the next paced
        prefill is due, or for ever (None)."""
        if self.pace is None or self._engine.waiting == 0:
            return None
        return max(0.0, (self.pace.due_ns(self._engine.admitted + 1) - time.perf_counter_ns()) / 1e9)

    def _take(self, block: bool, timeout_s: float | None) -> bool:
        """Move queued requests into the engine (waiting up to ``timeout_s`` for the first when ``block``);
        True when the stop sentinel came."""
        stopping = False
        try:
            item = self._queue.get(timeout=timeout_s) if block else self._queue.get_nowait()
            while True:
                if item is None:
                    stopping = True
                else:
                    self._engine.add(item)
                item = self._queue.get_nowait()
        except queue.Empty:
            pass
        return stopping

    def _first_tokens(self, requests: list[Request]) -> None:
        tokens = np.array([r.tokens[0] for r in requests], dtype=np.int32)
        address, size = tokens.ctypes.data, tokens.itemsize
        lg.FirstTokenComplete(
            [lg.QuerySampleResponse(r.query_id, address + i * size, size) for i, r in enumerate(requests)]
        )

    def _completed(self, requests: list[Request]) -> None:
        arrays = [np.ascontiguousarray(r.tokens, dtype=np.int32) for r in requests]
        responses = [
            lg.QuerySampleResponse(r.query_id, a.ctypes.data, a.nbytes, len(r.tokens))
            for r, a in zip(requests, arrays, strict=True)
        ]
        lg.QuerySamplesComplete(responses)  # LoadGen reads the token bytes during this call, while `arrays` live
        self.finished.extend(requests)

    def _answer_unserved(self, requests: list[Request]) -> None:
        now_ns = time.time_ns()
        for request in requests:
            if not request.tokens:
                request.tokens = [0]
                request.first_token_ns = now_ns
                self._first_tokens([request])
            request.tokens += [0] * max(2 - len(request.tokens), request.output_tokens - len(request.tokens))
            request.completed_ns = now_ns
        if requests:
            self._completed(requests)


def _write_query_log(path: Path, requests: Sequence[Request]) -> None:
    with path.open("w", encoding="utf-8") as out:
        for r in sorted(requests, key=lambda r: (r.issued_ns, r.query_id)):
            record = {
                "query_id": r.query_id,
                "sample_index": r.sample_index,
                "issued_ns": r.issued_ns,
                "prefill_start_ns": r.prefill_start_ns,
                "first_token_ns": r.first_token_ns,
                "completed_ns": r.completed_ns,
                "prompt_tokens": len(r.prompt),
                "output_tokens": len(r.tokens),
            }
            out.write(json.dumps(record, separators=(",", ":")) + "\n")


def read_query_log(path: Path) -> list[dict[str, int]]:
    """The records of a :data:`QUERY_LOG_NAME` file, in file order."""
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}:{number}: not a JSON line: {e}") from e
        if not isinstance(record, dict) or not all(isinstance(v, int) for v in record.values()):
            raise ValueError(f"{path}:{number}: expected an object of integers, got {line[:80]!r}")
        records.append(record)
    return records


def _number(log: DetailLog, key: str) -> float | None:
    value = log.value(key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _limit(log: DetailLog, key: str) -> int | None:
    value = _number(log, key)
    return None if value is None else int(value)


def run_builtin_llm(
    scenario: str,
    duration_s: float,
    log_dir: Path,
    seed: int = 0,
    speed: LlmSpeed | None = None,
    paced: bool = True,
) -> LlmResult:
    """Run the built-in LLM benchmark under LoadGen in ``scenario`` for about ``duration_s``.

    LoadGen writes its logs into ``log_dir`` (created if needed), the harness its query log beside them.
    ``speed`` (measured here when None) sizes the work: a test gives one to size a run for another
    machine. Raises ``ValueError`` for a bad scenario or duration and :class:`BuiltinBenchmarkError` if the
    model failed or LoadGen wrote no logs.
    """
    scenario = parse_llm_scenario(scenario)
    check_duration(duration_s)
    log_dir = Path(log_dir)
    prepare_log_dir(log_dir, (DETAIL_LOG_NAME, SUMMARY_LOG_NAME, _TRACE_LOG_NAME, QUERY_LOG_NAME))
    model = TinyLanguageModel(seed)
    samples = synthetic_prompts(QSL_TOTAL_COUNT, seed)
    profile = PROFILES[scenario]
    if speed is None:
        speed = measure_llm_speed(model, samples, profile.max_batch, sustained_seconds(duration_s))
    settings = build_llm_test_settings(scenario, duration_s, speed)
    offline_min_s = OFFLINE_PACE_FACTOR * duration_s if scenario == "Offline" and paced else None
    sut_impl = _StreamingSUT(model, samples, profile.max_batch, offline_min_s)
    run_loadgen(sut_impl, settings, log_dir, QSL_TOTAL_COUNT, QSL_PERFORMANCE_COUNT)

    if sut_impl.error is not None:
        raise BuiltinBenchmarkError(f"the model failed during the run: {sut_impl.error!r}") from sut_impl.error
    missing = [name for name in (DETAIL_LOG_NAME, SUMMARY_LOG_NAME) if not (log_dir / name).is_file()]
    if missing:
        raise BuiltinBenchmarkError(f"LoadGen finished but did not write {' and '.join(missing)} in {log_dir}")
    _write_query_log(log_dir / QUERY_LOG_NAME, sut_impl.finished)
    detail = read_detail_log(log_dir / DETAIL_LOG_NAME)
    validity = detail.value("result_validity")
    key = LLM_PERFORMANCE_KEYS[scenario]
    return LlmResult(
        scenario=scenario,
        log_dir=log_dir,
        validity=validity if isinstance(validity, str) else None,
        performance=_number(detail, key),
        performance_key=key,
        duration_s=duration_s,
        ttft_p99_ns=_number(detail, TTFT_P99_KEY),
        tpot_p99_ns=_number(detail, TPOT_P99_KEY),
        ttft_limit_ns=None if scenario == "Offline" else _limit(detail, "requested_server_ttft_latency"),
        tpot_limit_ns=None if scenario == "Offline" else _limit(detail, "requested_server_tpot_latency"),
        queries=len(sut_impl.finished),
        unmet=tuple(key for key in CHECK_KEYS if detail.value(key) is False),
    )
