"""The layout of an spl.txt line (its channels, its analyzers, whether it has a Mark): found from one split
line with the reason when it follows none, and where each value sits in it. Both readers use it, the exact
line-by-line one (:mod:`powerlog.spl_lines`) and the fast columnar one (:mod:`powerlog.spl_arrow`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from powerlog.spl_records import SPL_FIELDS, AnalyzerReadings, ChannelReadings, FloatArray

__all__ = ["LABELS", "ColumnKey", "Layout", "layout_of", "readings_of"]

LABELS = {"power_w": "Watts", "volts_v": "Volts", "amps_a": "Amps", "pf": "PF"}
_HEAD_LABELS = ("Time", None, "Watts", None, "Volts", None, "Amps", None, "PF", None)
_LABELS_TEXT = ("Time", "Watts", "Volts", "Amps", "PF", "Mark")  # also the even fields of a line with a Mark
_CHANNEL_WIDTH = 9  # ChN,Watts,v,Volts,v,Amps,v,PF,v
_MARKED_HEAD_WIDTH = 12  # Time,t,Watts,v,Volts,v,Amps,v,PF,v,Mark,m
_ANALYZER_WIDTH = 1 + _MARKED_HEAD_WIDTH  # Analyzer<k>, then that analyzer's own line


ColumnKey = tuple[str, int | None, int | None]  # (field, analyzer, channel); None: the leading fields / no channel


@dataclass(frozen=True)
class Layout:
    """The layout of one line: its field count, whether it has a Mark, its ChN blocks and its analyzers' blocks."""

    n_fields: int
    has_mark: bool
    n_channels: int
    analyzer_channels: tuple[int, ...] = ()  # the ChN blocks of each Analyzer<k> block; () for one analyzer

    def value_keys(self, wanted: Sequence[str]) -> list[ColumnKey]:
        """Every value column of the wanted fields, in one order for both paths."""
        keys: list[ColumnKey] = []
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

    def difference(self, earlier: Layout) -> str:
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
        if found != LABELS[name]:
            return f"field {start + 2 + 2 * j}{where} should be {LABELS[name]!r}, found {found[:40]!r}"
    return None


def layout_of(fields: Sequence[str]) -> Layout | str:
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
    layout = Layout(len(fields), has_mark, n_channels)
    for ch in range(n_channels):
        reason = _channel_block_reason(fields, layout._channel_start(ch), ch)
        if reason is not None:
            return reason
    return layout


def _analyzers_layout_of(fields: Sequence[str]) -> Layout | str:
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
    return Layout(len(fields), True, 0, tuple(analyzer_channels))


def readings_of(
    layout: Layout, wanted: Sequence[str], column: Callable[[ColumnKey], FloatArray | None]
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
