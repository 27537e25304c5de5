"""A session's records: mlpower's ``session.json`` and power-dev's ``power/server.json``, built from its state
and written into its run folder."""

from __future__ import annotations

import asyncio
import platform
from typing import TYPE_CHECKING

from director.ptd_config import ptd_config_entries
from powerlog.cli_support import package_version
from powerlog.layout import IDLE, PHASE_DIRS
from powerlog.powerdev_records import PtdConfigEntry, PtdMessage, ServerJson, SessionUuids
from powerlog.run_record import (
    MeterRecord,
    PhaseRecord,
    RangesRecord,
    RejectedReply,
    SessionJson,
)
from powerlog.wire import SessionStatus

if TYPE_CHECKING:
    from director.session.machine import Session

__all__ = ["MAX_REJECTED_KEPT", "RECORDS_RETRY_S", "SessionRecords", "server_json", "session_json", "session_status"]

NS = 1_000_000_000
MAX_REJECTED_KEPT = 100
RECORDS_RETRY_S = 1.0  # an aborted session's records, refused by a full disk: tried again this often


class SessionRecords:
    """Writes a session's records: session.json at every state change (after a crash, the restarted director
    finds what the session was doing: :func:`director.recovery.recover_interrupted`), server.json and the final
    session.json once it has ended; an aborted session's records the disk refused as soon as it takes them."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._retry: asyncio.Task[None] | None = None

    def write_progress(self) -> None:
        self._session.writer.write_progress(session_json(self._session))

    def write_final(self) -> None:
        """The run folder's records of an ended session (blocking: Parquet of a long run takes seconds)."""
        session = self._session
        session.log.info("session %s: %s", session.session_id, session.state.value)
        session.nodes.check_leases()
        for line in session.nodes.finish():
            session.log.warning("node samples: %s", line)
        hashes = session.writer.finish()
        session.writer.write_json("power/server.json", server_json(session, hashes).model_dump(mode="json"))
        session.writer.write_progress(session_json(session))

    async def write_after_abort(self) -> None:
        """The final records, off the event loop; refused by the disk, tried again until it takes them."""
        if not await self._try_write(log_failure=True):
            self._retry = asyncio.get_running_loop().create_task(self._retry_until_written())

    async def _try_write(self, log_failure: bool) -> bool:
        try:
            await asyncio.to_thread(self.write_final)
        except OSError as e:
            if log_failure:
                self._session.log.error("cannot write the session records: %s (tried again every %g s)",
                                        e.strerror or e, RECORDS_RETRY_S)  # fmt: skip
            return False
        return not self._session.writer.progress_pending

    async def _retry_until_written(self) -> None:
        while True:
            await asyncio.sleep(RECORDS_RETRY_S)
            if await self._try_write(log_failure=False):
                return


def server_json(session: Session, results: dict[str, str]) -> ServerJson:
    """power-dev's ``power/server.json``, as the official checker reads it."""
    identity = session.pump.identity
    identities = list(session.meter.identities) or ([identity] if identity else [])
    return ServerJson(
        messages=session.messages,
        uuid=SessionUuids(client=session.agent_uuid, server=session.server_uuid),
        session_name=session.session_name,
        results=results,
        phases={
            phase: [(ns / NS, mono) for ns, mono in zip(t.director_utc_ns, t.director_monotonic_s, strict=False)]
            for phase, t in session.phase_times.items()
            if phase in PHASE_DIRS  # the official phases: the idle phase is mlpower's own (session.json)
        },
        ptd_messages=[
            PtdMessage(cmd=e.cmd, reply=e.reply)
            for e in session.meter.exchanges
            if _is_control(e.cmd) and not _in_idle_phase(session, e.cmd_utc_ns)
        ],
        ptd_config=[PtdConfigEntry.model_validate(e) for e in ptd_config_entries(session.meter_url, identities)],
    )


def session_status(session: Session) -> SessionStatus:
    """What ``GET /v1/sessions/{id}`` says of a session now."""
    last = session.pump.last_sample
    verdict, official_verdict = session.verdicts()
    return SessionStatus(
        session_id=session.session_id,
        session_name=session.session_name,
        state=session.state,
        simulated=session.simulated,
        samples=session.pump.samples,
        run_folder=str(session.folder),
        error=session.error,
        last_power_w=last.power_w if last is not None else None,
        energy_j=session.pump.energy_j,
        verdict=verdict,
        official_verdict=official_verdict,
        lease_s=session.lease_s,
        agent_silent_s=None if session.lease_s is None else round(session.agent_silent_s, 1),
    )


def session_json(session: Session) -> SessionJson:
    """session.json: mlpower's own record of the session."""
    identity, pump, meter = session.pump.identity, session.pump, session.meter
    sources = {"meter": bool(identity and identity.simulated), "sut_samples": session.sut.simulated or
               session.agent.simulated_gpus,
               "components": session.sut.components_simulated or session.agent.simulated_components,
               "nodes": session.nodes.simulated, "wall_meters": session.wall.simulated}  # fmt: skip
    return SessionJson(
        mlpower_version=package_version(),
        session_id=session.session_id,
        session_name=session.session_name,
        state=session.state.value,
        error=session.error,
        simulated=session.simulated,
        simulated_sources=[source for source, simulated in sources.items() if simulated],
        tier=session.tier,
        sut_samples=session.sut.rows,
        agent=session.agent,
        meter=MeterRecord(
            url=session.meter_url,
            identity=identity,
            exchanges=list(meter.exchanges),
        ),
        phases={
            phase: PhaseRecord(
                mark=session.mark(phase),
                ranges=None
                if phase not in session.ranges
                else RangesRecord(volts_v=session.ranges[phase].volts_v, amps_a=session.ranges[phase].amps_a),
                samples=pump.samples.get(phase, 0),
                # the driver's per-sample uncertainty (a directly read analyzer; PTDaemon logs its own)
                uncertainty=pump.uncertainty[phase].to_record() if phase in pump.uncertainty else None,
                director_utc_ns=t.director_utc_ns,
                agent_utc_ns=t.agent_utc_ns,
            )
            for phase, t in session.phase_times.items()
        },
        clock=session.sut.clock_reports,
        meter_gaps=[gap.record() for gap in pump.gaps] + session.wall.gap_records(),
        meter_samples_skipped=meter.skipped_stale,
        # meter replies left out as unusable (never averaged in): how many, and the first ones as they came
        meter_rejected_count=len(meter.rejected_lines),
        meter_rejected=[
            RejectedReply(reason=bad.reason, text=bad.text) for bad in meter.rejected_lines[:MAX_REJECTED_KEPT]
        ],
        sut_batches=session.sut.batches_record(),
        sut_link_outages=[outage.record() for outage in session.sut.outages],
        director_software={"mlpower": package_version(), "python": platform.python_version()},
        settle_s=session.config.settle_s,
        interval_ms=session.config.interval_ms,
        nodes=session.nodes.records(),
        wall_meters=session.wall.records(),
    )


def _in_idle_phase(session: Session, utc_ns: int) -> bool:
    """Sent from the idle phase's start request to its stop's end (or on, while it runs): the official checker
    finds the initial-range restore and the last Stop by their position among the commands, so server.json
    keeps the idle phase's commands out (session.json's exchanges have them all)."""
    times = session.phase_times.get(IDLE)
    if times is None or not times.director_utc_ns:
        return False
    end = times.director_utc_ns[3] if len(times.director_utc_ns) > 3 else None
    return times.director_utc_ns[0] <= utc_ns and (end is None or utc_ns <= end)


def _is_control(cmd: str) -> bool:
    # the sample reads (RL) are many and carry data, not control: server.json keeps the control commands
    return not cmd.startswith(("RL", "DC-RL"))
