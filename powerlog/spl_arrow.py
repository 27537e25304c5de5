"""The fast spl.txt reader: pyarrow's multi-threaded CSV reader on a file whose every line follows the layout
of its first; None the moment anything does not parse, and the file is then read line by line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.csv as pa_csv

from powerlog.spl_layout import Layout, readings_of
from powerlog.spl_records import PowerLog
from powerlog.timestamps import PTD_TIMESTAMP_LENGTH, parse_ptd_timestamps

__all__ = ["read_fast"]

_BLOCK_SIZE = 1 << 20
_TAIL_BYTES = 4096  # enough for any run of blank lines PTDaemon or power-dev leaves


def read_fast(path: Path, layout: Layout, wanted: tuple[str, ...], marks: bool = True) -> PowerLog | None:
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
    channels, analyzers = readings_of(layout, wanted, columns.get)
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
