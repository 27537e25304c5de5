"""One measurement session: the state machine that holds the meter from open to close.

States: open -> ranging -> ranged -> testing -> tested -> closed, or failed from any of them; an optional idle
phase first (open -> idle -> idled -> ranging: the SUT idle, the wall meter recording into ``idle/``, for static
power; kept out of power-dev's records, see :mod:`director.session.records`). A call out
of order raises :class:`SessionStateError` and changes nothing. The work is done by the parts the session
owns: the :class:`MeterPump` (the meter), the :class:`RunWriter` (the run folder), :class:`SutIngest` (the
SUT's readings and clock), the :class:`SessionFeed` (the live view) and :class:`SessionRecords` (session.json,
server.json). Every method runs on the event loop: that
is the director's one concurrency rule (blocking work goes to threads and comes back to the loop).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

from director.errors import DirectorError, MeterError, SessionStateError, StorageError
from director.live import LiveFeed
from director.meters.base import Meter
from director.meters.ranges import Ranges
from director.session.config import Clock, PhaseTimes, SessionConfig
from director.session.feed import SessionFeed
from director.session.meter_pump import MeterPump, testing_ranges
from director.session.nodes import SessionNodes
from director.session.records import SessionRecords, session_status
from director.session.run_writer import RunWriter
from director.session.sut_ingest import SutIngest
from director.session.wall_sources import WallMeterPlan, WallSources
from powerlog.errors import PowerlogError
from powerlog.layout import IDLE, PHASE_DIRS
from powerlog.mllog import parse_detail_log
from powerlog.powerdev_records import PowerDevMessage
from powerlog.result_record import ResultJson, write_result_json
from powerlog.system_record import SystemRecord, write_system_json
from powerlog.tiers import MeasurementTier, tier_of_meter
from powerlog.wire import AgentInfo, ClockReport, SampleBatch, SessionState, SessionStatus

__all__ = ["Analyze", "Session", "loadgen_window_ns", "testing_ranges"]

Analyze = Callable[[Path], ResultJson]  # the run folder's result; called in a worker thread
NS = 1_000_000_000
# which uploads a session takes in which state: a phase's LoadGen logs once it has stopped
UPLOAD_READY: dict[str, tuple[SessionState, ...]] = {
    "ranging": (SessionState.RANGED, SessionState.TESTING, SessionState.TESTED),
    "run_1": (SessionState.TESTED,),
    "power": (SessionState.TESTED,),
}
RUNNING = {IDLE: SessionState.IDLE, "ranging": SessionState.RANGING, "testing": SessionState.TESTING}
STOPPED = {IDLE: SessionState.IDLED, "ranging": SessionState.RANGED, "testing": SessionState.TESTED}


class Session:
    """A session holds the meter from open to close. Nothing is touched before :meth:`open`."""

    def __init__(
        self,
        meter: Meter,
        meter_url: str,
        config: SessionConfig,
        agent: AgentInfo,
        client_uuid: str,
        clock: Clock = time.time_ns,
        feed: LiveFeed | None = None,
        wall_meters: Sequence[WallMeterPlan] = (),
        system: SystemRecord | None = None,
    ) -> None:
        self.meter_url = meter_url
        self.system = system  # a multi-node system's description (system.json), None for --meter alone
        self.config = config
        self.agent = agent
        self.agent_uuid = client_uuid
        self.clock = clock
        stamp = time.strftime("%Y-%m-%d_%H-%M-%S", time.gmtime(clock() / NS))
        self.session_name = f"{stamp}_{agent.label}" if agent.label else stamp
        self.session_id = f"{self.session_name}_{uuid.uuid4().hex[:6]}"
        self.server_uuid = str(uuid.uuid4())
        self.state = SessionState.OPEN
        self.error: str | None = None
        # an HTTP session's agent: the secret every call into the session carries, and the lease it keeps by
        # calling (None for both: a power-dev client's session, held by its TCP connection)
        self.secret: str | None = None
        self.lease_s: float | None = None
        self._heard_monotonic_s = time.monotonic()
        self._agent_calls = 0  # requests from the agent being served now: it is not silent while it waits
        self.meter_errors = 0
        self._storage_stop: asyncio.Task[None] | None = None  # stopping for a SUT batch the disk refused
        self.folder = config.runs_dir / self.session_id
        self.phase_times: dict[str, PhaseTimes] = {p: PhaseTimes() for p in PHASE_DIRS}
        self.ranges: dict[str, Ranges] = {}
        self.messages: list[PowerDevMessage] = []  # power-dev's server.json "messages"
        self.result: ResultJson | None = None
        self.log = logging.getLogger(f"mlpower.director.session.{self.session_id}")
        self.feed = SessionFeed(feed if feed is not None else LiveFeed(), self.session_id)
        self.writer = RunWriter(self.folder, self.log, config.ptd_log, config.min_free_bytes)
        self.sut = SutIngest(self.writer, self.log)
        self.nodes = SessionNodes(self.folder, self.log, clock)  # node agents beside the LoadGen node
        self.records = SessionRecords(self)
        self.pump = MeterPump(meter, config, self.writer.spl_files, self.feed, self.log, clock,
                              self.records.write_progress, self._storage_failed)  # fmt: skip
        self.wall = WallSources(wall_meters, self.folder, config, self.feed, self.log, clock,
                                self.records.write_progress, self._storage_failed)  # fmt: skip

    # what the session is ------------------------------------------------------------------
    @property
    def meter(self) -> Meter:
        return self.pump.meter

    @property
    def simulated(self) -> bool:
        identity = self.pump.identity
        sut = self.sut.simulated or self.sut.components_simulated
        return (
            bool(identity and identity.simulated)
            or self.agent.simulated_gpus
            or self.agent.simulated_components
            or sut
            or self.nodes.simulated
            or self.wall.simulated
        )

    @property
    def ended(self) -> bool:
        return self.state in (SessionState.CLOSED, SessionState.FAILED)

    def mark(self, phase: str) -> str:
        return f"{self.session_name}_{phase}"

    @property
    def tier(self) -> MeasurementTier | None:
        """The measurement tier: the meter URL's, and what the meter said once identified (mlpower-ptd behind
        ptd:// is an analyzer read directly), as the analyzer works it out."""
        identity = self.pump.identity
        return tier_of_meter(self.meter_url, identity.version if identity is not None else None)

    def status(self) -> SessionStatus:
        return session_status(self)

    def verdicts(self) -> tuple[str | None, str | None]:
        """mlpower's verdict and the official one, from the closed session's result; None before."""
        if self.result is None:
            return None, None
        return self.result.check.verdict, self.result.check.official_verdict

    # the agent's lease ------------------------------------------------------------------------
    @property
    def agent_silent_s(self) -> float:
        """Seconds since the agent was last heard (0 while one of its requests is being served)."""
        return 0.0 if self._agent_calls else time.monotonic() - self._heard_monotonic_s

    def agent_call_started(self) -> None:
        self._agent_calls += 1
        self._heard_monotonic_s = time.monotonic()

    def agent_call_ended(self) -> None:
        self._agent_calls -= 1
        self._heard_monotonic_s = time.monotonic()

    def lease_expired(self) -> bool:
        return self.lease_s is not None and not self.ended and self.agent_silent_s > self.lease_s

    def heartbeat(self) -> None:
        """The agent keeps its lease while it waits on its workload; refused (with why) once the session has ended."""
        if self.ended:
            why = f": {self.error}" if self.error else ""
            raise SessionStateError(f"the session has ended{why}", self.state)

    def _expect(self, allowed: tuple[SessionState, ...], action: str) -> None:
        if self.state not in allowed:
            why = f": {self.error}" if self.state is SessionState.FAILED and self.error else ""
            raise SessionStateError(f"cannot {action} now{why}", self.state)

    def _set_state(self, state: SessionState) -> None:
        self.state = state
        self.records.write_progress()
        self.feed.state(state, self.error, self.simulated, *self.verdicts())

    def _fail(self, error: Exception) -> None:
        self.meter_errors += isinstance(error, MeterError)
        self.error = str(error)
        self._set_state(SessionState.FAILED)
        self.log.error("session failed: %s", error)

    def record_message(self, cmd: str, reply: str, cmd_utc_ns: int) -> None:
        self.messages.append(PowerDevMessage.exchanged(cmd, cmd_utc_ns, reply, self.clock()))

    # lifecycle ----------------------------------------------------------------------------
    async def open(self) -> None:
        """Create the run folder, connect to the meter, identify it and read its ranges."""
        self.writer.create()
        if self.system is not None:
            write_system_json(self.folder, self.system)
        self.log.info("session %s opened for agent %r on %s", self.session_id, self.agent.label, self.agent.host)
        try:
            initial = await self.pump.connect()
            await self.wall.connect()
        except MeterError as e:
            self._fail(e)
            raise
        identity = self.pump.identity
        self.log.info("meter %s: %s (initial ranges %s)", self.meter_url, identity.raw if identity else "?", initial)
        self._set_state(SessionState.OPEN)

    async def start_phase(self, phase: str, agent_utc_ns: int, given: Ranges | None = None) -> Ranges:
        """Start ``phase``: ranging on Auto ranges; testing on the ranges derived from ranging, or on ``given``
        ones (power-dev's ``start,testing,<volts>,<amps>``, which may skip ranging: not valid for submission,
        and the check says so)."""
        received_ns, received_mono = self.clock(), time.monotonic()
        if phase == IDLE:  # on Auto ranges: the idle power is not known yet
            self._expect((SessionState.OPEN,), "start the idle phase")
            ranges = Ranges.automatic()
            self.phase_times = {IDLE: PhaseTimes(), **self.phase_times}  # session.json lists it first
        elif phase == "ranging":
            self._expect((SessionState.OPEN, SessionState.IDLED), "start ranging")
            ranges = Ranges.automatic()
        elif given is not None:
            self._expect((SessionState.OPEN, SessionState.RANGED), "start testing")
            ranges = given
            self.log.info("testing ranges %s, as the client gave them", ranges)
        else:
            self._expect((SessionState.RANGED,), "start testing")
            ranges = testing_ranges(
                self.pump, self.folder / "ranging" / "spl.txt", self.config.current_factor, self.log
            )
        self.writer.check_storage(phase)
        times = self.phase_times[phase]
        times.director_utc_ns, times.director_monotonic_s = [received_ns], [received_mono]
        times.agent_utc_ns = [agent_utc_ns]
        self._set_state(RUNNING[phase])
        self.nodes.phase_started(phase)
        if phase == IDLE:
            self.writer.idle_ptd_log_begins()
        try:
            await self.wall.start_with(self.pump, phase, ranges, self.mark(phase))
        except MeterError as e:
            self._fail(e)
            raise
        self.ranges[phase] = ranges
        times.mark(self.clock(), time.monotonic())
        self.feed.marker(phase, "start", times.director_utc_ns[-1])
        self.log.info("%s: Go with mark %s", phase, self.mark(phase))
        return ranges

    async def stop_phase(self, phase: str, agent_utc_ns: int) -> int:
        received_ns, received_mono = self.clock(), time.monotonic()
        self._expect((RUNNING[phase],), f"stop {phase}")
        times = self.phase_times[phase]
        times.mark(received_ns, received_mono)
        times.agent_utc_ns.append(agent_utc_ns)
        await asyncio.gather(self.pump.stop(phase, received_ns), self.wall.stop(phase, received_ns))
        if phase == IDLE:
            self.writer.idle_ptd_log_ends()
        times.mark(self.clock(), time.monotonic())
        self.feed.marker(phase, "stop", received_ns)
        self.nodes.phase_stopped()
        self._set_state(STOPPED[phase])
        self.log.info("%s stopped: %d samples", phase, self.pump.samples[phase])
        return self.pump.samples[phase]

    async def _storage_failed(self, phase: str | None, error: StorageError) -> None:
        """The disk filled up (or went read-only) mid-phase: stop cleanly, keep what was written."""
        if not self.ended:
            await self.abort(self._storage_reason(phase, error))

    def _storage_reason(self, phase: str | None, error: StorageError) -> str:
        if phase is None:
            return f"{error}; the session was stopped, everything written before is kept"
        samples = self.pump.samples[phase]
        return f"{error}; the {phase} phase was stopped, the {samples} samples written are kept"

    def sut_storage_failed(self, error: StorageError) -> StorageError:
        """A SUT batch the disk refused: the batch's reply says so now (507), and the session stops as for the
        wall samples, just after."""
        phase = self.pump.phase
        if self._storage_stop is None:
            self._storage_stop = asyncio.get_running_loop().create_task(self._storage_failed(phase, error))
        return StorageError(self._storage_reason(phase, error))

    async def close(self, analyze: Analyze) -> ResultJson:
        self._expect((SessionState.TESTED,), "close")
        # node agents hear the stop at their next heartbeat, measure their clock and send their last readings after it
        testing = self.phase_times["testing"].director_utc_ns
        await self.nodes.flushed("testing", testing[0], testing[2], self.nodes.lease_s)
        await asyncio.gather(self.pump.release(), self.wall.release())
        self.state = SessionState.CLOSED  # announced once the result is there
        await asyncio.to_thread(self.records.write_final)  # Parquet of a long run takes seconds: off the event loop
        result = await asyncio.to_thread(analyze, self.folder)
        write_result_json(self.folder / "result.json", result)
        self.result = result
        self._set_state(SessionState.CLOSED)
        return result

    async def cancel(self, reason: str) -> None:
        """The agent gives up: abort, unless the session has ended already."""
        if self._storage_stop is not None:  # the agent gives up because the disk refused its batch: that is the cause
            await asyncio.shield(self._storage_stop)
        self._expect_live("abort")
        await self.abort(reason)

    def closed_result(self) -> ResultJson:
        if self.result is None:
            raise SessionStateError("no result yet: close the session first", self.state)
        return self.result

    async def abort(self, reason: str) -> None:
        """Stop whatever runs and keep what was written; the session ends failed."""
        await asyncio.gather(self.pump.abort(), self.wall.abort())
        self._fail(DirectorError(reason))
        await self.records.write_after_abort()

    # from the agent -----------------------------------------------------------------------
    def add_agent_checkpoint(self, phase: str, agent_utc_ns: int) -> None:
        """The agent's own time for the 2nd (start replied) or 4th (stop replied) checkpoint."""
        times = self.phase_times[phase]
        if len(times.agent_utc_ns) not in (1, 3):
            raise SessionStateError(f"no {phase} start or stop waiting for the agent's checkpoint", self.state)
        times.agent_utc_ns.append(agent_utc_ns)

    def add_clock_report(self, report: ClockReport) -> None:
        self._expect_live("take a clock report")
        self.sut.add_clock_report(report)

    def add_samples(self, batch: SampleBatch) -> bool:
        """Store a SUT batch; False when this (source, seq) was stored before."""
        self._expect_live("take SUT samples")
        try:
            stored = self.sut.add(batch, self.clock())
        except StorageError as e:
            raise self.sut_storage_failed(e) from e
        if stored and batch.kind == "gpu" and batch.columns.get("power_w"):  # the live view plots GPUs only
            self.feed.gpu(batch, self.sut.clock_map())
        return stored

    def _expect_live(self, action: str) -> None:
        if self.ended:
            why = f" ({self.error})" if self.error else ""
            raise SessionStateError(f"cannot {action}: the session has ended{why}", self.state)

    def add_upload(self, folder: str, name: str, data: bytes) -> None:
        """A LoadGen log (or the agent's record) into the run folder, once its phase has stopped; a detail log
        puts its LoadGen window on the live view."""
        if self.state not in UPLOAD_READY[folder]:
            raise SessionStateError(f"{folder}/{name} cannot be uploaded yet", self.state)
        self.writer.write_upload(folder, name, data)
        phase = next((p for p, d in PHASE_DIRS.items() if d == folder), None)
        if name == "mlperf_log_detail.txt" and phase is not None:
            window = loadgen_window_ns(folder, data, self.log)
            if window is not None:  # on the live view, the SUT's clock moved onto the director's
                clock_map = self.sut.clock_map()
                self.feed.marker(phase, "loadgen_begin", clock_map.to_director_ns(window[0]))
                self.feed.marker(phase, "loadgen_end", clock_map.to_director_ns(window[1]))


def loadgen_window_ns(folder: str, detail_log: bytes, log: logging.Logger) -> tuple[int, int] | None:
    """The LoadGen window (SUT clock) of an uploaded detail log; None, with a warning, when it has none."""
    parsed = parse_detail_log(detail_log, f"{folder}/mlperf_log_detail.txt")
    try:
        return parsed.timestamp_ns("power_begin"), parsed.timestamp_ns("power_end")
    except PowerlogError as e:
        log.warning("no LoadGen window in %s/mlperf_log_detail.txt: %s", folder, e)
        return None
