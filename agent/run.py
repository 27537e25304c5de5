"""One measurement session from the SUT's side: clock, ranging, testing, uploads, result."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import platform
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from agent.client import DirectorClient
from agent.clock import MIN_ROUNDS, measure_offset
from agent.components.base import ComponentInfo, ComponentSource
from agent.components.sysfs_source import SysfsComponents
from agent.errors import AgentError, SessionConflict
from agent.gpu.base import GpuInfo, GpuSource
from agent.gpu_stream import SutSampler
from agent.progress import LivePhaseProgress, PhaseProgress
from agent.workload import Workload, check_runnable, run_workload
from powerlog.calibration_record import CALIBRATION_FILE
from powerlog.cli_support import package_version
from powerlog.layout import IDLE, PHASE_DIRS
from powerlog.powerdev_records import ClientJson, ClientMlpower, SessionUuids, powerdev_json_text
from powerlog.result_record import ResultJson, write_result_json
from powerlog.run_record import ClockEntry
from powerlog.wire import (
    PHASES,
    AgentInfo,
    ClockMeasurement,
    GivenRanges,
    OpenSessionRequest,
    SampleBatch,
    SessionOpened,
    SessionStatus,
)

__all__ = ["RunOptions", "SessionOutcome", "run_session"]

NS = 1_000_000_000
SIGNALLED_RELEASE_S = 5.0  # after a signal, freeing the meter is tried this long, then the agent ends


@dataclass(frozen=True)
class RunOptions:
    label: str
    out_dir: Path
    workload: Workload
    clock_rounds: int = MIN_ROUNDS
    gpus: GpuSource | None = None
    gpu_rate_hz: float = 10.0
    components: ComponentSource | None = None  # RAPL domains, hwmon sensors (agent.components)
    component_rate_hz: float = 10.0
    expected_s: float | None = None  # how long a phase should take (the built-in benchmark's duration)
    progress_s: float = 10.0  # a progress line this often while the workload runs
    live_console: Console | None = None  # a terminal: a live panel instead of progress lines
    calibration: Path | None = None  # a calibration.json sent with the run (power/calibration.json), applied by it
    testing_ranges: GivenRanges | None = None  # skip ranging, test on these (a sweep's testing-only points)
    idle_s: float = 0.0  # > 0: an idle phase this long before ranging (the SUT idle, for static power)


@dataclass(frozen=True)
class SessionOutcome:
    session: SessionOpened
    result: ResultJson
    local_folder: Path
    clocks: list[ClockEntry]
    testing_ranges: GivenRanges | None = None  # the ranges the director tested on (None: Auto or not known)


def _sha1(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


def _software() -> dict[str, str]:
    versions = {"mlpower": package_version(), "python": platform.python_version()}
    try:
        from importlib.metadata import version

        versions["mlcommons-loadgen"] = version("mlcommons-loadgen")
    except Exception:
        pass
    return versions


def _progress(
    options: RunOptions, phase: str, status: Callable[[], SessionStatus], say: Callable[[str], None]
) -> PhaseProgress:
    if options.live_console is not None:
        return LivePhaseProgress(phase, options.expected_s, status, options.live_console)
    return PhaseProgress(phase, options.expected_s, status, say, options.progress_s)


def run_session(
    options: RunOptions,
    client: DirectorClient,
    say: Callable[[str], None] = print,
    clock_ns: Callable[[], int] = time.time_ns,
) -> SessionOutcome:
    check_runnable(options.workload)  # a wrong command is found before the session holds the meter
    client.health()
    clocks = _ClockLog(client, clock_ns, options.clock_rounds)
    first = clocks.measure("session", "before")
    gpu_infos = list(options.gpus.open()) if options.gpus is not None else []
    component_infos = list(options.components.open()) if options.components is not None else []
    components = options.components if any(c.readable for c in component_infos) else None
    agent = _agent_info(options, gpu_infos, component_infos, components)
    client_uuid = str(uuid.uuid4())
    session = client.open_session(OpenSessionRequest(agent=agent, client_uuid=client_uuid, clock=first))
    run = _SessionRun(options, client, session, clocks, say, clock_ns)
    run.log.info("session %s opened; clock offset %d ns +/- %d ns", session.session_id, first.offset_ns, first.bound_ns)
    say(f"session {session.session_id}: clock offset {first.offset_ns / 1e6:+.3f} ms +/- {first.bound_ns / 1e6:.3f} ms")
    sampler = _start_sampler(options, components, lambda batches: client.send_sample_batches(session, batches))
    if options.gpus is not None:
        names = ", ".join(f"{g.index}: {g.name}" for g in gpu_infos)
        simulated = " (SIMULATED)" if options.gpus.simulated else ""
        say(f"sampling {len(gpu_infos)} GPU(s) at {options.gpu_rate_hz:g} Hz{simulated}: {names}")
    if options.components is not None:
        say(_components_line(component_infos, options.component_rate_hz))
    try:
        if options.idle_s > 0:
            run.idle(sampler)
        for phase in PHASES:
            if phase == "ranging" and options.testing_ranges is not None:
                say("ranging: skipped, testing on the given ranges (testing only: not submittable)")
                continue
            run.phase(phase, sampler)
        gpu_stats = _stop_sampler(sampler, options, run.log)
    except (AgentError, KeyboardInterrupt) as e:
        reason = _abort_reason(e)
        run.log.error("session failed: %s", reason)
        _stop_sampler(sampler, options, run.log)
        _release(client, session, e)
        raise
    finally:
        run.close_log()
    try:  # a signal or a lost director while the records go up still frees the meter at once, with its cause
        mlpower = ClientMlpower(
            clock=clocks.entries,
            workload=options.workload.description,
            gpu_sampler=gpu_stats,
            components=[c.to_wire() for c in component_infos],
        )
        run.upload_records(client_uuid, mlpower)
        say("closing the session; the director is analyzing the run")
        result = client.close_session(session)
    except (AgentError, KeyboardInterrupt) as e:
        _release(client, session, e)
        raise
    write_result_json(run.folder / "result.json", result)
    return SessionOutcome(session, result, run.folder, clocks.entries, _given(run.ranges.get("testing", {})))


def _given(ranges: dict[str, float | None]) -> GivenRanges | None:
    volts_v, amps_a = ranges.get("volts_v"), ranges.get("amps_a")
    return GivenRanges(volts_v=volts_v, amps_a=amps_a) if volts_v and amps_a else None


def _agent_info(
    options: RunOptions,
    gpu_infos: list[GpuInfo],
    component_infos: list[ComponentInfo],
    components: ComponentSource | None,
) -> AgentInfo:
    """How the agent describes itself, its GPUs and its components when it opens the session."""
    return AgentInfo(
        label=options.label,
        host=socket.gethostname(),
        software=_software(),
        workload=options.workload.description,
        benchmark=options.workload.benchmark,
        scenario=options.workload.scenario,  # type: ignore[arg-type]  # builtin_workload's: a known scenario
        simulated_gpus=bool(options.gpus is not None and options.gpus.simulated),
        gpus=[g.to_wire() for g in gpu_infos],
        simulated_components=bool(components is not None and components.simulated),
        components=[c.to_wire() for c in component_infos],
    )


def _start_sampler(
    options: RunOptions, components: ComponentSource | None, send: Callable[[list[SampleBatch]], None]
) -> SutSampler | None:
    """Sample the GPUs and the readable components from now on; None when there is nothing to sample."""
    if options.gpus is None and components is None:
        return None
    sampler = SutSampler(
        options.gpus, send, options.gpu_rate_hz, components=components, component_rate_hz=options.component_rate_hz
    )
    sampler.start()
    return sampler


class _ClockLog:
    """The clock measurements of the session, each as the director is told of it and client.json lists it."""

    def __init__(self, client: DirectorClient, clock_ns: Callable[[], int], rounds: int) -> None:
        self._client = client
        self._clock_ns = clock_ns
        self._rounds = rounds
        self.entries: list[ClockEntry] = []

    def measure(self, phase: str, when: str) -> ClockMeasurement:
        m = measure_offset(self._client.server_time, self._clock_ns, self._rounds)
        self.entries.append(ClockEntry(phase=phase, when=when, **m.model_dump()))
        return m


class _SessionRun:
    """An opened session on the SUT's side: its local folder and log, each phase's run and checkpoints, the
    uploads and client.json."""

    def __init__(
        self,
        options: RunOptions,
        client: DirectorClient,
        session: SessionOpened,
        clocks: _ClockLog,
        say: Callable[[str], None],
        clock_ns: Callable[[], int],
    ) -> None:
        self.options, self.client, self.session, self.clocks = options, client, session, clocks
        self.say, self.clock_ns = say, clock_ns
        self.folder = options.out_dir / session.session_id
        (self.folder / "power").mkdir(parents=True, exist_ok=True)
        self.log = logging.getLogger(f"mlpower.agent.{session.session_id}")
        self._handler = logging.FileHandler(self.folder / "power" / "client.log", encoding="utf-8")
        self._handler.setFormatter(logging.Formatter("client %(asctime)s [%(levelname)s] %(message)s"))
        self.log.addHandler(self._handler)
        self.log.setLevel(logging.INFO)
        self.phases: dict[str, list[tuple[float, float]]] = {}  # client.json's four checkpoints per phase
        self.ranges: dict[str, dict[str, float | None]] = {}  # the ranges each phase started on, as the director said
        self.uploaded: dict[str, str] = {}  # file -> SHA-1

    def close_log(self) -> None:
        self.log.removeHandler(self._handler)
        self._handler.close()

    def phase(self, phase: str, sampler: SutSampler | None) -> None:
        """Run the workload in ``phase`` between the director's start and stop; upload its LoadGen logs."""
        client, session, options, log, say = self.client, self.session, self.options, self.log, self.say
        client.report_clock(session, phase, "before", self.clocks.measure(phase, "before"))
        say(f"{phase}: asking the director to start (settle {session.settle_s:g} s)")
        log.info("%s: start", phase)
        t0, m0 = self.clock_ns(), time.monotonic()
        given = options.testing_ranges if phase == "testing" else None
        reply, _, started = client.phase(session, phase, "start", given)
        if sampler is not None:
            sampler.mark_boundary()
        m1 = time.monotonic()
        log.info("%s: started with ranges %s, mark %s", phase, reply.ranges, reply.mark)
        self.ranges[phase] = reply.ranges
        say(f"{phase}: running {options.workload.description}")
        keep_lease = _Heartbeat(lambda: client.heartbeat(session), session.lease_s / 4, log)
        with keep_lease, _progress(options, phase, lambda: client.status(session), say):
            run = run_workload(options.workload, self.folder / "loadgen" / phase)
        log.info("%s: workload done in %.1f s", phase, run.elapsed_s)
        if sampler is not None:
            sampler.mark_boundary()
        t2, m2 = self.clock_ns(), time.monotonic()
        stopped, _, t3 = client.phase(session, phase, "stop")
        m3 = time.monotonic()
        self.phases[phase] = [(t0 / NS, m0), (started / NS, m1), (t2 / NS, m2), (t3 / NS, m3)]
        after = self.clocks.measure(phase, "after")
        client.report_clock(session, phase, "after", after)
        say(f"{phase}: {stopped.samples} wall-power samples; clock offset {after.offset_ns / 1e6:+.3f} ms")
        target = self.folder / PHASE_DIRS[phase]
        target.mkdir(exist_ok=True)
        for name, path in run.logs.items():
            (target / name).write_bytes(path.read_bytes())
            self._upload(PHASE_DIRS[phase], target / name)

    def idle(self, sampler: SutSampler | None) -> None:
        """The idle phase: the director records the wall meter while the SUT does nothing for ``idle_s`` (the
        sampler streams on); no workload, no LoadGen logs, not in client.json (not an official phase)."""
        client, session, log, idle_s = self.client, self.session, self.log, self.options.idle_s
        self.say(f"idle: asking the director to start (settle {session.settle_s:g} s), then {idle_s:g} s idle")
        reply, _, _ = client.phase(session, IDLE, "start")
        if sampler is not None:
            sampler.mark_boundary()
        log.info("idle: started, mark %s; idle for %g s", reply.mark, idle_s)
        with _Heartbeat(lambda: client.heartbeat(session), session.lease_s / 4, log):
            time.sleep(idle_s)
        if sampler is not None:
            sampler.mark_boundary()
        stopped, _, _ = client.phase(session, IDLE, "stop")
        self.say(f"idle: {stopped.samples} wall-power samples")

    def upload_records(self, client_uuid: str, mlpower: ClientMlpower) -> None:
        """client.log, then client.json (which lists every upload with its SHA-1)."""
        power = self.folder / "power"
        if self.options.calibration is not None:
            (power / CALIBRATION_FILE).write_bytes(self.options.calibration.read_bytes())
            self._upload("power", power / CALIBRATION_FILE)
        self._upload("power", power / "client.log")
        record = ClientJson(
            messages=self.client.messages,
            uuid=SessionUuids(client=client_uuid, server=self.session.server_uuid),
            session_name=self.session.session_name,
            results=self.uploaded,
            phases=self.phases,
            mlpower=mlpower,
        )
        (power / "client.json").write_text(powerdev_json_text(record))
        self.client.upload(self.session, "power", power / "client.json")

    def _upload(self, folder: str, path: Path) -> None:
        self.client.upload(self.session, folder, path)
        self.uploaded[f"{folder}/{path.name}"] = _sha1(path)


def _components_line(infos: list[ComponentInfo], rate_hz: float) -> str:
    """What the agent samples of the components it found, and what it cannot read (with why)."""
    sampled = [c for c in infos if c.readable]
    if not infos:
        return "components: none found on this machine (see mlpower-agent sources)"
    simulated = " (SIMULATED)" if any(c.simulated for c in sampled) else ""
    lines = [
        f"sampling {len(sampled)} component(s) at {rate_hz:g} Hz{simulated}: {', '.join(c.name for c in sampled)}"
        if sampled
        else "components: none readable, no component readings"
    ]
    lines += [f"  {c.name}: not sampled: {c.reason}" for c in infos if not c.readable]
    return "\n".join(lines)


def _stop_sampler(sampler: SutSampler | None, options: RunOptions, log: logging.Logger) -> dict[str, Any] | None:
    """Stop sampling (the last readings are sent), close the sources, log their events; the sampler's statistics."""
    stats = None
    if sampler is not None:
        sampler.stop()
        stats = dataclasses.asdict(sampler.stats)
        for event in sampler.stats.events:
            log.warning("sensors: %s", event)
        if sampler.pending:
            log.error("sensors: %d sample batches could not be delivered to the director", sampler.pending)
        stats["undelivered_batches"] = sampler.pending
        if isinstance(options.components, SysfsComponents):
            stats["component_counters"] = options.components.counter_stats()
    elif options.components is not None:  # nothing readable: the log still says why
        for event in options.components.take_events():
            log.warning("components: %s", event)
    for source in (options.gpus, options.components):
        if source is not None:
            source.close()
    return stats


def _abort_reason(error: AgentError | KeyboardInterrupt) -> str:
    """The real cause of an abort, as the director records it."""
    if isinstance(error, KeyboardInterrupt):
        return f"agent interrupted by {getattr(error, 'signal_name', 'SIGINT')}"
    return str(error) or type(error).__name__


def _release(client: DirectorClient, session: SessionOpened, error: AgentError | KeyboardInterrupt) -> None:
    """Free the director's meter after a failure; the failure itself is what the user must see. After a signal,
    for at most :data:`SIGNALLED_RELEASE_S`: with its director gone, a stopped agent kept retrying for the whole
    ``--retry-s`` (60 s) and took no second signal meanwhile; the session's lease frees the meter in any case."""
    within_s = SIGNALLED_RELEASE_S if isinstance(error, KeyboardInterrupt) else None
    with contextlib.suppress(AgentError):
        client.abort_session(session, _abort_reason(error), within_s=within_s)


class _Heartbeat:
    """Keeps the session's lease while the workload runs: a heartbeat every ``period_s`` (a quarter of the
    lease), from a thread. A failed one is logged and the next one is the retry: the lease outlasts three."""

    def __init__(self, beat: Callable[[], None], period_s: float, log: logging.Logger) -> None:
        self._beat = beat
        self._period_s = period_s
        self._log = log
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mlpower-heartbeat", daemon=True)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._period_s):
            try:
                self._beat()
            except SessionConflict as e:  # aborted from outside, or the lease ran out: no use beating on
                self._log.error("the director ended the session while the workload ran: %s", e)
                return
            except AgentError as e:
                self._log.warning("heartbeat failed (the next one tries again): %s", e)
