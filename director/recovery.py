"""After a crash: sessions the director was running when it died are marked interrupted, data kept.

Every state change rewrites ``session.json`` (atomically), every wall-meter read is flushed to
``spl.txt`` and every SUT batch to its journal, so a SIGKILL loses at most the last read interval.
On start, ``serve`` calls :func:`recover_interrupted`: each run folder whose ``session.json`` says
the session was still going is marked ``failed`` with an ``interrupted`` note and its SUT journals
are turned into Parquet, as a clean close would. Nothing already written is changed or removed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from director.session import finish_sample_journals
from powerlog.cli_support import read_json_object, write_json_atomic
from powerlog.wire import SessionState

__all__ = ["Interrupted", "recover_interrupted"]

ENDED = {SessionState.CLOSED.value, SessionState.FAILED.value}


@dataclass(frozen=True)
class Interrupted:
    session_id: str
    folder: Path
    state: str  # what the session was doing when the director stopped


def recover_interrupted(runs_dir: Path) -> list[Interrupted]:
    found = []
    for record_path in sorted(runs_dir.glob("*/session.json")):
        record = read_json_object(record_path)
        if record is None or "state" not in record or record["state"] in ENDED:
            continue  # unreadable, not ours, or ended: leave it exactly as it is
        folder = record_path.parent
        was = str(record["state"])
        bad = finish_sample_journals(folder)
        record.update(
            state=SessionState.FAILED.value,
            error=f"interrupted: the director stopped while the session was {was} (killed or crashed); "
            "everything written before is kept",
            interrupted={"state": was, "recovered_utc_ns": time.time_ns(), "sample_lines_unusable": len(bad)},
        )
        write_json_atomic(record_path, record)
        found.append(Interrupted(str(record.get("session_id", folder.name)), folder, was))
    return found
