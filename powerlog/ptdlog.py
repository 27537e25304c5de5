"""PTDaemon's log, ``power/ptd_logs.txt``.

Free text; the lines that matter start with ``MM-DD-YYYY HH:MM:SS.mmm: ``. Lines
without a timestamp continue the event before them (PTDaemon writes the buffer it
failed to parse on the next line). Each event gets the phase it happened in, from
the ``Go with mark '<session>_<phase>'`` and ``Completed test`` lines around it.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import numpy as np

from powerlog.errors import MissingFileError, TimestampError
from powerlog.lines import BadLine, decode_line
from powerlog.timestamps import PTD_TIMESTAMP_LENGTH, format_ptd_timestamp, parse_ptd_timestamp, parse_ptd_timestamps

__all__ = [
    "IDLE_PHASE",
    "SETUP_PHASE",
    "PtdEvent",
    "PtdEventKind",
    "PtdLog",
    "format_ptd_log_line",
    "parse_ptd_log",
    "read_ptd_log",
    "session_part",
]

SETUP_PHASE = "setup"  # before the first Go
IDLE_PHASE = "idle"  # after a Completed test, before the next Go

_GO = re.compile(r"Go with mark '(?P<mark>[^']*)'")
_UNCERTAINTY_ON = re.compile(r"Uncertainty checking for (?P<model>\S+) is activated")
_UNCERTAINTY_HIGH = re.compile(
    r"Uncertainty (?P<percent>\d+(?:\.\d+)?)%,? (?:which is )?above (?P<limit>\d+(?:\.\d+)?)% limit"
)


class PtdEventKind(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    GO = "go"
    COMPLETED = "completed"
    UNCERTAINTY_ACTIVATED = "uncertainty_activated"
    INFO = "info"


@dataclass(frozen=True)
class PtdEvent:
    t_utc_ns: int
    kind: PtdEventKind
    message: str
    phase: str
    line_number: int
    detail: str = ""  # continuation lines, joined with newlines
    mark: str = ""  # for GO
    uncertainty_percent: float | None = None  # for "Uncertainty N% above ...% limit" warnings


@dataclass(frozen=True)
class PtdLog:
    path: str
    events: tuple[PtdEvent, ...]
    bad_lines: tuple[BadLine, ...] = ()

    def of_kind(self, kind: PtdEventKind) -> tuple[PtdEvent, ...]:
        return tuple(e for e in self.events if e.kind is kind)

    def in_phase(self, phase: str) -> tuple[PtdEvent, ...]:
        return tuple(e for e in self.events if e.phase == phase)

    def phase_span_ns(self, phase: str) -> tuple[int, int] | None:
        """(Go, Completed) times of a phase; Completed may be missing in a cut-off log."""
        go = next((e for e in self.events if e.kind is PtdEventKind.GO and e.phase == phase), None)
        if go is None:
            return None
        done = next(
            (
                e
                for e in self.events
                if e.kind is PtdEventKind.COMPLETED and e.t_utc_ns >= go.t_utc_ns and e.line_number > go.line_number
            ),
            None,
        )
        return go.t_utc_ns, (done.t_utc_ns if done is not None else self.events[-1].t_utc_ns)


def read_ptd_log(path: Path | str) -> PtdLog:
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(path, "PTDaemon log")
    return parse_ptd_log(path.read_bytes(), str(path))


def _phase_of_mark(mark: str) -> str:
    head, sep, tail = mark.rpartition("_")
    return tail if sep and head and tail else mark


def _classify(message: str) -> tuple[PtdEventKind, str, float | None]:
    if message.startswith("ERROR:"):
        return PtdEventKind.ERROR, "", None
    if message.startswith("WARNING:"):
        high = _UNCERTAINTY_HIGH.search(message)
        return PtdEventKind.WARNING, "", float(high.group("percent")) if high else None
    go = _GO.search(message)
    if go:
        return PtdEventKind.GO, go.group("mark"), None
    if message == "Completed test":
        return PtdEventKind.COMPLETED, "", None
    if _UNCERTAINTY_ON.search(message):
        return PtdEventKind.UNCERTAINTY_ACTIVATED, "", None
    return PtdEventKind.INFO, "", None


def _decoded_lines(data: bytes, path: str) -> list[str | BadLine]:
    """Every line (CR stripped) as text, or as the BadLine saying why it is not UTF-8. The whole file is
    decoded at once when it can be (the usual case); only a file with a bad byte goes line by line."""
    try:
        return [line.strip("\r") for line in data.decode("utf-8").split("\n")]
    except UnicodeDecodeError:
        return [decode_line(raw.strip(b"\r"), path, n) for n, raw in enumerate(data.split(b"\n"), start=1)]


def _event_times_ns(heads: list[str]) -> list[int | TimestampError]:
    """The times of the event lines' heads, parsed in one vectorised pass; a head that does not parse gets
    the scalar parser's error, which says why."""
    encoded = "".join(heads).encode("ascii", "replace")  # one byte per character: a non-ASCII one fails
    chars = np.frombuffer(encoded, dtype=np.uint8).reshape(len(heads), PTD_TIMESTAMP_LENGTH)
    times_ns, valid = parse_ptd_timestamps(chars)
    return [int(t) if ok else _time_or_error(head) for t, ok, head in zip(times_ns, valid, heads, strict=True)]


def _time_or_error(head: str) -> int | TimestampError:
    try:
        return parse_ptd_timestamp(head)
    except TimestampError as e:
        return e


def parse_ptd_log(data: bytes, path: str = "<text>") -> PtdLog:
    bad: list[BadLine] = []
    # first pass: which lines start an event (a timestamp head) and which continue the one before
    heads: list[str] = []
    event_lines: list[tuple[int, str, str]] = []  # (line number, message, whole line)
    continuations: dict[int, list[str]] = {}  # index into event_lines -> its continuation lines
    for line_number, text in enumerate(_decoded_lines(data, path), start=1):
        if isinstance(text, BadLine):
            bad.append(text)
            continue
        head, sep, rest = text.partition(": ")
        if sep and len(head) == PTD_TIMESTAMP_LENGTH and head[:2].isdigit():
            heads.append(head)
            event_lines.append((line_number, rest, text))
        elif event_lines and (stripped := text.strip()) and stripped != "...":
            continuations.setdefault(len(event_lines) - 1, []).append(stripped)
    # second pass: the events; continuation lines after a line with a bad timestamp go to the event before
    events: list[PtdEvent] = []
    phase = SETUP_PHASE
    classified: dict[str, tuple[PtdEventKind, str, float | None]] = {}  # PTDaemon repeats its messages
    for i, ((line_number, rest, text), t_utc_ns) in enumerate(zip(event_lines, _event_times_ns(heads), strict=True)):
        if isinstance(t_utc_ns, TimestampError):
            bad.append(BadLine(path, line_number, f"bad timestamp: {t_utc_ns}", text[:200]))
            if events and i in continuations:
                last = events[-1]
                details = "\n".join(filter(None, (last.detail, *continuations[i])))
                events[-1] = dataclasses.replace(last, detail=details)
            continue
        message = rest.strip()
        kind, mark, percent = classified.get(message) or classified.setdefault(message, _classify(message))
        if kind is PtdEventKind.GO:
            phase = _phase_of_mark(mark)
        detail = "\n".join(continuations[i]) if i in continuations else ""
        events.append(PtdEvent(t_utc_ns, kind, message, phase, line_number, detail, mark, percent))
        if kind is PtdEventKind.COMPLETED:
            phase = IDLE_PHASE
    return PtdLog(path, tuple(events), tuple(sorted(bad, key=lambda b: b.line_number)))


def format_ptd_log_line(t_utc_ns: int, message: str) -> str:
    """One ptd_logs.txt line (without line end): ``MM-DD-YYYY HH:MM:SS.mmm: message``."""
    return f"{format_ptd_timestamp(t_utc_ns)}: {message}"


_CONNECTION = re.compile(rb"Accepted connection|Response to client sent")


def session_part(data: bytes, start_offset: int) -> bytes:
    """The part of a long-running PTDaemon's log that belongs to one session: its start-up block (the
    banner, ``Uncertainty checking ... is activated``, up to the first client connection), then everything
    written from ``start_offset`` (the log's size when the session opened) on. A probe or an earlier
    session in between is left out. When the log is shorter than ``start_offset`` (PTDaemon restarted with
    a new log), all of it belongs to this session."""
    if start_offset <= 0 or start_offset > len(data):
        return data
    found = _CONNECTION.search(data)
    header_end = data.rfind(b"\n", 0, found.start()) + 1 if found else len(data)
    if start_offset <= header_end:
        return data
    return data[:header_end] + data[start_offset:]
