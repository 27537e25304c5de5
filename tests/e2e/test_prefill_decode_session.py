"""A whole session of the built-in LLM benchmark in Server after an idle phase (PTDaemon simulator, uvicorn director,
agent with real LoadGen, SIMULATED GPUs): the per-query token log reaches the run folder, and result.json splits the
testing window into prefill, decode and idle whose wall and GPU energies add up to the window's, and its energy
into static (the idle phase's power x the window) and active, which add up too (issue #33's done-when)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from powerlog.llm_queries import QUERY_LOG_NAME, read_llm_queries
from tests.support.processes import BIN, run_agent, start_director, stop

pytestmark = pytest.mark.slow


def test_a_server_session_splits_its_window_into_prefill_and_decode(ptd_sim, tmp_path: Path) -> None:
    sim = ptd_sim("--signal", "utc-profile:250,120,0.5")  # a load that moves, the same to every reader
    process, url = start_director(tmp_path / "runs", sim.url, extra=("--ptd-log", str(sim.log_path)))
    try:
        result = run_agent(url, tmp_path / "runs", tmp_path / "agent", "--label", "e2e-llm", "--gpus", "sim:1",
                           "--benchmark", "builtin-llm", "--scenario", "Server", "--duration", "3",
                           "--idle-s", "2")  # fmt: skip
    finally:
        stop(process)
    assert result.returncode == 0, result.stdout + result.stderr
    (folder,) = [p for p in (tmp_path / "runs").iterdir() if p.is_dir()]
    for phase in ("ranging", "run_1"):
        log = read_llm_queries(folder / phase / QUERY_LOG_NAME)
        assert log.queries and not log.bad_lines, phase
    client = json.loads((folder / "power" / "client.json").read_text())
    assert f"run_1/{QUERY_LOG_NAME}" in client["results"]  # listed with its SHA-1 like LoadGen's logs

    saved = json.loads((folder / "result.json").read_text())
    report, split = saved["report"], saved["report"]["prefill_decode"]
    assert report["performance"]["unit"] == "tokens/s" and report["scenario"] == "Server"
    assert split["available"] is True and split["queries_in_window"] > 0
    parts = {p["part"]: p for p in split["parts"]}
    assert set(parts) == {"prefill", "decode", "idle"}
    assert parts["prefill"]["duration_s"] > 0 and parts["decode"]["duration_s"] > 0
    assert sum(p["duration_s"] for p in parts.values()) == pytest.approx(report["window_s"], rel=1e-9)
    assert sum(p["energy_j"] for p in parts.values()) == pytest.approx(report["energy_j"], rel=1e-9)
    gpus = report["gpus"]["total_energy_j"]
    assert sum(p["gpu_energy_j"] for p in parts.values()) == pytest.approx(gpus, rel=1e-9)
    for name in ("prefill", "decode"):
        assert parts[name]["tokens"] > 0 and parts[name]["energy_per_token_j"] > 0
    assert "time-based attribution" in split["note"]
    static_active = report["static_active"]
    assert static_active["split"] is True and static_active["energy_j"] == report["energy_j"]
    total_j = static_active["static_energy_j"] + static_active["active_energy_j"]
    assert total_j == pytest.approx(report["energy_j"], rel=1e-9)
    assert static_active["static_power_uncertainty"]["expanded"] > 0
    for gpu in static_active["per_gpu"]:
        assert gpu["static_energy_j"] + gpu["active_energy_j"] == pytest.approx(gpu["energy_j"], rel=1e-9)
    # the extra file fails no rule about the folder's files, nor the official checker's
    status = {f["rule"]: f["status"] for f in saved["check"]["findings"]}
    assert status["1.files"] == status["12.results"] == "pass"
    official = {c["check"]: c["outcome"] for c in saved["check"]["official_checks"]}
    assert official["results"] == "pass"
    # the analyzer reads the same from the folder, and its text says so
    text = subprocess.run([str(BIN / "mlpower-analyzer"), "report", str(folder)], capture_output=True, text=True)
    assert text.returncode == 0 and "Prefill/decode" in text.stdout and "  decode" in text.stdout, text.stderr
