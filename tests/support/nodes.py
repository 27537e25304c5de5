"""Node agents for the multi-node tests: ``mlpower-agent node`` started as a user would, and the director's
sessions as its API lists them."""

from __future__ import annotations

import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx

from tests.support.processes import BIN, agent_argv, phased_builtin, wait_for

__all__ = ["SKEW_MS", "loadgen_into_testing", "sessions", "start_node"]

SKEW_MS = 2500.0  # SIMULATED: node "skewed" reads a clock 2.5 s ahead of the machine's


def sessions(url: str, runs: Path) -> list[dict[str, Any]]:
    """``GET /v1/sessions`` of the director serving ``runs``, with its token."""
    token = (runs / "director.token").read_text().strip()
    reply = httpx.get(f"{url}/v1/sessions", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    reply.raise_for_status()
    listed: list[dict[str, Any]] = reply.json()
    return listed


def start_node(url: str, runs: Path, name: str, log: Path, *args: str) -> subprocess.Popen[str]:
    """``mlpower-agent node --name NAME`` (2 SIMULATED GPUs at 10 Hz, one session), its output into ``log``."""
    argv = [str(BIN / "mlpower-agent"), "node", "--director", url, "--token-file", str(runs / "director.token"),
            "--name", name, "--gpus", "sim:2", "--gpu-rate-hz", "10", "--sessions", "1", *args]  # fmt: skip
    with log.open("w") as out:  # a file, not a pipe: nobody reads the pipe while the session runs
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, text=True)


def loadgen_into_testing(
    url: str, runs: Path, out: Path, node_logs: Iterable[Path], testing_s: float
) -> subprocess.Popen[str]:
    """Once every node agent (its log in ``node_logs``) waits for a session: the LoadGen node's agent, built-in
    Offline for 2 s of ranging and ``testing_s`` of testing, no GPUs; returned when the session is testing."""
    for log in node_logs:
        wait_for(lambda log=log: "waiting for one" in log.read_text(), 60, f"{log.stem} waiting for a session")
    argv = agent_argv(url, runs, out, "--label", "loadgen", "--gpus", "none", *phased_builtin("Offline", 2, testing_s))
    agent = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wait_for(lambda: [s["state"] for s in sessions(url, runs)] == ["testing"], 120, "the testing phase")
    return agent
