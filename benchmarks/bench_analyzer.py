"""Benchmark: the official power metric of a large multichannel result, mlpower against the reference way.

What is measured
    A synthetic MLPerf result folder is written first: ``performance/run_1`` holds a two-channel
    ``spl.txt`` of ``--samples`` lines (1,000,000 by default: 11.6 days at 1 Hz, the size that makes
    slow tools hurt) in PTDaemon's exact format with CRLF line ends, plus a LoadGen
    ``mlperf_log_detail.txt`` whose power window starts 10 s after the first sample and ends 10 s
    before the last; ``performance/ranging`` holds a tenth as many samples. Timestamps carry a few
    ms of jitter, the watts are noisy (seeded RNG, so every run writes the same bytes) and about one
    sample in 10,000 reads 0 W, so the "Watts > 0" rule matters. A sample of lines is compared with
    powerlog's own writer (``format_spl_line``), so the fast generator cannot drift from the format.

    Then, each in a fresh process so that its peak RSS is its own:

    * mlpower: ``build_report(load_run(performance/), get_round("v2.1"))``, ``--repeat`` times;
      best and median wall time. This reads both phases and computes every window statistic,
      more work than the baseline does.
    * baseline: the power metric computed the way the MLPerf Inference submission checker does it
      (``get_power_metric`` in ``tools/submission/submission_checker.py``): scan the detail log for
      ``power_begin``/``power_end``, then read ``spl.txt`` line by line, parse every timestamp with
      ``datetime.strptime``, keep the samples strictly inside the window whose Watts are > 0 and
      average them. That is what submitters and reviewers run today, so it is the yardstick.
    * raw parse: ``pyarrow.csv.read_csv`` of ``run_1/spl.txt`` as it is, column names given (no
      header) and nothing else: pyarrow's default type inference and parsing, no column picked or
      checked. It reads nothing more than that file and computes nothing, so it is the floor a
      columnar reader of spl.txt can get near; best of ``--repeat`` runs, like mlpower.

    The two metrics must agree to the printed precision (``%.6f``); if they do not, a FAIL line is
    printed and the exit status is 1. Timings are only reported, never asserted: the speed-up line
    says honestly whether the >= 20x target was met, the overhead line whether mlpower's best is
    within 1.5x of the raw parse's best.

Run ``make bench`` or ``.venv/bin/python benchmarks/bench_analyzer.py [--samples N] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import re
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

# numpy, powerlog and analyzer are imported inside the functions that use them, so that the
# baseline's worker process carries only what the reference checker itself would load.
if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from powerlog.spl import PowerSample

NS_PER_MS = 1_000_000
NS_PER_S = 1_000_000_000
SAMPLE_PERIOD_NS = NS_PER_S  # PTDaemon logs one sample a second
MAX_JITTER_NS = 5 * NS_PER_MS
WINDOW_MARGIN_NS = 10 * NS_PER_S  # power_begin after the first sample, power_end before the last
PHASE_GAP_NS = 60 * NS_PER_S  # between the last ranging sample and the first testing sample
RANGING_START_UTC_NS = int(datetime(2022, 8, 2, 15, 58, 48, tzinfo=UTC).timestamp()) * NS_PER_S
RANGING_FRACTION = 10  # ranging gets samples // RANGING_FRACTION lines
MIN_SAMPLES = 3 * WINDOW_MARGIN_NS // SAMPLE_PERIOD_NS
ZERO_SAMPLE_FRACTION = 1e-4
CHUNK_SAMPLES = 100_000
LINES_CHECKED_PER_CHUNK = 200
MARK = "2022-08-02_15-58-48"
ROUND = "v2.1"
TARGET_SPEEDUP = 20.0
TARGET_RAW_PARSE_RATIO = 1.5  # mlpower best / raw columnar parse best
PTD_TIME_FORMAT = "%m-%d-%Y %H:%M:%S.%f"
MLLOG_PREFIX = ":::MLLOG"


@dataclass(frozen=True)
class ChannelProfile:
    """What one analyzer channel reads on average, and how noisy its watts are."""

    mean_power_w: float
    noise_w: float
    volts_v: float
    pf: float


CHANNELS = (ChannelProfile(251.0, 6.0, 128.3, 0.605), ChannelProfile(390.0, 9.0, 123.7, 0.975))


# --------------------------------------------------------------------------------------------- generating the data


@dataclass(frozen=True)
class ChannelColumns:
    power_w: npt.NDArray[np.float64]
    volts_v: npt.NDArray[np.float64]
    amps_a: npt.NDArray[np.float64]
    pf: npt.NDArray[np.float64]


@dataclass(frozen=True)
class SampleChunk:
    """Consecutive samples of one spl.txt, as columns."""

    t_utc_ns: npt.NDArray[np.int64]
    power_w: npt.NDArray[np.float64]  # the sum of the channels' watts
    channels: tuple[ChannelColumns, ...]

    def __len__(self) -> int:
        return int(self.t_utc_ns.shape[0])

    def sample(self, i: int, mark: str) -> PowerSample:
        from powerlog.spl import ChannelSample, PowerSample

        channels = tuple(
            ChannelSample(float(ch.power_w[i]), float(ch.volts_v[i]), float(ch.amps_a[i]), float(ch.pf[i]))
            for ch in self.channels
        )
        return PowerSample(int(self.t_utc_ns[i]), float(self.power_w[i]), -1.0, -1.0, -1.0, mark, channels)


def generate_chunk(rng: np.random.Generator, first_index: int, count: int, start_utc_ns: int) -> SampleChunk:
    """Samples ``first_index`` .. ``first_index + count - 1`` of a 1 Hz log starting at ``start_utc_ns``."""
    import numpy as np

    index = np.arange(first_index, first_index + count, dtype=np.int64)
    t_utc_ns = start_utc_ns + index * SAMPLE_PERIOD_NS + rng.integers(-MAX_JITTER_NS, MAX_JITTER_NS + 1, count)
    drift = np.sin(2 * np.pi * index / 600.0)  # a slow 10-minute swing, like a load that breathes
    meter_zero = rng.random(count) < ZERO_SAMPLE_FRACTION
    channels = []
    for profile in CHANNELS:
        power_w = profile.mean_power_w * (1 + 0.03 * drift) + rng.normal(0.0, profile.noise_w, count)
        power_w = np.where(meter_zero, 0.0, np.round(power_w, 1))
        volts_v = np.round(profile.volts_v + rng.normal(0.0, 0.2, count), 2)
        pf = np.round(np.clip(profile.pf + rng.normal(0.0, 0.003, count), 0.0, 1.0), 4)
        amps_a = np.round(power_w / (volts_v * pf), 3)
        channels.append(ChannelColumns(power_w, volts_v, amps_a, pf))
    total_power_w = np.round(np.sum([ch.power_w for ch in channels], axis=0), 1)
    return SampleChunk(t_utc_ns, total_power_w, tuple(channels))


def ptd_timestamps(t_utc_ns: npt.NDArray[np.int64]) -> list[str]:
    """``format_ptd_timestamp`` for a whole array: numpy's ISO strings with the date fields reordered."""
    import numpy as np

    iso = np.datetime_as_string(t_utc_ns.astype("datetime64[ns]").astype("datetime64[ms]"), unit="ms")
    iso_bytes = iso.astype("S23").view(np.uint8).reshape(-1, 23)  # YYYY-MM-DDTHH:MM:SS.mmm
    reorder = [5, 6, 4, 8, 9, 7, 0, 1, 2, 3, 10, *range(11, 23)]  # to MM-DD-YYYY?HH:MM:SS.mmm
    ptd_bytes = np.ascontiguousarray(iso_bytes[:, reorder])
    ptd_bytes[:, 10] = ord(" ")
    return ptd_bytes.view("S23").ravel().astype("U23").tolist()


def spl_line_template(n_channels: int, mark: str) -> str:
    """A %-format for one multichannel line: timestamp, total watts, then watts/volts/amps/PF per channel."""
    head = f"Time,%s,Watts,%.6f,Volts,-1.000000,Amps,-1.000000,PF,-1.000000,Mark,{mark}"
    blocks = "".join(f",Ch{i},Watts,%.6f,Volts,%.6f,Amps,%.6f,PF,%.6f" for i in range(1, n_channels + 1))
    return head + blocks


def format_chunk(chunk: SampleChunk, mark: str) -> list[str]:
    template = spl_line_template(len(chunk.channels), mark)
    columns: list[list[Any]] = [ptd_timestamps(chunk.t_utc_ns), chunk.power_w.tolist()]
    for ch in chunk.channels:
        columns += [ch.power_w.tolist(), ch.volts_v.tolist(), ch.amps_a.tolist(), ch.pf.tolist()]
    return [template % row for row in zip(*columns, strict=True)]


def check_against_writer(chunk: SampleChunk, lines: Sequence[str], mark: str, rng: np.random.Generator) -> None:
    """Compare the first, the last and some random lines with powerlog's ``format_spl_line``."""
    from powerlog.spl import format_spl_line

    picks = {0, len(lines) - 1, *rng.integers(0, len(lines), LINES_CHECKED_PER_CHUNK).tolist()}
    for i in sorted(picks):
        expected = format_spl_line(chunk.sample(i, mark))
        if lines[i] != expected:
            raise RuntimeError(f"generated spl line differs from powerlog's writer:\n  {lines[i]}\n  {expected}")


def write_spl(path: Path, n_samples: int, start_utc_ns: int, mark: str, rng: np.random.Generator) -> tuple[int, int]:
    """Write a CRLF spl.txt; returns the UTC ns of its first and last sample."""
    first_utc_ns = last_utc_ns = start_utc_ns
    with path.open("w", encoding="ascii", newline="") as f:
        for first_index in range(0, n_samples, CHUNK_SAMPLES):
            chunk = generate_chunk(rng, first_index, min(CHUNK_SAMPLES, n_samples - first_index), start_utc_ns)
            lines = format_chunk(chunk, mark)
            check_against_writer(chunk, lines, mark, rng)
            f.write("\r\n".join(lines) + "\r\n")
            if first_index == 0:
                first_utc_ns = int(chunk.t_utc_ns[0])
            last_utc_ns = int(chunk.t_utc_ns[-1])
    return first_utc_ns, last_utc_ns


def mllog_line(key: str, value: object, time_ms: float) -> str:
    event = {
        "key": key,
        "value": value,
        "time_ms": time_ms,
        "namespace": "mlperf::logging",
        "event_type": "POINT_IN_TIME",
        "metadata": {"is_error": False, "is_warning": False, "file": "bench", "line_no": 1, "pid": 1, "tid": 1},
    }
    return f"{MLLOG_PREFIX} {json.dumps(event)}"


def write_detail_log(path: Path, begin_utc_ns: int, end_utc_ns: int) -> None:
    """A LoadGen detail log for an Offline run whose power window is (begin, end)."""
    from powerlog.timestamps import format_ptd_timestamp

    duration_ms = (end_utc_ns - begin_utc_ns) / NS_PER_MS
    events: list[tuple[str, object, float]] = [
        ("effective_scenario", "Offline", 0.01),
        ("effective_min_duration_ms", 600000, 0.01),
        ("power_begin", format_ptd_timestamp(begin_utc_ns), 1.0),
        ("power_end", format_ptd_timestamp(end_utc_ns), duration_ms),
        ("result_validity", "VALID", duration_ms + 1.0),
        ("result_query_count", 1, duration_ms + 1.0),
        ("result_samples_per_second", 131364.2, duration_ms + 1.0),
    ]
    path.write_text("".join(mllog_line(*event) + "\n" for event in events), encoding="utf-8")


def write_phase(phase_dir: Path, n_samples: int, start_utc_ns: int, mark: str, rng: np.random.Generator) -> int:
    """spl.txt and mlperf_log_detail.txt of one phase; returns the UTC ns of the last sample."""
    phase_dir.mkdir(parents=True, exist_ok=True)
    first_utc_ns, last_utc_ns = write_spl(phase_dir / "spl.txt", n_samples, start_utc_ns, mark, rng)
    write_detail_log(
        phase_dir / "mlperf_log_detail.txt", first_utc_ns + WINDOW_MARGIN_NS, last_utc_ns - WINDOW_MARGIN_NS
    )
    return last_utc_ns


def build_result_folder(out_dir: Path, n_samples: int, seed: int) -> Path:
    """Write ``out_dir/performance/{ranging,run_1}``; returns the performance folder."""
    import numpy as np

    rng = np.random.default_rng(seed)
    perf_dir = out_dir / "performance"
    n_ranging = max(MIN_SAMPLES, n_samples // RANGING_FRACTION)
    ranging_end_utc_ns = write_phase(perf_dir / "ranging", n_ranging, RANGING_START_UTC_NS, f"{MARK}_ranging", rng)
    write_phase(perf_dir / "run_1", n_samples, ranging_end_utc_ns + PHASE_GAP_NS, f"{MARK}_testing", rng)
    return perf_dir


# --------------------------------------------------------------------------------------------- the two approaches


@dataclass(frozen=True)
class Measurement:
    elapsed_s: tuple[float, ...]
    metric: float
    unit: str
    peak_rss_mib: float

    @property
    def best_s(self) -> float:
        return min(self.elapsed_s)

    @property
    def median_s(self) -> float:
        return statistics.median(self.elapsed_s)

    def to_dict(self) -> dict[str, Any]:
        return {
            "elapsed_s": list(self.elapsed_s),
            "best_s": self.best_s,
            "median_s": self.median_s,
            "peak_rss_mib": self.peak_rss_mib,
            "metric": self.metric,
            "unit": self.unit,
        }


def peak_rss_mib() -> float:
    """This process's peak resident set size.

    On Linux this is ``VmHWM`` from /proc/self/status: ``ru_maxrss`` survives fork + exec, so in a
    spawned worker it would start at the parent's (the generator's) RSS. Elsewhere, ``ru_maxrss``
    (bytes on macOS, KiB on other systems).
    """
    status = Path("/proc/self/status")
    if status.is_file():
        match = re.search(r"^VmHWM:\s+(\d+) kB", status.read_text(), re.MULTILINE)
        if match:
            return int(match.group(1)) / 1024
    max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rss_bytes = max_rss if sys.platform == "darwin" else max_rss * 1024
    return rss_bytes / 2**20


def measure_mlpower(perf_dir: str, repeat: int) -> Measurement:
    from analyzer.metrics import Quantity
    from analyzer.report import build_report
    from analyzer.rounds import get_round
    from analyzer.run import load_run

    round_ = get_round(ROUND)

    def timed_report() -> tuple[float, Quantity]:
        start_s = time.perf_counter()
        report = build_report(load_run(perf_dir), round_)
        elapsed_s = time.perf_counter() - start_s
        if report.power_metric is None:
            raise RuntimeError(f"mlpower gave no power metric: {[p.to_dict() for p in report.problems]}")
        return elapsed_s, report.power_metric

    runs = [timed_report() for _ in range(repeat)]
    metric = runs[-1][1]
    return Measurement(tuple(elapsed_s for elapsed_s, _ in runs), metric.value, metric.unit, peak_rss_mib())


def reference_window(detail_log: Path) -> tuple[datetime, datetime]:
    """power_begin and power_end from a detail log, read line by line."""
    values: dict[str, str] = {}
    with detail_log.open() as f:
        for line in f:
            if line.startswith(MLLOG_PREFIX):
                event = json.loads(line[len(MLLOG_PREFIX) :])
                if event["key"] in ("power_begin", "power_end"):
                    values[event["key"]] = event["value"]
    begin, end = (
        datetime.strptime(values[key], PTD_TIME_FORMAT).replace(tzinfo=UTC) for key in ("power_begin", "power_end")
    )
    return begin, end


def reference_power_w(perf_dir: Path) -> float:
    """Mean Watts > 0 strictly inside the window, as the submission checker's get_power_metric computes it."""
    power_begin, power_end = reference_window(perf_dir / "run_1" / "mlperf_log_detail.txt")
    power_list: list[float] = []
    with (perf_dir / "run_1" / "spl.txt").open() as f:
        for line in f:
            timestamp = datetime.strptime(line.split(",")[1], PTD_TIME_FORMAT).replace(tzinfo=UTC)
            if power_begin < timestamp < power_end:
                value = float(line.split(",")[3])
                if value > 0:
                    power_list.append(value)
    return sum(power_list) / len(power_list)


def measure_baseline(perf_dir: str, repeat: int) -> Measurement:
    elapsed_s: list[float] = []
    power_w = float("nan")
    for _ in range(repeat):
        start_s = time.perf_counter()
        power_w = reference_power_w(Path(perf_dir))
        elapsed_s.append(time.perf_counter() - start_s)
    return Measurement(tuple(elapsed_s), power_w, "W", peak_rss_mib())


def raw_parse_rows(spl_path: Path) -> int:
    """``pyarrow.csv.read_csv`` of an spl.txt with nothing beyond its defaults but the column names."""
    import pyarrow.csv as pa_csv

    with spl_path.open("rb") as f:
        n_fields = f.readline().count(b",") + 1
    names = [f"c{i}" for i in range(n_fields)]
    table = pa_csv.read_csv(spl_path, read_options=pa_csv.ReadOptions(column_names=names))
    return table.num_rows


def measure_raw_parse(perf_dir: str, repeat: int) -> Measurement:
    spl_path = Path(perf_dir) / "run_1" / "spl.txt"
    elapsed_s: list[float] = []
    rows = 0
    for _ in range(repeat):
        start_s = time.perf_counter()
        rows = raw_parse_rows(spl_path)
        elapsed_s.append(time.perf_counter() - start_s)
    return Measurement(tuple(elapsed_s), float(rows), "rows", peak_rss_mib())


def in_fresh_process(measure: Callable[[str, int], Measurement], perf_dir: Path, repeat: int) -> Measurement:
    """Run one approach in a newly spawned interpreter, so its peak RSS is not the generator's."""
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(measure, str(perf_dir), repeat).result()


# --------------------------------------------------------------------------------------------- the report


@dataclass(frozen=True)
class BenchResult:
    samples: int
    channels: int
    spl_bytes: int
    generate_s: float
    mlpower: Measurement
    baseline: Measurement
    raw_parse: Measurement

    @property
    def speedup(self) -> float:
        return self.baseline.best_s / self.mlpower.best_s

    @property
    def target_met(self) -> bool:
        return self.speedup >= TARGET_SPEEDUP

    @property
    def raw_parse_ratio(self) -> float:
        return self.mlpower.best_s / self.raw_parse.best_s

    @property
    def raw_parse_target_met(self) -> bool:
        return self.raw_parse_ratio <= TARGET_RAW_PARSE_RATIO

    @property
    def metric_abs_diff(self) -> float:
        return abs(self.mlpower.metric - self.baseline.metric)

    @property
    def metrics_match(self) -> bool:
        return f"{self.mlpower.metric:.6f}" == f"{self.baseline.metric:.6f}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "samples": self.samples,
            "channels": self.channels,
            "spl_bytes": self.spl_bytes,
            "generate_s": self.generate_s,
            "mlpower": self.mlpower.to_dict(),
            "baseline": self.baseline.to_dict(),
            "raw_parse": self.raw_parse.to_dict(),
            "speedup": self.speedup,
            "target_speedup": TARGET_SPEEDUP,
            "target_met": self.target_met,
            "raw_parse_ratio": self.raw_parse_ratio,
            "target_raw_parse_ratio": TARGET_RAW_PARSE_RATIO,
            "raw_parse_target_met": self.raw_parse_target_met,
            "metric_abs_diff": self.metric_abs_diff,
            "metrics_match": self.metrics_match,
        }


def seconds(value_s: float) -> str:
    return f"{value_s:.2f} s" if value_s < 10 else f"{value_s:.1f} s"


def measurement_line(label: str, m: Measurement) -> str:
    median = f"median {seconds(m.median_s)}" if len(m.elapsed_s) > 1 else ""
    what = f"{m.metric:,.0f} rows" if m.unit == "rows" else f"metric {m.metric:.6f} {m.unit}"
    return f"{label:<16} best {seconds(m.best_s):<8} {median:<15} peak RSS {m.peak_rss_mib:4.0f} MiB   {what}"


def text_report(result: BenchResult) -> str:
    verdict = "MET" if result.target_met else "NOT MET"
    raw_verdict = "MET" if result.raw_parse_target_met else "NOT MET"
    lines = [
        f"samples: {result.samples:,} ({result.channels} channels), file {result.spl_bytes / 1e6:.1f} MB"
        f" (generated in {seconds(result.generate_s)})",
        measurement_line("mlpower report", result.mlpower),
        measurement_line("raw parse", result.raw_parse),
        measurement_line("baseline", result.baseline),
        f"speed-up (baseline best / mlpower best): {result.speedup:.1f}x   target >= {TARGET_SPEEDUP:.0f}x: {verdict}",
        f"overhead (mlpower best / raw parse best): {seconds(result.mlpower.best_s)} / "
        f"{seconds(result.raw_parse.best_s)} = {result.raw_parse_ratio:.2f}x"
        f"   target <= {TARGET_RAW_PARSE_RATIO:.1f}x: {raw_verdict}",
        f"metric difference: {result.metric_abs_diff:.3e} {result.mlpower.unit}"
        f"   identical to %.6f: {'yes' if result.metrics_match else 'NO'}",
    ]
    if not result.metrics_match:
        lines.append(
            f"FAIL: mlpower metric {result.mlpower.metric:.6f} != baseline metric {result.baseline.metric:.6f}"
        )
    return "\n".join(lines)


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_bench(out_dir: Path, args: argparse.Namespace) -> BenchResult:
    progress(f"writing a result folder with {args.samples:,} samples under {out_dir} ...")
    start_s = time.perf_counter()
    perf_dir = build_result_folder(out_dir, args.samples, args.seed)
    generate_s = time.perf_counter() - start_s
    progress(f"timing mlpower ({args.repeat} run(s)) ...")
    mlpower = in_fresh_process(measure_mlpower, perf_dir, args.repeat)
    progress(f"timing a raw pyarrow read_csv of run_1/spl.txt ({args.repeat} run(s)) ...")
    raw_parse = in_fresh_process(measure_raw_parse, perf_dir, args.repeat)
    if raw_parse.metric != args.samples:
        raise RuntimeError(f"the raw parse read {raw_parse.metric:,.0f} rows of {args.samples:,}")
    progress(f"timing the baseline ({args.baseline_repeat} run(s), about 20 s per million samples each) ...")
    baseline = in_fresh_process(measure_baseline, perf_dir, args.baseline_repeat)
    return BenchResult(
        samples=args.samples,
        channels=len(CHANNELS),
        spl_bytes=(perf_dir / "run_1" / "spl.txt").stat().st_size,
        generate_s=generate_s,
        mlpower=mlpower,
        baseline=baseline,
        raw_parse=raw_parse,
    )


def positive_int(text: str) -> int:
    value = int(text.replace("_", "").replace(",", ""))
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return value


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--samples", type=positive_int, default=1_000_000, help="lines in run_1/spl.txt")
    parser.add_argument(
        "--repeat", type=positive_int, default=3, help="mlpower and raw parse runs (best and median are shown)"
    )
    parser.add_argument("--baseline-repeat", type=positive_int, default=1, help="baseline runs")
    parser.add_argument("--out", type=Path, help="write the result folder here and keep it (default: a temp folder)")
    parser.add_argument("--seed", type=int, default=2022, help="seed of the sample generator")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args(argv)
    if args.samples < MIN_SAMPLES:
        parser.error(f"--samples must be at least {MIN_SAMPLES} (the power window sits 10 s inside each end)")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        result = run_bench(args.out, args)
    else:
        with tempfile.TemporaryDirectory(prefix="mlpower-bench-") as tmp:
            result = run_bench(Path(tmp), args)
    print(json.dumps(result.to_dict(), indent=2) if args.json else text_report(result))
    if args.json and not result.metrics_match:
        progress(f"FAIL: mlpower metric {result.mlpower.metric:.6f} != baseline metric {result.baseline.metric:.6f}")
    return 0 if result.metrics_match else 1


if __name__ == "__main__":
    sys.exit(main())
