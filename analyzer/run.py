"""Reading a result folder: every file parsed once, every problem kept as a finding.

This is the analyzer's only I/O. Everything downstream (metrics, report, checks)
is a pure function of the :class:`RunData` built here.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from analyzer.errors import UnreadableRunError
from analyzer.findings import Evidence, Finding, Severity
from analyzer.metrics import WindowStats, window_stats
from powerlog.errors import FormatError, MissingFileError
from powerlog.layout import PHASE_DIRS, RANGING, TESTING, RunFolder
from powerlog.lines import BadLine
from powerlog.mllog import DetailLog, SummaryLog, read_detail_log, read_summary_log
from powerlog.ptdlog import PtdLog, read_ptd_log
from powerlog.session_record import SessionRecord, read_session_record
from powerlog.spl import PowerLog, read_spl

__all__ = ["LOAD_RULE", "PhaseData", "RunData", "find_run_root", "load_run"]

LOAD_RULE = "0.readable"
MAX_EVIDENCE = 10
_NTP_OFFSET = re.compile(r"NTP:offset = (?P<offset>-?\d+(?:\.\d+)?) s")
T = TypeVar("T")


@dataclass(frozen=True)
class PhaseData:
    phase: str
    spl: PowerLog | None
    detail: DetailLog | None
    summary: SummaryLog | None
    window_utc_ns: tuple[int, int] | None
    stats: WindowStats | None


@dataclass(frozen=True)
class RunData:
    folder: RunFolder
    phases: dict[str, PhaseData]
    ptd_log: PtdLog | None
    server: SessionRecord | None
    client: SessionRecord | None
    ntp_offsets_s: tuple[tuple[int, float], ...]  # (client.log line, offset) pairs
    file_sha1: dict[str, str]  # relative path -> sha1 of every file under the folder
    problems: tuple[Finding, ...] = field(default=())

    @property
    def testing(self) -> PhaseData:
        return self.phases[TESTING]

    @property
    def ranging(self) -> PhaseData:
        return self.phases[RANGING]


def find_run_root(path: Path | str) -> RunFolder:
    """The ``performance/`` folder at or under ``path``; raises when there is none."""
    root = Path(path)
    if not root.exists():
        raise UnreadableRunError(f"{root}: no such folder")
    if not root.is_dir():
        raise UnreadableRunError(f"{root}: not a folder (give the performance/ folder that holds run_1/ and ranging/)")
    for candidate in (root, root / "performance"):
        if any((candidate / d).is_dir() for d in (*PHASE_DIRS.values(), "power")):
            return RunFolder(candidate)
    raise UnreadableRunError(
        f"{root}: not an MLPerf power result folder: expected run_1/ and ranging/ (and usually power/) inside it"
    )


class _Loader:
    def __init__(self, folder: RunFolder) -> None:
        self.folder = folder
        self.problems: list[Finding] = []

    def read(self, reader: Callable[[Path], T], path: Path) -> T | None:
        try:
            return reader(path)
        except MissingFileError:
            return None  # reported once, by the file-set rule
        except FormatError as e:
            self._problem(e.path, e.line_number, e.reason)
        except OSError as e:
            self._problem(path, None, f"cannot be read: {e.strerror or e}")
        return None

    def _problem(self, path: Path, line: int | None, reason: str) -> None:
        rel = self._rel(path)
        self.problems.append(
            Finding.failed(
                LOAD_RULE,
                "Files can be read",
                Severity.ERROR,
                f"{rel}: {reason}",
                Evidence(file=rel, line=line),
            )
        )

    def _rel(self, path: Path) -> str:
        try:
            return Path(path).relative_to(self.folder.root).as_posix()
        except ValueError:
            return str(path)

    def phase(self, phase: str, spl_fields: Collection[str], marks: bool) -> PhaseData:
        spl = self.read(lambda p: read_spl(p, spl_fields, marks), self.folder.spl(phase))
        detail = self.read(read_detail_log, self.folder.detail_log(phase))
        summary = self.read(read_summary_log, self.folder.summary_log(phase))
        window = None
        if detail is not None:
            try:
                window = (detail.timestamp_ns("power_begin"), detail.timestamp_ns("power_end"))
            except FormatError as e:
                self._problem(e.path, e.line_number, e.reason)
        stats = window_stats(spl, *window) if spl is not None and window is not None else None
        return PhaseData(phase, spl, detail, summary, window, stats)

    def bad_lines(self, path: str, bad: Sequence[BadLine]) -> None:
        rel = self._rel(Path(path))
        first = bad[0]
        self.problems.append(
            Finding.failed(
                LOAD_RULE,
                "Files can be read",
                Severity.WARNING,
                f"{rel}: {len(bad)} line(s) could not be parsed and were left out "
                f"(first: line {first.line_number}, {first.reason})",
                *(
                    Evidence(file=rel, line=b.line_number, values={"reason": b.reason, "text": b.text})
                    for b in bad[:MAX_EVIDENCE]
                ),
            )
        )

    def ntp_offsets(self) -> tuple[tuple[int, float], ...]:
        path = self.folder.client_log
        if not path.is_file():
            return ()
        text = path.read_bytes().decode("utf-8", "replace")
        return tuple(
            (n, float(m.group("offset")))
            for n, line in enumerate(text.splitlines(), start=1)
            if (m := _NTP_OFFSET.search(line))
        )

    def sha1_of_files(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for path in sorted(self.folder.root.rglob("*")):
            if path.is_file():
                try:
                    out[self._rel(path)] = _sha1(path)
                except OSError as e:
                    self._problem(path, None, f"cannot be read: {e.strerror or e}")
        return out


def _sha1(path: Path) -> str:
    digest = hashlib.sha1()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_run(
    path: Path | str, spl_fields: Collection[str] = ("power_w",), hash_files: bool = False, marks: bool = False
) -> RunData:
    """Read a result folder. Raises :class:`UnreadableRunError` only when it is no result folder at all.

    The defaults read what the report needs; the rule checks want every spl field, the marks and file hashes.
    """
    folder = find_run_root(path)
    loader = _Loader(folder)
    phases = {phase: loader.phase(phase, spl_fields, marks) for phase in (RANGING, TESTING)}
    ptd_log = loader.read(read_ptd_log, folder.ptd_log)
    server = loader.read(read_session_record, folder.server_record)
    client = loader.read(read_session_record, folder.client_record)
    for log in (*(p.spl for p in phases.values()), *(p.detail for p in phases.values()), ptd_log):
        if log is not None and log.bad_lines:
            loader.bad_lines(log.path, log.bad_lines)
    return RunData(
        folder=folder,
        phases=phases,
        ptd_log=ptd_log,
        server=server,
        client=client,
        ntp_offsets_s=loader.ntp_offsets(),
        file_sha1=loader.sha1_of_files() if hash_files else {},
        problems=tuple(loader.problems),
    )
