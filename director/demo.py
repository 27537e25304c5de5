"""``mlpower-director demo``: simulator, director and agent on loopback, one whole session.

Each part runs as its own process, exactly as a user would start it; the demo only
wires them together and stops them at the end.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from director.errors import DirectorError
from powerlog.cli_support import stop_process

__all__ = ["run_demo"]

STARTUP_TIMEOUT_S = 30.0


def _start(argv: list[str], expect: str) -> tuple[subprocess.Popen[str], str]:
    """Start a process and wait for its first stdout line, which must start with ``expect``."""
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith(expect):
        process.kill()
        _, err = process.communicate(timeout=10)
        raise DirectorError(f"{' '.join(argv[:4])} did not start: {line.strip() or err.strip()}")
    return process, line


def run_demo(args: argparse.Namespace) -> int:
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y-%m-%d_%H-%M-%S", time.gmtime())
    ptd_log = out / f"ptd_logs_{stamp}.txt"
    python = sys.executable
    print(
        f"demo: {args.scenario}, {args.duration:g} s per phase, everything SIMULATED except the benchmark and LoadGen"
    )
    sim, line = _start(
        [python, "-m", "director", "ptd-sim", "--port", "0", "--signal", "host-load", "--log", str(ptd_log)],
        "ptd-sim listening on ",
    )
    processes = [sim]
    try:
        sim_address = line.split()[3]
        print(f"demo: {line.strip()}")
        director, line = _start(
            [python, "-m", "director", "serve", "--meter", f"ptd://{sim_address}", "--out", str(out / "runs"),
             "--port", "0", "--settle-s", f"{args.settle_s:g}", "--ptd-log", str(ptd_log)],
            "director listening on ",
        )  # fmt: skip
        processes.append(director)
        url = line.split()[3]
        print(f"demo: {line.strip()}")
        assert director.stdout is not None
        print(f"demo: {director.stdout.readline().strip()} (open it in a browser to watch the run live)", flush=True)
        agent = subprocess.run(
            [python, "-m", "agent", "run", "--director", url, "--token-file", str(out / "runs" / "director.token"),
             "--label", "demo", "--out", str(out / "agent"), "--benchmark", "builtin",
             "--scenario", args.scenario, "--duration", f"{args.duration:g}", "--gpus", args.gpus],
            check=False,
        )  # fmt: skip
        if agent.returncode == 0:
            print(f"demo: run folders under {out / 'runs'}; check one with: mlpower-analyzer check <run folder>")
        return agent.returncode
    finally:
        for process in reversed(processes):
            stop_process(process)
