"""What changes between MLPerf Inference rounds, as parameters rather than constants.

Sources: the v2.1 values are read off the published v2.1 results themselves (their
PTDaemon version, and a testing current range equal to the ranging maximum, with no
1.1 factor); later rounds follow the public power checker and the power rules
(accepted PTDaemon version, 500 ms client/server tolerance, 1.1 x max amps, Server
performance from completed rather than scheduled samples).
"""

from __future__ import annotations

from dataclasses import dataclass

from analyzer.errors import UnknownRoundError

__all__ = ["ACCEPTED_ANALYZERS", "DEFAULT_ROUND", "ROUNDS", "Round", "get_round"]

# Identify-reply model names accepted by the power rules, with PTDaemon device type numbers.
ACCEPTED_ANALYZERS: dict[str, int] = {
    "YokogawaWT210": 8,
    "YokogawaWT500": 35,
    "YokogawaWT500_multichannel": 48,
    "YokogawaWT310": 49,
    "YokogawaWT310E": 49,
    "YokogawaWT330": 52,
    "YokogawaWT330E": 52,
    "YokogawaWT330_multichannel": 77,
    "YokogawaWT210_DC": 508,
    "YokogawaWT310_DC": 549,
    "YokogawaWT330_DC": 586,
}


@dataclass(frozen=True)
class Round:
    name: str
    ptd_versions: tuple[str, ...]
    checkpoint_tolerance_ms: float
    ntp_offset_limit_ms: float
    testing_current_factor: float
    server_performance_key: str
    min_duration_ms: int = 600_000
    power_change_limit_pct: float = -5.0
    uncertainty_limit_pct: float = 1.0


ROUNDS: dict[str, Round] = {
    "v2.1": Round(
        name="v2.1",
        ptd_versions=("1.9.1", "1.9.2"),
        checkpoint_tolerance_ms=800.0,
        ntp_offset_limit_ms=400.0,
        testing_current_factor=1.0,
        server_performance_key="result_scheduled_samples_per_sec",
    ),
    "v4.1": Round(
        name="v4.1",
        ptd_versions=("1.10.0",),
        checkpoint_tolerance_ms=500.0,
        ntp_offset_limit_ms=400.0,
        testing_current_factor=1.1,
        server_performance_key="result_completed_samples_per_sec",
    ),
    "v5.0": Round(
        name="v5.0",
        ptd_versions=("1.11.1",),
        checkpoint_tolerance_ms=500.0,
        ntp_offset_limit_ms=400.0,
        testing_current_factor=1.1,
        server_performance_key="result_completed_samples_per_sec",
    ),
}
DEFAULT_ROUND = "v5.0"


def get_round(name: str) -> Round:
    key = name if name.startswith("v") else f"v{name}"
    try:
        return ROUNDS[key]
    except KeyError:
        raise UnknownRoundError(f"unknown round {name!r}; encoded rounds: {', '.join(ROUNDS)}") from None
