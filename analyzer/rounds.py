"""What changes between MLPerf Inference rounds, as parameters rather than constants.

Sources, read (not copied) from the official tools of each round:
- the power checker (``power_checker.py`` in mlcommons/inference ``tools/submission/power`` at the
  round's tag; ``submission_checker/checks/power`` on main for v6.x): accepted PTDaemon versions,
  which ``SR,A`` command restores the initial range (the 3rd; the 3rd or 4th from v5.1, where
  power-dev sends ``SR,A,Auto`` twice before ranging), ``ptd_config`` as one object (to v5.0) or a
  list of analyzers (from v5.1);
- the submission checker (``RESULT_FIELD_NEW``, ``RESULT_FIELD_BENCHMARK_OVERWRITE``): the LoadGen key
  that is a result's performance, per scenario and per benchmark; the Interactive scenario (a power
  metric from v6.0). Where the checker's releases within a round disagree (v5.1 read llama3.1-8b's
  inferred tokens, v5.1.1 its measured tokens and added llama3.1-8b-edge), every key is accepted:
  the newer release's first, the older's when the log has only that one.
mlpower's built-in LLM benchmark (:data:`~powerlog.wire.BUILTIN_LLM_BENCHMARK`, the name its agent records) reads
as an LLM from v4.1 on: its tokens per second, as llama2-70b's.
The v2.1 values are read off the published v2.1 results themselves (their PTDaemon version, a testing
current range equal to the ranging maximum, scheduled samples per second for Server).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from analyzer.errors import UnknownRoundError
from powerlog.ptd_identity import ACCEPTED_ANALYZERS
from powerlog.wire import BUILTIN_LLM_BENCHMARK

__all__ = [
    "ACCEPTED_ANALYZERS",
    "BUILTIN_LLM_BENCHMARK",
    "DEFAULT_ROUND",
    "NEWEST_ROUND",
    "ROUNDS",
    "TOKEN_PERFORMANCE_KEYS",
    "Round",
    "get_round",
]


_V21_KEYS = {
    "Offline": "result_samples_per_second",
    "Server": "result_scheduled_samples_per_sec",
    "SingleStream": "result_90.00_percentile_latency_ns",
    "MultiStream": "result_99.00_percentile_per_query_latency_ns",
}
# from v4.1: early-stopping latencies, completed (not scheduled) samples for Server
_KEYS = {
    "Offline": "result_samples_per_second",
    "Server": "result_completed_samples_per_sec",
    "SingleStream": "early_stopping_latency_ss",
    "MultiStream": "early_stopping_latency_ms",
}
_TOKENS = {"Offline": "result_tokens_per_second", "Server": "result_completed_tokens_per_second"}
TOKEN_PERFORMANCE_KEYS: Mapping[str, str] = MappingProxyType(_TOKENS)
"""LoadGen scenario -> its measured output-token rate (what LoadGen logs with token latencies on)."""
_INFERRED_TOKENS = {
    "Offline": "result_inferred_tokens_per_second",
    "Server": "result_inferred_completed_tokens_per_second",
}


def _frozen(table: Mapping[str, Mapping[str, str]]) -> Mapping[str, Mapping[str, str]]:
    return MappingProxyType({k: MappingProxyType(dict(v)) for k, v in table.items()})


@dataclass(frozen=True)
class Round:
    """One round's rules. ``checkpoint_tolerance_ms`` is mlpower's (stricter) rule 7; the official
    checker of every round allows ``official_checkpoint_tolerance_ms``."""

    name: str
    ptd_versions: tuple[str, ...]
    loadgen_versions: tuple[str, ...]  # LoadGen major.minor released for the round
    checkpoint_tolerance_ms: float
    ntp_offset_limit_ms: float
    testing_current_factor: float
    performance_keys: Mapping[str, str]  # LoadGen scenario -> detail-log key of the performance
    benchmark_performance_keys: Mapping[str, Mapping[str, str]] = field(default_factory=lambda: MappingProxyType({}))
    # what an earlier release of the round's checker read instead (see the module docstring)
    earlier_benchmark_performance_keys: Mapping[str, Mapping[str, str]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    amps_restore_positions: tuple[int, ...] = (3,)  # the SR,A command(s) the official checker takes as the restore
    ptd_config_list: bool = False  # the official checker reads server.json ptd_config as a list of analyzers
    interactive_power: bool = False  # the official checker computes an Interactive power metric
    official_checkpoint_tolerance_ms: float = 800.0
    min_duration_ms: int = 600_000
    power_change_limit_pct: float = -5.0
    uncertainty_limit_pct: float = 1.0

    def performance_key(self, benchmark: str | None, loadgen_scenario: str) -> str | None:
        """The detail-log key the official checker reads as the performance of ``loadgen_scenario``."""
        special = self.benchmark_performance_keys.get(benchmark or "", {})
        return special.get(loadgen_scenario) or self.performance_keys.get(loadgen_scenario)

    def accepted_performance_keys(self, benchmark: str | None, loadgen_scenario: str) -> tuple[str, ...]:
        """Every detail-log key a release of the round's checker reads as the performance, the newest first."""
        keys = [self.performance_key(benchmark, loadgen_scenario)]
        keys.append(self.earlier_benchmark_performance_keys.get(benchmark or "", {}).get(loadgen_scenario))
        return tuple(dict.fromkeys(k for k in keys if k is not None))


_V41_BENCHMARKS = {
    "llama2-70b-99": _TOKENS,
    "llama2-70b-99.9": _TOKENS,
    "gptj-99": _INFERRED_TOKENS,
    "gptj-99.9": _INFERRED_TOKENS,
    "mixtral-8x7b": _TOKENS,
    BUILTIN_LLM_BENCHMARK: _TOKENS,
}
_V50_BENCHMARKS = {
    **_V41_BENCHMARKS,
    "llama2-70b-interactive-99": _TOKENS,
    "llama2-70b-interactive-99.9": _TOKENS,
    "llama3.1-405b": _TOKENS,
}
_LLAMA31_8B_EDGE = {"Offline": "result_tokens_per_second", "SingleStream": "result_90.00_percentile_latency_ns"}
# v5.1 dropped gptj and the separate llama2-70b-interactive benchmarks; as its checker v5.1.1 reads them
_V51_BENCHMARKS = {
    "llama2-70b-99": _TOKENS,
    "llama2-70b-99.9": _TOKENS,
    "llama3.1-8b": _TOKENS,
    "llama3.1-8b-edge": _LLAMA31_8B_EDGE,
    "mixtral-8x7b": _TOKENS,
    "llama3.1-405b": _TOKENS,
    "deepseek-r1": _TOKENS,
    "whisper": {"Offline": "result_tokens_per_second"},
    BUILTIN_LLM_BENCHMARK: _TOKENS,
}
_V51_EARLIER = {"llama3.1-8b": _INFERRED_TOKENS}  # the checker released as v5.1
_V6_BENCHMARKS = {**_V51_BENCHMARKS, "gpt-oss-120b": _TOKENS}

_V21 = Round(
    name="v2.1",
    ptd_versions=("1.9.1", "1.9.2"),
    loadgen_versions=("2.1",),
    checkpoint_tolerance_ms=800.0,
    ntp_offset_limit_ms=400.0,
    testing_current_factor=1.0,
    performance_keys=MappingProxyType(_V21_KEYS),
)
# each later round is the one before it with what its official tools changed
_V41 = replace(
    _V21,
    name="v4.1",
    ptd_versions=("1.10.0",),
    loadgen_versions=("4.1",),
    checkpoint_tolerance_ms=500.0,
    testing_current_factor=1.1,
    performance_keys=MappingProxyType(_KEYS),
    benchmark_performance_keys=_frozen(_V41_BENCHMARKS),
)
_V50 = replace(
    _V41,
    name="v5.0",
    ptd_versions=("1.11.1",),
    loadgen_versions=("5.0",),
    benchmark_performance_keys=_frozen(_V50_BENCHMARKS),
)
_V51 = replace(
    _V50,
    name="v5.1",
    loadgen_versions=("5.1",),
    benchmark_performance_keys=_frozen(_V51_BENCHMARKS),
    earlier_benchmark_performance_keys=_frozen(_V51_EARLIER),
    amps_restore_positions=(3, 4),
    ptd_config_list=True,
)
_V60 = replace(
    _V51,
    name="v6.0",
    loadgen_versions=("6.0",),
    benchmark_performance_keys=_frozen(_V6_BENCHMARKS),
    earlier_benchmark_performance_keys=_frozen({}),
    interactive_power=True,
)
_V61 = replace(_V60, name="v6.1", loadgen_versions=("6.1",))  # the same power checker as v6.0
ROUNDS: dict[str, Round] = {r.name: r for r in (_V21, _V41, _V50, _V51, _V60, _V61)}
NEWEST_ROUND = _V61.name
DEFAULT_ROUND = NEWEST_ROUND  # for runs whose round cannot be detected


def get_round(name: str) -> Round:
    key = name if name.startswith("v") else f"v{name}"
    try:
        return ROUNDS[key]
    except KeyError:
        raise UnknownRoundError(f"unknown round {name!r}; encoded rounds: {', '.join(ROUNDS)}") from None
