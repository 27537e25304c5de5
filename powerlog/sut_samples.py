"""Readings from the SUT (GPU power and energy) in a run folder's ``samples/``.

While a session runs the director appends each batch to ``samples/<source>.jsonl``
(one JSON batch a line, flushed: the journal). When the session closes the journal
becomes ``samples/<source>.parquet``: one column per reading, with ``t_utc_ns`` on the
SUT's clock as the agent wrote it (readers place it on the director's clock with the session's
:class:`~powerlog.clock_map.SutClockMap`; folders from before that also hold ``t_director_utc_ns``,
with the session's mean offset added, which nothing reads any more).

What a GPU's readings *are* is recorded once per GPU (session.json ``agent.gpus[]``, a node's ``sources.gpus[]``):
``power_kind`` (NVML's 1 s ``average`` or an ``instant`` value), ``power_scope`` and ``energy_scope`` (``gpu``,
or the whole ``module`` on GH200). This module holds that vocabulary and the names of the faults a GPU's readings
can show, for the agent (which sees them live) and the analyzer (which reports them) alike, and the one rule for
a step of NVML's energy counter (:func:`counter_step_j`). Energy counter readings are stored raw, as NVML gave
them (J since the driver loaded), resets and all.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from powerlog.errors import FormatError
from powerlog.lines import BadLine, decode_line
from powerlog.timestamps import NS_PER_S

__all__ = [
    "COUNTER_WRAP_J",
    "FAULT_NO_COUNTER",
    "FAULT_RESET",
    "FAULT_STUCK",
    "FAULT_WRAP",
    "FAULT_ZERO",
    "GPU_FAULTS",
    "MODULE_SCOPE_NAMES",
    "POWER_KINDS",
    "SAMPLES_DIR",
    "SCOPES",
    "STUCK_MIN_S",
    "STUCK_MIN_W",
    "WRAP_MAX_W",
    "Columns",
    "PowerKind",
    "Scope",
    "counter_scope",
    "counter_step_j",
    "read_journal",
    "read_parquet",
    "read_sample_folder",
    "write_parquet",
]

SAMPLES_DIR = "samples"
Columns = dict[str, npt.NDArray[np.float64] | npt.NDArray[np.int64]]

PowerKind = Literal["instant", "average"]
Scope = Literal["gpu", "module"]
POWER_KINDS: tuple[PowerKind, ...] = (
    "instant",
    "average",
)  # what one power reading is: a value at an instant, or NVML's 1 s mean
SCOPES: tuple[Scope, ...] = (
    "gpu",
    "module",
)  # what a reading covers: the GPU alone, or the whole module (GH200: CPU, memory, GPU)
MODULE_SCOPE_NAMES = ("GH200",)  # devices whose energy counter covers the module (issue #32; add others once seen)

# the faults a GPU's readings can show, by name (warnings and agent events start with the name)
FAULT_RESET = "counter-reset"  # the counter went back (driver reloaded): energy since the reload only
FAULT_WRAP = "counter-wrap"  # the counter passed its end and began again: undone
FAULT_STUCK = "counter-stuck"  # the counter did not move while the power read well above zero
FAULT_ZERO = "reports-zero"  # power all 0 W, or a counter that does not move with no power to tell why
FAULT_NO_COUNTER = "no-counter"  # no energy counter: energy from integrated power
GPU_FAULTS = (FAULT_RESET, FAULT_WRAP, FAULT_STUCK, FAULT_ZERO, FAULT_NO_COUNTER)

COUNTER_WRAP_J = 2**64 / 1000  # nvmlDeviceGetTotalEnergyConsumption: an unsigned 64-bit count of mJ
WRAP_MAX_W = 10_000.0  # a drop is a wrap only if the counter was within this power x the interval of its end
STUCK_MIN_S = 2.0  # a counter unchanged this long (NVML updates it every 20-100 ms) ...
STUCK_MIN_W = 5.0  # ... while the power readings average at least this much is stuck


def counter_scope(name: str) -> Scope:
    """The scope of a GPU's energy counter, from NVML's device name: ``module`` on a GH200, else ``gpu``."""
    return "module" if any(n in name for n in MODULE_SCOPE_NAMES) else "gpu"


def counter_step_j(previous_j: float, current_j: float, interval_ns: int) -> tuple[float, str | None]:
    """The energy between two readings of an energy counter (J) and the fault a drop means (None: no drop).

    A higher or equal reading: the difference. A lower one is a wrap when the counter was within
    ``WRAP_MAX_W`` x the interval of its end (``COUNTER_WRAP_J``): ``COUNTER_WRAP_J - previous + current``.
    Any other drop is a reset (the driver reloaded and the count began again at 0): the reading after it is the
    energy since the reload, a lower bound of the interval's (the part before the reload is lost).
    """
    if current_j >= previous_j:
        return current_j - previous_j, None
    wrapped_j = COUNTER_WRAP_J - previous_j + current_j
    if wrapped_j <= WRAP_MAX_W * max(interval_ns, 0) / NS_PER_S:
        return wrapped_j, FAULT_WRAP
    return current_j, FAULT_RESET


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
