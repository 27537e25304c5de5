"""Per-token figures of a token-based result: wall and GPU energy per output token, tokens per joule and energy per
query, each with its error bar, beside LoadGen's time to first token (TTFT) and time per output token (TPOT): pure.

**Which results.** A result is token-based when LoadGen logged a measured output-token rate for its run:
``result_tokens_per_second`` (Offline) or ``result_completed_tokens_per_second`` (Server, and Interactive, which
LoadGen runs as Server): what the rounds read as an LLM's (and whisper's) performance
(:data:`analyzer.rounds.TOKEN_PERFORMANCE_KEYS`). LoadGen writes them only when the SUT reported tokens
(``use_token_latencies``), so a result of any other benchmark has no token figures. A rate LoadGen *inferred* from a
fixed number of tokens per sample (``result_inferred_*``) is no count of tokens and gives none either.

**The output-token count** ``N``. LoadGen sums the tokens every response reported and logs that sum divided by a
duration ``D`` it does not log itself; ``N = rate x D`` recovers the sum:

- Offline: ``D`` is ``result_max_latency_ns`` (every sample is issued at once, as one query; the last to complete
  ends the run): LoadGen's tokens/s and samples/s are both divided by it.
- Server: ``D`` is the time the last query completed; LoadGen logs ``result_completed_samples_per_sec =
  (n - 1) / D`` (``n`` = ``result_query_count``), so ``D = (n - 1) / result_completed_samples_per_sec``.

LoadGen prints each rate to 6 significant digits, so ``N`` is its integer sum within a relative 1e-5 (rounded to
the nearest token); that is neglected beside the wall's uncertainty: the count is taken as exact. The *power
window* ``T`` (``power_begin`` to ``power_end``) is not ``D``: LoadGen opens it before the first query and closes it
after the last completion, so ``T >= D`` (the same to the millisecond for llama2-70b Offline v5.1; 22.5 s longer
out of 2500 s for llama2-70b Server v4.1): ``rate x T`` would count tokens that were never made.

**The energy** ``E = P x T``: ``P`` the official metric's mean wall power (samples > 0 W strictly inside the
window), ``T`` the window. Every joule of the window is charged to the tokens made in it, LoadGen's start-up and
the tail after the last completion included. The GPUs' ``E_gpu`` is the sum of their energies over the same window
(``gpus.total_energy_j``); ``accelerator_count`` the GPUs summed.

**The figures**, with ``q`` the queries (one prompt and its response each: ``result_query_count`` for Server;
Offline's one LoadGen query holds every sample, so ``generated_samples_per_query`` x ``result_query_count``):

- energy per output token ``E / N`` (J/token) and output tokens per joule ``N / E``;
- energy per query ``E / q`` (J/query);
- the same from the GPUs alone, with ``E_gpu``.

``N / E`` is the official efficiency (tokens/s per W) times ``D / T``: at most it, by the window's slack.

**Error bars.** ``N``, ``q`` and ``T`` are exact (``T`` is the measurand's own window), so each figure is ``P``
times or over exact factors and carries ``P``'s relative uncertainty (:meth:`analyzer.uncertainty.Budget.carried`),
its components named as the power's: ``U(E/N) / (E/N) = U(P) / P``. The GPU figures carry the GPUs' energy's, each
GPU's budget (:func:`analyzer.error_bars.gpu_energy_budget`) added per component in quadrature.

The record's names follow the proposed MLPerf energy schema (mlcommons/inference PR #2587) where it has the same
figure; its ``energy_per_token_joules`` is decode energy only, so the whole window's is
``energy_per_output_token_joules`` (docs/metrics-and-rules.md, Energy per token).

**Latencies.** TTFT (``result_first_token_*``) and TPOT (``result_time_per_output_token_*``, its mean
``result_time_to_output_token_mean``) percentiles as LoadGen logs them (50, 90, 95, 97, 99, 99.9), in ns; LoadGen
logs them for Server only. The limits are the detail log's ``requested_server_ttft_latency`` and
``requested_server_tpot_latency``, which LoadGen holds at ``effective_target_latency_percentile`` (the percentile at
or under the limit, else ``result_perf_constraints_met`` is false).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from analyzer.error_bars import budget_of, error_bar
from analyzer.metrics import Scenario, detail_number
from analyzer.rounds import TOKEN_PERFORMANCE_KEYS
from analyzer.uncertainty import Budget, combine
from powerlog.mllog import DetailLog
from powerlog.result_record import (
    GpuPhaseSummary,
    GpuRecord,
    QuantityRecord,
    TokenFiguresRecord,
    TokenLatencyRecord,
)
from powerlog.timestamps import NS_PER_S

__all__ = ["TokenCount", "gpu_energy_budget_of", "token_count", "token_figures", "token_latency"]

_TTFT = (
    re.compile(r"^result_first_token_(\d+(?:\.\d+)?)_percentile_latency_ns$"),
    "result_first_token_mean_latency_ns",
)
_TPOT = (
    re.compile(r"^result_time_per_output_token_(\d+(?:\.\d+)?)_percentile_ns$"),
    "result_time_to_output_token_mean",
)
_LIMIT_KEYS = {"ttft": "requested_server_ttft_latency", "tpot": "requested_server_tpot_latency"}


@dataclass(frozen=True)
class TokenCount:
    """LoadGen's output tokens in a run: its rate, the duration it divided by, the count they give, the queries."""

    rate_key: str
    tokens_per_s: float
    duration_s: float
    duration_from: str  # how the duration was read, in words
    output_tokens: int
    queries: int


def _count(detail: DetailLog, key: str) -> int | None:
    value = detail.value(key)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def token_count(detail: DetailLog, loadgen_scenario: Scenario | None) -> TokenCount | None:
    """The output tokens of the run LoadGen logged as ``loadgen_scenario`` (see the module docstring); None for a
    run with no measured token rate > 0, or without what gives its duration."""
    if loadgen_scenario not in (Scenario.OFFLINE, Scenario.SERVER):
        return None
    key = TOKEN_PERFORMANCE_KEYS[loadgen_scenario.value]
    rate = detail_number(detail, key)
    queries = _count(detail, "result_query_count")
    if not rate or not queries:
        return None
    if loadgen_scenario is Scenario.OFFLINE:
        max_latency_ns = detail_number(detail, "result_max_latency_ns")
        if not max_latency_ns:
            return None
        duration_s, how = max_latency_ns / NS_PER_S, "result_max_latency_ns"
        per_query = _count(detail, "generated_samples_per_query")
        samples_rate = detail_number(detail, "result_samples_per_second")
        if per_query:
            samples = per_query * queries
        elif samples_rate:
            samples = round(samples_rate * duration_s)
        else:
            return None
    else:
        completed = detail_number(detail, "result_completed_samples_per_sec")
        if not completed or queries < 2:
            return None
        duration_s, samples = (queries - 1) / completed, queries
        how = "(result_query_count - 1) / result_completed_samples_per_sec"
    tokens = rate * duration_s
    if not math.isfinite(tokens):  # absurd rates and counts: no figure rather than an overflow
        return None
    return TokenCount(key, rate, duration_s, how, round(tokens), samples)


def token_latency(detail: DetailLog, which: str) -> TokenLatencyRecord | None:
    """LoadGen's TTFT (``which="ttft"``) or TPOT (``"tpot"``) figures and the limit on them; None where it logged
    none (Offline)."""
    pattern, mean_key = _TTFT if which == "ttft" else _TPOT
    percentiles: dict[str, float] = {}
    for event in detail.events:
        match = pattern.match(event.key)
        value = detail_number(detail, event.key) if match else None
        if match and value is not None:
            percentiles[match.group(1)] = value
    mean_ns = detail_number(detail, mean_key)
    if not percentiles and mean_ns is None:
        return None
    limit = detail_number(detail, _LIMIT_KEYS[which])
    fraction = detail_number(detail, "effective_target_latency_percentile")
    limit_percentile = 100.0 * fraction if fraction is not None and limit else None
    at_limit = _at_percentile(percentiles, limit_percentile)
    return TokenLatencyRecord(
        mean_ns=mean_ns,
        percentiles_ns=percentiles,
        limit_ns=int(limit) if limit else None,
        limit_percentile=limit_percentile,
        within_limit=at_limit <= limit if at_limit is not None and limit else None,
    )


def _at_percentile(percentiles: dict[str, float], percentile: float | None) -> float | None:
    if percentile is None:
        return None
    return next((v for k, v in percentiles.items() if math.isclose(float(k), percentile, abs_tol=1e-6)), None)


def gpu_energy_budget_of(gpus: Sequence[GpuRecord]) -> Budget | None:
    """The budget of the GPUs' summed window energy from each GPU's error bar, per component in quadrature; None
    where a GPU has no energy or no error bar."""
    parts = []
    for gpu in gpus:
        if gpu.energy_j is None or gpu.uncertainty is None:
            return None
        parts.append(budget_of(gpu.uncertainty, gpu.energy_j))
    return combine(sum(p.value for p in parts), "J", parts) if parts else None


def _figure(value: float, unit: str, budget: Budget | None) -> QuantityRecord:
    """A figure with the error bar its energy's budget carries to it (exact factors)."""
    if budget is None or not budget.value:
        return QuantityRecord(value=value, unit=unit)
    return QuantityRecord(value=value, unit=unit, uncertainty=error_bar(budget.carried(value, unit)))


def _per(energy_j: float, count: TokenCount, budget: Budget | None, prefix: str) -> dict[str, Any]:
    """An energy and its figures per output token, per joule and per query, under their record names."""
    return {
        f"{prefix}energy_joules" if prefix else "total_energy_joules": _figure(energy_j, "J", budget),
        f"{prefix}energy_per_output_token_joules": _figure(energy_j / count.output_tokens, "J/token", budget),
        f"{prefix}output_tokens_per_joule": _figure(count.output_tokens / energy_j, "tokens/J", budget),
        f"{prefix}energy_per_query_joules": _figure(energy_j / count.queries, "J/query", budget),
    }


def token_figures(
    detail: DetailLog | None,
    loadgen_scenario: Scenario | None,
    window_s: float | None,
    avg_power_w: float | None,
    power_budget: Budget | None = None,
    gpus: GpuPhaseSummary | None = None,
) -> TokenFiguresRecord | None:
    """The per-token figures of a testing window (see the module docstring); None for a result that is not
    token-based. ``avg_power_w``: the official metric's mean wall power (None: no wall figures); ``power_budget``:
    its budget (None: no error bars); ``gpus``: the testing window's GPUs (None: no GPU figures)."""
    count = token_count(detail, loadgen_scenario) if detail is not None else None
    if count is None or detail is None or window_s is None or window_s <= 0 or count.output_tokens <= 0:
        return None
    figures: dict[str, Any] = {}
    if avg_power_w is not None and avg_power_w > 0:
        energy_budget = power_budget.carried(avg_power_w * window_s, "J") if power_budget is not None else None
        figures.update(_per(avg_power_w * window_s, count, energy_budget, ""))
    accelerators = None
    if gpus is not None and gpus.per_gpu and gpus.total_energy_j is not None and gpus.total_energy_j > 0:
        accelerators = len(gpus.per_gpu)
        figures.update(_per(gpus.total_energy_j, count, gpu_energy_budget_of(gpus.per_gpu), "gpu_"))
    met = detail.value("result_perf_constraints_met")
    return TokenFiguresRecord(
        token_rate_key=count.rate_key,
        output_tokens_per_second=count.tokens_per_s,
        loadgen_duration_s=count.duration_s,
        duration_from=count.duration_from,
        output_token_count=count.output_tokens,
        query_count=count.queries,
        window_s=window_s,
        accelerator_count=accelerators,
        ttft=token_latency(detail, "ttft"),
        tpot=token_latency(detail, "tpot"),
        perf_constraints_met=met if isinstance(met, bool) else None,
        **figures,
    )
