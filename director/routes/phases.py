"""A session's phases: start and stop (the meter's side), the agent's checkpoints and clock reports."""

from __future__ import annotations

from fastapi import APIRouter, status

from director.meters.ranges import Ranges
from director.routes.common import AUTH, AgentSessionDep, ApiError, check_phase
from director.session import Session
from powerlog.layout import IDLE
from powerlog.wire import API_PREFIX, ClockReport, ErrorCode, PhaseReply, PhaseRequest

__all__ = ["router"]

router = APIRouter(prefix=f"{API_PREFIX}/sessions/{{session_id}}", dependencies=AUTH)


async def _phase(session: Session, phase: str, action: str, body: PhaseRequest) -> PhaseReply:
    check_phase(phase)
    received_ns = session.clock()
    if body.ranges is not None and (phase != "testing" or action != "start"):
        raise ApiError(status.HTTP_422_UNPROCESSABLE_CONTENT, ErrorCode.INVALID,
                       f"ranges are given only to start testing without ranging, not to {action} {phase}")  # fmt: skip
    if action == "start":
        given = Ranges(body.ranges.volts_v, body.ranges.amps_a) if body.ranges is not None else None
        ranges = await session.start_phase(phase, body.agent_utc_ns, given)
    else:
        await session.stop_phase(phase, body.agent_utc_ns)
        ranges = session.ranges[phase]
    if phase != IDLE:  # power-dev's server.json messages: the official phases only (client.json leaves it out too)
        session.record_message(f"session,{session.session_name},{action},{phase}", "OK", received_ns)
    return PhaseReply(
        phase=phase,  # type: ignore[arg-type]
        state=session.state,
        mark=session.mark(phase),
        ranges={"volts_v": ranges.volts_v, "amps_a": ranges.amps_a},
        director_utc_ns=session.clock(),
        samples=session.pump.samples[phase],
    )


@router.post("/phases/{phase}/start")
async def start_phase(phase: str, body: PhaseRequest, session: AgentSessionDep) -> PhaseReply:
    return await _phase(session, phase, "start", body)


@router.post("/phases/{phase}/stop")
async def stop_phase(phase: str, body: PhaseRequest, session: AgentSessionDep) -> PhaseReply:
    return await _phase(session, phase, "stop", body)


@router.post("/phases/{phase}/checkpoint")
async def agent_checkpoint(phase: str, body: PhaseRequest, session: AgentSessionDep) -> dict[str, str]:
    check_phase(phase)
    session.add_agent_checkpoint(phase, body.agent_utc_ns)
    return {"status": "ok"}


@router.post("/clock")
async def clock_report(body: ClockReport, session: AgentSessionDep) -> dict[str, str]:
    session.add_clock_report(body)
    return {"status": "ok"}
