"""Prefill and decode: LoadGen's testing window cut by what the LLM queries were doing, and each part's energy (pure).

The query log (:mod:`powerlog.llm_queries`) gives each query q its prefill start ``s_q``, first token
``f_q`` and completion ``c_q`` on the SUT's clock; the run's clock map places them on the meter's clock
as it places LoadGen's window ``W = [b, e]`` (the same map, so their order is kept). Query q is *in
prefill* on ``[s_q, f_q)`` and *decoding* on ``[f_q, c_q)``. Every instant t of W falls in one part:

- **prefill** when at least one query is in prefill: ``#{q: s_q <= t < f_q} > 0``;
- **decode** when none is in prefill and at least one is decoding: ``#{q: f_q <= t < c_q} > 0``;
- **idle** otherwise (no query between its prefill start and its completion: gaps between queries,
  and time queries only wait in a queue).

The boundaries (every ``s_q``, ``f_q``, ``c_q`` inside W, and b and e) cut W into segments over which the
counts are constant; with the times sorted, ``#{q: s_q <= t < f_q} = #{s_q <= t} - #{f_q <= t}`` (every
query with ``f_q <= t`` has ``s_q <= t``), so each segment's part comes from two binary searches.

**Energy.** The wall power P(t) is the samples' piecewise-linear interpolation, held at the first and
last value beyond them: the curve :func:`analyzer.metrics.trapezoid_energy_j` integrates over a
window, using the samples :func:`~analyzer.metrics.window_stats` uses (Watts > 0, plausible). With
``E(t) = integral of P from the first sample to t`` (:func:`cumulative_energy_j`: the running sum of
trapezoids plus the partial trapezoid up to t), a segment's energy is ``E(t1) - E(t0)``, a part's is the
sum over its segments, and the three parts add up to ``E(e) - E(b)``, the window's energy, by
construction (to rounding). A part's mean power is its energy over its duration. A GPU's parts come
the same way from what its window figure uses (:func:`analyzer.gpu.gpu_window`): its energy counter made
one running count (:func:`analyzer.gpu.counter_track`), linear between readings, or else its
integrated power readings.

**Tokens.** A prefill reads the prompt (``prompt_tokens``) and makes the first output token; the decode
steps make the other ``output_tokens - 1``. A query partly outside W counts the share of its prefill
(decode) time inside W of its prompt (later) tokens: ``tokens x |[s, f] ∩ W| / (f - s)``, spread evenly,
a query whose stage has no length counting whole when its start lies in W. Energy per prefill token is
the prefill part's energy over the prefill tokens in W; per decode token likewise.

**What it cannot tell.** Under batching this is a time-based attribution, not a per-request one: a
decode step that runs while another query is in prefill counts as prefill time (prefill wins every
overlap), so decode energy is that of stretches with no prefill at all; a query's queueing is no part of
its own; idle time is neither part. Energy per token divides a part's energy by all the tokens of that
kind in the window, whoever's they were. And the split is only as fine as the samples: a stretch much
shorter than the meter's sampling interval gets the power interpolated around it, so where the median
stretch is shorter than the sampling interval (``resolved`` False) the parts' mean powers differ by
little more than where they fall in time, and their energies are mostly duration x the power around them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from analyzer.gpu import GpuSeries, counter_track, gpu_window
from analyzer.metrics import Performance
from analyzer.run import PhaseData, RunData
from powerlog.clock_map import SutClockMap
from powerlog.layout import PHASE_DIRS, TESTING
from powerlog.llm_queries import QUERY_LOG_NAME, LlmQueryLog
from powerlog.result_record import PrefillDecodePartRecord, PrefillDecodeRecord
from powerlog.spl import PowerLog
from powerlog.timestamps import NS_PER_S

__all__ = [
    "DECODE",
    "IDLE",
    "NOTE",
    "PARTS",
    "PREFILL",
    "QueryTimes",
    "WindowSplit",
    "cumulative_energy_j",
    "part_energies_j",
    "prefill_decode_record",
    "split_window",
    "tokens_in_window",
]

PREFILL, DECODE, IDLE = 0, 1, 2
PARTS = ("prefill", "decode", "idle")
NOTE = (
    "A time-based attribution, not a per-request one: under batching a decode step that overlaps a prefill "
    "counts as prefill time, so decode is only the time with no query in prefill; idle time (no query between "
    "its prefill start and its completion) is neither; energy per token divides a part's energy by every token "
    "of that kind in the window. It cannot say what one request cost."
)
QUERY_FILE = f"{PHASE_DIRS[TESTING]}/{QUERY_LOG_NAME}"

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class QueryTimes:
    """Every query's stages on the meter's clock (UTC ns) and its token counts, as columns."""

    prefill_start_ns: IntArray
    first_token_ns: IntArray
    completed_ns: IntArray
    prompt_tokens: IntArray
    output_tokens: IntArray

    @classmethod
    def from_log(cls, log: LlmQueryLog, clock_map: SutClockMap | None) -> QueryTimes:
        """The log's times placed on the meter's clock by ``clock_map`` (taken as they are without one)."""
        mapping = clock_map or SutClockMap(())
        return cls(
            prefill_start_ns=mapping.to_director_array(log.column("prefill_start_ns")),
            first_token_ns=mapping.to_director_array(log.column("first_token_ns")),
            completed_ns=mapping.to_director_array(log.column("completed_ns")),
            prompt_tokens=log.column("prompt_tokens"),
            output_tokens=log.column("output_tokens"),
        )

    def overlapping(self, begin_ns: int, end_ns: int) -> int:
        """How many queries spent some time (prefill start to completion) inside ``(begin, end)``."""
        return int(np.count_nonzero((self.prefill_start_ns < end_ns) & (self.completed_ns > begin_ns)))


@dataclass(frozen=True)
class WindowSplit:
    """A window cut into segments ``[edges_ns[k], edges_ns[k + 1])``, each of one part (PREFILL, DECODE, IDLE)."""

    edges_ns: IntArray
    part: npt.NDArray[np.int8]

    def durations_s(self) -> tuple[float, float, float]:
        """Each part's time in the window, in :data:`PARTS` order."""
        prefill, decode, idle = _per_part(np.diff(self.edges_ns), self.part)
        return prefill / NS_PER_S, decode / NS_PER_S, idle / NS_PER_S

    def intervals(self, part: int) -> list[tuple[int, int]]:
        """The part's stretches, adjacent segments of it merged."""
        out: list[tuple[int, int]] = []
        for k in np.flatnonzero(self.part == part):
            begin, end = int(self.edges_ns[k]), int(self.edges_ns[k + 1])
            if out and out[-1][1] == begin:
                out[-1] = (out[-1][0], end)
            else:
                out.append((begin, end))
        return out


def split_window(queries: QueryTimes, begin_ns: int, end_ns: int) -> WindowSplit:
    """``[begin, end]`` cut into prefill, decode and idle segments (see the module for the rule)."""
    if end_ns <= begin_ns:
        raise ValueError(f"the window ends ({end_ns}) before it begins ({begin_ns})")
    s, f, c = queries.prefill_start_ns, queries.first_token_ns, queries.completed_ns
    edges = np.unique(np.concatenate((np.array([begin_ns, end_ns], dtype=np.int64), s, f, c)))
    edges = edges[(edges >= begin_ns) & (edges <= end_ns)]
    starts = edges[:-1]
    s_sorted, f_sorted, c_sorted = np.sort(s), np.sort(f), np.sort(c)
    started = np.searchsorted(s_sorted, starts, side="right")
    first = np.searchsorted(f_sorted, starts, side="right")
    done = np.searchsorted(c_sorted, starts, side="right")
    part = np.where(started - first > 0, PREFILL, np.where(first - done > 0, DECODE, IDLE)).astype(np.int8)
    return WindowSplit(edges.astype(np.int64), part)


def cumulative_energy_j(t_ns: IntArray, power_w: FloatArray, at_ns: IntArray) -> FloatArray:
    """``E(at)``: the integral of the samples' piecewise-linear power (held beyond the first and last sample)
    from the first sample to each time of ``at_ns``, in J (negative before the first sample)."""
    if t_ns.shape[0] == 0:
        raise ValueError("no samples to integrate")
    order = np.argsort(t_ns, kind="stable")
    origin = int(t_ns[order[0]])
    x = (t_ns[order] - origin) / NS_PER_S
    p = np.asarray(power_w, dtype=np.float64)[order]
    running = np.concatenate(([0.0], np.cumsum(np.diff(x) * (p[1:] + p[:-1]) / 2.0)))
    q = (np.asarray(at_ns, dtype=np.int64) - origin) / NS_PER_S
    j = np.clip(np.searchsorted(x, q, side="right") - 1, 0, x.shape[0] - 1)
    nxt = np.minimum(j + 1, x.shape[0] - 1)
    span = x[nxt] - x[j]
    inside = (q > x[0]) & (j < x.shape[0] - 1) & (span > 0)
    slope = np.divide(p[nxt] - p[j], span, out=np.zeros_like(span), where=span > 0)
    p_at = np.where(inside, p[j] + slope * (q - x[j]), p[j])
    held_before = q < x[0]
    out: FloatArray = np.where(held_before, (q - x[0]) * p[0], running[j] + (q - x[j]) * (p[j] + p_at) / 2.0)
    return out


def part_energies_j(split: WindowSplit, energy_at: FloatArray) -> tuple[float, float, float]:
    """Each part's energy, in :data:`PARTS` order, from a cumulative energy at the split's edges."""
    return _per_part(np.diff(energy_at), split.part)


def _per_part(values: npt.NDArray[np.generic], part: npt.NDArray[np.int8]) -> tuple[float, float, float]:
    """A value per segment added up per part, in :data:`PARTS` order."""
    prefill, decode, idle = (float(values[part == p].sum()) for p in (PREFILL, DECODE, IDLE))
    return prefill, decode, idle


def _share_inside(start: IntArray, stop: IntArray, begin_ns: int, end_ns: int) -> FloatArray:
    """Each stage's share of its length inside the window; a stage of no length: 1 when it lies in it."""
    length = (stop - start).astype(np.float64)
    inside = np.clip(np.minimum(stop, end_ns) - np.maximum(start, begin_ns), 0, None).astype(np.float64)
    point = ((start >= begin_ns) & (start < end_ns)).astype(np.float64)
    share = np.divide(inside, length, out=np.zeros_like(length), where=length > 0)
    out: FloatArray = np.where(length > 0, share, point)
    return out


def tokens_in_window(queries: QueryTimes, begin_ns: int, end_ns: int) -> tuple[float, float]:
    """The prefill (prompt) tokens and decode tokens (output after the first) in the window (see the module)."""
    prefill = _share_inside(queries.prefill_start_ns, queries.first_token_ns, begin_ns, end_ns)
    decode = _share_inside(queries.first_token_ns, queries.completed_ns, begin_ns, end_ns)
    return (
        float((prefill * queries.prompt_tokens).sum()),
        float((decode * (queries.output_tokens - 1)).sum()),
    )


def _wall_energy_at(spl: PowerLog, at_ns: IntArray) -> FloatArray | None:
    """The wall's cumulative energy at ``at_ns``, from the samples window_stats uses; None without any."""
    valid = ~spl.implausible() & (spl.power_w > 0)
    if not valid.any():
        return None
    return cumulative_energy_j(spl.t_utc_ns[valid], spl.power_w[valid], at_ns)


def _gpu_energy_at(series: GpuSeries, begin_ns: int, end_ns: int, at_ns: IntArray) -> FloatArray | None:
    """A GPU's cumulative energy at ``at_ns`` from the source its window figure uses; None where it has none."""
    source = gpu_window(series, begin_ns, end_ns).energy_from
    if source == "counter":
        track = counter_track(series)
        out: FloatArray = np.interp(at_ns.astype(np.float64), track.t_ns.astype(np.float64), track.running_j)
        return out
    if source == "power":
        return cumulative_energy_j(series.power_t_ns, series.power_w, at_ns)
    return None


def _gpus_energy_at(gpus: Sequence[GpuSeries], begin_ns: int, end_ns: int, at_ns: IntArray) -> FloatArray | None:
    """Every GPU's cumulative energy added up; None when there are no GPUs or one has no energy figure."""
    total = np.zeros(at_ns.shape[0])
    for series in gpus:
        energy_at = _gpu_energy_at(series, begin_ns, end_ns, at_ns)
        if energy_at is None:
            return None
        total += energy_at
    return total if gpus else None


def _median_s(lengths_ns: Sequence[int] | IntArray) -> float | None:
    values = np.asarray(lengths_ns, dtype=np.float64)
    return float(np.median(values)) / NS_PER_S if values.shape[0] else None


def _per(energy_j: float | None, tokens: float | None) -> float | None:
    return energy_j / tokens if energy_j is not None and tokens else None


def _parts(
    split: WindowSplit, wall: tuple[float, ...] | None, gpus: tuple[float, ...] | None, tokens: tuple[float, float]
) -> list[PrefillDecodePartRecord]:
    durations, window_s = split.durations_s(), sum(split.durations_s())
    records = []
    for p, name in enumerate(PARTS):
        stretches = split.intervals(p)
        part_tokens = tokens[p] if p != IDLE else None
        energy, gpu = (wall[p] if wall else None), (gpus[p] if gpus else None)
        records.append(
            PrefillDecodePartRecord(
                part=name,
                duration_s=durations[p],
                share_of_window_pct=100.0 * durations[p] / window_s if window_s > 0 else 0.0,
                intervals=len(stretches),
                median_interval_s=_median_s([b - a for a, b in stretches]),
                energy_j=energy,
                avg_power_w=energy / durations[p] if energy is not None and durations[p] > 0 else None,
                gpu_energy_j=gpu,
                gpu_avg_power_w=gpu / durations[p] if gpu is not None and durations[p] > 0 else None,
                tokens=part_tokens,
                energy_per_token_j=_per(energy, part_tokens),
                gpu_energy_per_token_j=_per(gpu, part_tokens),
            )
        )
    return records


def _resolution_note(interval_s: float | None, parts: Sequence[PrefillDecodePartRecord]) -> tuple[bool | None, str]:
    """Whether the wall samples resolve the parts' stretches, and a sentence when they do not."""
    medians = [p.median_interval_s for p in parts[:IDLE] if p.median_interval_s is not None]
    if interval_s is None or not medians:
        return None, ""
    shortest = min(medians)
    if shortest >= interval_s:
        return True, ""
    return False, (
        f" The wall meter sampled every {interval_s:.3g} s and the median stretch of a part lasted {shortest:.3g} s: "
        "shorter than a sample interval, so the parts' mean powers come mostly from interpolation between samples "
        "and their difference is not resolved; the energies are mostly each part's time x the power around it."
    )


def _unavailable(reason: str, log: LlmQueryLog | None = None) -> PrefillDecodeRecord:
    if log is None:
        return PrefillDecodeRecord(available=False, reason=reason, note=NOTE)
    return PrefillDecodeRecord(
        available=False,
        reason=reason,
        note=NOTE,
        file=QUERY_FILE,
        queries=len(log.queries),
        bad_lines=len(log.bad_lines),
    )


def prefill_decode_record(run: RunData, perf: Performance | None) -> PrefillDecodeRecord | None:
    """The testing window split into prefill, decode and idle with each part's energy, where the run has the
    query log; for a token-based result without it, a record saying why not; otherwise None (nothing to say)."""
    phase = run.testing
    log = phase.llm_queries
    if log is None:
        if perf is None or perf.unit != "tokens/s":
            return None
        return _unavailable(
            f"no per-query token times ({QUERY_FILE}): LoadGen's logs give each query's first token and completion "
            "only as latency percentiles, so the window cannot be split (mlpower's built-in LLM benchmark writes them)"
        )
    return _split_record(run, phase, log)


def _split_record(run: RunData, phase: PhaseData, log: LlmQueryLog) -> PrefillDecodeRecord:
    window = phase.meter_window_utc_ns
    if window is None or window[1] <= window[0]:
        return _unavailable("no LoadGen testing window to split", log)
    begin, end = window
    queries = QueryTimes.from_log(log, phase.clock_map)
    in_window = queries.overlapping(begin, end)
    if not in_window:
        return _unavailable(f"none of the {len(log.queries)} queries of {QUERY_FILE} lies in the window", log)
    split = split_window(queries, begin, end)
    wall_at = _wall_energy_at(phase.spl, split.edges_ns) if phase.spl is not None else None
    gpus_at = _gpus_energy_at(run.gpus, begin, end, split.edges_ns)
    wall = part_energies_j(split, wall_at) if wall_at is not None else None
    gpus = part_energies_j(split, gpus_at) if gpus_at is not None else None
    parts = _parts(split, wall, gpus, tokens_in_window(queries, begin, end))
    interval_s = _wall_interval_s(phase.spl, begin, end)
    resolved, more = _resolution_note(interval_s, parts)
    return PrefillDecodeRecord(
        available=True,
        file=QUERY_FILE,
        queries=len(log.queries),
        bad_lines=len(log.bad_lines),
        queries_in_window=in_window,
        window_s=(end - begin) / NS_PER_S,
        energy_j=sum(wall) if wall is not None else None,
        gpu_energy_j=sum(gpus) if gpus is not None else None,
        wall_sample_interval_s=interval_s,
        resolved=resolved,
        parts=parts,
        note=NOTE + more,
    )


def _wall_interval_s(spl: PowerLog | None, begin_ns: int, end_ns: int) -> float | None:
    """The median interval between the wall samples inside the window; None with fewer than two."""
    if spl is None:
        return None
    t = np.sort(spl.t_utc_ns[(spl.t_utc_ns > begin_ns) & (spl.t_utc_ns < end_ns)])
    return _median_s(np.diff(t)) if t.shape[0] > 1 else None
