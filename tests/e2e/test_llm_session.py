"""A built-in LLM session reads as a token-based result: a real director on a simulated meter (``sim://``, labelled
simulated), the agent running ``--benchmark builtin-llm`` under real LoadGen in Interactive, simulated GPUs; its
result.json names the benchmark, files the run under Interactive and gives the per-token figures, their token count
the sum of the tokens the benchmark's responses reported (its own query log)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from powerlog.wire import BUILTIN_LLM_BENCHMARK
from tests.support.processes import run_agent, start_director, stop


@pytest.mark.slow
def test_a_builtin_llm_session_gives_per_token_figures(tmp_path: Path) -> None:
    runs, out = tmp_path / "runs", tmp_path / "agent"
    director, url = start_director(runs, "sim://?rate=0.1&signal=constant:250", settle_s=0)
    try:
        done = run_agent(url, runs, out, "--label", "llm", "--benchmark", "builtin-llm", "--scenario", "Interactive",
                         "--duration", "3", "--gpus", "sim:2")  # fmt: skip
    finally:
        stop(director)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Energy/token    " in done.stdout and " J/token ± " in done.stdout  # the agent's summary
    (folder,) = [p for p in runs.iterdir() if p.is_dir()]
    session = json.loads((folder / "session.json").read_text())
    assert (session["agent"]["benchmark"], session["agent"]["scenario"]) == (BUILTIN_LLM_BENCHMARK, "Interactive")
    report = json.loads((folder / "result.json").read_text())["report"]
    assert (report["benchmark"], report["scenario"], report["loadgen_scenario"]) == (
        BUILTIN_LLM_BENCHMARK,
        "Interactive",
        "Server",
    )
    assert report["inferred"] is False and report["simulated"] is True
    assert report["performance"]["key"] == "result_completed_tokens_per_second"
    assert report["performance"]["unit"] == "tokens/s" and report["efficiency"]["unit"] == "tokens/s/W"

    tokens = report["tokens"]
    (query_log,) = out.rglob("loadgen/testing/mlpower_llm_queries.jsonl")
    reported = [json.loads(line)["output_tokens"] for line in query_log.read_text().splitlines()]
    assert tokens["output_token_count"] == sum(reported) and tokens["query_count"] == len(reported)
    energy_j = report["avg_power_w"] * report["window_s"]
    assert tokens["total_energy_joules"]["value"] == pytest.approx(energy_j, rel=1e-9)
    per_token = tokens["energy_per_output_token_joules"]
    assert per_token["value"] == pytest.approx(energy_j / sum(reported), rel=1e-9) and per_token["unit"] == "J/token"
    assert per_token["uncertainty"]["relative_pct"] == pytest.approx(report["avg_power_uncertainty"]["relative_pct"])
    assert tokens["accelerator_count"] == 2 and tokens["gpu_energy_per_output_token_joules"]["value"] > 0
    gpu_j = report["gpus"]["total_energy_j"]
    assert tokens["gpu_energy_per_query_joules"]["value"] == pytest.approx(gpu_j / len(reported), rel=1e-9)
    for latency in (tokens["ttft"], tokens["tpot"]):  # Interactive's limits, held at the 99th percentile
        assert latency["limit_ns"] > 0 and latency["limit_percentile"] == pytest.approx(99.0)
        assert latency["percentiles_ns"]["50.00"] > 0
    page = (folder / "report.html").read_text(encoding="utf-8")
    assert "Output tokens" in page and "J/token" in page
