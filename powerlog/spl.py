"""The power sample log, ``spl.txt``: one line per analyzer sample.

Single channel::

    Time,07-30-2022 04:40:04.430,Watts,11.47,Volts,206.7,Amps,0.17367,PF,0.3195,Mark,<mark>

Multichannel: the leading Watts is the sum and Volts/Amps/PF are -1, then one
``ChN,Watts,..,Volts,..,Amps,..,PF,..`` block per channel.

Several analyzers (MLCommons power-dev merges their logs): the leading Watts is the sum of the
analyzers' (each abs(), -1 skipped), Volts/Amps/PF are -1, the Time and Mark are analyzer 1's, then
one ``Analyzer<k>,<that analyzer's own complete line>`` block per analyzer, each line
``Time,..,Watts,..,Volts,..,Amps,..,PF,..,Mark,..`` with its own ChN blocks when it has channels::

    Time,<t>,Watts,<sum>,Volts,-1.000000,Amps,-1.000000,PF,-1.000000,Mark,<m>,Analyzer1,Time,<t1>,...,Mark,<m>,
    Analyzer2,Time,<t2>,Watts,..,Volts,..,Amps,..,PF,..,Mark,<m>,Ch1,Watts,..,Ch2,Watts,..

(one line in the file). All lines of one file follow one layout. A dropped sample is -1 in every
value field and is read as it is.

:func:`read_spl` returns a columnar :class:`PowerLog`. Large, clean files go
through pyarrow's multi-threaded CSV reader; the moment anything in a file does
not parse, the whole file is read again line by line so that every bad line is
reported with its number and every good line is kept.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.csv as pa_csv

from powerlog.errors import MissingFileError, PartialWriteError, TimestampError
from powerlog.lines import MAX_QUOTED_CHARS, BadLine, decode_line
from powerlog.timestamps import PTD_TIMESTAMP_LENGTH, format_ptd_timestamp, parse_ptd_timestamp, parse_ptd_timestamps

__all__ = [
    "MAX_PLAUSIBLE_W",
    "SPL_FIELDS",
    "AnalyzerReadings",
    "ChannelReadings",
    "ChannelSample",
    "PowerLog",
    "PowerSample",
    "SplWriter",
    "format_spl_line",
    "parse_spl_text",
    "read_spl",
    "write_spl",
]

FloatArray = npt.NDArray[np.float64]
SPL_FIELDS: tuple[str, ...] = ("power_w", "volts_v", "amps_a", "pf")
_LABELS = {"power_w": "Watts", "volts_v": "Volts", "amps_a": "Amps", "pf": "PF"}
_HEAD_LABELS = ("Time", None, "Watts", None, "Volts", None, "Amps", None, "PF", None)
_LABELS_TEXT = ("Time", "Watts", "Volts", "Amps", "PF", "Mark")  # also the even fields of a line with a Mark
_CHANNEL_WIDTH = 9  # ChN,Watts,v,Volts,v,Amps,v,PF,v
_MARKED_HEAD_WIDTH = 12  # Time,t,Watts,v,Volts,v,Amps,v,PF,v,Mark,m
_ANALYZER_WIDTH = 1 + _MARKED_HEAD_WIDTH  # Analyzer<k>, then that analyzer's own line
_BLOCK_SIZE = 1 << 20
# no analyzer PTDaemon drives measures 1 MW on one channel (a full data-centre rack draws tens of kW):
# a reading beyond it is a corrupt line or a broken meter, never a measurement
MAX_PLAUSIBLE_W = 1e6


@dataclass(frozen=True)
class ChannelReadings:
    """One channel's columns; a field that was not requested is None."""

    power_w: FloatArray
    volts_v: FloatArray | None = None
    amps_a: FloatArray | None = None
    pf: FloatArray | None = None


@dataclass(frozen=True)
class AnalyzerReadings:
    """One analyzer's columns: its own Watts/Volts/Amps/PF (``total``; -1 Volts/Amps/PF when it has
    channels) and its ChN blocks (empty for a single-channel analyzer)."""

    total: ChannelReadings
    channels: tuple[ChannelReadings, ...] = ()

    def peak_volts_amps(self, channels: Collection[int] | None = None) -> tuple[float, float] | None:
        """Largest volts and amps over the total columns and the channels numbered (from 1) in
        ``channels``, every channel by default; a total logged as -1 (older multichannel logs) loses to
        any real reading. None when there is no sample or volts and amps were not read."""
        chosen = self.channels if channels is None else (c for i, c in enumerate(self.channels, 1) if i in channels)
        readings = (self.total, *chosen)
        volts = [r.volts_v for r in readings]
        amps = [r.amps_a for r in readings]
        if self.total.power_w.shape[0] == 0 or any(a is None for a in volts + amps):
            return None
        return (
            max(float(np.nanmax(v)) for v in volts if v is not None),
            max(float(np.nanmax(a)) for a in amps if a is not None),
        )


@dataclass(frozen=True)
class ChannelSample:
    power_w: float
    volts_v: float
    amps_a: float
    pf: float


@dataclass(frozen=True)
class PowerSample:
    """One spl.txt line."""

    t_utc_ns: int
    power_w: float
    volts_v: float
    amps_a: float
    pf: float
    mark: str = ""
    channels: tuple[ChannelSample, ...] = ()

    @classmethod
    def multichannel(cls, t_utc_ns: int, channels: tuple[ChannelSample, ...], mark: str = "") -> PowerSample:
        """A sample of several channels, as PTDaemon logs one: Watts is their sum, Volts/Amps/PF are -1."""
        return cls(t_utc_ns, sum(ch.power_w for ch in channels), -1.0, -1.0, -1.0, mark, channels)


@dataclass(frozen=True)
class PowerLog:
    """The samples of one spl.txt, as columns of equal length.

    ``power_w``/``volts_v``/``amps_a``/``pf`` are each line's leading fields (the total of a
    multichannel or multi-analyzer line), ``channels`` the ChN blocks of a single-analyzer
    multichannel file and ``analyzers`` each analyzer's own columns in a multi-analyzer file (empty
    otherwise); :meth:`analyzer_views` gives the analyzers of either kind of file alike.
    ``mark_index[i]`` indexes ``marks`` (empty when read with ``marks=False``). ``line_number[i]``
    is the 1-based line the sample came from. Fields not requested from :func:`read_spl` are None.
    """

    path: str
    t_utc_ns: npt.NDArray[np.int64]
    power_w: FloatArray
    volts_v: FloatArray | None
    amps_a: FloatArray | None
    pf: FloatArray | None
    mark_index: npt.NDArray[np.int32]
    marks: tuple[str, ...]
    channels: tuple[ChannelReadings, ...]
    line_number: npt.NDArray[np.int64]
    bad_lines: tuple[BadLine, ...] = field(default=())
    analyzers: tuple[AnalyzerReadings, ...] = field(default=())

    def __len__(self) -> int:
        return int(self.t_utc_ns.shape[0])

    @property
    def multichannel(self) -> bool:
        return len(self.channels) > 0

    def mark_of(self, i: int) -> str:
        return self.marks[int(self.mark_index[i])] if self.marks else ""

    def implausible(self) -> npt.NDArray[np.bool_]:
        """Per sample: a Watts reading no analyzer measures: not finite, or beyond :data:`MAX_PLAUSIBLE_W` in
        magnitude on a channel or an analyzer (the leading Watts: times the columns it sums). A Watts at or
        below 0 is not one of them: PTDaemon writes -1 (and multichannel sums such as -2) for a sample it did
        not get, a reversed clamp reads negative, and the official metric skips every Watts <= 0."""
        parts = [ch.power_w for ch in self.channels]
        for analyzer in self.analyzers:
            parts.extend([analyzer.total.power_w, *(ch.power_w for ch in analyzer.channels)])
        with np.errstate(invalid="ignore"):
            limit_w = MAX_PLAUSIBLE_W * max(1, len(parts))
            bad = ~np.isfinite(self.power_w) | (np.abs(self.power_w) > limit_w)
            for part in parts:
                bad |= ~np.isfinite(part) | (np.abs(part) > MAX_PLAUSIBLE_W)
        return bad

    def analyzer_views(self) -> tuple[AnalyzerReadings, ...]:
        """Each analyzer's columns: ``analyzers`` for a multi-analyzer file, else one view of the
        leading columns and ``channels``."""
        if self.analyzers:
            return self.analyzers
        return (AnalyzerReadings(ChannelReadings(self.power_w, self.volts_v, self.amps_a, self.pf), self.channels),)

    def peak_volts_amps(self) -> tuple[float, float] | None:
        """Largest volts and amps over the log and every analyzer (over an analyzer's channels when
        it has some, whose totals are -1); None when the log is empty or was read without volts
        and amps."""
        if len(self) == 0:
            return None
        peaks = [view.peak_volts_amps() for view in self.analyzer_views()]
        if any(p is None for p in peaks):
            return None
        return max(p[0] for p in peaks), max(p[1] for p in peaks)  # type: ignore[index]

    def samples(self) -> Iterator[PowerSample]:
        """The samples one at a time (needs every field). A multi-analyzer file's samples carry its
        leading fields only: its analyzers' own columns are in ``analyzers``."""
        if self.volts_v is None or self.amps_a is None or self.pf is None:
            raise ValueError("samples() needs a PowerLog read with every field")
        for i in range(len(self)):
            channels = tuple(
                ChannelSample(
                    float(ch.power_w[i]),
                    float(ch.volts_v[i]),  # type: ignore[index]
                    float(ch.amps_a[i]),  # type: ignore[index]
                    float(ch.pf[i]),  # type: ignore[index]
                )
                for ch in self.channels
            )
            yield PowerSample(
                int(self.t_utc_ns[i]),
                float(self.power_w[i]),
                float(self.volts_v[i]),
                float(self.amps_a[i]),
                float(self.pf[i]),
                self.mark_of(i),
                channels,
            )


_Key = tuple[str, int | None, int | None]  # (field, analyzer, channel); None: the leading fields / no channel


@dataclass(frozen=True)
class _Layout:
    n_fields: int
    has_mark: bool
    n_channels: int
    analyzer_channels: tuple[int, ...] = ()  # the ChN blocks of each Analyzer<k> block; () for one analyzer

    def value_keys(self, wanted: Sequence[str]) -> list[_Key]:
        """Every value column of the wanted fields, in one order for both paths."""
        keys: list[_Key] = []
        for name in wanted:
            keys.append((name, None, None))
            keys += [(name, None, ch) for ch in range(self.n_channels)]
            for a, n_channels in enumerate(self.analyzer_channels):
                keys.append((name, a, None))
                keys += [(name, a, ch) for ch in range(n_channels)]
        return keys

    def value_column(self, field_name: str, channel: int | None = None, analyzer: int | None = None) -> int:
        offset = 2 * SPL_FIELDS.index(field_name)
        if channel is None:
            return self._line_start(analyzer) + 3 + offset
        return self._channel_start(channel, analyzer) + 2 + offset

    @property
    def mark_column(self) -> int:
        return 11

    def label_columns(self) -> list[int]:
        """The fields that hold a label (Time, Watts, ..., Mark, ChN, Analyzer<k>), not a value."""
        columns = [i for i, label in enumerate(_HEAD_LABELS) if label is not None] + ([10] if self.has_mark else [])
        columns += self._channel_labels(self.n_channels, None)
        for a, n_channels in enumerate(self.analyzer_channels):
            line = self._line_start(a)
            columns += [line - 1, *(line + 2 * j for j in range(len(_LABELS_TEXT)))]
            columns += self._channel_labels(n_channels, a)
        return columns

    def label_texts(self) -> list[str]:
        """Every text a label field of this layout may hold."""
        n_channels = max((self.n_channels, *self.analyzer_channels))
        return [
            *_LABELS_TEXT,
            *(f"Ch{ch + 1}" for ch in range(n_channels)),
            *(f"Analyzer{a + 1}" for a in range(len(self.analyzer_channels))),
        ]

    def text_columns(self) -> list[int]:
        """Each analyzer's own Time and Mark values: kept as text, not parsed (informative only)."""
        return [
            i for a in range(len(self.analyzer_channels)) for i in (self._line_start(a) + 1, self._line_start(a) + 11)
        ]

    def difference(self, earlier: _Layout) -> str:
        """Why a line of this layout does not fit the earlier lines' layout."""
        if self.analyzer_channels != earlier.analyzer_channels:
            if len(self.analyzer_channels) != len(earlier.analyzer_channels):
                return (
                    f"{len(self.analyzer_channels)} analyzer block(s) where earlier lines have "
                    f"{len(earlier.analyzer_channels)}"
                )
            a = next(
                i
                for i, (x, y) in enumerate(zip(self.analyzer_channels, earlier.analyzer_channels, strict=True))
                if x != y
            )
            return (
                f"analyzer {a + 1} has {self.analyzer_channels[a]} channel(s) where earlier lines have "
                f"{earlier.analyzer_channels[a]}"
            )
        if self.n_channels != earlier.n_channels:
            return f"{self.n_channels} channel(s) where earlier lines have {earlier.n_channels}"
        return "Mark field present on some lines and missing on others"

    def _channel_labels(self, n_channels: int, analyzer: int | None) -> list[int]:
        columns = []
        for ch in range(n_channels):
            start = self._channel_start(ch, analyzer)
            columns += [start, *(start + 1 + 2 * j for j in range(len(SPL_FIELDS)))]
        return columns

    def _line_start(self, analyzer: int | None) -> int:
        """Where the Time label of the leading fields (None) or of an analyzer's own line is."""
        if analyzer is None:
            return 0
        before = self.analyzer_channels[:analyzer]
        return _MARKED_HEAD_WIDTH + analyzer * _ANALYZER_WIDTH + _CHANNEL_WIDTH * sum(before) + 1

    def _channel_start(self, channel: int, analyzer: int | None = None) -> int:
        if analyzer is None:
            return (12 if self.has_mark else 10) + channel * _CHANNEL_WIDTH
        return self._line_start(analyzer) + _MARKED_HEAD_WIDTH + channel * _CHANNEL_WIDTH


def _channel_block_reason(fields: Sequence[str], start: int, channel: int, where: str = "") -> str | None:
    """Why the ChN block at ``start`` is not one, or None."""
    if fields[start] != f"Ch{channel + 1}":
        return f"field {start + 1}{where} should be 'Ch{channel + 1}', found {fields[start][:40]!r}"
    for j, name in enumerate(SPL_FIELDS):
        found = fields[start + 1 + 2 * j]
        if found != _LABELS[name]:
            return f"field {start + 2 + 2 * j}{where} should be {_LABELS[name]!r}, found {found[:40]!r}"
    return None


def _layout_of(fields: Sequence[str]) -> _Layout | str:
    """The layout a split line follows, or the reason it follows none."""
    if len(fields) < len(_HEAD_LABELS):
        return f"expected at least {len(_HEAD_LABELS)} comma-separated fields, found {len(fields)}"
    for i, label in enumerate(_HEAD_LABELS):
        if label is not None and fields[i] != label:
            return f"field {i + 1} should be {label!r}, found {fields[i][:40]!r}"
    has_mark = len(fields) > 10 and fields[10] == "Mark"
    if has_mark and len(fields) > _MARKED_HEAD_WIDTH and fields[_MARKED_HEAD_WIDTH].startswith("Analyzer"):
        return _analyzers_layout_of(fields)
    rest = len(fields) - (12 if has_mark else 10)
    if rest < 0 or rest % _CHANNEL_WIDTH:
        return f"{len(fields)} fields do not make whole channel blocks (Ch,Watts,v,Volts,v,Amps,v,PF,v)"
    n_channels = rest // _CHANNEL_WIDTH
    layout = _Layout(len(fields), has_mark, n_channels)
    for ch in range(n_channels):
        reason = _channel_block_reason(fields, layout._channel_start(ch), ch)
        if reason is not None:
            return reason
    return layout


def _analyzers_layout_of(fields: Sequence[str]) -> _Layout | str:
    """The layout of a multi-analyzer line: the leading fields, then Analyzer1, Analyzer2, ... blocks."""
    analyzer_channels: list[int] = []
    i = _MARKED_HEAD_WIDTH
    while i < len(fields):
        k = len(analyzer_channels) + 1
        where = f" (analyzer {k})"
        if fields[i] != f"Analyzer{k}":
            return f"field {i + 1} should be 'Analyzer{k}', found {fields[i][:40]!r}"
        if len(fields) - i < _ANALYZER_WIDTH:
            return f"analyzer {k}'s block has {len(fields) - i} of its {_ANALYZER_WIDTH} fields"
        for j, label in enumerate(_LABELS_TEXT):
            if fields[i + 1 + 2 * j] != label:
                return f"field {i + 2 + 2 * j}{where} should be {label!r}, found {fields[i + 1 + 2 * j][:40]!r}"
        i += _ANALYZER_WIDTH
        n_channels = 0
        while i < len(fields) and fields[i] != f"Analyzer{k + 1}":
            if fields[i] != f"Ch{n_channels + 1}":
                return (
                    f"field {i + 1}{where} should be 'Ch{n_channels + 1}' or 'Analyzer{k + 1}', "
                    f"found {fields[i][:40]!r}"
                )
            if len(fields) - i < _CHANNEL_WIDTH:
                return f"analyzer {k}'s Ch{n_channels + 1} block has {len(fields) - i} of its {_CHANNEL_WIDTH} fields"
            reason = _channel_block_reason(fields, i, n_channels, where)
            if reason is not None:
                return reason
            i += _CHANNEL_WIDTH
            n_channels += 1
        analyzer_channels.append(n_channels)
    return _Layout(len(fields), True, 0, tuple(analyzer_channels))


_TAIL_BYTES = 4096  # enough for any run of blank lines PTDaemon or power-dev leaves


def _first_line(path: Path) -> str | None:
    with path.open("rb") as f:
        for raw in f:
            text = raw.rstrip(b"\r\n")
            if text:
                try:
                    return text.decode("utf-8")
                except UnicodeDecodeError:
                    return None
    return None


def read_spl(path: Path | str, fields: Collection[str] = SPL_FIELDS, marks: bool = True) -> PowerLog:
    """Read an spl.txt into columns. ``power_w`` is always read; other fields on request.

    With ``marks=False`` the Mark field is not read (faster): ``marks`` is then empty.

    Raises :class:`MissingFileError` when the file is absent. A file with lines
    that do not parse is still read: those lines are in ``bad_lines``.
    """
    path = Path(path)
    unknown = set(fields) - set(SPL_FIELDS)
    if unknown:
        raise ValueError(f"unknown spl fields {sorted(unknown)}; choose from {SPL_FIELDS}")
    wanted = tuple(f for f in SPL_FIELDS if f == "power_w" or f in fields)
    if not path.is_file():
        raise MissingFileError(path, "power sample log")
    first = _first_line(path)
    layout = _layout_of(first.split(",")) if first is not None else None
    if isinstance(layout, _Layout):
        fast = _read_fast(path, layout, wanted, marks)
        if fast is not None:
            return fast
    with path.open("rb") as f:
        log = _parse_lines(str(path), _split_lines(f), wanted)
    return log if marks else replace(log, mark_index=np.zeros(len(log), dtype=np.int32), marks=())


def parse_spl_text(text: str | bytes, path: str = "<text>", fields: Collection[str] = SPL_FIELDS) -> PowerLog:
    """Parse spl.txt content held in memory (line by line, with full error reporting)."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    wanted = tuple(f for f in SPL_FIELDS if f == "power_w" or f in fields)
    return _parse_lines(path, data.splitlines(keepends=True), wanted)


def _split_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Lines ending in CRLF, LF or a lone CR, as pyarrow (the fast path) and ``bytes.splitlines`` see them,
    so both paths number the lines of a damaged file alike. A file's chunks end at LF: no CRLF is split."""
    for chunk in chunks:
        yield from chunk.splitlines(keepends=True)


def _read_fast(path: Path, layout: _Layout, wanted: tuple[str, ...], marks: bool = True) -> PowerLog | None:
    """pyarrow path for well-formed files; None as soon as anything is off."""
    names = [f"c{i}" for i in range(layout.n_fields)]
    value_columns = {key: names[layout.value_column(key[0], key[2], key[1])] for key in layout.value_keys(wanted)}
    column_types: dict[str, pa.DataType] = {c: pa.float64() for c in value_columns.values()}
    # bytes, not text: the timestamp bytes are checked digit by digit, the marks decoded below
    column_types["c1"] = pa.binary()
    include = ["c1", *value_columns.values()]
    read_marks = marks and layout.has_mark
    if read_marks:
        column_types["c11"] = pa.dictionary(pa.int32(), pa.binary())
        include.append("c11")
    # label fields are read as booleans that only a label converts to (cheap, unlike strings): a damaged
    # label fails the conversion and the file goes line by line. A label swapped for another passes.
    labels = [names[i] for i in layout.label_columns()]
    column_types.update(dict.fromkeys(labels, pa.bool_()))
    include += labels
    # each analyzer's own Time and Mark are kept as text, read only to check they are UTF-8 (check_utf8)
    texts = [names[i] for i in layout.text_columns()]
    column_types.update(dict.fromkeys(texts, pa.string()))
    include += texts
    try:
        table = pa_csv.read_csv(
            _without_trailing_blank_lines(path),
            read_options=pa_csv.ReadOptions(column_names=names, block_size=_BLOCK_SIZE),
            # no quoting: PTDaemon never quotes, and the line-by-line path splits at every comma too
            parse_options=pa_csv.ParseOptions(ignore_empty_lines=False, quote_char=False),
            convert_options=pa_csv.ConvertOptions(
                column_types=column_types,
                include_columns=include,
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
                null_values=[],
                true_values=layout.label_texts(),
                false_values=[],
                check_utf8=bool(texts),  # only the text columns are strings; the rest is checked as above
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, UnicodeDecodeError):
        return None
    n = table.num_rows
    t_utc_ns = _timestamps_from_arrow(table.column("c1"), n)
    if t_utc_ns is None:
        return None
    columns = {key: table.column(name).to_numpy() for key, name in value_columns.items()}
    mark_names: tuple[str, ...] = ("",) if marks else ()
    mark_index = np.zeros(n, dtype=np.int32)
    if read_marks:
        marks_column = table.column("c11").unify_dictionaries().combine_chunks()
        mark_index = marks_column.indices.to_numpy(zero_copy_only=False).astype(np.int32)
        try:
            mark_names = tuple(m.decode("utf-8") for m in marks_column.dictionary.to_pylist())
        except UnicodeDecodeError:
            return None
    channels, analyzers = _readings(layout, wanted, columns.get)
    return PowerLog(
        path=str(path),
        t_utc_ns=t_utc_ns,
        power_w=columns[("power_w", None, None)],
        volts_v=columns.get(("volts_v", None, None)),
        amps_a=columns.get(("amps_a", None, None)),
        pf=columns.get(("pf", None, None)),
        mark_index=mark_index,
        marks=mark_names,
        channels=channels,
        line_number=np.arange(1, n + 1, dtype=np.int64),
        analyzers=analyzers,
    )


def _without_trailing_blank_lines(path: Path) -> pa.BufferReader:
    """The file, memory-mapped, without the blank lines at its end (power-dev's server ends spl.txt with
    one): the line-by-line path skips them too, and the line numbers of the lines before do not change. A
    blank line elsewhere still sends the file line by line."""
    with pa.memory_map(str(path)) as mapped:
        size = mapped.size()
        tail_start = max(0, size - _TAIL_BYTES)
        mapped.seek(tail_start)
        tail = mapped.read(size - tail_start)
        mapped.seek(0)
        keep = tail_start + len(tail.rstrip(b"\r\n"))
        return pa.BufferReader(mapped.read_buffer(keep))


def _readings(
    layout: _Layout, wanted: Sequence[str], column: Callable[[_Key], FloatArray | None]
) -> tuple[tuple[ChannelReadings, ...], tuple[AnalyzerReadings, ...]]:
    """The ChN blocks and the analyzers of a layout, from its value columns (None: a field not wanted)."""

    def readings(analyzer: int | None, channel: int | None) -> ChannelReadings:
        return ChannelReadings(
            power_w=column(("power_w", analyzer, channel)),  # type: ignore[arg-type]
            volts_v=column(("volts_v", analyzer, channel)) if "volts_v" in wanted else None,
            amps_a=column(("amps_a", analyzer, channel)) if "amps_a" in wanted else None,
            pf=column(("pf", analyzer, channel)) if "pf" in wanted else None,
        )

    channels = tuple(readings(None, ch) for ch in range(layout.n_channels))
    analyzers = tuple(
        AnalyzerReadings(readings(a, None), tuple(readings(a, ch) for ch in range(n_channels)))
        for a, n_channels in enumerate(layout.analyzer_channels)
    )
    return channels, analyzers


def _timestamps_from_arrow(column: pa.ChunkedArray, n: int) -> npt.NDArray[np.int64] | None:
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    strings = column.combine_chunks()
    if strings.null_count:
        return None
    _validity, offsets_buffer, data_buffer = strings.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=np.int32)[strings.offset : strings.offset + n + 1]
    if not (np.diff(offsets) == PTD_TIMESTAMP_LENGTH).all():
        return None
    chars = np.frombuffer(data_buffer, dtype=np.uint8)[offsets[0] : offsets[-1]].reshape(n, PTD_TIMESTAMP_LENGTH)
    t_utc_ns, valid = parse_ptd_timestamps(chars)
    return t_utc_ns if bool(valid.all()) else None


class _Columns:
    """Growing Python lists for the line-by-line path."""

    def __init__(self, wanted: tuple[str, ...]) -> None:
        self.wanted = wanted
        self.layout: _Layout | None = None
        self.t_utc_ns: list[int] = []
        self.line_number: list[int] = []
        self.mark_index: list[int] = []
        self.marks: dict[str, int] = {}
        self.values: dict[_Key, list[float]] = {}

    def add(self, line_number: int, fields: list[str]) -> str | None:
        """Append one split line, or return why it cannot be used."""
        layout = _layout_of(fields)
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
        parsed: dict[_Key, float] = {}
        for key in self.values:
            name, analyzer, channel = key
            column = layout.value_column(name, channel, analyzer)
            try:
                parsed[key] = float(fields[column])
            except ValueError:
                label = _LABELS[name] if channel is None else f"Ch{channel + 1} {_LABELS[name]}"
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

    def column(self, key: _Key) -> FloatArray | None:
        if self.layout is None and key[1:] == (None, None) and key[0] in self.wanted:
            return np.zeros(0, dtype=np.float64)  # no sample at all: empty, not missing
        values = self.values.get(key)
        return None if values is None else np.asarray(values, dtype=np.float64)


def _parse_lines(path: str, lines: Iterable[bytes], wanted: tuple[str, ...]) -> PowerLog:
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
    channels, analyzers = _readings(cols.layout or _Layout(0, False, 0), wanted, cols.column)
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


def _number(value: float) -> str:
    if math.isnan(value):
        return "nan"
    return f"{value:.6f}"


def format_spl_line(sample: PowerSample) -> str:
    """One spl.txt line (without line end), in PTDaemon's number format."""
    # a multichannel head carries what the sample says: -1 (older PTDaemon, PowerSample.multichannel)
    # or the channels' averages (PTDaemon 1.10+)
    head = (
        f"Watts,{_number(sample.power_w)},Volts,{_number(sample.volts_v)},"
        f"Amps,{_number(sample.amps_a)},PF,{_number(sample.pf)}"
    )
    line = f"Time,{format_ptd_timestamp(sample.t_utc_ns)},{head},Mark,{sample.mark}"
    for i, ch in enumerate(sample.channels, start=1):
        line += (
            f",Ch{i},Watts,{_number(ch.power_w)},Volts,{_number(ch.volts_v)},"
            f"Amps,{_number(ch.amps_a)},PF,{_number(ch.pf)}"
        )
    return line


WRITE_SPL_CHUNK = 10_000  # lines per write in write_spl: bounded memory for long logs


class SplWriter:
    """Appends samples to an spl.txt, one line each (CRLF, as PTDaemon writes them).

    Each :meth:`write` goes to the disk at once (no buffer), so after it returns the file holds every line it
    was given, and after a refused write (disk full) it holds exactly the lines that fitted: a torn last line is
    cut off and :class:`PartialWriteError` says how many lines were kept. The file is opened by :meth:`open`
    (or ``with``), never by the constructor.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._fd: int | None = None

    def open(self) -> SplWriter:
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        return self

    def __enter__(self) -> SplWriter:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def write(self, samples: Iterable[PowerSample]) -> int:
        """Append the samples' lines; how many were appended (all of them, or :class:`PartialWriteError`)."""
        if self._fd is None:
            raise RuntimeError("SplWriter.write before open()")
        lines = []
        for sample in samples:
            if sample.mark and ("," in sample.mark or "\n" in sample.mark):
                raise ValueError(f"mark {sample.mark!r} may not contain commas or line ends")
            lines.append(format_spl_line(sample) + "\r\n")
        data = "".join(lines).encode("utf-8")
        start = sent = 0
        try:
            start = os.lseek(self._fd, 0, os.SEEK_END)
            while sent < len(data):
                sent += os.write(self._fd, data[sent:])
        except OSError as e:
            whole = data.rfind(b"\r\n", 0, sent) + 2 if sent else 0
            if whole < sent:
                with contextlib.suppress(OSError):  # a torn line left behind is skipped by every reader
                    os.ftruncate(self._fd, start + whole)
            raise PartialWriteError(self.path, data.count(b"\r\n", 0, whole), e) from e
        return len(lines)

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)


def write_spl(path: Path | str, samples: Iterable[PowerSample]) -> int:
    """Write samples to a new spl.txt; returns how many were written."""
    target = Path(path)
    if target.exists():
        target.unlink()
    written = 0
    with SplWriter(target) as writer:
        items = iter(samples)
        while chunk := list(itertools.islice(items, WRITE_SPL_CHUNK)):
            written += writer.write(chunk)
    return written
