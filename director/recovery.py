"""After a crash: sessions the director was running when it died are marked interrupted, data kept.

Every state change rewrites ``session.json`` (atomically), every wall-meter read is flushed to
``spl.txt`` and every SUT batch to its journal, so a SIGKILL loses at most the last read interval.
On start, ``serve`` calls :func:`recover_interrupted`: each run folder whose ``session.json`` says
the session was still going is marked ``failed`` with an ``interrupted`` note and its SUT journals (the
LoadGen node's and every node agent's, ``nodes/<node>/samples/``) are turned into Parquet, as a clean close
would. Nothing already written is changed or removed. Then,
whatever the run folders say (a session that ended ``failed`` while PTDaemon was unreachable may have left it
measuring), :func:`stop_left_measuring` stops a measurement PTDaemon is still running.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from director.errors import MeterError
from director.meters.base import Meter
from director.meters.ptd import parse_ranges
from director.meters.ranges import Ranges
from director.session import finish_sample_journals
from director.session.nodes import NODES_DIR
from powerlog.errors import FormatError
from powerlog.run_record import Interruption, SessionJson, read_session_json, write_session_json
from powerlog.wire import SessionState

__all__ = ["Interrupted", "put_meter_back", "recover_interrupted", "stop_left_measuring"]

ENDED = {SessionState.CLOSED.value, SessionState.FAILED.value}


@dataclass(frozen=True)
class Interrupted:
    session_id: str
    folder: Path
    state: str  # what the session was doing when the director stopped
    meter_url: str = ""  # the meter it held
    initial_ranges: Ranges | None = None  # the ranges PTDaemon reported when it opened (None: not recorded)


def recover_interrupted(runs_dir: Path) -> list[Interrupted]:
    found = []
    for record_path in sorted(runs_dir.glob("*/session.json")):
        try:
            record = read_session_json(record_path)
        except FormatError:
            continue  # unreadable or not ours: leave it exactly as it is
        if not record.state or record.state in ENDED:
            continue  # ended: nothing to do
        folder = record_path.parent
        was = record.state
        bad = finish_sample_journals(folder)
        for node_folder in sorted(p for p in (folder / NODES_DIR).glob("*") if p.is_dir()):  # each node agent's
            bad += finish_sample_journals(node_folder)
        record = record.model_copy(
            update={
                "state": SessionState.FAILED.value,
                "error": f"interrupted: the director stopped while the session was {was} (killed or crashed); "
                "everything written before is kept",
                "interrupted": Interruption(state=was, recovered_utc_ns=time.time_ns(), sample_lines_unusable=len(bad)),
            }
        )
        write_session_json(record_path, record)
        meter_url = record.meter.url if record.meter is not None else ""
        found.append(Interrupted(record.session_id or folder.name, folder, was, meter_url, _initial_ptd_ranges(record)))
    return found


def _initial_ptd_ranges(record: SessionJson) -> Ranges | None:
    """The ranges PTDaemon reported when the session opened (its first ``RR``), as the session would have
    restored them."""
    exchanges = record.meter.exchanges if record.meter is not None else []
    reply = next((e.reply for e in exchanges if e.cmd == "RR"), None)
    if reply is None:
        return None
    try:
        return parse_ranges(reply)
    except MeterError:
        return None


def put_meter_back(interrupted: Interrupted, meter_url: str, open_meter: Callable[[], Meter]) -> str:
    """After a crash mid-session, PTDaemon may still be measuring, with the session's testing ranges: the next
    session's first ``SR`` would be refused. Stop it and put back the ranges the session found (its first
    ``RR``). Returns what was done, or exactly what the user must do, for the start-up output."""
    used = interrupted.meter_url
    if not used.startswith("ptd://"):
        return "its meter was read directly: nothing is left running on it"
    if used != meter_url:
        return f"it used {used}, not this director's meter: if that PTDaemon is still measuring, send it Stop"
    initial = interrupted.initial_ranges
    meter = open_meter()
    try:
        meter.open()
        stopped = meter.stop()
        if initial is not None:
            meter.set_ranges(initial)
    except MeterError as e:
        return (
            f"could not put the meter back ({e}): before the next session, stop PTDaemon's measurement "
            "(send it Stop, or restart PTDaemon)"
        )
    finally:
        with contextlib.suppress(MeterError):
            meter.close()
    what = "stopped the measurement PTDaemon was still running" if stopped else "PTDaemon was not measuring"
    if initial is None:
        return f"{what}; its initial ranges are not in session.json, so the ranges were left as they are"
    volts = "Auto" if initial.volts_v is None else f"{initial.volts_v:g} V"
    amps = "Auto" if initial.amps_a is None else f"{initial.amps_a:g} A"
    return f"{what} and put back its ranges (V {volts}, A {amps})"


def stop_left_measuring(meter_url: str, open_meter: Callable[[], Meter]) -> str | None:
    """At serve start: if PTDaemon is measuring (nothing of this director's is), stop it, so that the first
    session's ranges are not refused. Returns the line to print, or None when there was nothing to do."""
    if "ptd://" not in meter_url:
        return None  # a meter read directly measures nothing between sessions
    meter = open_meter()
    try:
        meter.open()
        stopped = meter.stop()
    except MeterError as e:
        return f"meter: could not check whether PTDaemon is measuring ({e}); if it is, the first session stops it"
    finally:
        with contextlib.suppress(MeterError):
            meter.close()
    if not stopped:
        return None
    return (
        f"meter: {meter_url} was still measuring (left running by a session that could not stop it, or by another "
        "client): stopped it"
    )
