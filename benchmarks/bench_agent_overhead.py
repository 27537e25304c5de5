"""What the agent costs the SUT: the built-in benchmark's Offline throughput alone, and under a running agent
that samples 8 simulated GPUs at 100 Hz and streams them to a director.

The director runs on its own CPU (the other one of a 2-core machine: it stands for the director laptop);
the benchmark, and in the agent case the agent with it, share the SUT's CPU (``--sut-cpu``). BLAS is
held to one thread so that the benchmark uses exactly that CPU. Runs alternate (alone, agent, alone,
agent, ...) so that a drift of the machine hits both alike; each figure is LoadGen's
``result_samples_per_second`` of a testing run. The target is an overhead under 1 %; the reference
workflow's users report up to 10 % on CPU inference.

    .venv/bin/python benchmarks/bench_agent_overhead.py [--duration 20] [--pairs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(REPO))

from powerlog.cli_support import stop_process  # noqa: E402
from powerlog.mllog import read_detail_log  # noqa: E402

TARGET_PCT = 1.0
STEADY_AFTER_S = 6.0  # the agent's start-up: imports, the GPUs opened, the session opened
STEADY_BEFORE_END_S = 3.0  # its end: the close, the uploads, the summary
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _benchmark(duration_s: float) -> list[str]:
    # unpaced: the throughput is what the model does on the CPU it has left (paced, it would be the plan)
    return [sys.executable, "-m", "agent.builtin", "--scenario", "Offline", "--duration", f"{duration_s:g}",
            "--unpaced"]  # fmt: skip


def _pinned(cpu: int | None):  # type: ignore[no-untyped-def]
    if cpu is None or not hasattr(os, "sched_setaffinity"):
        return None
    return lambda: os.sched_setaffinity(0, {cpu})


def _throughput(detail: Path) -> float:
    value = read_detail_log(detail).value("result_samples_per_second")
    if not isinstance(value, int | float):
        raise SystemExit(f"{detail}: no result_samples_per_second")
    return float(value)


def alone(duration_s: float, work: Path, cpu: int | None) -> float:
    logs = work / "alone"
    subprocess.run(
        [*_benchmark(duration_s), "--log-dir", str(logs)],
        cwd=REPO, env={**os.environ, **ONE_THREAD}, preexec_fn=_pinned(cpu), check=True, capture_output=True,
    )  # fmt: skip
    return _throughput(logs / "mlperf_log_detail.txt")


def _cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of one process (not its children), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def with_agent(duration_s: float, work: Path, url: str, token: Path, cpu: int | None) -> tuple[float, float | None]:
    """The testing run's throughput, and the agent process's own CPU use (share of one CPU) in its steady state."""
    out = work / "agent"
    agent = subprocess.Popen(
        [str(BIN / "mlpower-agent"), "run", "--director", url, "--token-file", str(token), "--out", str(out),
         "--quiet", "--gpus", "sim:8", "--gpu-rate-hz", "100", "--", *_benchmark(duration_s)],
        env={**os.environ, **ONE_THREAD}, preexec_fn=_pinned(cpu), stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    series: list[tuple[float, float]] = []  # (monotonic s, the agent's CPU s)
    while agent.poll() is None:
        reading = _cpu_s(agent.pid)
        if reading is not None:
            series.append((time.monotonic(), reading))
        time.sleep(0.5)
    stderr = agent.stderr.read() if agent.stderr else ""
    if agent.returncode not in (0, 1):  # 1: the short run's rule errors
        raise SystemExit(f"the agent failed ({agent.returncode}): {stderr[-2000:]}")
    details = sorted(out.rglob("loadgen/testing/**/mlperf_log_detail.txt"))
    if not details:
        raise SystemExit(f"no testing detail log under {out}")
    return _throughput(details[-1]), _steady_share(series)


def _steady_share(series: list[tuple[float, float]]) -> float | None:
    """The agent's CPU use while it samples and streams: start-up (imports, opening the session) and the end
    (uploads, the close) are left out, being paid once per session and not while the benchmark runs."""
    if not series:
        return None
    begin_s, end_s = series[0][0] + STEADY_AFTER_S, series[-1][0] - STEADY_BEFORE_END_S
    steady = [(t, cpu) for t, cpu in series if begin_s <= t <= end_s]
    if len(steady) < 2 or steady[-1][0] <= steady[0][0]:
        return None
    return (steady[-1][1] - steady[0][1]) / (steady[-1][0] - steady[0][0])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=float, default=20.0, help="seconds per benchmark run (default 20)")
    p.add_argument("--pairs", type=int, default=3, help="alone/agent pairs (default 3)")
    p.add_argument("--sut-cpu", type=int, default=0, help="the CPU the benchmark and agent share (default 0)")
    p.add_argument("--director-cpu", type=int, default=1, help="the director's CPU (default 1)")
    args = p.parse_args()
    cpus = os.cpu_count() or 1
    sut_cpu = args.sut_cpu if cpus > 1 else None
    director_cpu = args.director_cpu if cpus > 1 else None
    with tempfile.TemporaryDirectory(prefix="mlpower-overhead-") as tmp:
        work = Path(tmp)
        runs = work / "runs"
        director = subprocess.Popen(
            [str(BIN / "mlpower-director"), "serve", "--meter", "sim://?rate=1", "--out", str(runs), "--port", "0",
             "--settle-s", "0"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_pinned(director_cpu),
        )  # fmt: skip
        try:
            assert director.stdout is not None
            first = director.stdout.readline()
            if not first.startswith("director listening on "):
                raise SystemExit(
                    f"the director did not start: {first}{director.stderr.read() if director.stderr else ''}"
                )
            url = first.split()[3]
            token = runs / "director.token"
            alone_sps, agent_sps, agent_cpu = [], [], []
            for k in range(args.pairs):
                alone_sps.append(alone(args.duration, work / f"a{k}", sut_cpu))
                sps, share = with_agent(args.duration, work / f"b{k}", url, token, sut_cpu)
                agent_sps.append(sps)
                if share is not None:
                    agent_cpu.append(share)
                cpu_text = "" if share is None else f" (the agent itself: {100 * share:.2f} % of a CPU)"
                print(f"pair {k + 1}: alone {alone_sps[-1]:,.1f} samples/s, with the agent {sps:,.1f}{cpu_text}")
        finally:
            stop_process(director)
    base, loaded = statistics.median(alone_sps), statistics.median(agent_sps)
    overhead_pct = 100 * (base - loaded) / base
    spread_pct = 100 * (max(alone_sps) - min(alone_sps)) / base  # how far apart runs of the same thing land
    print(f"cpus: the benchmark (and the agent) on {sut_cpu}, the director on {director_cpu} ({cpus} in all)")
    print(f"alone:      median {base:,.1f} samples/s over {args.pairs} run(s) of {args.duration:g} s")
    print(f"with agent: median {loaded:,.1f} samples/s (8 SIMULATED GPUs at 100 Hz, read 4 times a second, streamed)")
    met = "MET" if overhead_pct < TARGET_PCT else "NOT MET"
    if abs(overhead_pct) < spread_pct:
        met += f", but within the noise of {spread_pct:.2f} %: see the agent's CPU share below"
    print(f"overhead:   {overhead_pct:+.2f} % (target < {TARGET_PCT:g} %: {met})")
    print(f"noise:      the alone runs spread {spread_pct:.2f} % of their median")
    if agent_cpu:
        print(f"agent CPU:  median {100 * statistics.median(agent_cpu):.2f} % of one CPU (its own process, not the "
              "workload): the cost the throughput figure measures through the noise")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
