"""Soak: sessions back to back for a long time, with faults on a schedule, and nothing lost or unexplained.

Real processes on loopback: a meter, a director and agents one after the other (``mlpower-agent run
--benchmark builtin --scenario Offline --gpus sim:8 --gpu-rate-hz 100``) through a TCP proxy the soak can
cut. The meter (``--meter``) is either a simulated WT310 at 10 Hz on a pty (``serial``, the default:
``mlpower-director meter-sim --serial --signal host-load``, reached through a stable symlink as udev's
``/dev/serial/by-id`` names are; ``serve --meter serial://LINK?model=wt310&rate=0.1``) or the PTDaemon
simulator at 1 Hz (``ptd``: ``mlpower-director ptd-sim``, reached through a second cuttable proxy). Every
``--fault-every-s`` one fault is injected, in turn:

- ``meter``: the meter simulator is killed (the adapter pulled, PTDaemon gone) and a new one started behind
  the same link or port ``--meter-down-s`` later (the director reopens it, the gap is recorded);
- ``meter-link`` (``ptd`` only): the TCP link between director and PTDaemon is cut for ``--link-cut-s``
  (under a second by default; the analyzer goes on measuring meanwhile);
- ``meter-pause`` (``ptd`` only): PTDaemon is stopped (SIGSTOP) for ``--pause-s``, then continued;
- ``network``: the proxy between agent and director is cut for ``--outage-s`` (the agent buffers and re-sends);
- ``director``: the director is killed (SIGKILL) and started again on the same port and token (the session
  it ran is marked interrupted, the next one starts);
- ``agent``: the running agent is killed mid-session, with SIGKILL, SIGTERM and SIGHUP in turn: its session
  must end ``failed`` naming the cause (the signal, or ``agent silent for N s`` once its lease expires after
  a SIGKILL) and the meter must be free again (the director's session list shows none measuring) within the
  lease and a minute; the time it took is printed.

At the end every run folder is read back and each session must have ended ``closed`` or, where a director
kill fell in it, ``failed`` with an ``interrupted`` note, or, where an agent kill fell in it, ``failed``
with its cause (within the lease and a minute of the kill), or ``failed`` with ``the meter did not answer at
the ... start`` where a meter fault outlasted a phase start's 20 s of patience (a 30 s pause does). Wall
samples: produced (10 Hz over each phase's first to last sample) against stored, the missing ones counted as
missed updates (an interval of 1.5 or more counts its rounded number of intervals, less one) apart from
those inside a recorded meter gap; at most 1 % may be missed (as ``bench_ingest``: a poller the machine held
back loses an update). GPU readings: produced (the agent's ``client.json``) against stored
(``session.json``), equal for every closed session. Every meter gap and link outage recorded must follow an
injected fault of its kind within a minute. Printed with them: the faults, the p50/p99/max round trip of the
agent's sample requests (the ingest latency as the SUT sees it), the director's RSS and open file
descriptors (first and last quarter, and the growth per hour of a line fitted through all readings: a leak
shows as steady growth), then PASS or FAIL.

    .venv/bin/python benchmarks/bench_soak.py [--minutes 10 | --hours H] [--fault-every-s 120]
        [--duration-s 20] [--outage-s 30] [--meter-down-s 3] [--meter serial|ptd] [--link-cut-s 0.8]
        [--pause-s 30] [--keep DIR] [--json]

``make soak`` runs the 10-minute default. It exits with status 1 on FAIL.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(REPO))

from powerlog.cli_support import stop_process  # noqa: E402
from powerlog.errors import FormatError  # noqa: E402
from powerlog.run_record import MeterGap, SessionJson, read_session_json  # noqa: E402
from powerlog.spl import read_spl  # noqa: E402
from tests.support.netproxy import CuttableProxy  # noqa: E402

NS = 1_000_000_000
FAULTS = {
    "serial": ("meter", "network", "director", "agent"),
    "ptd": ("meter", "meter-link", "network", "director", "meter-pause", "agent"),
}
METER_FAULTS = ("meter", "meter-link", "meter-pause")
INTERVAL_NS = {"serial": 100_000_000, "ptd": 1_000_000_000}  # the simulated WT310 at 10 Hz, PTDaemon at 1 Hz
AGENT_SIGNALS = (signal.SIGKILL, signal.SIGTERM, signal.SIGHUP)
AGENT_CAUSES = ("agent silent for", "interrupted by SIG")  # what an agent-kill session's error must name
# a phase start waits 20 s for a meter that does not answer (reliability.md): a longer fault at a start fails it
METER_AT_START = "the meter did not answer at"
MAX_MISSED_FRACTION = 0.01
FAULT_SLACK_NS = 60 * NS  # a gap or outage is explained by a fault injected up to this long before it ...
FAULT_LEAD_NS = 5 * NS  # ... or this long after: an outage starts at the oldest reading a late batch holds


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rss_kb_and_fds(pid: int) -> tuple[int, int] | None:
    try:
        rss = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                   if line.startswith("VmRSS:"))  # fmt: skip
        return rss, len(os.listdir(f"/proc/{pid}/fd"))
    except (OSError, StopIteration):
        return None


@dataclass
class Rig:
    work: Path
    kind: str = "serial"
    director_port: int = field(default_factory=_free_port)
    ptd_port: int = field(default_factory=_free_port)
    meter: subprocess.Popen[str] | None = None
    director: subprocess.Popen[str] | None = None
    meter_link: CuttableProxy | None = None  # director -> PTDaemon, ``ptd`` only
    lease_s: float = 20.0

    @property
    def runs(self) -> Path:
        return self.work / "runs"

    @property
    def link(self) -> Path:
        return self.work / "ttyWT310"

    def start_meter(self) -> None:
        if self.kind == "ptd":
            self.start_ptd()
        else:
            self.start_serial()

    def start_serial(self) -> None:
        """A new simulated WT310 on a new pty, behind the same link (as a replugged adapter's stable name)."""
        self.meter = subprocess.Popen(
            [str(BIN / "mlpower-director"), "meter-sim", "--serial", "--signal", "host-load"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        assert self.meter.stdout is not None
        device = self.meter.stdout.readline().split()[-1] if self.meter.stdout else ""
        if not device.startswith("/dev/"):
            raise SystemExit(f"the meter simulator did not start: {device!r}")
        partial = self.link.with_suffix(".new")
        partial.unlink(missing_ok=True)
        partial.symlink_to(device)
        partial.replace(self.link)

    def start_ptd(self) -> None:
        """The PTDaemon simulator on the same port each time, behind the cuttable link the director uses."""
        self.meter = subprocess.Popen(
            [str(BIN / "mlpower-director"), "ptd-sim", "--port", str(self.ptd_port), "--signal", "host-load",
             "--sample-log", str(self.sim_samples)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        assert self.meter.stdout is not None
        if not self.meter.stdout.readline().startswith("ptd-sim listening on "):
            raise SystemExit("the PTDaemon simulator did not start")
        if self.meter_link is None:
            self.meter_link = CuttableProxy(self.ptd_port).start()

    @property
    def sim_samples(self) -> Path:
        """Every sample the PTDaemon simulator produced (its -l log, appended across restarts): the ground truth
        of what the director could have stored; a tick the simulator itself skipped (starved by the machine for
        over 2 s) is not in it, so it is not counted as lost by the director."""
        return self.work / "ptd-samples.txt"

    @property
    def meter_url(self) -> str:
        if self.kind == "ptd":
            assert self.meter_link is not None
            return f"ptd://127.0.0.1:{self.meter_link.port}"
        return f"serial://{self.link}?model=wt310&rate=0.1"

    def start_director(self) -> None:
        """``serve`` with its output (a line per session event) appended to ``director.out``, read by nobody
        until the end: a pipe would need a reader for hours."""
        out = self.work / "director.out"
        already = out.stat().st_size if out.exists() else 0
        with out.open("a") as stdout:
            self.director = subprocess.Popen(
                [str(BIN / "mlpower-director"), "serve", "--meter", self.meter_url,
                 "--out", str(self.runs), "--port", str(self.director_port), "--settle-s", "1",
                 "--lease-s", f"{self.lease_s:g}"],
                stdout=stdout, stderr=subprocess.STDOUT, text=True,
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while "director listening on " not in out.read_text()[already:]:
            if self.director.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the director did not start: {out.read_text()[already:]}")
            time.sleep(0.1)

    def kill(self, process: subprocess.Popen[str] | None) -> None:
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait()

    def stop(self) -> None:
        for process in (self.director, self.meter):
            if process is not None:
                if process is self.meter and process.poll() is None:
                    process.send_signal(signal.SIGCONT)  # a pause fault may have been cut short
                stop_process(process, timeout_s=10)
        if self.meter_link is not None:
            self.meter_link.close()

    def active_sessions(self) -> list[str] | None:
        """The sessions the director lists as not ended (straight to its port, not through the agents' proxy);
        None when it does not answer."""
        token = (self.runs / "director.token").read_text().strip()
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.director_port}/v1/sessions", headers={"Authorization": f"Bearer {token}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as reply:
                sessions = json.loads(reply.read())
        except (OSError, ValueError):
            return None
        return [s["session_id"] for s in sessions if s["state"] not in ("closed", "failed")]


def _agent(rig: Rig, proxy_port: int, duration_s: float, index: int) -> subprocess.Popen[str]:
    # stderr to a file: a pipe nobody reads while the agent runs would fill during an outage and stall it
    with (rig.work / f"agent{index}.err").open("w") as stderr:
        return subprocess.Popen(
            [str(BIN / "mlpower-agent"), "run", "--director", f"http://127.0.0.1:{proxy_port}",
             "--token-file", str(rig.runs / "director.token"), "--out", str(rig.work / "agent"), "--quiet",
             "--label", f"soak{index}", "--gpus", "sim:8", "--gpu-rate-hz", "100", "--benchmark", "builtin",
             "--scenario", "Offline", "--duration", f"{duration_s:g}"],
            stdout=subprocess.DEVNULL, stderr=stderr, text=True,
        )  # fmt: skip


def _inject(kind: str, rig: Rig, proxy: CuttableProxy, args: argparse.Namespace) -> None:
    if kind == "meter":
        rig.kill(rig.meter)
        time.sleep(args.meter_down_s)
        rig.start_meter()
    elif kind == "meter-link":
        assert rig.meter_link is not None
        rig.meter_link.cut()
        time.sleep(args.link_cut_s)
        rig.meter_link.restore()
    elif kind == "meter-pause":
        assert rig.meter is not None
        rig.meter.send_signal(signal.SIGSTOP)
        time.sleep(args.pause_s)
        rig.meter.send_signal(signal.SIGCONT)
    elif kind == "network":
        proxy.cut()
        time.sleep(args.outage_s)
        proxy.restore()
    else:
        rig.kill(rig.director)
        rig.start_director()


def _kill_agent(rig: Rig, agent: subprocess.Popen[str], signum: int, lease_s: float) -> tuple[float | None, str]:
    """Kills the agent mid-session with ``signum``; returns how long the meter took to be free again (None: not
    within the lease and a minute) and what was seen."""
    killed = time.monotonic()
    agent.send_signal(signum)
    try:
        agent.wait(timeout=60)
    except subprocess.TimeoutExpired:
        agent.kill()
        agent.wait()
        return None, f"the agent did not exit within 60 s of {signal.Signals(signum).name}"
    deadline = killed + lease_s + 60
    while time.monotonic() < deadline:
        active = rig.active_sessions()
        if active == []:
            return time.monotonic() - killed, "free"
        time.sleep(0.5)
    return None, f"the meter still held {lease_s + 60:.0f} s after {signal.Signals(signum).name}: {active}"


def _explained(t_ns: int, faults: list[tuple[int, str]], *kinds: str, slack_ns: int = FAULT_SLACK_NS) -> bool:
    return any(k in kinds and -FAULT_LEAD_NS <= t_ns - at_ns <= slack_ns for at_ns, k in faults)


def _modified_utc_ns(path: Path) -> int:
    return path.stat().st_mtime_ns


def _sim_times_by_mark(rig: Rig) -> dict[str, np.ndarray] | None:
    """The PTDaemon simulator's own samples, their times by mark; None for a meter that keeps no such log."""
    if rig.kind != "ptd" or not rig.sim_samples.is_file():
        return None
    log = read_spl(rig.sim_samples)
    marks = np.array([log.mark_of(i) for i in range(len(log.t_utc_ns))])
    return {mark: np.sort(log.t_utc_ns[marks == mark]) for mark in set(marks.tolist())}


def _in_gap(t_ns: int, gaps: list[MeterGap]) -> bool:
    return any(g.last_sample_utc_ns - NS <= t_ns <= (g.restored_utc_ns or g.detected_utc_ns) + NS for g in gaps)


def _wall(
    folder: Path, record: SessionJson, interval_ns: int, sim_times: dict[str, np.ndarray] | None
) -> tuple[int, int, int]:
    """Wall samples produced, stored, and missed outside recorded meter gaps. Produced: what the simulator
    logged with the phase's mark between its first and last stored sample where it keeps a log (PTDaemon),
    else one an interval from first to last (an interval of 1.5 or more counts as its missed updates)."""
    produced = stored = missed = 0
    for sub in ("ranging", "run_1"):
        spl_path = folder / sub / "spl.txt"
        if not spl_path.is_file():
            continue
        log = read_spl(spl_path)
        t = log.t_utc_ns
        if len(t) < 2:
            continue
        stored += len(t)
        if sim_times is not None:
            made = sim_times.get(log.mark_of(0), np.array([], dtype=np.int64))
            made = made[(made >= t[0]) & (made <= t[-1])]
            kept = set(t.tolist())
            produced += len(made)
            missed += sum(1 for m in made.tolist() if m not in kept and not _in_gap(m, record.meter_gaps))
            continue
        produced += round((int(t[-1]) - int(t[0])) / interval_ns) + 1
        for a, b in itertools.pairwise(t.tolist()):
            lost = round((b - a) / interval_ns) - 1 if b - a >= 1.5 * interval_ns else 0
            in_gap = any(g.last_sample_utc_ns - NS <= a <= g.last_sample_utc_ns + NS for g in record.meter_gaps)
            missed += 0 if in_gap else lost
    return produced, stored, missed


def _gpu(agent_out: Path, record: SessionJson) -> tuple[int | None, int, dict[str, float | None]]:
    """GPU power readings the agent produced (its client.json; None without one), stored, and its send times."""
    stored = sum(n for source, n in record.sut_samples.items() if source.endswith(".power"))
    client = agent_out / record.session_id / "power" / "client.json"
    if not client.is_file():
        return None, stored, {}
    stats = json.loads(client.read_text())["mlpower"]["gpu_sampler"] or {}
    times = {k: stats.get(k) for k in ("send_p50_ms", "send_p99_ms", "send_max_ms")}
    return stats.get("power_readings"), stored, times


def _audit(rig: Rig, faults: list[tuple[int, str]]) -> dict[str, object]:
    lease_ns = round(rig.lease_s * NS)
    states: dict[str, int] = {}
    problems: list[str] = []
    gaps = outages = produced = stored = missed = gpu_produced = gpu_stored = 0
    p99s: list[float] = []
    p50s: list[float] = []
    sim_times = _sim_times_by_mark(rig)
    for folder in sorted(p for p in rig.runs.iterdir() if p.is_dir()):
        try:
            record = read_session_json(folder / "session.json")
        except FormatError as e:
            problems.append(f"{folder.name}: {e}")
            continue
        interrupted = record.interrupted
        state = "interrupted" if interrupted is not None else record.state
        ended_ns = _modified_utc_ns(folder / "session.json")
        if state == "failed" and any(cause in (record.error or "") for cause in AGENT_CAUSES):
            state = "agent killed"
        elif state == "failed" and METER_AT_START in (record.error or ""):
            state = "meter down at a start"
        states[state] = states.get(state, 0) + 1
        if interrupted is not None and not _explained(interrupted.recovered_utc_ns, faults, "director"):
            problems.append(f"{folder.name}: interrupted with no director kill before it")
        elif state == "agent killed" and not _explained(ended_ns, faults, "agent", slack_ns=lease_ns + FAULT_SLACK_NS):
            # a SIGKILLed agent's session ends a lease after the kill, and the abort is written after that
            kills = [round((ended_ns - at_ns) / NS, 1) for at_ns, k in faults if k == "agent"]
            problems.append(
                f"{folder.name}: {record.error}, with no agent kill before it (session.json last written "
                f"{ended_ns}; seconds since each agent kill: {kills})"
            )
        elif state == "meter down at a start" and not _explained(ended_ns, faults, "meter", "meter-pause"):
            problems.append(f"{folder.name}: {record.error}, with no meter fault before it")
        elif state not in ("closed", "interrupted", "agent killed", "meter down at a start"):
            problems.append(f"{folder.name}: ended {state}: {record.error}")
        for gap in record.meter_gaps:
            gaps += 1
            if not _explained(gap.detected_utc_ns, faults, *METER_FAULTS):
                problems.append(f"{folder.name}: meter gap at {gap.detected_utc_ns} with no meter fault before it")
        for outage in record.sut_link_outages:
            outages += 1
            if not _explained(outage.from_utc_ns, faults, "network"):
                problems.append(f"{folder.name}: link outage from {outage.from_utc_ns} with no cut before it")
        p, s, m = _wall(folder, record, INTERVAL_NS[rig.kind], sim_times)
        produced, stored, missed = produced + p, stored + s, missed + m
        if state == "closed":
            made, kept, times = _gpu(rig.work / "agent", record)
            if made is not None and made != kept:
                problems.append(f"{folder.name}: {made} GPU readings produced, {kept} stored")
            gpu_produced += made or 0
            gpu_stored += kept
            p99s += [times["send_p99_ms"]] if times.get("send_p99_ms") is not None else []  # type: ignore[list-item]
            p50s += [times["send_p50_ms"]] if times.get("send_p50_ms") is not None else []  # type: ignore[list-item]
    if missed > max(1, MAX_MISSED_FRACTION * produced):
        problems.append(f"{missed} wall samples missed outside recorded gaps (more than 1 % of {produced})")
    return {
        "sessions_by_end": states,
        "meter_gaps_recorded": gaps,
        "link_outages_recorded": outages,
        "wall_samples_produced": produced,
        "wall_samples_stored": stored,
        "wall_samples_missed_outside_gaps": missed,
        "gpu_readings_produced": gpu_produced,
        "gpu_readings_stored": gpu_stored,
        "ingest_round_trip_p50_ms": round(float(np.median(p50s)), 1) if p50s else None,
        "ingest_round_trip_p99_ms_worst_session": round(max(p99s), 1) if p99s else None,
        "problems": problems,
    }


def _growth_per_hour(readings: list[tuple[float, int]]) -> float | None:
    if len(readings) < 10:
        return None
    t = np.array([r[0] for r in readings])
    v = np.array([r[1] for r in readings], dtype=float)
    return float(np.polyfit(t, v, 1)[0] * 3600)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--hours", type=float, default=None, help="overrides --minutes")
    parser.add_argument("--fault-every-s", type=float, default=120.0)
    parser.add_argument("--duration-s", type=float, default=20.0, help="the built-in benchmark's seconds per phase")
    parser.add_argument(
        "--keep", type=Path, metavar="DIR", help="work in DIR and keep it (run folders, logs) to look into"
    )
    parser.add_argument("--outage-s", type=float, default=30.0)
    parser.add_argument("--meter-down-s", type=float, default=3.0)
    parser.add_argument(
        "--meter", choices=sorted(FAULTS), default="serial", help="the meter simulated (default serial)"
    )
    parser.add_argument("--link-cut-s", type=float, default=0.8, help="how long a meter-link cut lasts (ptd)")
    parser.add_argument("--pause-s", type=float, default=30.0, help="how long PTDaemon is paused (ptd)")
    parser.add_argument(
        "--lease-s", type=float, default=60.0, help="the director's --lease-s (default 60: longer than an outage)"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    soak_s = args.hours * 3600 if args.hours is not None else args.minutes * 60
    faults: list[tuple[int, str]] = []
    rss_kb: list[tuple[float, int]] = []
    fds: list[tuple[float, int]] = []
    sessions = agent_failures = 0
    frees_s: list[float] = []
    agent_kill_problems: list[str] = []
    signals = itertools.cycle(AGENT_SIGNALS)
    with tempfile.TemporaryDirectory(prefix="mlpower-soak-") as tmp:
        work = Path(tmp) if args.keep is None else args.keep
        work.mkdir(parents=True, exist_ok=True)
        rig = Rig(work, kind=args.meter, lease_s=args.lease_s)
        rig.start_meter()
        rig.start_director()
        proxy = CuttableProxy(rig.director_port).start()
        kinds = itertools.cycle(FAULTS[args.meter])
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
                    said = (rig.work / f"agent{sessions - 1}.err").read_text()
                    agent_failures += "Traceback" in said or "meter busy" in said  # no fault may leave it held
                    agent = None
                    continue
                if time.monotonic() >= next_fault and time.monotonic() - started < soak_s:
                    kind = next(kinds)
                    faults.append((time.time_ns(), kind))
                    if kind == "agent":
                        signum = next(signals)
                        print(f"{time.monotonic() - started:7.0f} s  fault: agent ({signal.Signals(signum).name})")
                        free_s, seen = _kill_agent(rig, agent, signum, args.lease_s) if agent else (0.0, "no agent")
                        agent = None
                        if free_s is None:
                            agent_kill_problems.append(seen)
                        else:
                            frees_s.append(free_s)
                    else:
                        print(f"{time.monotonic() - started:7.0f} s  fault: {kind}", flush=True)
                        _inject(kind, rig, proxy, args)
                    next_fault = time.monotonic() + args.fault_every_s
                reading = _rss_kb_and_fds(rig.director.pid) if rig.director is not None else None
                if reading is not None:
                    rss_kb.append((time.monotonic() - started, reading[0]))
                    fds.append((time.monotonic() - started, reading[1]))
                time.sleep(1.0)
        finally:
            if agent is not None:
                stop_process(agent, timeout_s=10)
            proxy.close()
            rig.stop()
        audit = _audit(rig, faults)
    quarter = max(soak_s / 4, 1.0)
    problems = list(audit.pop("problems"))  # type: ignore[call-overload]
    if agent_failures:
        problems.append(f"{agent_failures} agent run(s) ended with an unexpected status or a traceback")
    problems += agent_kill_problems

    def quarters(readings: list[tuple[float, int]], scale: float) -> list[float]:
        first = [v for t, v in readings if t < quarter]
        last = [v for t, v in readings if t >= soak_s - quarter]
        return [round(max(first, default=0) / scale, 1), round(max(last, default=0) / scale, 1)]

    rss_growth = _growth_per_hour(rss_kb)
    fd_growth = _growth_per_hour(fds)
    figures = {
        "soak_s": round(soak_s),
        "sessions": sessions,
        "faults": {kind: sum(1 for _, k in faults if k == kind) for kind in FAULTS[args.meter]},
        **audit,
        "meter_free_after_agent_kill_s_max": round(max(frees_s), 1) if frees_s else None,
        "director_rss_mb_first_last_quarter": quarters(rss_kb, 1024),
        "director_rss_mb_growth_per_hour": None if rss_growth is None else round(rss_growth / 1024, 1),
        "director_fds_first_last_quarter": quarters(fds, 1),
        "director_fds_growth_per_hour": None if fd_growth is None else round(fd_growth, 1),
        "problems": problems,
        "verdict": "PASS" if not problems else "FAIL",
    }
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        for key, value in figures.items():
            if key != "problems":
                print(f"{key:40} {value}")
        for problem in problems:
            print(f"  problem: {problem}")
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
