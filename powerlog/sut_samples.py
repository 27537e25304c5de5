"""Readings from the SUT (GPU power and energy) in a run folder's ``samples/``.

While a session runs the director appends each batch to ``samples/<source>.jsonl``
(one JSON batch a line, flushed: the journal). When the session closes the journal
becomes ``samples/<source>.parquet``: one column per reading, with ``t_utc_ns`` on the
SUT's clock as the agent wrote it (readers place it on the director's clock with the session's
:class:`~powerlog.clock_map.SutClockMap`; folders from before that also hold ``t_director_utc_ns``,
with the session's mean offset added, which nothing reads any more).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from powerlog.errors import FormatError
from powerlog.lines import BadLine, decode_line

__all__ = ["SAMPLES_DIR", "Columns", "read_journal", "read_parquet", "read_sample_folder", "write_parquet"]

SAMPLES_DIR = "samples"
Columns = dict[str, npt.NDArray[np.float64] | npt.NDArray[np.int64]]


def read_journal(path: Path) -> tuple[Columns, list[BadLine]]:
    """All batches of a journal, in order of their ``seq``, as columns; unusable lines are reported."""
    batches: list[tuple[int, dict[str, list[float]]]] = []
    bad: list[BadLine] = []
    for number, raw in enumerate(path.read_bytes().split(b"\n"), start=1):
        if not raw.strip():
            continue
        text = decode_line(raw, str(path), number)
        if isinstance(text, BadLine):
            bad.append(text)
            continue
        try:
            obj = json.loads(text)
            batches.append((int(obj["seq"]), obj["columns"]))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, RecursionError) as e:
            bad.append(BadLine(str(path), number, f"not a sample batch: {e}", text[:200]))
    batches.sort(key=lambda b: b[0])
    names = sorted({name for _, columns in batches for name in columns})
    out: Columns = {}
    for name in names:
        values = [v for _, columns in batches for v in columns.get(name, [])]
        out[name] = np.asarray(values, dtype=np.int64) if name.endswith("_ns") else np.asarray(values, dtype=np.float64)
    return out, bad


def write_parquet(path: Path, columns: Columns) -> None:
    pq.write_table(pa.table({name: pa.array(values) for name, values in columns.items()}), path)


def read_parquet(path: Path) -> Columns:
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowInvalid) as e:
        raise FormatError(path, f"not a readable Parquet file: {e}") from e
    return {name: table.column(name).to_numpy() for name in table.column_names}


def read_sample_folder(folder: Path) -> dict[str, Columns]:
    """Every ``<source>.parquet`` in ``samples/`` (falling back to the journal when a session never closed)."""
    samples = folder / SAMPLES_DIR
    if not samples.is_dir():
        return {}
    out: dict[str, Columns] = {}
    for path in sorted(samples.glob("*.parquet")):
        out[path.stem] = read_parquet(path)
    for path in sorted(samples.glob("*.jsonl")):
        if path.stem not in out:
            out[path.stem], _ = read_journal(path)
    return out
