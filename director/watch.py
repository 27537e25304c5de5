"""``mlpower-director watch``: a read-only live view of a session that power-dev's own server runs.

power-dev's server starts PTDaemon with ``-l SAMPLE_LOG`` (one per analyzer): PTDaemon appends every
sample there as an spl.txt line carrying the mark of the measurement, ``<session>_ranging`` or
``<session>_testing``. ``watch`` follows those files, as ``tail -f`` does, and shows what they say on
the dashboard and on ``/metrics``. It opens them read-only and writes nothing anywhere: the official
chain (PTDaemon, power-dev's server, its output folder) is left exactly as it would be without it.

Phases come from the marks alone: a phase starts with the first sample carrying its mark, and stops at
the first sample with another mark, or when no sample has come for ``idle_stop_s`` (PTDaemon logs
nothing between measurements). Several logs (several analyzers) are joined sample by sample with the
rule of :mod:`director.meters.group`, each log's samples becoming channels of one reading.

Times in the sample log are the PTDaemon machine's local time; ``utc_offset_s`` (by default this
machine's, which is where PTDaemon usually runs) turns them into UTC.
"""

from __future__ import annotations

import asyncio
import hmac
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, BinaryIO

from fastapi import Depends, FastAPI, HTTPException, Request, Response, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi_offline import FastAPIOffline
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from director.app import DOCS_ASSETS_URL
from director.dashboard import DashboardSource, add_dashboard, require_loopback_host
from director.live import LiveFeed
from director.meters.group import SampleJoin
from director.metrics import CONTENT_TYPE
from director.session.feed import SessionFeed
from director.session.meter_pump import live_energy_step_j
from powerlog.cli_support import package_version
from powerlog.lines import BadLine
from powerlog.spl import ChannelSample, PowerLog, PowerSample, parse_spl_text
from powerlog.wire import SessionState, SessionStatus

__all__ = ["SampleLogFollower", "WatchedSession", "Watcher", "create_watch_app", "phase_of_mark", "samples_of"]

NS = 1_000_000_000
READ_CHUNK_BYTES = 1 << 20
HEAD_BYTES = 256  # of a log, compared on each read: a log rewritten in place with other lines is a new one
PHASES = ("ranging", "testing")


def phase_of_mark(mark: str) -> tuple[str, str] | None:
    """``(session, phase)`` of a power-dev mark, ``<session>_ranging`` or ``<session>_testing``; None else."""
    for phase in PHASES:
        suffix = f"_{phase}"
        if mark.endswith(suffix) and len(mark) > len(suffix):
            return mark[: -len(suffix)], phase
    return None


def samples_of(log: PowerLog, utc_offset_s: float = 0.0) -> list[PowerSample]:
    """The samples of a parsed piece of sample log, their local times moved to UTC."""
    shift_ns = round(utc_offset_s * NS)
    views = log.analyzer_views()
    channels = views[0].channels if len(views) == 1 else ()
    samples = []
    for i in range(len(log)):
        t_ns = int(log.t_utc_ns[i]) - shift_ns

        def value(column: Any, i: int = i) -> float:
            return float(column[i]) if column is not None else -1.0

        parts = tuple(
            ChannelSample(float(c.power_w[i]), value(c.volts_v), value(c.amps_a), value(c.pf)) for c in channels
        )
        samples.append(
            PowerSample(
                t_ns, float(log.power_w[i]), value(log.volts_v), value(log.amps_a), value(log.pf), log.mark_of(i), parts
            )
        )
    return samples


class SampleLogFollower:
    """Reads what has been appended to one sample log since the last call; only complete lines.

    Follows the file, not the name (``tail -F``): a file that does not exist yet is waited for; when the
    name comes to hold another file (a new inode: replaced, or PTDaemon restarted with a fresh log), the
    rest of the old one is read, then the new one from its start; a file that shrinks below what was read,
    or whose first bytes change, is a new log too, read from its start. Either way a sample is counted
    once: after such a restart, samples no later than the newest already read (a replacement that repeats
    the old log) are skipped and counted in ``repeated``. Opened read-only: nothing is ever written to it."""

    def __init__(self, path: Path, utc_offset_s: float = 0.0) -> None:
        self.path = path
        self.utc_offset_s = utc_offset_s
        self.offset = 0
        self.restarts = 0
        self.repeated = 0  # samples a restarted log repeated, skipped
        self.bad_lines: list[BadLine] = []
        self._partial = b""
        self._file: BinaryIO | None = None
        self._identity: tuple[int, int] | None = None  # (st_dev, st_ino) of the file being read
        self._head = b""  # its first bytes, to tell a log rewritten in place from the one read
        self._newest_ns: int | None = None  # the newest sample time returned
        self._skip_until_newer = False

    def read_new(self) -> list[PowerSample]:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:  # moved away: what its writer added before is still to be read
            return self._read_available() if self._file is not None else []
        samples: list[PowerSample] = []
        if self._file is not None and (st.st_dev, st.st_ino) != self._identity:
            samples += self._read_available()  # the old file's tail first, then the new file
            self._restart()
        if self._file is None:
            try:
                self._file = self.path.open("rb")
            except FileNotFoundError:
                return samples
            opened = os.fstat(self._file.fileno())
            self._identity = (opened.st_dev, opened.st_ino)
        elif self._rewritten():
            self._restart()
            self._file = self.path.open("rb")
            opened = os.fstat(self._file.fileno())
            self._identity = (opened.st_dev, opened.st_ino)
        return samples + self._read_available()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _rewritten(self) -> bool:
        """The open file was truncated, or rewritten in place with other bytes than were read."""
        assert self._file is not None
        if os.fstat(self._file.fileno()).st_size < self.offset:
            return True
        return bool(self._head) and os.pread(self._file.fileno(), len(self._head), 0) != self._head

    def _restart(self) -> None:
        self.close()
        self.offset, self._partial, self._head = 0, b"", b""
        self.restarts += 1
        self._skip_until_newer = self._newest_ns is not None

    def _read_available(self) -> list[PowerSample]:
        assert self._file is not None
        self._file.seek(self.offset)
        data = self._file.read(READ_CHUNK_BYTES)
        if not data:
            return []
        if len(self._head) < HEAD_BYTES:
            self._head += data[: HEAD_BYTES - len(self._head)]
        self.offset += len(data)
        data = self._partial + data
        complete, newline, self._partial = data.rpartition(b"\n")
        if not newline:
            self._partial = data
            return []
        log = parse_spl_text(complete + newline, str(self.path))
        self.bad_lines += log.bad_lines
        return self._once(samples_of(log, self.utc_offset_s))

    def _once(self, samples: list[PowerSample]) -> list[PowerSample]:
        """``samples`` less those a restarted log repeats (no later than the newest already returned)."""
        if self._skip_until_newer and self._newest_ns is not None:
            newest_ns = self._newest_ns
            first_new = next((i for i, s in enumerate(samples) if s.t_utc_ns > newest_ns), len(samples))
            self.repeated += first_new
            self._skip_until_newer = first_new == len(samples)
            samples = samples[first_new:]
        if samples:
            latest_ns = max(s.t_utc_ns for s in samples)
            self._newest_ns = latest_ns if self._newest_ns is None else max(self._newest_ns, latest_ns)
        return samples


@dataclass
class WatchedSession:
    """One power-dev session as the sample log shows it: its phases, samples and energy so far."""

    name: str
    feed: SessionFeed
    state: SessionState = SessionState.OPEN
    phase: str | None = None  # the phase whose samples are coming
    samples: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PHASES, 0))
    energy_j: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PHASES, 0.0))
    last: PowerSample | None = None

    def status(self) -> SessionStatus:
        return SessionStatus(
            session_id=self.name,
            session_name=self.name,
            state=self.state,
            simulated=False,  # a sample log does not say; the dashboard's meter line says what is watched
            samples=dict(self.samples),
            run_folder="",
            last_power_w=self.last.power_w if self.last is not None else None,
            energy_j=dict(self.energy_j),
        )


class Watcher:
    """Turns the followed samples into sessions, phases and live events. :meth:`poll` does one round."""

    def __init__(
        self,
        followers: Sequence[SampleLogFollower],
        interval_ms: int = 1000,
        idle_stop_s: float = 5.0,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.followers = list(followers)
        self.interval_ms = interval_ms
        self.idle_stop_ns = round(idle_stop_s * NS)
        self.clock = clock
        self.feed = LiveFeed()
        self.sessions: dict[str, WatchedSession] = {}
        self.active: WatchedSession | None = None
        self.unmarked = 0  # samples outside any power-dev phase
        self.stopping = False
        self._join = SampleJoin(len(self.followers), interval_ms) if len(self.followers) > 1 else None
        self._last_sample_ns: int | None = None  # the director's clock when the newest sample came
        self._batch: list[PowerSample] = []  # taken in the current phase, not yet on the feed

    def poll(self) -> int:
        """Read every log once; publish what came. The number of (joined) samples taken."""
        if self._join is None:
            samples = self.followers[0].read_new()
        else:
            for i, follower in enumerate(self.followers):
                self._join.add(i, follower.read_new())
            samples = self._join.joined()
        now_ns = self.clock()
        for sample in samples:
            self._take(sample)
        self._flush()
        if samples:
            self._last_sample_ns = now_ns
        elif self._last_sample_ns is not None and now_ns - self._last_sample_ns > self.idle_stop_ns:
            self._stop_phase()
            self._last_sample_ns = None
        return len(samples)

    @property
    def skipped_stale(self) -> int:
        return self._join.skipped_stale if self._join is not None else 0

    def _take(self, sample: PowerSample) -> None:
        found = phase_of_mark(sample.mark)
        active = self.active
        if found is None:
            self._stop_phase()
            self.unmarked += 1
            return
        name, phase = found
        if active is None or active.name != name or active.phase != phase:
            self._stop_phase()
            self._start_phase(name, phase, sample.t_utc_ns)
        session = self.active
        assert session is not None
        session.samples[phase] += 1
        session.energy_j[phase] += live_energy_step_j(session.last, sample)
        session.last = sample
        self._batch.append(sample)

    def _start_phase(self, name: str, phase: str, t_utc_ns: int) -> None:
        session = self.sessions.get(name)
        if session is None:
            session = self.sessions[name] = WatchedSession(name, SessionFeed(self.feed, name))
        self.active = session
        session.phase, session.last = phase, None
        session.state = SessionState.RANGING if phase == "ranging" else SessionState.TESTING
        session.feed.state(session.state, None, False)
        session.feed.marker(phase, "start", t_utc_ns)

    def _stop_phase(self) -> None:
        self._flush()
        session = self.active
        if session is None or session.phase is None:
            return
        phase, session.phase = session.phase, None
        session.state = SessionState.RANGED if phase == "ranging" else SessionState.TESTED
        stopped_ns = session.last.t_utc_ns if session.last is not None else self.clock()
        session.feed.marker(phase, "stop", stopped_ns)
        session.feed.state(session.state, None, False)

    def _flush(self) -> None:
        """The samples taken in the current phase since the last flush, to the live feed in one event."""
        session, batch, self._batch = self.active, self._batch, []
        if batch and session is not None and session.phase is not None:
            session.feed.power(session.phase, batch, session.samples[session.phase], session.energy_j[session.phase])

    async def run(self, poll_s: float = 0.2) -> None:
        while not self.stopping:
            self.poll()
            await asyncio.sleep(poll_s)

    def dashboard_source(self) -> DashboardSource:
        logs = ", ".join(str(f.path) for f in self.followers)

        def snapshot() -> dict[str, Any]:
            active = self.active
            return {
                "version": package_version(),
                "meter_url": f"watching PTDaemon sample log {logs} (read-only)",
                "interval_ms": self.interval_ms,
                "now_utc_ns": self.clock(),
                "active": None if active is None else active.status().model_dump(mode="json"),
                "last_seq": self.feed.last_seq,
            }

        return DashboardSource(
            feed=self.feed,
            snapshot=snapshot,
            active_first_seq=lambda: self.active.feed.first_seq if self.active is not None else None,
            stopping=lambda: self.stopping,
        )


class WatchCollector(Collector):
    """The watched session on ``/metrics``, with the director's metric names where they mean the same."""

    def __init__(self, watcher: Watcher) -> None:
        self._watcher = watcher

    def collect(self) -> list[Metric]:
        watcher, active = self._watcher, self._watcher.active
        state = GaugeMetricFamily("mlpower_session_state", "1 for the state the newest session is in", labels=["state"])
        for s in SessionState:
            state.add_metric([s.value], 1.0 if active is not None and active.state is s else 0.0)
        metrics: list[Metric] = [state]
        metrics.append(
            CounterMetricFamily("mlpower_sessions", "sessions seen in the logs", value=len(watcher.sessions))
        )
        bad = CounterMetricFamily("mlpower_watch_bad_lines", "sample-log lines that did not parse", labels=["log"])
        offsets = GaugeMetricFamily("mlpower_watch_log_bytes", "bytes of each sample log read", labels=["log"])
        for follower in watcher.followers:
            bad.add_metric([str(follower.path)], len(follower.bad_lines))
            offsets.add_metric([str(follower.path)], follower.offset)
        metrics += [bad, offsets]
        metrics.append(
            CounterMetricFamily("mlpower_watch_unmarked_samples", "samples outside a phase", value=watcher.unmarked)
        )
        if active is None:
            return metrics
        received = CounterMetricFamily("mlpower_wall_samples", "wall-meter samples logged", labels=["phase"])
        energy = CounterMetricFamily("mlpower_wall_energy_joules", "wall energy per phase so far", labels=["phase"])
        for phase in PHASES:
            received.add_metric([phase], active.samples[phase])
            energy.add_metric([phase], active.energy_j[phase])
        metrics += [received, energy]
        last = active.last
        if last is not None:
            metrics.append(
                GaugeMetricFamily("mlpower_wall_power_watts", "latest wall power (total)", value=last.power_w)
            )
            metrics.append(
                GaugeMetricFamily(
                    "mlpower_wall_sample_time_seconds", "UTC time of the latest sample", value=last.t_utc_ns / NS
                )
            )
        return metrics


_BEARER = HTTPBearer(auto_error=False)


class _TokenCheck:
    """A route dependency: the bearer token must be ``token``; with None, a loopback Host instead."""

    def __init__(self, token: str | None) -> None:
        self.token = token

    async def __call__(
        self, request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)]
    ) -> None:
        if self.token is None:
            await require_loopback_host(request)  # token-less: a loopback Host only (DNS rebinding)
            return
        given = credentials.credentials if credentials is not None else ""
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, "missing or wrong token: pass it as 'Authorization: Bearer <token>'"
            )


def create_watch_app(watcher: Watcher, token: str | None = None) -> FastAPI:
    """The dashboard, its live feed, ``/metrics`` and ``/health`` for ``watcher``; read-only. With ``token``,
    every route but ``/health`` asks for it (a watch that listens off loopback)."""
    app = FastAPIOffline(
        title="mlpower watch",
        version=package_version(),
        static_url=DOCS_ASSETS_URL,
        swagger_ui_parameters={"validatorUrl": None},  # as the director's: nothing fetched from outside
    )
    auth = [Depends(_TokenCheck(token))]
    add_dashboard(app, watcher.dashboard_source(), auth)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "version": package_version(), "watching": [str(f.path) for f in watcher.followers]}

    @app.get("/metrics", dependencies=auth, response_class=Response)
    async def metrics() -> Response:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(WatchCollector(watcher))
        return Response(generate_latest(registry), media_type=CONTENT_TYPE)

    return app
