"""One measurement session from the SUT's side: clock, ranging, testing, uploads, result."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
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
from agent.gpu.base import GpuSource
from agent.gpu_stream import SutSampler
from agent.progress import LivePhaseProgress, PhaseProgress
from agent.workload import Workload, check_runnable, run_workload
from powerlog.cli_support import package_version
from powerlog.layout import PHASE_DIRS
from powerlog.result_record import ResultJson, write_result_json
from powerlog.wire import AgentInfo, ClockMeasurement, OpenSessionRequest, SessionOpened, SessionStatus

__all__ = ["RunOptions", "SessionOutcome", "run_session"]

NS = 1_000_000_000


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


@dataclass(frozen=True)
class SessionOutcome:
    session: SessionOpened
    result: ResultJson
    local_folder: Path
    clocks: list[dict[str, Any]]


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
    clocks: list[dict[str, Any]] = []

    def measure(phase: str, when: str) -> ClockMeasurement:
        m = measure_offset(client.server_time, clock_ns, options.clock_rounds)
        clocks.append({"phase": phase, "when": when, **m.model_dump()})
        return m

    first = measure("session", "before")
    gpu_infos = list(options.gpus.open()) if options.gpus is not None else []
    component_infos = list(options.components.open()) if options.components is not None else []
    components = options.components if any(c.readable for c in component_infos) else None
    agent = AgentInfo(
        label=options.label,
        host=socket.gethostname(),
        software=_software(),
        workload=options.workload.description,
        simulated_gpus=bool(options.gpus is not None and options.gpus.simulated),
        gpus=[dataclasses.asdict(g) for g in gpu_infos],
        simulated_components=bool(components is not None and components.simulated),
        components=[dataclasses.asdict(c) for c in component_infos],
    )
    client_uuid = str(uuid.uuid4())
    session = client.open_session(OpenSessionRequest(agent=agent, client_uuid=client_uuid, clock=first))
    folder = options.out_dir / session.session_id
    (folder / "power").mkdir(parents=True, exist_ok=True)
    log = logging.getLogger(f"mlpower.agent.{session.session_id}")
    handler = logging.FileHandler(folder / "power" / "client.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("client %(asctime)s [%(levelname)s] %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.info("session %s opened; clock offset %d ns +/- %d ns", session.session_id, first.offset_ns, first.bound_ns)
    say(f"session {session.session_id}: clock offset {first.offset_ns / 1e6:+.3f} ms +/- {first.bound_ns / 1e6:.3f} ms")
    phases: dict[str, list[list[float]]] = {}
    uploaded: dict[str, str] = {}
    sampler = None
    if options.gpus is not None or components is not None:
        sampler = SutSampler(
            options.gpus,
            lambda batches: client.send_sample_batches(session, batches),
            options.gpu_rate_hz,
            components=components,
            component_rate_hz=options.component_rate_hz,
        )
        sampler.start()
    if options.gpus is not None:
        names = ", ".join(f"{g.index}: {g.name}" for g in gpu_infos)
        simulated = " (SIMULATED)" if options.gpus.simulated else ""
        say(f"sampling {len(gpu_infos)} GPU(s) at {options.gpu_rate_hz:g} Hz{simulated}: {names}")
    if options.components is not None:
        say(_components_line(component_infos, options.component_rate_hz))
    try:
        for phase in ("ranging", "testing"):
            before = measure(phase, "before")
            client.report_clock(session, phase, "before", before)
            say(f"{phase}: asking the director to start (settle {session.settle_s:g} s)")
            log.info("%s: start", phase)
            t0, m0 = clock_ns(), time.monotonic()
            reply, _, started = client.phase(session, phase, "start")
            if sampler is not None:
                sampler.mark_boundary()
            m1 = time.monotonic()
            log.info("%s: started with ranges %s, mark %s", phase, reply.ranges, reply.mark)
            say(f"{phase}: running {options.workload.description}")
            keep_lease = _Heartbeat(lambda: client.heartbeat(session), session.lease_s / 4, log)
            with keep_lease, _progress(options, phase, lambda: client.status(session), say):
                run = run_workload(options.workload, folder / "loadgen" / phase)
            log.info("%s: workload done in %.1f s", phase, run.elapsed_s)
            if sampler is not None:
                sampler.mark_boundary()
            t2, m2 = clock_ns(), time.monotonic()
            stopped, _, t3 = client.phase(session, phase, "stop")
            m3 = time.monotonic()
            phases[phase] = [[t0 / NS, m0], [started / NS, m1], [t2 / NS, m2], [t3 / NS, m3]]
            after = measure(phase, "after")
            client.report_clock(session, phase, "after", after)
            say(f"{phase}: {stopped.samples} wall-power samples; clock offset {after.offset_ns / 1e6:+.3f} ms")
            target = folder / PHASE_DIRS[phase]
            target.mkdir(exist_ok=True)
            for name, path in run.logs.items():
                (target / name).write_bytes(path.read_bytes())
                client.upload(session, PHASE_DIRS[phase], target / name)
                uploaded[f"{PHASE_DIRS[phase]}/{name}"] = _sha1(target / name)
        gpu_stats = _stop_sampler(sampler, options, log)
    except (AgentError, KeyboardInterrupt) as e:
        reason = _abort_reason(e)
        log.error("session failed: %s", reason)
        _stop_sampler(sampler, options, log)
        _release(client, session, reason)
        raise
    finally:
        log.removeHandler(handler)
        handler.close()
    try:  # a signal or a lost director while the records go up still frees the meter at once, with its cause
        client.upload(session, "power", folder / "power" / "client.log")
        uploaded["power/client.log"] = _sha1(folder / "power" / "client.log")
        record = {
            "version": "mlpower-1",
            "timezone": 0,
            "modules": {},
            "sources": {},
            "messages": client.messages,
            "uuid": {"client": client_uuid, "server": session.server_uuid},
            "session_name": session.session_name,
            "results": uploaded,
            "phases": phases,
            "mlpower": {
                "clock": clocks,
                "workload": options.workload.description,
                "gpu_sampler": gpu_stats,
                "components": [dataclasses.asdict(c) for c in component_infos],
            },
        }
        (folder / "power" / "client.json").write_text(json.dumps(record, indent=2) + "\n")
        client.upload(session, "power", folder / "power" / "client.json")
        say("closing the session; the director is analyzing the run")
        result = client.close_session(session)
    except (AgentError, KeyboardInterrupt) as e:
        _release(client, session, _abort_reason(e))
        raise
    write_result_json(folder / "result.json", result)
    return SessionOutcome(session, result, folder, clocks)


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


def _release(client: DirectorClient, session: SessionOpened, reason: str) -> None:
    """Free the director's meter after a failure; the failure itself is what the user must see."""
    with contextlib.suppress(AgentError):
        client.abort_session(session, reason)


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
