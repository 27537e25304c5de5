"""The built-in LLM benchmark's per-query token log, ``mlpower_llm_queries.jsonl``: one JSON object a line.

The harness (:mod:`agent.builtin.llm_harness`) writes it beside LoadGen's logs and the agent uploads it
with them, so it lands in ``run_1/`` (and ``ranging/``). Each line is one query::

    {"query_id": 7, "sample_index": 3, "issued_ns": ..., "prefill_start_ns": ..., "first_token_ns": ...,
     "completed_ns": ..., "prompt_tokens": 24, "output_tokens": 17}

Times are UTC ns on the SUT's clock (LoadGen's window is on the same clock), in the order
``issued_ns <= prefill_start_ns <= first_token_ns <= completed_ns``; ``prompt_tokens`` (what the prefill
reads) and ``output_tokens`` (the first token, made by the prefill, included) are at least 1.
``sample_index`` is optional and fields a reader does not know are ignored. A line that breaks any of this
is kept in ``bad_lines`` with its number and the reason; every good line is read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from powerlog.errors import FormatError, MissingFileError
from powerlog.lines import MAX_QUOTED_CHARS, BadLine, text_lines
from powerlog.wire import UTC_NS_MAX

__all__ = [
    "COUNT_FIELDS",
    "QUERY_LOG_NAME",
    "TIME_FIELDS",
    "LlmQuery",
    "LlmQueryLog",
    "parse_llm_queries",
    "read_llm_queries",
]

QUERY_LOG_NAME = "mlpower_llm_queries.jsonl"
TIME_FIELDS = ("issued_ns", "prefill_start_ns", "first_token_ns", "completed_ns")
"""In the order they must come."""
COUNT_FIELDS = ("prompt_tokens", "output_tokens")


@dataclass(frozen=True)
class LlmQuery:
    """One query: when it was issued, began its prefill, had its first token and completed (UTC ns, SUT clock)."""

    query_id: int
    issued_ns: int
    prefill_start_ns: int
    first_token_ns: int
    completed_ns: int
    prompt_tokens: int
    output_tokens: int
    line_number: int
    sample_index: int | None = None


@dataclass(frozen=True)
class LlmQueryLog:
    """The good lines of one query log, in file order, and the lines left out."""

    path: str
    queries: tuple[LlmQuery, ...]
    bad_lines: tuple[BadLine, ...] = ()

    def column(self, name: str) -> npt.NDArray[np.int64]:
        """One field of every query (a name of :data:`TIME_FIELDS` or :data:`COUNT_FIELDS`), as int64."""
        if name not in TIME_FIELDS + COUNT_FIELDS:
            raise ValueError(f"no column {name!r}: one of {', '.join(TIME_FIELDS + COUNT_FIELDS)}")
        return np.fromiter((getattr(q, name) for q in self.queries), dtype=np.int64, count=len(self.queries))


def read_llm_queries(path: Path | str) -> LlmQueryLog:
    """A query log's queries; :class:`MissingFileError` when there is no such file."""
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(path, "LLM query log")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise FormatError(path, f"cannot be read: {e.strerror or e}") from e
    return parse_llm_queries(data, str(path))


def parse_llm_queries(data: bytes | str, path: str = "<text>") -> LlmQueryLog:
    """The queries of a query log's text (blank lines skipped; see the module for what a good line is)."""
    queries: list[LlmQuery] = []
    bad: list[BadLine] = []
    seen: dict[int, int] = {}  # query_id -> the line it was first on
    for line_number, text in text_lines(data, path):
        if isinstance(text, BadLine):
            bad.append(text)
            continue
        query = _parse_query(text, line_number)
        if isinstance(query, LlmQuery) and query.query_id in seen:
            query = f"query_id {query.query_id} is already on line {seen[query.query_id]}"
        if isinstance(query, str):
            bad.append(BadLine(path, line_number, query, text[:MAX_QUOTED_CHARS]))
            continue
        seen[query.query_id] = line_number
        queries.append(query)
    return LlmQueryLog(path, tuple(queries), tuple(bad))


def _integer(obj: dict[str, Any], name: str, low: int, high: int | None = None) -> int | str:
    """The field as an int in ``[low, high)``, or why it is not one."""
    if name not in obj:
        return f"no {name!r}"
    value = obj[name]
    if isinstance(value, bool) or not isinstance(value, int):
        return f"{name} is {str(value)[:40]!r}, not an integer"
    if value < low or (high is not None and value >= high):
        upper = f" and below {high}" if high is not None else ""
        return f"{name} is {value}: expected at least {low}{upper}"
    return value


def _parse_query(text: str, line_number: int) -> LlmQuery | str:
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        return f"JSON does not parse ({e.msg} at column {e.colno}): truncated line?"
    except (RecursionError, ValueError):
        return "JSON does not parse: nested too deeply, or a number too long"
    if not isinstance(obj, dict):
        return f"expected a JSON object, got {type(obj).__name__}"
    values: dict[str, int] = {}
    for name, low, high in (
        ("query_id", 0, None),
        *((t, 1, UTC_NS_MAX) for t in TIME_FIELDS),
        *((c, 1, None) for c in COUNT_FIELDS),
    ):
        value = _integer(obj, name, low, high)
        if isinstance(value, str):
            if name == "prefill_start_ns" and obj.get(name) == 0:
                return "prefill_start_ns is 0: the query never began its prefill (the model failed?)"
            return value
        values[name] = value
    times = [values[t] for t in TIME_FIELDS]
    for (a, ta), (b, tb) in pairwise(zip(TIME_FIELDS, times, strict=True)):
        if tb < ta:
            return f"{b} ({tb}) is before {a} ({ta}): the times must come in the order {', '.join(TIME_FIELDS)}"
    index = obj.get("sample_index")
    return LlmQuery(
        **values,
        line_number=line_number,
        sample_index=index if isinstance(index, int) and not isinstance(index, bool) else None,
    )
