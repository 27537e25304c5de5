"""The agent's built-in benchmarks: real LoadGen runs of a tiny numpy CNN, or of a tiny numpy LLM streaming tokens.

They give the power measurement a genuine MLPerf-shaped load (and genuine LoadGen logs with
``power_begin``/``power_end``) on any machine, without a model download. Run them with
``python -m agent.builtin --scenario Offline --duration 60`` (the CNN) or
``python -m agent.builtin --model llm --scenario Server --duration 60`` (the LLM, with token latencies).
"""

from agent.builtin.harness import (
    SCENARIOS,
    SUBMISSION_MIN_DURATION_S,
    BuiltinBenchmarkError,
    BuiltinResult,
    parse_scenario,
    run_builtin,
)
from agent.builtin.llm_harness import (
    LLM_SCENARIOS,
    QUERY_LOG_NAME,
    LlmResult,
    parse_llm_scenario,
    read_query_log,
    run_builtin_llm,
)
from agent.builtin.llm_model import TinyLanguageModel, synthetic_prompts
from agent.builtin.model import TinyConvNet, synthetic_images

__all__ = [
    "LLM_SCENARIOS",
    "QUERY_LOG_NAME",
    "SCENARIOS",
    "SUBMISSION_MIN_DURATION_S",
    "BuiltinBenchmarkError",
    "BuiltinResult",
    "LlmResult",
    "TinyConvNet",
    "TinyLanguageModel",
    "parse_llm_scenario",
    "parse_scenario",
    "read_query_log",
    "run_builtin",
    "run_builtin_llm",
    "synthetic_images",
    "synthetic_prompts",
]
