"""LoadGen logs: the detail log (``:::MLLOG`` JSON lines) and the summary log.

The detail log is the one to trust: the summary's labels drift between LoadGen
versions. Lines that do not parse are kept in ``bad_lines`` with their number.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from powerlog.errors import FormatError, MissingFileError, TimestampError
from powerlog.lines import MAX_QUOTED_CHARS, BadLine, text_lines
from powerlog.timestamps import parse_ptd_timestamp

__all__ = [
    "MLLOG_PREFIX",
    "DetailLog",
    "LoadGenEvent",
    "SummaryLog",
    "parse_detail_log",
    "parse_summary_log",
    "read_detail_log",
    "read_summary_log",
]

MLLOG_PREFIX = ":::MLLOG"


@dataclass(frozen=True)
class LoadGenEvent:
    key: str
    value: Any
    time_ms: float | None
    line_number: int
    is_error: bool = False
    is_warning: bool = False


@dataclass(frozen=True)
class DetailLog:
    """The events of one ``mlperf_log_detail.txt``, in file order."""

    path: str
    events: tuple[LoadGenEvent, ...]
    bad_lines: tuple[BadLine, ...] = ()

    def event(self, key: str) -> LoadGenEvent | None:
        """The last event with this key (LoadGen logs most keys once)."""
        for event in reversed(self.events):
            if event.key == key:
                return event
        return None

    def value(self, key: str, default: Any = None) -> Any:
        event = self.event(key)
        return default if event is None else event.value

    def timestamp_ns(self, key: str) -> int:
        """A ``MM-DD-YYYY HH:MM:SS.mmm`` value (``power_begin``/``power_end``) as UTC ns."""
        event = self.event(key)
        if event is None:
            raise FormatError(self.path, f"no {key!r} entry")
        if not isinstance(event.value, str):
            raise FormatError(self.path, f"{key} is {event.value!r}, not a timestamp string", event.line_number)
        try:
            return parse_ptd_timestamp(event.value)
        except TimestampError as e:
            raise FormatError(self.path, f"{key}: {e}", event.line_number) from e

    @property
    def errors(self) -> tuple[LoadGenEvent, ...]:
        return tuple(e for e in self.events if e.is_error)

    @property
    def warnings(self) -> tuple[LoadGenEvent, ...]:
        return tuple(e for e in self.events if e.is_warning)


def read_detail_log(path: Path | str) -> DetailLog:
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(path, "LoadGen detail log")
    return parse_detail_log(path.read_bytes(), str(path))


def parse_detail_log(data: bytes | str, path: str = "<text>") -> DetailLog:
    events: list[LoadGenEvent] = []
    bad: list[BadLine] = []
    for line_number, text in text_lines(data, path):
        if isinstance(text, BadLine):
            bad.append(text)
            continue
        event_or_reason = _parse_event(text, line_number)
        if isinstance(event_or_reason, str):
            bad.append(BadLine(path, line_number, event_or_reason, text[:MAX_QUOTED_CHARS]))
        else:
            events.append(event_or_reason)
    return DetailLog(path, tuple(events), tuple(bad))


def _parse_event(text: str, line_number: int) -> LoadGenEvent | str:
    if not text.startswith(MLLOG_PREFIX):
        return f"line does not start with {MLLOG_PREFIX!r}"
    try:
        obj = json.loads(text[len(MLLOG_PREFIX) :])
    except json.JSONDecodeError as e:
        return f"JSON does not parse ({e.msg} at column {e.colno + len(MLLOG_PREFIX)}): truncated line?"
    except RecursionError:
        return "JSON does not parse: nested too deeply"
    except ValueError as e:  # an integer of more than 4300 digits
        return f"JSON does not parse: {str(e).split(';')[0]}"
    if not isinstance(obj, dict) or not isinstance(obj.get("key"), str) or "value" not in obj:
        return "MLLOG entry without a string 'key' and a 'value'"
    metadata: dict[str, Any] = obj["metadata"] if isinstance(obj.get("metadata"), dict) else {}
    time_ms = obj.get("time_ms")
    try:
        time_ms = float(time_ms) if isinstance(time_ms, int | float) else None
    except OverflowError:
        return f"time_ms {str(time_ms)[:20]}... is too large for a float"
    return LoadGenEvent(
        key=obj["key"],
        value=obj["value"],
        time_ms=time_ms,
        line_number=line_number,
        is_error=bool(metadata.get("is_error", False)),
        is_warning=bool(metadata.get("is_warning", False)),
    )


@dataclass(frozen=True)
class SummaryLog:
    """``key : value`` pairs of ``mlperf_log_summary.txt``, keys stripped as written."""

    path: str
    entries: dict[str, str]

    def get(self, key: str, default: str | None = None) -> str | None:
        return self.entries.get(key, default)


def read_summary_log(path: Path | str) -> SummaryLog:
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(path, "LoadGen summary log")
    return parse_summary_log(path.read_bytes().decode("utf-8", "replace").splitlines(), str(path))


def parse_summary_log(lines: Iterable[str], path: str = "<text>") -> SummaryLog:
    entries: dict[str, str] = {}
    for line in lines:
        key, sep, value = line.partition(":")
        if sep and key.strip() and not key.strip().startswith("*"):
            entries.setdefault(key.strip(), value.strip())
    return SummaryLog(path, entries)
