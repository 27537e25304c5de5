"""What went wrong while an mlpower run was recorded, from its session.json: meter gaps, agent link
outages, missing SUT batches, node agents missing or silent, a director that was interrupted. Nothing
here is an MLPerf rule; each finding says what happened, when, and what it does to the result."""

from __future__ import annotations

from collections.abc import Iterable

from analyzer.findings import Evidence, Finding, Severity
from analyzer.node_sensors import gap_in_window_s
from analyzer.rounds import Round
from analyzer.run import RunData
from analyzer.time_join import join_by_time
from powerlog.run_record import SessionJson
from powerlog.timestamps import NS_PER_S as NS
from powerlog.timestamps import format_ptd_timestamp

__all__ = ["check_interrupted", "check_meter_gaps", "check_node_gaps", "check_sut_link", "check_system_wall"]


def _ts(t_utc_ns: int) -> str:
    return format_ptd_timestamp(t_utc_ns)


def _overlap_s(start_ns: int, end_ns: int, window: tuple[int, int] | None) -> float:
    if window is None:
        return 0.0
    return max(0, min(end_ns, window[1]) - max(start_ns, window[0])) / NS


def check_meter_gaps(run: RunData, round_: Round) -> Iterable[Finding]:
    """0.meter_gaps: the meter connection was lost mid-phase; the samples there are missing."""
    record = run.mlpower_session
    if record is None:
        return
    title = "Wall meter connected through every phase"
    if not record.meter_gaps:
        yield Finding.passed("0.meter_gaps", title, "the meter was never lost during a phase")
        return
    for gap in record.meter_gaps:
        phase = gap.phase
        start_ns = gap.last_sample_utc_ns
        restored = gap.restored_utc_ns
        end_ns = restored if restored is not None else gap.unresolved_at_stop_utc_ns or start_ns
        data = run.phases.get(phase)
        window = data.meter_window_utc_ns if data is not None else None
        inside_s = _overlap_s(start_ns, end_ns, window)
        how = (
            f"back after {(end_ns - start_ns) / NS:.1f} s ({gap.attempts} reconnect attempt(s))"
            if restored is not None
            else f"still unreachable when the phase stopped, {(end_ns - start_ns) / NS:.1f} s later"
        )
        which = _wall_meter(record, gap.source) if gap.source else "meter"
        message = f"{phase}: {which} lost at {_ts(start_ns)} ({gap.error}), {how}"
        ev = Evidence(file="session.json", values={"gap": gap.model_dump()})
        if inside_s > 0 and phase == "testing":
            yield Finding.failed(
                "0.meter_gaps",
                title,
                Severity.ERROR,
                f"{message}; {inside_s:.1f} s of the LoadGen window have no samples: the energy there is not "
                "measured (the average bridges it from the samples either side)",
                ev,
            )
        elif inside_s > 0:
            yield Finding.failed(
                "0.meter_gaps",
                title,
                Severity.WARNING,
                f"{message}; {inside_s:.1f} s of the ranging window have no samples, so the ranging maxima may miss "
                "a peak",
                ev,
            )
        else:
            yield Finding.failed("0.meter_gaps", title, Severity.INFO, f"{message}; outside the LoadGen window", ev)


def _wall_meter(record: SessionJson, key: str) -> str:
    """A wall meter beside the session's, named with its nodes and URL."""
    meter = next((m for m in record.wall_meters if m.key == key), None)
    if meter is None:
        return f"wall meter {key}"
    return f"wall meter {key} of {', '.join(meter.nodes) or 'no node'} ({meter.url})"


def check_system_wall(run: RunData, round_: Round) -> Iterable[Finding]:
    """0.system_wall: every wall source of a described system (system.json) covered the LoadGen window with its
    own samples; a source with a gap there leaves its node's and the system's energy incomplete."""
    wall, window = run.system_wall, run.testing.meter_window_utc_ns
    if wall is None or window is None or window[1] <= window[0]:
        return
    title = "Every node's wall sources cover the LoadGen window"
    joined = join_by_time(wall.sources, window[0], window[1], wall.interconnect)
    parts = [*joined.nodes]
    sources = [s for n in parts for s in n.sources]
    if joined.interconnect is not None and joined.interconnect.source is not None:
        sources.append(joined.interconnect.source)
    found = False
    for source in sources:
        for gap in source.gaps:
            found = True
            yield Finding.failed(
                "0.system_wall",
                title,
                Severity.ERROR,
                f"node {source.node}: wall source {source.name} has no samples for {gap.length_s:.1f} s of the "
                f"LoadGen window ({gap.kind}, {_ts(gap.begin_utc_ns)} to {_ts(gap.end_utc_ns)}): node "
                f"{source.node}'s energy and the system's are incomplete (the rest of the result stands)",
                Evidence(
                    file="system.json", values={"node": source.node, "source": source.name, "gap": gap.model_dump()}
                ),
            )
    if not found:
        covered = f"{len(sources)} wall source(s) of {len(joined.nodes)} node(s) covered the LoadGen window"
        yield Finding.passed("0.system_wall", title, f"{covered}, each with its own samples")


def check_sut_link(run: RunData, round_: Round) -> Iterable[Finding]:
    """0.sut_link: the agent's link to the director dropped; late batches and any batch never received."""
    record = run.mlpower_session
    if record is None or "sut_batches" not in record.model_fields_set:  # recorded before batches were counted
        return
    title = "SUT readings arrived, each batch once"
    outages = record.sut_link_outages
    missing = {source: info.missing_seqs for source, info in record.sut_batches.items() if info.missing_seqs}
    ev = Evidence(file="session.json", values={"outages": [o.model_dump() for o in outages], "missing": missing})
    if missing:
        listed = "; ".join(f"{source}: batch(es) {seqs[:10]}" for source, seqs in missing.items())
        yield Finding.failed(
            "0.sut_link", title, Severity.WARNING, f"SUT batches never received ({listed}): GPU figures lack them", ev
        )
    for outage in outages:
        span_s = (outage.until_utc_ns - outage.from_utc_ns) / NS
        yield Finding.failed(
            "0.sut_link",
            title,
            Severity.INFO,
            f"the agent's link to the director was down about {span_s:.0f} s (readings from "
            f"{_ts(outage.from_utc_ns)} arrived at {_ts(outage.until_utc_ns)}): {outage.batches} batch(es) "
            "were buffered and arrived late, each stored once",
            ev,
        )
    if not outages and not missing:
        yield Finding.passed("0.sut_link", title, "every SUT batch arrived in time, none missing", ev)


def check_interrupted(run: RunData, round_: Round) -> Iterable[Finding]:
    """0.interrupted: the director stopped (killed, crashed) before the session closed."""
    record = run.mlpower_session
    if record is None or record.interrupted is None:
        return
    info = record.interrupted
    yield Finding.failed(
        "0.interrupted",
        "The session ran to its end",
        Severity.ERROR,
        f"the director stopped while the session was {info.state}; the run is incomplete "
        "(everything recorded before is kept)",
        Evidence(file="session.json", values={"interrupted": info.model_dump()}),
    )


def check_node_gaps(run: RunData, round_: Round) -> Iterable[Finding]:
    """0.node_gaps: a node agent missing when a phase started, or silent mid-session; in the testing window
    its readings (and the system's) are incomplete."""
    record = run.mlpower_session
    if record is None or not record.nodes:
        return
    title = "Every node agent heard through every phase"
    window = run.testing.meter_window_utc_ns
    found = False
    for name, node in sorted(record.nodes.items()):
        for gap in node.gaps:
            found = True
            inside_s = gap_in_window_s(gap, window)
            phase = gap.phase or "between phases"
            span = (
                f"for {(gap.until_utc_ns - gap.from_utc_ns) / NS:.1f} s (until {_ts(gap.until_utc_ns)})"
                if gap.until_utc_ns is not None
                else "and was not heard again before the session ended"
            )
            what = "missing when the phase started" if gap.reason == "missing" else "silent"
            message = f"node {name}: {what} ({phase}) from {_ts(gap.from_utc_ns)} {span}"
            ev = Evidence(file="session.json", values={"node": name, "gap": gap.model_dump()})
            if gap.reason == "missing" or inside_s > 0:
                where = f"; {inside_s:.1f} s of the testing window without its readings" if inside_s > 0 else ""
                yield Finding.failed("0.node_gaps", title, Severity.ERROR, f"{message}{where}", ev)
            else:
                yield Finding.failed(
                    "0.node_gaps", title, Severity.WARNING, f"{message}; outside the testing window", ev
                )
    if not found:
        yield Finding.passed("0.node_gaps", title, f"{len(record.nodes)} node agent(s), none missing or silent")
