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
from powerlog.errors import FormatError
from powerlog.run_record import Interruption, read_session_json, write_session_json
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
        try:
            record = read_session_json(record_path)
        except FormatError:
            continue  # unreadable or not ours: leave it exactly as it is
        if not record.state or record.state in ENDED:
            continue  # ended: nothing to do
        folder = record_path.parent
        was = record.state
        bad = finish_sample_journals(folder)
        record = record.model_copy(
            update={
                "state": SessionState.FAILED.value,
                "error": f"interrupted: the director stopped while the session was {was} (killed or crashed); "
                "everything written before is kept",
                "interrupted": Interruption(state=was, recovered_utc_ns=time.time_ns(), sample_lines_unusable=len(bad)),
            }
        )
        write_session_json(record_path, record)
        found.append(Interrupted(record.session_id or folder.name, folder, was))
    return found
