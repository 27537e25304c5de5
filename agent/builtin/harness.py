"""LoadGen wiring for the built-in benchmark: settings, QSL, a batching SUT, the run.

The run is a real ``mlperf_loadgen`` performance run of :class:`TinyConvNet`. Its
scenario targets come from a quick timing of the model first, so that LoadGen's
pre-generated work lasts about the requested (possibly very short) duration.

Under SIMULATED GPUs with a power limit (``MLPOWER_SIM_GPU_STATE`` or ``MLPOWER_SIM_GPU_SPEED`` set, see
:mod:`agent.gpu.sim_limit_model`) the model runs at the simulated speed: :class:`SimulatedSlowModel`, and the
result says so (``simulated_speed``).
"""

from __future__ import annotations

import math
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, Protocol, TypeVar

import mlperf_loadgen as lg
import numpy as np
import numpy.typing as npt

from agent.builtin.model import FloatArray, TinyConvNet, synthetic_images
from agent.errors import WorkloadError
from agent.gpu.sim_limit_model import SIM_STATE_ENV, mark_busy, workload_speed
from powerlog.mllog import DetailLog, read_detail_log

__all__ = [
    "DETAIL_LOG_NAME",
    "LOADGEN_OFFLINE_HEADROOM",
    "MAX_BATCH_SIZE",
    "MAX_PREGENERATED_QUERIES",
    "MIN_SERVER_TARGET_LATENCY_NS",
    "MULTI_STREAM_SAMPLES_PER_QUERY",
    "OFFLINE_LOAD_FRACTION",
    "OFFLINE_PACE_FACTOR",
    "PERFORMANCE_KEYS",
    "QSL_PERFORMANCE_COUNT",
    "QSL_TOTAL_COUNT",
    "SCENARIOS",
    "SERVER_LOAD_FRACTION",
    "STREAM_LATENCY_HEADROOM",
    "SUBMISSION_MIN_DURATION_S",
    "SUMMARY_LOG_NAME",
    "BuiltinBenchmarkError",
    "BuiltinResult",
    "LoadGenSut",
    "ModelSpeed",
    "OfflinePace",
    "QueueWorkerSut",
    "SimulatedSlowModel",
    "build_test_settings",
    "check_duration",
    "measure_model_speed",
    "parse_scenario",
    "prepare_log_dir",
    "run_builtin",
    "run_loadgen",
    "sustained_seconds",
    "sustained_throughput_sps",
]

SCENARIOS: dict[str, lg.TestScenario] = {
    "Offline": lg.TestScenario.Offline,
    "Server": lg.TestScenario.Server,
    "SingleStream": lg.TestScenario.SingleStream,
    "MultiStream": lg.TestScenario.MultiStream,
}
# The detail-log key of each scenario's headline figure; a tuple is tried in order.
PERFORMANCE_KEYS: dict[str, tuple[str, ...]] = {
    "Offline": ("result_samples_per_second",),
    "Server": ("result_completed_samples_per_sec", "result_scheduled_samples_per_sec"),
    "SingleStream": ("result_90.00_percentile_latency_ns",),
    "MultiStream": ("result_99.00_percentile_per_query_latency_ns",),
}
DETAIL_LOG_NAME = "mlperf_log_detail.txt"
SUMMARY_LOG_NAME = "mlperf_log_summary.txt"
_TRACE_LOG_NAME = "mlperf_log_trace.json"

SUBMISSION_MIN_DURATION_S = 600.0
"""MLPerf Inference's minimum run duration for a submission."""
MAX_BATCH_SIZE = 64
MULTI_STREAM_SAMPLES_PER_QUERY = 8
QSL_TOTAL_COUNT = 1024
QSL_PERFORMANCE_COUNT = 256
SERVER_LOAD_FRACTION = 0.25
"""Server target QPS as a fraction of the model's sustained one-image-at-a-time rate, measured on the machine as
busy as it is now: the batching SUT keeps up while the machine keeps this fraction of its measured speed (and
less, as it batches a backlog; a starved process also loses time handing each query between LoadGen's thread and
the SUT's: 4.5 times fewer answers than measured beside two CPU-bound processes of higher priority). The median
of a few single images overstated the rate 60 times there (a timeslice fits a 0.1 ms image, not a second of
them): a 2 s run lasted 44 s."""
MIN_SERVER_TARGET_LATENCY_NS = 100_000_000
OFFLINE_LOAD_FRACTION = 0.8
"""Offline issues the samples this fraction of the measured sustained throughput does in the duration, and
the SUT spreads its answers over the duration (:data:`OFFLINE_PACE_FACTOR`): a run lasts its duration while
the machine keeps at least this fraction of its measured speed (the measurement and the run differ by tens of
percent on a busy machine), and 0.8 / (the fraction it keeps) of it below that."""
LOADGEN_OFFLINE_HEADROOM = 1.1
"""LoadGen issues this many times expected QPS x min_duration samples in an Offline query."""
OFFLINE_PACE_FACTOR = 1.01
# SingleStream and MultiStream: LoadGen is told the expected latency divided by this, so the queries it
# pre-generates outlast the duration on a machine up to this much faster than when it was measured (its other
# load gone: seen on a 2-core VM under test workers, a MultiStream run of 2 s used its queries up in 0.95 s)
STREAM_LATENCY_HEADROOM = 4.0
MAX_PREGENERATED_QUERIES = 2_000_000  # ... but no more queries than this (LoadGen holds them all in memory)
"""The Offline SUT answers its one query no faster than in this many times the duration: a run cannot end
before ``min_duration`` (INVALID) when the machine is faster than it was measured."""
SUSTAINED_FRACTION = 0.05
"""The Offline throughput is measured for this share of the duration, between the two bounds below."""
SUSTAINED_MIN_S = 1.0
SUSTAINED_MAX_S = 5.0

# LoadGen reads "audit.config" from the working directory by default and lets it
# override the settings; a path under /dev/null can never exist, so none is read.
_NO_AUDIT_CONFIG = os.path.join(os.devnull, "audit.config")


class BuiltinBenchmarkError(WorkloadError):
    """The built-in benchmark ran but did not produce what it should have."""


@dataclass(frozen=True)
class BuiltinResult:
    """What one built-in run produced, read back from LoadGen's detail log."""

    scenario: str
    log_dir: Path
    validity: str | None
    """``result_validity`` from the detail log (``VALID``/``INVALID``), if present."""
    performance: float | None
    """Samples/s for Offline and Server; latency in ns for SingleStream (p90) and MultiStream (p99 per query)."""
    performance_key: str | None
    duration_s: float
    """The requested minimum duration."""
    simulated_speed: float | None = None
    """The SIMULATED speed factor the model ran at (a simulated GPU power limit); None: its own speed."""

    @property
    def detail_log(self) -> Path:
        return self.log_dir / DETAIL_LOG_NAME

    @property
    def summary_log(self) -> Path:
        return self.log_dir / SUMMARY_LOG_NAME


class SimulatedSlowModel(TinyConvNet):
    """The model on a SIMULATED accelerator capped to ``speed`` (0 < speed <= 1) of its full speed. The answers are
    computed here, on the CPU; the time is the simulated board's: :meth:`predict` of ``n`` images returns no earlier
    than ``n x NOMINAL_IMAGE_NS / speed`` after it began (sleeping the rest), so the throughput is the model's and
    not this machine's (whose speed moved 47 % between sessions under other processes' load: no sweep could rank
    caps 7 % apart on it). Only when the CPU is slower than the board does its own time show. With ``state_dir`` it
    marks the simulated GPUs busy (full load) while it computes."""

    NOMINAL_IMAGE_NS = 10_000_000
    """One image on the simulated board at full speed (100 images/s): well below this machine's CPU speed even
    beside other processes. At 250 images/s it was not: beside a CPU hog and the parallel test suite, at nice 19,
    the CPU gave 155 to 195 images/s, and the sweep test's caps ranked by the machine, not by the model."""

    def __init__(self, seed: int, speed: float, state_dir: Path | None = None) -> None:
        if not 0 < speed <= 1:
            raise ValueError(f"simulated speed {speed!r}: use a fraction in (0, 1]")
        super().__init__(seed)
        self.speed = speed
        self.state_dir = state_dir  # where to mark the simulated GPUs busy (at most every 100 ms)
        self._marked_ns = 0

    def predict(self, images: FloatArray) -> npt.NDArray[np.int64]:
        if self.state_dir is not None and time.monotonic_ns() - self._marked_ns >= 100_000_000:
            self._marked_ns = time.monotonic_ns()
            mark_busy(self.state_dir)
        start_ns = time.perf_counter_ns()
        labels = super().predict(images)
        left_s = (start_ns + len(images) * self.NOMINAL_IMAGE_NS / self.speed - time.perf_counter_ns()) / 1e9
        if left_s > 0:
            time.sleep(left_s)
        return labels


@dataclass(frozen=True)
class ModelSpeed:
    """Timings of the model in this process.

    The latency is a median (a typical image, reported); the stream latencies are the fastest of a
    few repeats: a SingleStream or MultiStream run faster than LoadGen expected uses up its
    pre-generated queries and ends early, INVALID, while a slower one still ends at the duration.
    Offline lasts as long as its one query takes, so it is sized from a sustained measurement:
    batches back to back for a second or more, on the machine as busy as it is now (the fastest of
    a few batches overstated the rate 2-3 times on a busy 2-core machine, and a 30 s phase ran 389 s).
    Server lasts until its backlog is answered, so its load comes from a sustained one-image rate.
    """

    single_image_latency_ns: float
    """One image (median)."""
    multi_stream_query_latency_ns: float
    """One batch of :data:`MULTI_STREAM_SAMPLES_PER_QUERY` images (fastest)."""
    batch_throughput_sps: float
    """Samples per second at :data:`MAX_BATCH_SIZE` images per batch, sustained (batches back to back)."""
    single_image_fastest_ns: float
    """One image, fastest (SingleStream's expected latency)."""
    single_image_sustained_sps: float
    """Images per second one at a time, sustained (images back to back): what sets the Server load."""


def parse_scenario(name: str, choices: Sequence[str] = tuple(SCENARIOS), what: str = "scenario") -> str:
    """The canonical name in ``choices`` (LoadGen's scenarios by default) for ``name`` (case-insensitive)."""
    for canonical in choices:
        if name.strip().lower() == canonical.lower():
            return canonical
    raise ValueError(f"unknown {what} {name!r}: choose one of {', '.join(choices)}")


def check_duration(duration_s: float) -> None:
    if not math.isfinite(duration_s) or duration_s * 1000 < 1:
        raise ValueError(f"duration must be a finite number of seconds, at least 0.001, got {duration_s!r}")


def _times_ns(function: Callable[[], object], repeats: int) -> list[int]:
    function()  # warm caches and BLAS threads
    times_ns = []
    for _ in range(repeats):
        start = time.perf_counter_ns()
        function()
        times_ns.append(time.perf_counter_ns() - start)
    return times_ns


def _fastest_ns(times_ns: list[int]) -> float:
    return float(max(min(times_ns), 1))


def sustained_throughput_sps(run_batch: Callable[[], object], batch_size: int, seconds: float) -> float:
    """Samples per second over ``seconds`` of batches back to back (three at least), after a quarter of that
    (one batch at least) to warm up: the first batches of a cold process run slower than the run will."""
    warm_until_ns = time.perf_counter_ns() + seconds * 0.25e9
    run_batch()
    while time.perf_counter_ns() < warm_until_ns:
        run_batch()
    batches = 0
    start = time.perf_counter_ns()
    while True:
        run_batch()
        batches += 1
        elapsed_ns = time.perf_counter_ns() - start
        if batches >= 3 and elapsed_ns >= seconds * 1e9:
            return batches * batch_size * 1e9 / max(elapsed_ns, 1)


def sustained_seconds(duration_s: float) -> float:
    """How long to measure the Offline throughput for a run of ``duration_s``."""
    return min(max(SUSTAINED_FRACTION * duration_s, SUSTAINED_MIN_S), SUSTAINED_MAX_S)


def measure_model_speed(
    model: TinyConvNet,
    library: FloatArray,
    seed: int = 0,
    sustained_s: float = SUSTAINED_MIN_S,
    single_sustained_s: float = 0.0,
) -> ModelSpeed:
    """Time the model on samples gathered from ``library`` as the SUT does; takes ``sustained_s`` plus
    ``single_sustained_s`` plus ~0.1 s.

    The Server target latency comes from a median, the stream latencies the fastest (see :class:`ModelSpeed`),
    the Offline throughput (batches, for ``sustained_s``) and the Server load (single images, for
    ``single_sustained_s``) from sustained rates.
    """
    if len(library) < MAX_BATCH_SIZE:
        raise ValueError(f"need at least {MAX_BATCH_SIZE} library images to time the model, got {len(library)}")
    rng = np.random.default_rng(seed)

    def run(batch_size: int) -> Callable[[], object]:
        return lambda: model.predict(library[rng.integers(0, len(library), batch_size)])

    single_ns = _times_ns(run(1), repeats=21)
    return ModelSpeed(
        single_image_latency_ns=float(max(np.median(single_ns), 1)),
        multi_stream_query_latency_ns=_fastest_ns(_times_ns(run(MULTI_STREAM_SAMPLES_PER_QUERY), repeats=11)),
        batch_throughput_sps=sustained_throughput_sps(run(MAX_BATCH_SIZE), MAX_BATCH_SIZE, sustained_s),
        single_image_fastest_ns=_fastest_ns(single_ns),
        single_image_sustained_sps=sustained_throughput_sps(run(1), 1, single_sustained_s),
    )


def build_test_settings(scenario: str, duration_s: float, speed: ModelSpeed) -> lg.TestSettings:
    """Performance-only settings whose pre-generated work lasts about ``duration_s``.

    LoadGen sizes its work from the targets: Offline issues ``1.1 x expected_qps x
    min_duration`` samples in one query, and SingleStream/MultiStream pre-generate
    twice the queries the expected latency fits in the duration (a run that uses
    them up ends early, INVALID): they are told a quarter of the measured latency
    (:data:`STREAM_LATENCY_HEADROOM`), so the work outlasts the duration and LoadGen
    stops at ``min_duration_ms`` even when the machine runs faster than it was
    measured; Offline issues 80 % of what the sustained throughput does in the
    duration and, paced (:class:`OfflinePace`), lasts the duration unless the
    machine slows by more. Server issues single-sample queries at a quarter of
    the model's sustained unbatched rate (:data:`SERVER_LOAD_FRACTION`), which the
    batching SUT keeps up with, so the run ends soon after the duration.
    ``min_query_count`` is 1 so that duration decides.
    """
    scenario = parse_scenario(scenario)
    check_duration(duration_s)
    settings = lg.TestSettings()
    settings.scenario = SCENARIOS[scenario]
    settings.mode = lg.TestMode.PerformanceOnly
    min_duration_ms = int(duration_s * 1000)
    settings.min_duration_ms = min_duration_ms
    if scenario == "Server":  # a cap for a run the SUT cannot keep up with; the others end near min_duration_ms
        settings.max_duration_ms = min_duration_ms + max(5_000, min_duration_ms // 4)
    settings.min_query_count = 1
    if scenario == "Offline":
        settings.offline_expected_qps = OFFLINE_LOAD_FRACTION / LOADGEN_OFFLINE_HEADROOM * speed.batch_throughput_sps
    elif scenario == "Server":
        settings.server_target_qps = SERVER_LOAD_FRACTION * speed.single_image_sustained_sps
        settings.server_coalesce_queries = True  # queries already due go in one call: fewer when behind
        full_batch_ns = MAX_BATCH_SIZE * 1e9 / speed.batch_throughput_sps
        settings.server_target_latency_ns = int(max(MIN_SERVER_TARGET_LATENCY_NS, 4 * full_batch_ns))
    elif scenario == "SingleStream":
        settings.single_stream_expected_latency_ns = _stream_latency_ns(speed.single_image_fastest_ns, duration_s)
    else:
        settings.multi_stream_samples_per_query = MULTI_STREAM_SAMPLES_PER_QUERY
        settings.multi_stream_expected_latency_ns = _stream_latency_ns(speed.multi_stream_query_latency_ns, duration_s)
    return settings


def _stream_latency_ns(measured_ns: float, duration_s: float) -> int:
    """The expected latency LoadGen sizes a SingleStream or MultiStream run by: the measured one with
    :data:`STREAM_LATENCY_HEADROOM`, no shorter than twice the duration over :data:`MAX_PREGENERATED_QUERIES`."""
    return int(max(measured_ns / STREAM_LATENCY_HEADROOM, 2 * duration_s * 1e9 / MAX_PREGENERATED_QUERIES))


class OfflinePace:
    """Answers of an Offline query spread over at least ``min_s``: sample k of n is answered no earlier than
    ``k / n x min_s`` after the query arrived, so the last answer comes ``min_s`` after it at the earliest."""

    def __init__(self, samples: int, min_s: float, start_ns: int) -> None:
        self.samples = samples
        self.min_s = min_s
        self.start_ns = start_ns
        self.waited_s = 0.0  # how long answers were held back in all

    def due_ns(self, answered: int) -> int:
        return self.start_ns + int(min(answered, self.samples) / self.samples * self.min_s * 1e9)

    def wait(self, answered: int) -> None:
        ahead_s = (self.due_ns(answered) - time.perf_counter_ns()) / 1e9
        if ahead_s > 0:
            self.waited_s += ahead_s
            time.sleep(ahead_s)


_Work = TypeVar("_Work")


class QueueWorkerSut(Generic[_Work]):
    """A LoadGen SUT whose ``issue_queries`` only enqueues: one worker thread (``_serve``) answers, so LoadGen's
    issuing thread is never blocked by inference; ``None`` on the queue stops it. With ``offline_min_s``, the
    first query's answers are paced over at least that long (:class:`OfflinePace`)."""

    def __init__(self, thread_name: str, offline_min_s: float | None) -> None:
        self._offline_min_s = offline_min_s
        self.pace: OfflinePace | None = None
        self._queue: queue.SimpleQueue[_Work | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name=thread_name, daemon=True)
        self.error: BaseException | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join()

    def _enqueue(self, work: _Work, samples: int) -> None:
        if self._offline_min_s is not None and self.pace is None and samples:
            self.pace = OfflinePace(samples, self._offline_min_s, time.perf_counter_ns())
        self._queue.put(work)

    def _serve(self) -> None:
        raise NotImplementedError


class _BatchingSUT(QueueWorkerSut[list[lg.QuerySample]]):
    """Answers LoadGen's queries from a worker thread, batching whatever is queued.

    ``issue_queries`` only enqueues, so LoadGen's issuing thread is never blocked by
    inference (what a Server run needs); the worker takes up to ``max_batch_size``
    queued samples at a time, so an Offline query runs as batches of that size.
    With ``offline_min_s``, the first query's answers are paced over at least that long (:class:`OfflinePace`).
    """

    def __init__(
        self,
        model: TinyConvNet,
        library: FloatArray,
        max_batch_size: int = MAX_BATCH_SIZE,
        offline_min_s: float | None = None,
    ) -> None:
        super().__init__("builtin-sut", offline_min_s)
        self._model = model
        self._library = library
        self._max_batch_size = max_batch_size
        self.completed_samples = 0

    def issue_queries(self, samples: list[lg.QuerySample]) -> None:
        self._enqueue(list(samples), len(samples))

    def flush_queries(self) -> None:
        """Nothing to flush: the worker never holds samples back waiting for a fuller batch."""

    def _serve(self) -> None:
        pending: deque[lg.QuerySample] = deque()
        stopping = False
        while pending or not stopping:
            if not pending:
                item = self._queue.get()
                if item is None:
                    stopping = True
                    continue
                pending.extend(item)
            while True:  # take everything already queued, without waiting
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                else:
                    pending.extend(item)
            batch = [pending.popleft() for _ in range(min(self._max_batch_size, len(pending)))]
            self._answer(batch)

    def _answer(self, batch: list[lg.QuerySample]) -> None:
        labels = np.zeros(len(batch), dtype=np.int64)
        if self.error is None:
            try:
                labels = self._model.predict(self._library[[sample.index for sample in batch]])
            except Exception as e:  # still answer: LoadGen would wait forever for these samples
                self.error = e
        if self.pace is not None:
            self.pace.wait(self.completed_samples + len(batch))
        labels = np.ascontiguousarray(labels, dtype=np.int64)
        address, item_size = labels.ctypes.data, labels.itemsize
        responses = [
            lg.QuerySampleResponse(sample.id, address + i * item_size, item_size) for i, sample in enumerate(batch)
        ]
        # LoadGen reads the label bytes during this call, while `labels` is alive.
        lg.QuerySamplesComplete(responses)
        self.completed_samples += len(batch)


def prepare_log_dir(log_dir: Path, names: Sequence[str] = (DETAIL_LOG_NAME, SUMMARY_LOG_NAME, _TRACE_LOG_NAME)) -> None:
    """Create ``log_dir`` (LoadGen aborts the process if it cannot open its logs) and remove ``names`` from it: stale
    logs from an earlier run would pass for this run's if LoadGen wrote none."""
    log_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        (log_dir / name).unlink(missing_ok=True)


class LoadGenSut(Protocol):
    """A SUT LoadGen drives: started before the test, stopped after it, and LoadGen's two callbacks."""

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def issue_queries(self, samples: list[lg.QuerySample]) -> None: ...
    def flush_queries(self) -> None: ...


def run_loadgen(
    sut_impl: LoadGenSut,
    settings: lg.TestSettings,
    log_dir: Path,
    total_count: int = QSL_TOTAL_COUNT,
    performance_count: int = QSL_PERFORMANCE_COUNT,
) -> None:
    """One LoadGen test of ``sut_impl`` with ``settings``, logging into ``log_dir`` (no trace: megabytes of
    per-sample records nobody here reads) on a data set of ``total_count`` samples already in memory (loading
    samples is a no-op)."""
    log_settings = lg.LogSettings()
    log_settings.log_output.outdir = str(log_dir)
    log_settings.log_output.copy_summary_to_stdout = False
    log_settings.log_output.copy_detail_to_stdout = False
    log_settings.enable_trace = False
    sut_impl.start()
    qsl = lg.ConstructQSL(total_count, performance_count, lambda _indices: None, lambda _indices: None)
    sut = lg.ConstructSUT(sut_impl.issue_queries, sut_impl.flush_queries)
    try:
        lg.StartTestWithLogSettings(sut, qsl, settings, log_settings, _NO_AUDIT_CONFIG)
    finally:
        lg.DestroyQSL(qsl)
        lg.DestroySUT(sut)
        sut_impl.stop()


def _performance(log: DetailLog, keys: tuple[str, ...]) -> tuple[str | None, float | None]:
    for key in keys:
        value = log.value(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return key, float(value)
    return None, None


def run_builtin(
    scenario: str,
    duration_s: float,
    log_dir: Path,
    seed: int = 0,
    speed: ModelSpeed | None = None,
    paced: bool = True,
) -> BuiltinResult:
    """Run the built-in benchmark under LoadGen in ``scenario`` for about ``duration_s``.

    LoadGen writes its logs (detail, summary, accuracy) into ``log_dir``, created if
    needed. Raises ``ValueError`` for a bad scenario or duration and
    :class:`BuiltinBenchmarkError` if the model failed or LoadGen wrote no logs.
    """
    scenario = parse_scenario(scenario)
    check_duration(duration_s)
    log_dir = Path(log_dir)
    prepare_log_dir(log_dir)

    simulated_speed = workload_speed(os.environ)
    state = os.environ.get(SIM_STATE_ENV)
    model = (
        TinyConvNet(seed)
        if simulated_speed is None
        else SimulatedSlowModel(seed, simulated_speed, Path(state) if state else None)
    )
    library = synthetic_images(QSL_TOTAL_COUNT, seed)
    if speed is None:  # given: the work is sized from it (a test sizing it for another machine)
        sustained_s = sustained_seconds(duration_s)
        speed = measure_model_speed(
            model,
            library,
            seed,
            sustained_s if scenario == "Offline" else 0.0,
            sustained_s if scenario == "Server" else 0.0,
        )
    settings = build_test_settings(scenario, duration_s, speed)

    offline_min_s = OFFLINE_PACE_FACTOR * duration_s if scenario == "Offline" and paced else None
    sut_impl = _BatchingSUT(model, library, offline_min_s=offline_min_s)
    run_loadgen(sut_impl, settings, log_dir)

    if sut_impl.error is not None:
        raise BuiltinBenchmarkError(f"the model failed during the run: {sut_impl.error!r}") from sut_impl.error
    missing = [name for name in (DETAIL_LOG_NAME, SUMMARY_LOG_NAME) if not (log_dir / name).is_file()]
    if missing:
        raise BuiltinBenchmarkError(f"LoadGen finished but did not write {' and '.join(missing)} in {log_dir}")
    detail = read_detail_log(log_dir / DETAIL_LOG_NAME)
    validity = detail.value("result_validity")
    performance_key, performance = _performance(detail, PERFORMANCE_KEYS[scenario])
    return BuiltinResult(
        scenario=scenario,
        log_dir=log_dir,
        validity=validity if isinstance(validity, str) else None,
        performance=performance,
        performance_key=performance_key,
        duration_s=duration_s,
        simulated_speed=simulated_speed,
    )
