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

Every public name is importable from here; the code lives in :mod:`powerlog.spl_records` (the records),
:mod:`powerlog.spl_layout` (a line's layout), :mod:`powerlog.spl_arrow` (the fast reader),
:mod:`powerlog.spl_lines` (the exact one) and :mod:`powerlog.spl_writer` (the writer).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from pathlib import Path

import numpy as np

from powerlog.errors import MissingFileError
from powerlog.spl_arrow import read_fast
from powerlog.spl_layout import Layout, layout_of
from powerlog.spl_lines import parse_lines, split_lines
from powerlog.spl_records import (
    MAX_PLAUSIBLE_W,
    SPL_FIELDS,
    AnalyzerReadings,
    ChannelReadings,
    ChannelSample,
    PowerLog,
    PowerSample,
)
from powerlog.spl_writer import SplWriter, format_spl_line, write_spl

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
    layout = layout_of(first.split(",")) if first is not None else None
    if isinstance(layout, Layout):
        fast = read_fast(path, layout, wanted, marks)
        if fast is not None:
            return fast
    with path.open("rb") as f:
        log = parse_lines(str(path), split_lines(f), wanted)
    return log if marks else replace(log, mark_index=np.zeros(len(log), dtype=np.int32), marks=())


def parse_spl_text(text: str | bytes, path: str = "<text>", fields: Collection[str] = SPL_FIELDS) -> PowerLog:
    """Parse spl.txt content held in memory (line by line, with full error reporting)."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    wanted = tuple(f for f in SPL_FIELDS if f == "power_w" or f in fields)
    return parse_lines(path, data.splitlines(keepends=True), wanted)
