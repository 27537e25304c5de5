"""The agent's built-in benchmark: a real LoadGen run of a tiny numpy CNN.

It gives the power measurement a genuine MLPerf-shaped load (and genuine LoadGen
logs with ``power_begin``/``power_end``) on any machine, without a model download.
Run it with ``python -m agent.builtin --scenario Offline --duration 60``.
"""

from agent.builtin.harness import (
    SCENARIOS,
    SUBMISSION_MIN_DURATION_S,
    BuiltinBenchmarkError,
    BuiltinResult,
    parse_scenario,
    run_builtin,
)
from agent.builtin.model import TinyConvNet, synthetic_images

__all__ = [
    "SCENARIOS",
    "SUBMISSION_MIN_DURATION_S",
    "BuiltinBenchmarkError",
    "BuiltinResult",
    "TinyConvNet",
    "parse_scenario",
    "run_builtin",
    "synthetic_images",
]
