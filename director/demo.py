"""``mlpower-director demo``: simulator, director and agent on loopback, one whole session.

Each part runs as its own process, exactly as a user would start it; the demo only
wires them together and stops them at the end. ``--nodes N`` (N >= 2) measures a multi-node system: the
LoadGen node on the PTDaemon simulator, every other node on a simulated Redfish BMC with a node agent
(``mlpower-agent node``, SIMULATED GPUs), an estimated switch, all described in a ``SYSTEM.toml`` the demo
writes and serves with ``serve --system``.
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


def _start(argv: list[str], expect: str, within_lines: int = 1) -> tuple[subprocess.Popen[str], str]:
    """Start a process and wait for a stdout line starting with ``expect``, among its first ``within_lines``."""
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    seen = []
    for _ in range(within_lines):
        line = process.stdout.readline()
        seen.append(line.strip())
        if line.startswith(expect):
            return process, line
    process.kill()
    _, err = process.communicate(timeout=10)
    raise DirectorError(f"{' '.join(argv[:4])} did not start: {' / '.join(filter(None, seen)) or err.strip()}")


def _system_file(out: Path, ptd_url: str, bmc_urls: list[str]) -> Path:
    """The demo system: node0 (LoadGen) on the PTDaemon simulator, node1.. on simulated BMCs, an estimated switch."""
    text = 'name = "demo-rack"\nloadgen_node = "node0"\n'
    for i, url in enumerate([ptd_url, *bmc_urls]):
        text += f'\n[[node]]\nname = "node{i}"\nwall = ["{url}"]\n'
    text += '\n[interconnect]\nmax_power_w = 200.0\nshare = 0.5\nnote = "demo: a SIMULATED switch, half its ports"\n'
    path = out / "SYSTEM.toml"
    path.write_text(text)
    return path


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
        wall = ["--meter", f"ptd://{sim_address}"]
        if args.nodes > 1:
            bmc_urls = []
            for _ in range(args.nodes - 1):
                bmc, line = _start(
                    [python, "-m", "director", "redfish-sim", "--signal", "host-load"], "meter URL: ", 10
                )
                processes.append(bmc)
                bmc_urls.append(line.split()[-1])
            system = _system_file(out, f"ptd://{sim_address}", bmc_urls)
            print(f"demo: {args.nodes} nodes, described in {system}")
            wall = ["--system", str(system)]
        director, line = _start(
            [python, "-m", "director", "serve", *wall, "--out", str(out / "runs"),
             "--port", "0", "--settle-s", f"{args.settle_s:g}", "--ptd-log", str(ptd_log)],
            "director listening on ", 4 + args.nodes,
        )  # fmt: skip
        processes.append(director)
        url = line.split()[3]
        print(f"demo: {line.strip()}")
        assert director.stdout is not None
        print(f"demo: {director.stdout.readline().strip()} (open it in a browser to watch the run live)", flush=True)
        token = out / "runs" / "director.token"
        for i in range(1, args.nodes):
            node, line = _start(
                [python, "-m", "agent", "node", "--director", url, "--token-file", str(token), "--name", f"node{i}",
                 "--gpus", "sim:2", "--sessions", "1"],
                f"node node{i}: no session yet", 5,  # waiting: it joins the session at its start
            )  # fmt: skip
            processes.append(node)
        agent = subprocess.run(
            [python, "-m", "agent", "run", "--director", url, "--token-file", str(token),
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
