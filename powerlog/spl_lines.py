"""The exact spl.txt reader: line by line, every line that does not parse kept as a :class:`BadLine` with its
number and the reason, every good line read."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from powerlog.errors import TimestampError
from powerlog.lines import MAX_QUOTED_CHARS, BadLine, decode_line
from powerlog.spl_layout import LABELS, ColumnKey, Layout, layout_of, readings_of
from powerlog.spl_records import FloatArray, PowerLog
from powerlog.timestamps import parse_ptd_timestamp

__all__ = ["parse_lines", "split_lines"]


def split_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Lines ending in CRLF, LF or a lone CR, as pyarrow (the fast path) and ``bytes.splitlines`` see them,
    so both paths number the lines of a damaged file alike. A file's chunks end at LF: no CRLF is split."""
    for chunk in chunks:
        yield from chunk.splitlines(keepends=True)


class _Columns:
    """Growing Python lists for the line-by-line path."""

    def __init__(self, wanted: tuple[str, ...]) -> None:
        self.wanted = wanted
        self.layout: Layout | None = None
        self.t_utc_ns: list[int] = []
        self.line_number: list[int] = []
        self.mark_index: list[int] = []
        self.marks: dict[str, int] = {}
        self.values: dict[ColumnKey, list[float]] = {}

    def add(self, line_number: int, fields: list[str]) -> str | None:
        """Append one split line, or return why it cannot be used."""
        layout = layout_of(fields)
        if isinstance(layout, str):
            return layout
        if self.layout is None:
            self.layout = layout
            self.values = {key: [] for key in layout.value_keys(self.wanted)}
        elif layout != self.layout:
            return layout.difference(self.layout)
        try:
            t_utc_ns = parse_ptd_timestamp(fields[1])
        except TimestampError as e:
            return f"bad timestamp: {e}"
        parsed: dict[ColumnKey, float] = {}
        for key in self.values:
            name, analyzer, channel = key
            column = layout.value_column(name, channel, analyzer)
            try:
                parsed[key] = float(fields[column])
            except ValueError:
                label = LABELS[name] if channel is None else f"Ch{channel + 1} {LABELS[name]}"
                if analyzer is not None:
                    label = f"Analyzer{analyzer + 1} {label}"
                return f"{label} value {fields[column][:40]!r} is not a number"
        for key, value in parsed.items():
            self.values[key].append(value)
        mark = fields[layout.mark_column] if layout.has_mark else ""
        self.mark_index.append(self.marks.setdefault(mark, len(self.marks)))
        self.t_utc_ns.append(t_utc_ns)
        self.line_number.append(line_number)
        return None

    def column(self, key: ColumnKey) -> FloatArray | None:
        if self.layout is None and key[1:] == (None, None) and key[0] in self.wanted:
            return np.zeros(0, dtype=np.float64)  # no sample at all: empty, not missing
        values = self.values.get(key)
        return None if values is None else np.asarray(values, dtype=np.float64)


def parse_lines(path: str, lines: Iterable[bytes], wanted: tuple[str, ...]) -> PowerLog:
    cols = _Columns(wanted)
    bad: list[BadLine] = []
    for line_number, raw in enumerate(lines, start=1):
        stripped = raw.rstrip(b"\r\n")
        ended = raw != stripped
        if not stripped.strip():
            continue
        text = decode_line(stripped, path, line_number)
        if isinstance(text, BadLine):
            bad.append(text)
            continue
        reason = cols.add(line_number, text.split(","))
        if reason is not None:
            if not ended:
                reason += " (last line has no line end: the file may be truncated)"
            bad.append(BadLine(path, line_number, reason, text[:MAX_QUOTED_CHARS]))
    channels, analyzers = readings_of(cols.layout or Layout(0, False, 0), wanted, cols.column)
    power_w = cols.column(("power_w", None, None))
    return PowerLog(
        path=path,
        t_utc_ns=np.asarray(cols.t_utc_ns, dtype=np.int64),
        power_w=power_w if power_w is not None else np.zeros(0),
        volts_v=cols.column(("volts_v", None, None)) if "volts_v" in wanted else None,
        amps_a=cols.column(("amps_a", None, None)) if "amps_a" in wanted else None,
        pf=cols.column(("pf", None, None)) if "pf" in wanted else None,
        mark_index=np.asarray(cols.mark_index, dtype=np.int32),
        marks=tuple(cols.marks),
        channels=channels,
        line_number=np.asarray(cols.line_number, dtype=np.int64),
        bad_lines=tuple(bad),
        analyzers=analyzers,
    )
