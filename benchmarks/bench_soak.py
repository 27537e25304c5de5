"""Soak: sessions back to back for a long time, with faults on a schedule, and nothing lost or unexplained.

Real processes on loopback: the PTDaemon simulator (``mlpower-director ptd-sim --signal host-load``), a
director (``serve --meter ptd://...``), and agents run one after the other (``mlpower-agent run --benchmark
builtin --scenario Offline --gpus sim:2``) through a TCP proxy the soak can cut. Every ``--fault-every-s``
one fault is injected, in turn:

- ``meter``: the PTDaemon simulator is killed and started again on the same port ``--meter-down-s`` later
  (the director reconnects, the gap is recorded);
- ``network``: the proxy between agent and director is cut for ``--outage-s`` (the agent buffers and re-sends);
- ``director``: the director is killed (SIGKILL) and started again on the same port and token (the session
  it ran is marked interrupted, the next one starts).

At the end every run folder is read back. Each session must have ended ``closed`` or, where a director kill
fell in it, ``failed`` with an ``interrupted`` note; every meter gap and link outage the records hold must lie
where a fault was injected (an unexplained one is a failure), and every hole of over 3 s in a closed run's
``spl.txt`` must be a recorded gap. Printed: sessions (closed, interrupted, failed otherwise), faults
injected, gaps and outages recorded, wall samples stored, the director's peak RSS and its growth from the
first to the last hour quarter it was measured in (a leak shows as steady growth), and PASS or FAIL.

    .venv/bin/python benchmarks/bench_soak.py [--minutes 10 | --hours H] [--fault-every-s 120]
        [--duration-s 20] [--outage-s 30] [--meter-down-s 3] [--json]

``make soak`` runs the 10-minute default. It exits with status 1 on FAIL.
"""

from __future__ import annotations

import argparse
import itertools
import json
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(REPO))

from powerlog.cli_support import stop_process  # noqa: E402
from powerlog.errors import FormatError  # noqa: E402
from powerlog.run_record import read_session_json  # noqa: E402
from powerlog.spl import read_spl  # noqa: E402
from tests.netproxy import CuttableProxy  # noqa: E402

NS = 1_000_000_000
FAULTS = ("meter", "network", "director")
HOLE_S = 3.0  # PTDaemon samples once a second: a longer hole in spl.txt must be a recorded gap
FAULT_SLACK_NS = 60 * NS  # a gap or outage is explained by a fault injected up to this long before it


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rss_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


@dataclass
class Rig:
    work: Path
    ptd_port: int = field(default_factory=_free_port)
    director_port: int = field(default_factory=_free_port)
    ptd: subprocess.Popen[str] | None = None
    director: subprocess.Popen[str] | None = None

    @property
    def runs(self) -> Path:
        return self.work / "runs"

    def start_ptd(self) -> None:
        self.ptd = subprocess.Popen(
            [str(BIN / "mlpower-director"), "ptd-sim", "--port", str(self.ptd_port), "--signal", "host-load",
             "--log", str(self.work / "ptd_logs.txt")],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        assert self.ptd.stdout is not None
        if not self.ptd.stdout.readline().startswith("ptd-sim listening on "):
            raise SystemExit("the PTDaemon simulator did not start")

    def start_director(self) -> None:
        token = ["--token-file", str(self.runs / "director.token")] if (self.runs / "director.token").exists() else []
        self.director = subprocess.Popen(
            [str(BIN / "mlpower-director"), "serve", "--meter", f"ptd://127.0.0.1:{self.ptd_port}",
             "--out", str(self.runs), "--port", str(self.director_port), "--settle-s", "1", *token],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        assert self.director.stdout is not None
        if not self.director.stdout.readline().startswith("director listening on "):
            raise SystemExit("the director did not start")

    def kill(self, process: subprocess.Popen[str] | None) -> None:
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait()

    def stop(self) -> None:
        for process in (self.director, self.ptd):
            if process is not None:
                stop_process(process, timeout_s=10)


def _agent(rig: Rig, proxy_port: int, duration_s: float, index: int) -> subprocess.Popen[str]:
    # stderr to a file: a pipe nobody reads while the agent runs would fill during an outage and stall it
    with (rig.work / f"agent{index}.err").open("w") as stderr:
        return _agent_process(rig, proxy_port, duration_s, index, stderr)


def _agent_process(rig: Rig, proxy_port: int, duration_s: float, index: int, stderr: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(BIN / "mlpower-agent"), "run", "--director", f"http://127.0.0.1:{proxy_port}",
         "--token-file", str(rig.runs / "director.token"), "--out", str(rig.work / "agent"), "--quiet",
         "--label", f"soak{index}", "--gpus", "sim:2", "--benchmark", "builtin", "--scenario", "Offline",
         "--duration", f"{duration_s:g}"],
        stdout=subprocess.DEVNULL, stderr=stderr, text=True,  # type: ignore[arg-type]
    )  # fmt: skip


def _inject(kind: str, rig: Rig, proxy: CuttableProxy, args: argparse.Namespace) -> None:
    if kind == "meter":
        rig.kill(rig.ptd)
        time.sleep(args.meter_down_s)
        rig.start_ptd()
    elif kind == "network":
        proxy.cut()
        time.sleep(args.outage_s)
        proxy.restore()
    else:
        rig.kill(rig.director)
        rig.start_director()


def _explained(t_ns: int, faults: list[tuple[int, str]], kinds: tuple[str, ...]) -> bool:
    return any(kind in kinds and 0 <= t_ns - at_ns <= FAULT_SLACK_NS for at_ns, kind in faults)


def _audit(runs: Path, faults: list[tuple[int, str]]) -> dict[str, object]:
    states: dict[str, int] = {}
    problems: list[str] = []
    gaps = outages = samples = 0
    for folder in sorted(p for p in runs.iterdir() if p.is_dir()):
        try:
            record = read_session_json(folder / "session.json")
        except FormatError as e:
            problems.append(f"{folder.name}: {e}")
            continue
        state = "interrupted" if record.interrupted is not None else record.state
        states[state] = states.get(state, 0) + 1
        if state == "interrupted" and not _explained(record.interrupted.recovered_utc_ns, faults, ("director",)):
            problems.append(f"{folder.name}: interrupted with no director kill before it")
        elif state not in ("closed", "interrupted"):
            problems.append(f"{folder.name}: ended {state}: {record.error}")
        for gap in record.meter_gaps:
            gaps += 1
            if not _explained(gap.detected_utc_ns, faults, ("meter",)):
                problems.append(f"{folder.name}: meter gap at {gap.detected_utc_ns} with no fault before it")
        for outage in record.sut_link_outages:
            outages += 1
            if not _explained(outage.from_utc_ns, faults, ("network",)):
                problems.append(f"{folder.name}: link outage from {outage.from_utc_ns} with no fault before it")
        for sub in ("ranging", "run_1"):
            spl_path = folder / sub / "spl.txt"
            if not spl_path.is_file():
                continue
            spl = read_spl(spl_path)
            samples += len(spl)
            holes = [int(a) for a, b in itertools.pairwise(spl.t_utc_ns.tolist()) if b - a > HOLE_S * NS]
            for start_ns in holes:
                if not any(
                    g.last_sample_utc_ns - NS <= start_ns <= g.last_sample_utc_ns + NS for g in record.meter_gaps
                ):
                    problems.append(f"{folder.name}/{sub}/spl.txt: a hole from {start_ns} that no gap records")
    return {"states": states, "meter_gaps": gaps, "link_outages": outages, "wall_samples": samples,
            "problems": problems}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--hours", type=float, default=None, help="overrides --minutes")
    parser.add_argument("--fault-every-s", type=float, default=120.0)
    parser.add_argument("--duration-s", type=float, default=20.0, help="the built-in benchmark's seconds per phase")
    parser.add_argument("--outage-s", type=float, default=30.0)
    parser.add_argument("--meter-down-s", type=float, default=3.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    soak_s = args.hours * 3600 if args.hours is not None else args.minutes * 60
    faults: list[tuple[int, str]] = []
    rss_kb: list[tuple[float, int]] = []
    sessions = agent_failures = 0
    with tempfile.TemporaryDirectory(prefix="mlpower-soak-") as tmp:
        rig = Rig(Path(tmp))
        rig.start_ptd()
        rig.start_director()
        proxy = CuttableProxy(rig.director_port).start()
        kinds = itertools.cycle(FAULTS)
        started = time.monotonic()
        next_fault = started + args.fault_every_s
        agent: subprocess.Popen[str] | None = None
        try:
            while time.monotonic() - started < soak_s or agent is not None:
                if agent is None and time.monotonic() - started < soak_s:
                    agent = _agent(rig, proxy.port, args.duration_s, sessions)
                    sessions += 1
                if agent is not None and agent.poll() is not None:
                    agent_failures += agent.returncode not in (0, 1, 2)  # 1: short-run rule errors, 2: interrupted
                    agent_failures += "Traceback" in (rig.work / f"agent{sessions - 1}.err").read_text()
                    agent = None
                    continue
                if time.monotonic() >= next_fault and time.monotonic() - started < soak_s:
                    kind = next(kinds)
                    faults.append((time.time_ns(), kind))
                    print(f"{time.monotonic() - started:7.0f} s  fault: {kind}", flush=True)
                    _inject(kind, rig, proxy, args)
                    next_fault = time.monotonic() + args.fault_every_s
                if rig.director is not None and (reading := _rss_kb(rig.director.pid)) is not None:
                    rss_kb.append((time.monotonic() - started, reading))
                time.sleep(1.0)
        finally:
            if agent is not None:
                stop_process(agent, timeout_s=10)
            proxy.close()
            rig.stop()
        audit = _audit(rig.runs, faults)
    quarter = max(soak_s / 4, 1.0)
    first = [kb for t, kb in rss_kb if t < quarter]
    last = [kb for t, kb in rss_kb if t >= soak_s - quarter]
    problems = list(audit["problems"])  # type: ignore[call-overload]
    if agent_failures:
        problems.append(f"{agent_failures} agent run(s) ended with an unexpected status or a traceback")
    figures = {
        "soak_s": round(soak_s),
        "sessions": sessions,
        "faults": {kind: sum(1 for _, k in faults if k == kind) for kind in FAULTS},
        **{k: v for k, v in audit.items() if k != "problems"},
        "director_peak_rss_mb": round(max((kb for _, kb in rss_kb), default=0) / 1024, 1),
        "director_rss_first_quarter_mb": round(max(first, default=0) / 1024, 1),
        "director_rss_last_quarter_mb": round(max(last, default=0) / 1024, 1),
        "problems": problems,
        "verdict": "PASS" if not problems else "FAIL",
    }
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        for key, value in figures.items():
            if key != "problems":
                print(f"{key:32} {value}")
        for problem in problems:
            print(f"  problem: {problem}")
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
