"""One director taking a whole rack: node agents with SIMULATED GPUs, SIMULATED BMCs and one PTDaemon analyzer in
one session, every part a real process on loopback.

By default 72 nodes, each a real node agent (``agent.node.run_node`` with its ``NodeClient``, as ``mlpower-agent
node`` runs it) streaming 8 SIMULATED GPUs at 100 Hz, run as threads of a few worker processes (``--node-processes``,
default 8: 9 node agents each), plus 72 SIMULATED Redfish BMCs updating at 1 Hz (one ``mlpower-director redfish-sim
--chassis 72`` process: a chassis and a meter URL a node) and a ``mlpower-director ptd-sim`` analyzer for the LoadGen
node, all in one ``SYSTEM.toml`` served by ``mlpower-director serve --system SYSTEM.toml --settle-s 1``. The LoadGen
node runs ``mlpower-agent run --gpus none`` (at nice 19) with the built-in benchmark, ``--ranging-s`` (5) then
``--seconds`` (30) of testing.

Figures, each against its goal: GPU rows stored by the director (``session.json`` ``nodes.<node>.samples``) / rows
the node agents posted (their own counters, once per source and seq; goal: all), split into those the director
acknowledged and those it refused because the session had ended; wall samples stored per BMC in the testing phase
(``wall/<key>/run_1/spl.txt``) against 1 Hz x its length (one short allowed at the edges); the round trip of each
node batch POST as the node agent sees it, over the session and in the testing phase alone (p50, p99; goal p99 <
100 ms); the director's CPU share in the testing phase (user + system seconds / wall seconds, ``/proc/<pid>/stat``)
beside the other processes'. ``--knee`` repeats it (``--knee-seconds`` of testing) at 8, 16, 32, 48, 72, 96, ...
nodes and reports the knee: the first count with p99 >= 100 ms in the testing phase or anything lost (a GPU row
acknowledged but not stored, a POST failed while the session was live, a BMC short).

Run: ``.venv/bin/python benchmarks/bench_rack.py [--nodes 72] [--gpus-per-node 8] [--gpu-rate-hz 100]
[--seconds 30] [--node-processes 8] [--bmc-poll-s 1] [--knee] [--knee-counts 8,16,...] [--keep DIR] [--json]``.
It exits with status 1 when, at ``--nodes``, a GPU row acknowledged is not stored or a BMC is short.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from agent.errors import SessionConflict
from agent.gpu.select import open_gpus
from agent.node import NodeOptions, run_node
from agent.node_client import NodeClient
from director.loop_lag import LAG_BUCKETS_S
from powerlog.cli_support import stop_process
from powerlog.wire import NodeSession, SampleBatch

BIN = Path(sys.executable).parent
TARGET_P99_MS = 100.0
BMC_HZ = 1.0
KNEE_COUNTS = (8, 16, 32, 48, 72, 96, 128, 192)
START_TIMEOUT_S = 120.0
CLK_TCK = os.sysconf("SC_CLK_TCK")
SUT_NICE = ["nice", "-n", "19"]  # the LoadGen node's benchmark must not starve the director (two machines on a rig)


# the worker: node agents in threads ------------------------------------------------------------------------
class CountingNodeClient(NodeClient):
    """A node agent's client that counts what the director took and times each batch POST."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # (source, seq) -> rows and the first and last reading's time (the node's clock: the machine's here)
        self.sent: dict[tuple[str, int], tuple[int, int, int]] = {}
        self.delivered: set[tuple[str, int]] = set()  # acknowledged by the director
        self.round_trips: list[tuple[int, float]] = []  # (when sent, UTC ns; round trip, s)
        self.failures: list[str] = []  # POSTs that failed while the session was live
        self.refused_after_end = 0  # POSTs refused because the session had ended

    def node_batches(self, session: NodeSession, batches: Sequence[SampleBatch]) -> None:
        for batch in batches:
            times = batch.columns["t_utc_ns"]
            self.sent[(batch.source, batch.seq)] = (len(times), int(times[0]), int(times[-1])) if times else (0, 0, 0)
        sent_ns, sent_s = time.time_ns(), time.perf_counter()
        try:
            super().node_batches(session, batches)
        except SessionConflict as e:
            if "session has ended" not in str(e):
                self.failures.append(f"{type(e).__name__}: {e}"[:200])
            self.refused_after_end += 1
            raise
        except Exception as e:
            self.failures.append(f"{type(e).__name__}: {e}"[:200])
            raise
        self.round_trips.append((sent_ns, time.perf_counter() - sent_s))
        self.delivered.update((batch.source, batch.seq) for batch in batches)


def run_worker(args: argparse.Namespace) -> int:
    """``--worker NAMES``: one real node agent per name, in threads, for one session; the counts as JSON."""
    names = args.worker.split(",")
    token = Path(args.token_file).read_text().strip()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    waiting: set[str] = set()
    lock = threading.Lock()
    outcomes: dict[str, dict[str, Any]] = {}
    clients = {name: CountingNodeClient(args.director, token, name) for name in names}

    def say(name: str, line: str) -> None:
        if "waiting for one" in line:
            with lock:
                waiting.add(name)
                if len(waiting) == len(names):
                    print("ready", flush=True)
        elif "trying again" in line:
            print(line, file=sys.stderr, flush=True)

    def node(name: str) -> None:
        gpus = open_gpus(f"sim:{args.gpus_per_node}")
        options = NodeOptions(name, gpus, args.gpu_rate_hz, max_sessions=1)
        try:
            outcome = run_node(options, clients[name], stop, lambda line: say(name, line))
            outcomes[name] = {"sessions": outcome.sessions, "sampler": outcome.sampler_stats}
        except Exception as e:  # reported, not raised: the other nodes go on
            outcomes[name] = {"error": f"{type(e).__name__}: {e}"}

    threads = [threading.Thread(target=node, args=(name,), name=name, daemon=True) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    report = {}
    for name, client in clients.items():
        client.close()
        rows_sent = sum(rows for rows, _, _ in client.sent.values())
        rows_delivered = sum(client.sent[key][0] for key in client.delivered)
        undelivered = [
            [source, seq, *client.sent[(source, seq)]] for source, seq in client.sent.keys() - client.delivered
        ]
        report[name] = {"rows_sent": rows_sent, "rows_delivered": rows_delivered, "undelivered": undelivered,
                        "round_trips": client.round_trips, "failures": client.failures,
                        "refused_after_end": client.refused_after_end, **outcomes.get(name, {})}  # fmt: skip
    Path(args.out).write_text(json.dumps(report))
    return 0


# the rack: processes on loopback ---------------------------------------------------------------------------
def _process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads); 0 once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def _machine_busy() -> tuple[int, int]:
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    total = sum(values[:8])
    return total - values[3] - values[4], total


class Lines:
    """A process's stdout, read to the end by a thread (so that it never blocks on a full pipe), line by line."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.queue: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        self.every: list[str] = []  # every line read so far
        threading.Thread(target=self._pump, args=(process,), daemon=True).start()

    def _pump(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self.every.append(line)
            self.queue.put(line)
        self.queue.put(None)

    def wait_for(self, prefix: str, timeout_s: float, what: str) -> str:
        """The next line starting with ``prefix`` (SystemExit after ``timeout_s`` or at the end)."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                line = self.queue.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                line = None
            if line is None:
                raise SystemExit(f"{what} did not start: {''.join(self.seen[-10:])!r}")
            self.seen.append(line)
            if line.startswith(prefix):
                return line


def _percentile_ms(sorted_s: Sequence[float], q: float) -> float:
    if not sorted_s:
        return float("nan")
    return 1000 * sorted_s[min(len(sorted_s) - 1, max(0, int(q * len(sorted_s) + 0.5) - 1))]


def _spl_samples(path: Path) -> int:
    return sum(1 for line in path.read_bytes().splitlines() if line.startswith(b"Time,")) if path.is_file() else 0


@dataclass
class RackResult:
    nodes: int
    gpus_per_node: int
    gpu_rate_hz: float
    testing_s: float
    bmc_poll_s: float
    node_processes: int
    rows_sent: int = 0  # in every batch a node agent posted (once per source and seq)
    rows_delivered: int = 0  # ... that the director acknowledged
    rows_stored: int = 0  # session.json: nodes.<node>.samples
    rows_lost: int = 0  # delivered, not stored
    rows_undelivered: int = 0  # posted, never acknowledged (refused once the session had ended, or failed)
    rows_undelivered_in_testing: float = 0.0  # ... of which readings inside the testing phase (about: evenly spaced)
    readings_taken: int = 0
    rows_per_s: float = 0.0  # delivered, over the session
    batch_posts: int = 0
    posts_refused_after_end: int = 0
    post_failures: int = 0  # while the session was live
    first_failure: str | None = None
    node_errors: list[str] = field(default_factory=list)
    nodes_stored: int = 0
    latency_p50_ms: float = float("nan")
    latency_p99_ms: float = float("nan")
    latency_max_ms: float = float("nan")
    testing_p50_ms: float = float("nan")  # ... of the POSTs sent in the testing phase (settled to stop)
    testing_p99_ms: float = float("nan")
    testing_max_ms: float = float("nan")
    slow_spans: list[str] = field(default_factory=list)  # when the slow POSTs were sent (from testing's start)
    probe_p50_ms: float = float("nan")  # the bench's own GET /v1/sessions every 0.5 s in testing (an idle client)
    probe_p99_ms: float = float("nan")
    # the director's own event-loop lag (GET /metrics at each state change): bucket bounds, not exact figures
    loop_lag_testing_p99_ms: float = float("nan")  # the smallest bucket bound holding 99 % of the lags in testing
    loop_lag_testing_late: int = 0  # checks (every 50 ms) the loop woke over 100 ms late, in testing
    loop_lag_session_p99_ms: float = float("nan")
    loop_lag_session_late: int = 0
    loop_lag_max_ms: float = float("nan")  # since the director started
    wall_expected_per_bmc: float = 0.0
    wall_min_per_bmc: int = 0
    wall_median_per_bmc: float = 0.0
    wall_bmcs_short: int = 0  # BMCs with fewer than expected - 1 samples in the testing phase
    loadgen_samples: int = 0
    director_cpu_pct: float = float("nan")  # % of one core over the testing phase
    director_session_cpu_pct: float = float("nan")  # ... over the whole session
    workers_cpu_pct: float = float("nan")
    sims_cpu_pct: float = float("nan")
    rest_cpu_pct: float = float("nan")  # everything else: mostly the LoadGen benchmark, at nice 19
    machine_busy_pct: float = float("nan")  # % of all cores
    cores: int = os.cpu_count() or 1
    session_state: str = ""
    wall_s: float = 0.0
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


def _system_toml(path: Path, ptd_url: str, bmc_urls: Sequence[str]) -> None:
    text = 'name = "rack-bench"\nloadgen_node = "loadgen"\n\n[[node]]\nname = "loadgen"\n'
    text += f'wall = ["{ptd_url}"]\n'
    text += "".join(f'\n[[node]]\nname = "n{i:03d}"\nwall = ["{url}"]\n' for i, url in enumerate(bmc_urls, 1))
    text += '\n[interconnect]\nmax_power_w = 1500.0\nshare = 1.0\nnote = "SIMULATED bench rack: two leaf switches"\n'
    path.write_text(text)


class Rack:
    """Every process of one run, started in order and stopped together."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.processes: list[subprocess.Popen[str]] = []

    def start(self, argv: list[str], name: str) -> tuple[subprocess.Popen[str], Lines]:
        log = (self.folder / f"{name}.stderr").open("w")
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=log, text=True)
        self.processes.append(process)
        return process, Lines(process)

    def stop(self) -> None:
        for process in reversed(self.processes):
            stop_process(process)


def _sessions(client: httpx.Client) -> list[dict[str, Any]]:
    reply = client.get("/v1/sessions")
    reply.raise_for_status()
    listed: list[dict[str, Any]] = reply.json()
    return listed


def run_rack(nodes: int, args: argparse.Namespace, testing_s: float) -> RackResult:
    processes = max(1, min(args.node_processes, nodes))
    result = RackResult(nodes, args.gpus_per_node, args.gpu_rate_hz, testing_s, args.bmc_poll_s, processes)
    started_s = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="mlpower-bench-rack-") as tmp:
        folder = Path(tmp)
        rack = Rack(folder)
        try:
            _run(rack, folder, nodes, args, testing_s, result)
        finally:
            rack.stop()
        if args.keep:
            import shutil

            shutil.copytree(folder, Path(args.keep) / f"nodes-{nodes}", dirs_exist_ok=True)
    result.wall_s = time.monotonic() - started_s
    return result


def _run(rack: Rack, folder: Path, nodes: int, args: argparse.Namespace, testing_s: float, result: RackResult) -> None:
    director_bin = str(BIN / "mlpower-director")
    ptd, lines = rack.start([director_bin, "ptd-sim", "--port", "0", "--log", str(folder / "ptd_logs.txt")], "ptd")
    ptd_url = "ptd://" + lines.wait_for("ptd-sim listening on ", START_TIMEOUT_S, "ptd-sim").split()[3]
    bmc, lines = rack.start([director_bin, "redfish-sim", "--chassis", str(nodes), "--rate", f"{1 / BMC_HZ:g}"], "bmc")
    bmc_urls = [lines.wait_for("meter URL: ", START_TIMEOUT_S, "redfish-sim").split()[-1] for _ in range(nodes)]
    bmc_urls = [url.replace(f"rate={1 / BMC_HZ:g}", f"rate={args.bmc_poll_s:g}") for url in bmc_urls]
    system = folder / "SYSTEM.toml"
    _system_toml(system, ptd_url, bmc_urls)
    runs = folder / "runs"
    director, lines = rack.start([director_bin, "serve", "--system", str(system), "--out", str(runs), "--port", "0",
                           "--settle-s", "1"], "director")  # fmt: skip
    url = lines.wait_for("director listening on ", START_TIMEOUT_S, "the director").split()[3]
    token_file = runs / "director.token"
    token = token_file.read_text().strip()
    names = [f"n{i:03d}" for i in range(1, nodes + 1)]
    count = max(1, min(args.node_processes, nodes))
    groups = [names[k::count] for k in range(count)]
    workers = []
    for k, group in enumerate(groups):
        argv = [sys.executable, __file__, "--worker", ",".join(group), "--director", url, "--token-file",
                str(token_file), "--gpus-per-node", str(args.gpus_per_node), "--gpu-rate-hz", f"{args.gpu_rate_hz:g}",
                "--out", str(folder / f"worker{k}.json")]  # fmt: skip
        workers.append(rack.start(argv, f"worker{k}"))
    for k, (_, worker_lines) in enumerate(workers):
        worker_lines.wait_for("ready", START_TIMEOUT_S, f"worker {k} (its node agents waiting for a session)")
    workload = (f'case "$MLPOWER_LOADGEN_DIR" in */ranging) d={args.ranging_s:g};; *) d={testing_s:g};; esac; '
                f'exec "{sys.executable}" -m agent.builtin --scenario Offline --duration "$d"')  # fmt: skip
    agent, agent_lines = rack.start([*SUT_NICE, str(BIN / "mlpower-agent"), "run", "--director", url, "--token-file",
                        str(token_file), "--out", str(folder / "agent"), "--label", "loadgen", "--gpus", "none",
                        "--", "sh", "-c", workload], "agent")  # fmt: skip
    others = [ptd.pid, bmc.pid]
    marks = _watch(agent, director.pid, [w.pid for w, _ in workers], others, url, token)
    if agent.returncode != 0:
        tail = "".join(agent_lines.every[-5:]).strip()
        result.failures.append(f"mlpower-agent run exited {agent.returncode}: {tail}")
    for worker, _ in workers:
        try:
            worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=30)
    _cpu_figures(marks, result)
    undelivered, round_trips = _node_figures(folder, len(workers), result)
    session = [m for m in marks if m.state not in ("none", "closed", "failed")]
    if len(session) >= 2:
        result.rows_per_s = result.rows_delivered / (session[-1].t_s - session[0].t_s)
    (run_folder,) = [p for p in runs.iterdir() if p.is_dir()]
    _stored_figures(run_folder, undelivered, result)
    _latency_figures(run_folder, round_trips, result)
    _judge(result)


@dataclass
class Mark:
    """CPU seconds of each process group at one moment, and the session's state then."""

    t_s: float
    state: str
    probe_s: float | None  # the bench's own GET /v1/sessions round trip (None: it failed)
    lag: tuple[tuple[float, ...], float] | None  # the loop-lag histogram's cumulative counts and max, at changes
    director_s: float
    workers_s: float
    sims_s: float
    busy: int
    total: int


def _watch(
    agent: subprocess.Popen[str], director: int, workers: list[int], sims: list[int], url: str, token: str
) -> list[Mark]:
    """Marks every 0.5 s until the LoadGen agent exits."""
    marks: list[Mark] = []
    state = "none"
    client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    while agent.poll() is None:
        asked_s = time.perf_counter()
        probe_s: float | None = None
        try:
            listed = _sessions(client)
            probe_s = time.perf_counter() - asked_s
            state = listed[0]["state"] if listed else state
        except httpx.HTTPError:
            pass
        busy, total = _machine_busy()
        changed = not marks or marks[-1].state != state
        marks.append(Mark(time.monotonic(), state, probe_s, _loop_lag(client) if changed else None,
                          _process_cpu_s(director),
                          sum(_process_cpu_s(p) for p in workers), sum(_process_cpu_s(p) for p in sims),
                          busy, total))  # fmt: skip
        time.sleep(0.5)
    marks.append(Mark(time.monotonic(), "ended", None, _loop_lag(client), _process_cpu_s(director),
                      sum(_process_cpu_s(p) for p in workers), sum(_process_cpu_s(p) for p in sims),
                      *_machine_busy()))  # fmt: skip
    client.close()
    return marks


def _loop_lag(client: httpx.Client) -> tuple[tuple[float, ...], float] | None:
    """The director's loop-lag histogram (cumulative counts, one per bucket and +Inf) and its max, or None."""
    try:
        text = client.get("/metrics").text
    except httpx.HTTPError:
        return None
    buckets: dict[float, float] = {}
    max_s = float("nan")
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "mlpower_director_loop_lag_seconds_bucket":
                buckets[float(sample.labels["le"])] = sample.value
            elif sample.name == "mlpower_director_loop_lag_max_seconds":
                max_s = sample.value
    if len(buckets) != len(LAG_BUCKETS_S) + 1:
        return None
    return tuple(buckets[bound] for bound in sorted(buckets)), max_s


def _lag_between(first: Mark | None, last: Mark | None) -> tuple[float, int]:
    """Between two marks: the smallest bucket bound (ms) holding 99 % of the loop's lags, and the lags over 100 ms."""
    if first is None or last is None or first.lag is None or last.lag is None:
        return float("nan"), 0
    counts = [b - a for a, b in zip(first.lag[0], last.lag[0], strict=True)]
    total = counts[-1]
    if total <= 0:
        return float("nan"), 0
    bounds = (*LAG_BUCKETS_S, float("inf"))
    p99_ms = next(1000 * bound for bound, count in zip(bounds, counts, strict=True) if count >= 0.99 * total)
    return p99_ms, int(total - counts[LAG_BUCKETS_S.index(0.1)])


def _share_pct(first: Mark, last: Mark, attr: str) -> float:
    span_s = last.t_s - first.t_s
    return 100 * (getattr(last, attr) - getattr(first, attr)) / span_s if span_s > 0 else float("nan")


def _cpu_figures(marks: list[Mark], result: RackResult) -> None:
    testing = [m for m in marks if m.state == "testing"]
    session = [m for m in marks if m.state not in ("none", "closed", "failed")]
    if len(session) >= 2:
        result.director_session_cpu_pct = _share_pct(session[0], session[-1], "director_s")
    first_testing = next((m for m in marks if m.state == "testing" and m.lag is not None), None)
    after_testing = next((m for m in marks if first_testing is not None and m.t_s > first_testing.t_s
                          and m.state != "testing" and m.lag is not None), None)  # fmt: skip
    first_session = next((m for m in marks if m.state not in ("none", "closed", "failed") and m.lag is not None), None)
    result.loop_lag_testing_p99_ms, result.loop_lag_testing_late = _lag_between(first_testing, after_testing)
    result.loop_lag_session_p99_ms, result.loop_lag_session_late = _lag_between(first_session, marks[-1])
    if marks and marks[-1].lag is not None:
        result.loop_lag_max_ms = 1000 * marks[-1].lag[1]
    probes = sorted(m.probe_s for m in testing if m.probe_s is not None)
    result.probe_p50_ms, result.probe_p99_ms = _percentile_ms(probes, 0.5), _percentile_ms(probes, 0.99)
    if len(testing) >= 2:
        first, last = testing[0], testing[-1]
        result.director_cpu_pct = _share_pct(first, last, "director_s")
        result.workers_cpu_pct = _share_pct(first, last, "workers_s")
        result.sims_cpu_pct = _share_pct(first, last, "sims_s")
        result.machine_busy_pct = 100 * (last.busy - first.busy) / max(1, last.total - first.total)
        machine_pct = result.machine_busy_pct * result.cores
        result.rest_cpu_pct = machine_pct - result.director_cpu_pct - result.workers_cpu_pct - result.sims_cpu_pct


def _node_figures(folder: Path, workers: int, result: RackResult) -> tuple[list[list[Any]], list[list[float]]]:
    """The node agents' own counts; the batches not delivered ([source, seq, rows, first t, last t]) and every
    POST's [when sent (UTC ns), round trip (s)]."""
    round_trips: list[list[float]] = []
    undelivered: list[list[Any]] = []
    for k in range(workers):
        path = folder / f"worker{k}.json"
        if not path.is_file():
            result.failures.append(f"worker {k} wrote no counts (see worker{k}.stderr)")
            continue
        for name, node in json.loads(path.read_text()).items():
            result.rows_sent += node["rows_sent"]
            result.rows_delivered += node["rows_delivered"]
            undelivered += node["undelivered"]
            result.posts_refused_after_end += node["refused_after_end"]
            round_trips += node["round_trips"]
            result.post_failures += len(node["failures"])
            if node["failures"] and result.first_failure is None:
                result.first_failure = f"{name}: {node['failures'][0]}"
            if "error" in node:
                result.node_errors.append(f"{name}: {node['error']}")
            for stats in node.get("sampler", []):
                result.readings_taken += int(stats.get("power_readings", 0)) + int(stats.get("energy_readings", 0))
    result.batch_posts = len(round_trips)
    return undelivered, round_trips


def _latency_figures(run_folder: Path, round_trips: list[list[float]], result: RackResult) -> None:
    """p50, p99 and max of every batch POST's round trip, and of those sent in the testing phase alone."""
    settled_ns, stop_ns = json.loads((run_folder / "session.json").read_text())["phases"]["testing"]["director_utc_ns"][
        1:3
    ]
    every = sorted(rt for _, rt in round_trips)
    steady = sorted(rt for sent_ns, rt in round_trips if settled_ns <= sent_ns <= stop_ns)
    result.latency_p50_ms, result.latency_p99_ms = _percentile_ms(every, 0.5), _percentile_ms(every, 0.99)
    result.latency_max_ms = 1000 * every[-1] if every else float("nan")
    result.testing_p50_ms, result.testing_p99_ms = _percentile_ms(steady, 0.5), _percentile_ms(steady, 0.99)
    result.testing_max_ms = 1000 * steady[-1] if steady else float("nan")
    for start_ns, end_ns, label in _slow_spans(round_trips):
        result.slow_spans.append(
            f"{label} at {(start_ns - settled_ns) / 1e9:+.1f} s to {(end_ns - settled_ns) / 1e9:+.1f} s"
        )


def _slow_spans(round_trips: list[list[float]]) -> list[tuple[int, int, str]]:
    """When POSTs took TARGET_P99_MS or longer: runs of them (sent within 1 s of each other), the worst first."""
    slow = sorted((int(t), rt) for t, rt in round_trips if rt * 1000 >= TARGET_P99_MS)
    spans: list[list[Any]] = []
    for sent_ns, rt in slow:
        if spans and sent_ns - spans[-1][1] <= 1_000_000_000:
            spans[-1][1], spans[-1][2], spans[-1][3] = sent_ns, spans[-1][2] + 1, max(spans[-1][3], rt)
        else:
            spans.append([sent_ns, sent_ns, 1, rt])
    spans.sort(key=lambda span: -span[2])
    return [(a, b, f"{n} POSTs >= {TARGET_P99_MS:g} ms (worst {1000 * worst:.0f} ms)") for a, b, n, worst in spans[:3]]


def _stored_figures(run_folder: Path, undelivered: list[list[Any]], result: RackResult) -> None:
    record = json.loads((run_folder / "session.json").read_text())
    result.session_state = str(record.get("state"))
    stored = {name: node.get("samples") or {} for name, node in (record.get("nodes") or {}).items()}
    result.rows_stored = sum(sum(rows.values()) for rows in stored.values())
    result.nodes_stored = sum(1 for rows in stored.values() if rows)
    result.rows_lost = max(0, result.rows_delivered - result.rows_stored)
    settled_ns, stop_ns = record["phases"]["testing"]["director_utc_ns"][1:3]  # start, settled, stop, stopped
    window_s = (stop_ns - settled_ns) / 1e9
    for _, _, rows, first_ns, last_ns in undelivered:
        result.rows_undelivered += rows
        if last_ns > settled_ns and first_ns < stop_ns:
            inside = (min(stop_ns, last_ns) - max(settled_ns, first_ns)) / max(1, last_ns - first_ns)
            result.rows_undelivered_in_testing += rows * min(1.0, inside)
    result.wall_expected_per_bmc = window_s * BMC_HZ
    counts = sorted(_spl_samples(spl) for spl in run_folder.glob("wall/n*/run_1/spl.txt"))
    if len(counts) != result.nodes:
        result.failures.append(f"wall samples of {len(counts)} BMCs stored, {result.nodes} expected")
    if counts:
        result.wall_min_per_bmc = counts[0]
        result.wall_median_per_bmc = counts[len(counts) // 2]
        result.wall_bmcs_short = sum(1 for c in counts if c < result.wall_expected_per_bmc - 1)
    result.loadgen_samples = _spl_samples(run_folder / "run_1" / "spl.txt")


def _judge(result: RackResult) -> None:
    if result.session_state != "closed":
        result.failures.append(f"session {result.session_state}")
    if result.rows_delivered == 0 or result.rows_stored < result.rows_delivered:
        result.failures.append(f"GPU rows: {result.rows_stored:,} stored of {result.rows_delivered:,} delivered")
    if result.post_failures:
        result.failures.append(f"{result.post_failures} batch POSTs failed ({result.first_failure})")
    if result.node_errors:
        result.failures.append(f"{len(result.node_errors)} node agents failed ({result.node_errors[0]})")
    if not result.testing_p99_ms < TARGET_P99_MS:
        result.failures.append(f"ingest p99 in testing {result.testing_p99_ms:.1f} ms >= {TARGET_P99_MS:g} ms")
    if result.wall_bmcs_short:
        result.failures.append(f"{result.wall_bmcs_short} BMCs short of 1 Hz x the testing phase")


# printing ------------------------------------------------------------------------------------------------
def _verdict(ok: bool) -> str:
    return "MET" if ok else "NOT MET"


def print_result(r: RackResult) -> None:
    print(f"rack: {r.nodes} node agents x {r.gpus_per_node} SIMULATED GPUs at {r.gpu_rate_hz:g} Hz "
          f"({r.nodes * r.gpus_per_node} GPUs), {r.nodes} SIMULATED Redfish BMCs at {BMC_HZ:g} Hz, 1 SIMULATED "
          f"PTDaemon analyzer (the LoadGen node's)")  # fmt: skip
    print(
        f"  one director, one session: testing {r.testing_s:g} s, {r.wall_s:.0f} s all told; node agents in "
        f"{r.node_processes} processes"
    )
    sent_ratio = r.rows_stored / r.rows_sent if r.rows_sent else 0.0
    print(f"  GPU rows stored / sent          {r.rows_stored:,} / {r.rows_sent:,} = {sent_ratio:.6f}  (goal: all) "
          f"{_verdict(r.rows_sent > 0 and r.rows_stored == r.rows_sent)}")  # fmt: skip
    live_ok = r.rows_delivered > 0 and r.rows_lost == 0 and not r.post_failures
    print(f"    stored / delivered (a 200 reply) {r.rows_stored:,} / {r.rows_delivered:,}, failed POSTs while the "
          f"session was live {r.post_failures}: {_verdict(live_ok)}")  # fmt: skip
    print(f"    not delivered {r.rows_undelivered:,} rows ({r.posts_refused_after_end} POSTs refused: the session "
          f"had ended), about {r.rows_undelivered_in_testing:,.0f} of them read inside the testing phase")  # fmt: skip
    print(f"    {r.readings_taken:,} readings taken, {r.rows_per_s:,.0f} rows/s delivered (power and energy of the "
          f"SIMULATED GPUs), {r.batch_posts:,} batch POSTs, nodes stored {r.nodes_stored}/{r.nodes}")  # fmt: skip
    print(f"  wall samples per BMC            min {r.wall_min_per_bmc}, median {r.wall_median_per_bmc:g} of "
          f"{r.wall_expected_per_bmc:.1f} expected (1 Hz x the testing phase), BMCs short "
          f"{r.wall_bmcs_short}: {_verdict(r.wall_bmcs_short == 0 and r.wall_min_per_bmc > 0)}")  # fmt: skip
    print(
        f"    the director polls each BMC every {r.bmc_poll_s:g} s; the LoadGen node's analyzer: {r.loadgen_samples} "
        "samples in run_1/spl.txt"
    )
    print(f"  ingest round trip (node POST)   p50 {r.latency_p50_ms:.1f} ms, p99 {r.latency_p99_ms:.1f} ms, max "
          f"{r.latency_max_ms:.1f} ms  (goal p99 < {TARGET_P99_MS:g} ms) "
          f"{_verdict(r.latency_p99_ms < TARGET_P99_MS)}")  # fmt: skip
    print(f"    in the testing phase alone: p50 {r.testing_p50_ms:.1f} ms, p99 {r.testing_p99_ms:.1f} ms, max "
          f"{r.testing_max_ms:.1f} ms  (goal p99 < {TARGET_P99_MS:g} ms) "
          f"{_verdict(r.testing_p99_ms < TARGET_P99_MS)}")  # fmt: skip
    for span in r.slow_spans:
        print(f"    slow: {span} (from the testing phase's start)")
    print(f"    the bench's own GET /v1/sessions (an idle client, every 0.5 s): p50 {r.probe_p50_ms:.1f} ms, "
          f"p99 {r.probe_p99_ms:.1f} ms")  # fmt: skip
    print(f"    the director's event loop (woken every 50 ms): lag p99 <= {r.loop_lag_testing_p99_ms:g} ms in testing "
          f"({r.loop_lag_testing_late} checks over 100 ms late), <= {r.loop_lag_session_p99_ms:g} ms over the "
          f"session ({r.loop_lag_session_late} late), longest {r.loop_lag_max_ms:.0f} ms since it started")  # fmt: skip
    print(f"  director CPU                    {r.director_cpu_pct:.1f} % of one core in testing "
          f"({r.director_session_cpu_pct:.1f} % over the session)")  # fmt: skip
    print(f"    beside it (% of one core): node agent workers {r.workers_cpu_pct:.1f}, BMC + analyzer sims "
          f"{r.sims_cpu_pct:.1f}, the rest {r.rest_cpu_pct:.1f} (the LoadGen benchmark at nice 19, anything else "
          f"running); machine {r.machine_busy_pct:.0f} % busy of {r.cores} cores")  # fmt: skip
    for failure in r.failures:
        print(f"  FAIL: {failure}")


def print_knee(results: list[RackResult]) -> None:
    print("knee search (SIMULATED nodes, GPUs, BMCs):")
    print("  nodes   GPUs   rows/s   stored/delivered   p50 ms   p99 ms (testing)  director CPU  machine  result")
    for r in results:
        ratio = f"{r.rows_stored:,}/{r.rows_delivered:,}"
        verdict = "ok" if r.passed else "FAIL: " + "; ".join(r.failures)
        print(f"  {r.nodes:5d}  {r.nodes * r.gpus_per_node:5d}  {r.rows_per_s:7,.0f}  {ratio:>17}  "
              f"{r.latency_p50_ms:7.1f}  {r.latency_p99_ms:7.1f} ({r.testing_p99_ms:5.1f})  "
              f"{r.director_cpu_pct:9.1f} %  "
              f"{r.machine_busy_pct:5.0f} %  {verdict}")  # fmt: skip
    broke = next((r for r in results if not r.passed), None)
    if broke is None:
        print(f"knee: not reached up to {results[-1].nodes} nodes (each: nothing lost, p99 < {TARGET_P99_MS:g} ms)")
    else:
        print(
            f"knee: {broke.nodes} nodes (the first count with p99 in testing >= {TARGET_P99_MS:g} ms or anything lost)"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--nodes", type=int, default=72, help="node agents, each with its own BMC (default 72)")
    parser.add_argument("--gpus-per-node", type=int, default=8, help="SIMULATED GPUs a node (default 8)")
    parser.add_argument("--gpu-rate-hz", type=float, default=100.0, help="GPU sample rate (default 100)")
    parser.add_argument("--seconds", type=float, default=30.0, help="the testing phase (default 30)")
    parser.add_argument("--ranging-s", type=float, default=5.0, help="the ranging phase (default 5)")
    parser.add_argument("--node-processes", type=int, default=8, help="worker processes for the node agents (8)")
    parser.add_argument("--bmc-poll-s", type=float, default=1.0, help="the director's BMC poll interval (default 1)")
    parser.add_argument("--knee", action="store_true", help="then repeat at growing node counts to the knee")
    parser.add_argument("--knee-counts", default=",".join(map(str, KNEE_COUNTS)), help="node counts to try")
    parser.add_argument("--knee-seconds", type=float, default=15.0, help="testing phase of each knee step")
    parser.add_argument("--keep", help="copy every run's folder (logs, system file, run folder) here")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object too")
    worker = parser.add_argument_group("worker (internal)")
    worker.add_argument("--worker", help=argparse.SUPPRESS)
    worker.add_argument("--director", help=argparse.SUPPRESS)
    worker.add_argument("--token-file", help=argparse.SUPPRESS)
    worker.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return run_worker(args)
    print(f"bench_rack: {args.nodes} nodes, testing {args.seconds:g} s ...", file=sys.stderr, flush=True)
    main_result = run_rack(args.nodes, args, args.seconds)
    print_result(main_result)
    knee: list[RackResult] = []
    if args.knee:
        for count in (int(c) for c in args.knee_counts.split(",")):
            print(f"bench_rack: knee step {count} nodes ...", file=sys.stderr, flush=True)
            knee.append(run_rack(count, args, args.knee_seconds))
            if not knee[-1].passed:
                break
        print_knee(knee)
    if args.json:
        print(json.dumps({"rack": asdict(main_result), "knee": [asdict(r) for r in knee]}, default=str))
    lost = main_result.rows_lost > 0 or main_result.rows_delivered == 0 or main_result.wall_bmcs_short > 0
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
