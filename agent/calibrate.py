"""The calibration session from the SUT's side: its informative power sources (its GPUs added up, component
sensors, BMCs and PDUs the director reads) measured beside the director's wall meter under idle and two loads,
fitted, and written as ``calibration.json`` (the command line: :mod:`agent.calibrate_cli`).

One session on the director, as ``mlpower-agent run`` opens one: the clock offset measured, the GPUs and
components streamed. Its ranging phase runs the heaviest level once (one window long) so that the testing ranges
fit it; its testing phase runs three levels one after another, idle, ``load1`` and ``load2``, each a settling
wait then ``windows`` x ``window_s`` of back-to-back measurement windows (and after the last level, one settling
wait more, so that a source that reports late still covers the last window), whose edges the agent takes on its own
clock and maps onto the director's by its clock measurements. A load is the built-in benchmark (``load1``: one
image at a time, SingleStream; ``load2``: Offline as fast as the model goes) or the user's command, given
``$MLPOWER_CALIBRATION_LEVEL`` (``load1`` or ``load2``) to choose its intensity; it is started again whenever it
ends before its level does, and stopped with its process group when the level ends.

The wall samples (and any other wall meter's, ``wall_source``) are read from the director's live feed
(``GET /v1/live``, resumed by ``Last-Event-ID`` after a dropped connection), which carries every sample as the
director stores it: the director needs nothing new. The SUT's readings are the batches the agent itself sent.
Each source is then fitted by :func:`analyzer.calibration.fit_source`; a source that cannot be fitted is named in
the file's notes with why. The session is closed as any other (its analysis lacks LoadGen logs: expected).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import platform
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from agent.client import DirectorClient
from agent.clock import MIN_ROUNDS, measure_offset
from agent.components.base import ComponentSource
from agent.errors import AgentError, DirectorFailed, DirectorUnreachable, WorkloadError
from agent.gpu.base import GpuSource
from agent.gpu_stream import SutSampler
from agent.signals import held_signals
from agent.workload import LOADGEN_DIR_ENV, stop_process_group
from analyzer.calibration import (
    DEFAULT_MAX_LAG_S,
    DEFAULT_THRESHOLD_PCT,
    Level,
    PowerSeries,
    SourceFit,
    Window,
    fit_source,
    sum_series,
)
from analyzer.errors import CalibrationError
from powerlog.calibration_record import (
    CALIBRATION_FILE,
    SOURCE_KINDS,
    CalibrationLevelRecord,
    CalibrationRecord,
    CalibrationWindowRecord,
    LevelScoreRecord,
    ReferenceMeterRecord,
    SourceCalibrationRecord,
    write_calibration_json,
)
from powerlog.cli_support import package_version
from powerlog.clock_map import SutClockMap
from powerlog.run_record import ClockEntry
from powerlog.wire import API_PREFIX, AgentInfo, ClockMeasurement, OpenSessionRequest, SampleBatch, SessionOpened

__all__ = [
    "LEVELS",
    "LEVEL_ENV",
    "CalibrateOptions",
    "CalibrationOutcome",
    "LiveTap",
    "check_options",
    "load_argv",
    "run_calibration",
]

LEVELS = ("idle", "load1", "load2")
LEVEL_ENV = "MLPOWER_CALIBRATION_LEVEL"
_POLL_S = 0.05
_FEED_WAIT_S = 30.0  # how long the last wall samples may take to come through the live feed after the stop
log = logging.getLogger("mlpower.agent.calibrate")


@dataclass(frozen=True)
class CalibrateOptions:
    out_dir: Path
    command: tuple[str, ...] | None = None  # the user's load; None: the built-in benchmark
    window_s: float = 60.0
    windows: int = 5
    settle_s: float = 10.0  # waited at each level before its first window
    qualify_pct: float = DEFAULT_THRESHOLD_PCT
    max_lag_s: float = DEFAULT_MAX_LAG_S
    gpus: GpuSource | None = None
    gpu_rate_hz: float = 10.0
    components: ComponentSource | None = None
    component_rate_hz: float = 10.0
    clock_rounds: int = MIN_ROUNDS
    label: str = "calibration"


@dataclass(frozen=True)
class CalibrationOutcome:
    record: CalibrationRecord
    path: Path
    session: SessionOpened


def load_argv(options: CalibrateOptions, level: str, duration_s: float) -> tuple[str, ...] | None:
    """What runs at ``level``: nothing when idle, the user's command, or the built-in benchmark at its intensity."""
    if level == "idle":
        return None
    if options.command is not None:
        return options.command
    builtin = (sys.executable, "-m", "agent.builtin", "--duration", f"{max(duration_s, 1.0):g}")
    return (*builtin, "--scenario", "SingleStream") if level == "load1" else (*builtin, "--scenario", "Offline",
                                                                               "--unpaced")  # fmt: skip


def _load_text(options: CalibrateOptions, level: str) -> str:
    if level == "idle":
        return "idle"
    if options.command is not None:
        return f"{' '.join(options.command)} (${LEVEL_ENV}={level})"
    return "built-in benchmark, " + ("SingleStream" if level == "load1" else "Offline, unpaced")


class _Load:
    """One level's load: the command in a process group of its own, started again whenever it ends before the
    level does (a non-zero exit is an error), and stopped with its whole group at the end."""

    def __init__(self, argv: tuple[str, ...] | None, level: str, loadgen_dir: Path) -> None:
        self.argv, self.level, self.loadgen_dir = argv, level, loadgen_dir
        self._process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def __enter__(self) -> _Load:
        self.poll()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            stop_process_group(self._process)
            self._process = None

    def poll(self) -> None:
        """Start the command if it is not running; WorkloadError when it failed."""
        if self.argv is None:
            return
        if self._process is not None:
            code = self._process.poll()
            if code is None:
                return
            stop_process_group(self._process)
            self._process = None
            if code != 0:
                raise WorkloadError(f"the {self.level} load {' '.join(self.argv)!r} exited with status {code}")
        self.loadgen_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, LOADGEN_DIR_ENV: str(self.loadgen_dir / str(self.starts)), LEVEL_ENV: self.level}
        with held_signals():
            try:
                self._process = subprocess.Popen(
                    list(self.argv), env=env, start_new_session=True, stdout=subprocess.DEVNULL
                )
            except OSError as e:
                raise WorkloadError(f"cannot start the {self.level} load {' '.join(self.argv)!r}: {e}") from e
        self.starts += 1


class LiveTap:
    """The director's live feed (``GET /v1/live``), read by a thread from the sequence number it had when the tap
    started: every wall sample (``power``), other wall meter's (``wall_source``) and marker event, kept."""

    def __init__(self, base_url: str, token: str, ca_file: Path | None) -> None:
        import ssl

        verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=str(ca_file)) if ca_file else True
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=httpx.Timeout(10.0, read=60.0),  # the feed sends a keep-alive every 10 s
            verify=verify,
        )
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.snapshot: dict[str, Any] = {}
        self._last_id = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mlpower-calibrate-feed", daemon=True)

    def start(self) -> None:
        try:
            reply = self._http.get(f"{API_PREFIX}/live/snapshot")
            reply.raise_for_status()
        except httpx.HTTPStatusError as e:
            raise DirectorFailed(f"the director's live feed refused this agent: {e}") from e
        except httpx.HTTPError as e:
            raise DirectorUnreachable(f"cannot read the director's live feed: {e}") from e
        self.snapshot = reply.json()
        self._last_id = int(self.snapshot.get("last_seq", 0))
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._http.close()  # ends a read that waits for the next event
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def taken(self, kind: str, session_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return [d for k, d in self.events if k == kind and d.get("session_id") == session_id]

    def wait_for_marker(self, session_id: str, phase: str, what: str, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if any(m.get("phase") == phase and m.get("what") == what for m in self.taken("marker", session_id)):
                return True
            time.sleep(_POLL_S)
        return False

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                headers = {"Last-Event-ID": str(self._last_id)}
                with self._http.stream("GET", f"{API_PREFIX}/live", headers=headers) as reply:
                    reply.raise_for_status()
                    self._read(reply.iter_lines())
            except (httpx.HTTPError, RuntimeError) as e:  # RuntimeError: the client was closed by stop()
                if self._stop.is_set():
                    return
                log.warning("live feed: %s; reading it again from event %d", e, self._last_id)
                self._stop.wait(0.5)

    def _read(self, lines: Iterator[str]) -> None:
        seq, kind, data = None, "", ""
        for line in lines:
            if self._stop.is_set():
                return
            if line.startswith("id:"):
                seq = int(line[3:].strip())
            elif line.startswith("event:"):
                kind = line[6:].strip()
            elif line.startswith("data:"):
                data += line[5:].strip()
            elif not line and data:
                if kind in ("power", "wall_source", "marker"):
                    with self._lock:
                        self.events.append((kind, json.loads(data)))
                if seq is not None:
                    self._last_id = seq
                seq, kind, data = None, "", ""


class _BatchTee:
    """The SUT's batches as the director got them: sent, then kept once per (source, seq)."""

    def __init__(self, client: DirectorClient, session: SessionOpened) -> None:
        self._client, self._session = client, session
        self._lock = threading.Lock()
        self.batches: dict[tuple[str, int], SampleBatch] = {}

    def __call__(self, batches: list[SampleBatch]) -> None:
        self._client.send_sample_batches(self._session, batches)
        with self._lock:
            for b in batches:
                self.batches[(b.source, b.seq)] = b

    def power_series(self) -> dict[str, tuple[str, bool, np.ndarray, np.ndarray]]:
        """Per source of power readings: (kind, simulated, t_utc_ns on the agent's clock, watts)."""
        with self._lock:
            batches = sorted(self.batches.values(), key=lambda b: (b.source, b.seq))
        out: dict[str, tuple[str, bool, list[int], list[float]]] = {}
        for b in batches:
            if "power_w" not in b.columns:
                continue
            entry = out.setdefault(b.source, (b.kind, b.simulated, [], []))
            entry[2].extend(int(t) for t in b.columns["t_utc_ns"])
            entry[3].extend(float(p) for p in b.columns["power_w"])
        return {k: (kind, sim, np.asarray(t, np.int64), np.asarray(p, np.float64)) for k, (kind, sim, t, p) in
                out.items()}  # fmt: skip


@dataclass
class _Measured:
    """What the session measured, on the agent's clock until mapped: the levels' windows and the clock entries."""

    windows: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    clocks: list[ClockEntry] = field(default_factory=list)


class _Calibration:
    """One calibration session from the SUT's side (see the module)."""

    def __init__(
        self,
        options: CalibrateOptions,
        client: DirectorClient,
        session: SessionOpened,
        say: Callable[[str], None],
        clock_ns: Callable[[], int],
    ) -> None:
        self.options, self.client, self.session, self.say, self.clock_ns = options, client, session, say, clock_ns
        self.measured = _Measured()
        self._next_beat = 0.0

    def clock(self, phase: str, when: str) -> None:
        m = measure_offset(self.client.server_time, self.clock_ns, self.options.clock_rounds)
        self.measured.clocks.append(ClockEntry(phase=phase, when=when, **m.model_dump()))
        self.client.report_clock(self.session, phase, when, m)

    def wait(self, seconds: float, load: _Load | None) -> None:
        """``seconds`` on the monotonic clock, keeping the lease and the load going."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if load is not None:
                load.poll()
            if time.monotonic() >= self._next_beat:
                with contextlib.suppress(AgentError):  # the next one is the retry: the lease outlasts three
                    self.client.heartbeat(self.session)
                self._next_beat = time.monotonic() + self.session.lease_s / 4
            time.sleep(min(left, 0.2))

    def ranging(self) -> None:
        """The heaviest level once, one window long: the testing ranges then fit every level."""
        o = self.options
        self.clock("ranging", "before")
        self.say(f"ranging: {_load_text(o, 'load2')} for {o.window_s:g} s")
        self.client.phase(self.session, "ranging", "start")
        with _Load(load_argv(o, "load2", o.window_s), "load2", o.out_dir / "loadgen" / "ranging") as load:
            self.wait(o.window_s, load)
        self.client.phase(self.session, "ranging", "stop")
        self.clock("ranging", "after")

    def testing(self) -> None:
        o = self.options
        self.clock("testing", "before")
        self.client.phase(self.session, "testing", "start")
        level_s = o.settle_s + o.windows * o.window_s
        for level in LEVELS:
            self.say(f"{level}: {_load_text(o, level)}; settle {o.settle_s:g} s, then {o.windows} x {o.window_s:g} s")
            argv = load_argv(o, level, level_s)
            with _Load(argv, level, o.out_dir / "loadgen" / level) as load:
                self.wait(o.settle_s, load)
                windows = self.measured.windows.setdefault(level, [])
                for _ in range(o.windows):
                    start = self.clock_ns()
                    self.wait(o.window_s, load)
                    windows.append((start, self.clock_ns()))
                if level == LEVELS[-1]:  # a source that reports late still covers the last window
                    self.wait(o.settle_s, load)
        self.client.phase(self.session, "testing", "stop")
        self.clock("testing", "after")


def run_calibration(
    options: CalibrateOptions,
    client: DirectorClient,
    tap: LiveTap,
    say: Callable[[str], None] = print,
    clock_ns: Callable[[], int] = time.time_ns,
) -> CalibrationOutcome:
    """The session, the fits and ``calibration.json`` in ``options.out_dir`` (see the module)."""
    check_options(options)
    client.health()
    first = measure_offset(client.server_time, clock_ns, options.clock_rounds)
    gpu_infos = list(options.gpus.open()) if options.gpus is not None else []
    component_infos = list(options.components.open()) if options.components is not None else []
    components = options.components if any(c.readable for c in component_infos) else None
    agent = AgentInfo(
        label=options.label,
        host=socket.gethostname(),
        software={"mlpower": package_version(), "python": platform.python_version()},
        workload="calibration: " + ", ".join(f"{lv}: {_load_text(options, lv)}" for lv in LEVELS),
        simulated_gpus=bool(options.gpus is not None and options.gpus.simulated),
        gpus=[g.to_wire() for g in gpu_infos],
        simulated_components=bool(components is not None and components.simulated),
        components=[c.to_wire() for c in component_infos],
    )
    tap.start()  # before the session opens: no wall sample of it can be missed
    try:
        return _measure_and_fit(options, client, tap, agent, first, components, say, clock_ns)
    finally:
        tap.stop()
        for source in (options.gpus, options.components):
            if source is not None:
                source.close()


def _measure_and_fit(
    options: CalibrateOptions,
    client: DirectorClient,
    tap: LiveTap,
    agent: AgentInfo,
    first: ClockMeasurement,
    components: ComponentSource | None,
    say: Callable[[str], None],
    clock_ns: Callable[[], int],
) -> CalibrationOutcome:
    session = client.open_session(OpenSessionRequest(agent=agent, client_uuid=str(uuid.uuid4()), clock=first))
    say(f"calibration session {session.session_id}: clock offset {first.offset_ns / 1e6:+.3f} ms")
    run = _Calibration(options, client, session, say, clock_ns)
    run.measured.clocks.append(ClockEntry(phase="session", when="before", **first.model_dump()))
    tee = _BatchTee(client, session)
    sampler = None
    if options.gpus is not None or components is not None:
        sampler = SutSampler(options.gpus, tee, options.gpu_rate_hz, components=components,
                             component_rate_hz=options.component_rate_hz)  # fmt: skip
        sampler.start()
    try:
        run.ranging()
        run.testing()
    except (AgentError, KeyboardInterrupt) as e:
        if sampler is not None:
            sampler.stop()
        with contextlib.suppress(AgentError):
            client.abort_session(session, f"calibration stopped: {e or type(e).__name__}")
        raise
    if sampler is not None:
        sampler.stop()  # the last readings are sent
    if not tap.wait_for_marker(session.session_id, "testing", "stop", _FEED_WAIT_S):
        say("note: the live feed did not show the end of testing; the last wall samples may be missing")
    meter_model, simulated_meter = _close(client, session, say)
    record = _record(options, session, run.measured, tap, tee, meter_model, simulated_meter, clock_ns())
    options.out_dir.mkdir(parents=True, exist_ok=True)
    path = options.out_dir / CALIBRATION_FILE
    write_calibration_json(path, record)
    return CalibrationOutcome(record, path, session)


def check_options(o: CalibrateOptions) -> None:
    if not (o.window_s > 0 and o.windows >= 3 and o.settle_s >= 0):
        raise AgentError(
            f"--window-s must be positive, --windows at least 3 (Olympic scoring drops two) and --settle-s not "
            f"negative; got {o.window_s:g} s, {o.windows}, {o.settle_s:g} s"
        )
    if not o.qualify_pct > 0:
        raise AgentError(f"--qualify-pct must be a positive percentage, got {o.qualify_pct:g}")


def _close(client: DirectorClient, session: SessionOpened, say: Callable[[str], None]) -> tuple[str | None, bool]:
    """Close the session; the reference meter's model and whether it was simulated, as the analysis says."""
    try:
        result = client.close_session(session)
    except AgentError as e:
        say(f"note: the director could not close the calibration session ({e}); it is aborted, the fit goes on")
        with contextlib.suppress(AgentError):
            client.abort_session(session, "calibration: the session could not be closed")
        return None, False
    meter = result.report.meter
    return (meter.model, meter.simulated) if meter is not None else (None, False)


def _series_of_events(events: list[dict[str, Any]], phase: str) -> PowerSeries | None:
    t = [int(x) for e in events if e.get("phase") == phase for x in e["t_utc_ns"]]
    p = [float(x) for e in events if e.get("phase") == phase for x in e["power_w"]]
    return PowerSeries.of(t, p) if t else None


def _sources(
    tap: LiveTap, tee: _BatchTee, session_id: str, clock_map: SutClockMap
) -> list[tuple[str, str, list[str], bool, PowerSeries]]:
    """Every source to fit: (name, kind, members, simulated, series on the director's clock)."""
    out: list[tuple[str, str, list[str], bool, PowerSeries]] = []
    gpus: list[tuple[str, bool, PowerSeries]] = []
    for source, (kind, simulated, t, p) in sorted(tee.power_series().items()):
        series = PowerSeries.of(clock_map.to_director_array(t), p)
        if kind == "gpu":
            gpus.append((source, simulated, series))
            continue
        family = source.split(".", 1)[0]
        if family in SOURCE_KINDS:
            out.append((source.removesuffix(".power"), family, [source], simulated, series))
    if gpus:
        total = sum_series([s for _, _, s in gpus])
        out.insert(0, ("gpus", "gpu_sum", [g for g, _, _ in gpus], any(sim for _, sim, _ in gpus), total))
    beside = tap.taken("wall_source", session_id)
    for key in sorted({str(e.get("source")) for e in beside}):
        series_w = _series_of_events([e for e in beside if e.get("source") == key], "testing")
        if series_w is not None:
            out.append((f"wall:{key}", "wall_source", [key], False, series_w))
    return out


def _source_record(fit: SourceFit, kind: str, members: list[str], simulated: bool) -> SourceCalibrationRecord:
    return SourceCalibrationRecord(
        name=fit.name,
        kind=kind,
        members=members,
        gain=fit.gain,
        offset_w=fit.offset_w,
        lag_s=fit.lag_s,
        residual_rms_pct=fit.residual_rms_pct,
        residual_max_pct=fit.residual_max_pct,
        error_pct=fit.error_pct,
        raw_error_pct=fit.raw_error_pct,
        qualifies=fit.qualifies,
        qualifies_raw=fit.qualifies_raw,
        threshold_pct=fit.threshold_pct,
        samples_used=fit.samples_used,
        sample_period_s=fit.sample_period_s,
        simulated=simulated,
        levels=[LevelScoreRecord(**s.__dict__) for s in fit.levels],
    )


def _record(
    options: CalibrateOptions,
    session: SessionOpened,
    measured: _Measured,
    tap: LiveTap,
    tee: _BatchTee,
    meter_model: str | None,
    simulated_meter: bool,
    now_ns: int,
) -> CalibrationRecord:
    """The levels on the director's clock, every source fitted (or noted), as the file's record."""
    clock_map = SutClockMap.from_entries(measured.clocks)

    levels = [
        Level(
            name,
            tuple(
                Window(clock_map.to_director_ns(a), clock_map.to_director_ns(b))
                for a, b in measured.windows.get(name, [])
            ),
        )
        for name in LEVELS
    ]
    snapshot = tap.snapshot
    simulated_meter = simulated_meter or bool(snapshot.get("meter_url", "").startswith("sim://"))
    tier = snapshot.get("tier")
    reference = ReferenceMeterRecord(
        url=str(snapshot.get("meter_url", "")),
        model=meter_model,
        tier=tier.get("name") if isinstance(tier, dict) else None,
        interval_ms=snapshot.get("interval_ms"),
        simulated=simulated_meter,
    )
    notes: list[str] = []
    sources: list[SourceCalibrationRecord] = []
    wall = _series_of_events(tap.taken("power", session.session_id), "testing")
    if wall is None:
        notes.append("no wall sample of the testing phase came through the director's live feed: nothing fitted")
    candidates = _sources(tap, tee, session.session_id, clock_map) if wall is not None else []
    for name, kind, members, simulated, series in candidates:
        assert wall is not None
        try:
            fit = fit_source(wall, series, levels, name=name, threshold_pct=options.qualify_pct,
                             max_lag_s=options.max_lag_s)  # fmt: skip
        except CalibrationError as e:
            notes.append(f"{name}: not fitted: {e}")
            continue
        sources.append(_source_record(fit, kind, members, simulated))
        notes += _doubts(fit)
    if wall is not None and not sources and not notes:
        notes.append("no source beside the wall meter to calibrate: give --gpus or --components")
    return CalibrationRecord(
        created_utc_ns=now_ns,
        mlpower_version=package_version(),
        host=socket.gethostname(),
        session_id=session.session_id,
        reference=reference,
        window_s=options.window_s,
        windows_per_level=options.windows,
        settle_s=options.settle_s,
        levels=_level_records(options, levels),
        sources=sources,
        simulated=simulated_meter or any(s.simulated for s in sources),
        notes=notes,
    )


def _doubts(fit: SourceFit) -> list[str]:
    """What makes a fit say little, though it was made: levels the wall hardly tells apart, a negative gain."""
    out = []
    wall_w = [s.wall_w for s in fit.levels]
    spread_pct = 100.0 * (max(wall_w) - min(wall_w)) / min(wall_w)
    if spread_pct < fit.threshold_pct:
        out.append(f"{fit.name}: the levels differ by only {spread_pct:.1f} % at the wall: its gain and offset are "
                   "poorly determined (do the loads load the system?)")  # fmt: skip
    if fit.gain <= 0:
        out.append(f"{fit.name}: a gain of {fit.gain:.4f}: its readings do not follow the wall's")
    return out


def _level_records(options: CalibrateOptions, levels: list[Level]) -> list[CalibrationLevelRecord]:
    return [
        CalibrationLevelRecord(
            name=lv.name,
            load=_load_text(options, lv.name),
            windows=[CalibrationWindowRecord(start_utc_ns=w.start_utc_ns, end_utc_ns=w.end_utc_ns) for w in lv.windows],
        )
        for lv in levels
    ]
