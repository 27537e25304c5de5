"""The built-in LLM benchmark's query log reader: good lines read, every bad one kept with its number and why,
the harness's own file read, and the name the agent uploads and the director accepts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.builtin.llm_harness import QUERY_LOG_NAME as HARNESS_QUERY_LOG_NAME
from agent.workload import LOADGEN_FILES
from powerlog.errors import MissingFileError
from powerlog.llm_queries import QUERY_LOG_NAME, LlmQuery, parse_llm_queries, read_llm_queries
from powerlog.wire import UPLOAD_NAMES

T0 = 1_765_000_000_000_000_000


def _line(**changes: object) -> str:
    record: dict[str, object] = {
        "query_id": 7,
        "sample_index": 3,
        "issued_ns": T0,
        "prefill_start_ns": T0 + 10,
        "first_token_ns": T0 + 20,
        "completed_ns": T0 + 50,
        "prompt_tokens": 24,
        "output_tokens": 5,
    }
    record.update(changes)
    return json.dumps({k: v for k, v in record.items() if v is not None})


def test_a_good_line_is_read_whole_and_unknown_fields_are_ignored() -> None:
    log = parse_llm_queries(_line(future="x") + "\n\n" + _line(query_id=8, sample_index=None) + "\r\n", "q.jsonl")
    assert log.bad_lines == ()
    assert log.queries[0] == LlmQuery(7, T0, T0 + 10, T0 + 20, T0 + 50, 24, 5, line_number=1, sample_index=3)
    assert log.queries[1].line_number == 3 and log.queries[1].sample_index is None
    assert log.column("completed_ns").tolist() == [T0 + 50, T0 + 50]
    with pytest.raises(ValueError, match="no column 'tokens'"):
        log.column("tokens")


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('{"query_id": 1,', "JSON does not parse"),
        ("[1, 2]", "expected a JSON object, got list"),
        (_line(completed_ns=None), "no 'completed_ns'"),
        (_line(prompt_tokens="24"), "prompt_tokens is '24', not an integer"),
        (_line(output_tokens=True), "output_tokens is 'True', not an integer"),
        (_line(output_tokens=0), "output_tokens is 0: expected at least 1"),
        (_line(query_id=-1), "query_id is -1: expected at least 0"),
        (_line(completed_ns=2**70), "completed_ns is 1180591620717411303424: expected at least 1 and below"),
        (_line(prefill_start_ns=0), "prefill_start_ns is 0: the query never began its prefill"),
        (_line(first_token_ns=T0 + 5), "first_token_ns (1765000000000000005) is before prefill_start_ns"),
        (_line(completed_ns=T0 + 15), "completed_ns (1765000000000000015) is before first_token_ns"),
    ],
)
def test_a_bad_line_is_kept_with_its_number_and_why_and_the_good_ones_are_read(line: str, reason: str) -> None:
    log = parse_llm_queries("\n".join((_line(query_id=1), line, _line(query_id=2))), "run_1/q.jsonl")
    assert [q.query_id for q in log.queries] == [1, 2]
    (bad,) = log.bad_lines
    assert bad.line_number == 2 and reason in bad.reason, bad.reason
    assert str(bad).startswith("run_1/q.jsonl:2: ")


def test_a_repeated_query_id_and_bytes_that_are_not_utf8_are_bad_lines() -> None:
    log = parse_llm_queries(b"\n".join((_line().encode(), b'{"query_id": \xff}', _line().encode())))
    assert len(log.queries) == 1
    assert [(b.line_number, b.reason) for b in log.bad_lines] == [
        (2, "not UTF-8 text (byte 0xff at column 14)"),
        (3, "query_id 7 is already on line 1"),
    ]


def test_a_missing_file_is_a_missing_file_error(tmp_path: Path) -> None:
    with pytest.raises(MissingFileError, match="LLM query log not found"):
        read_llm_queries(tmp_path / QUERY_LOG_NAME)


def test_the_harness_writes_what_the_agent_uploads_and_the_director_accepts() -> None:
    assert QUERY_LOG_NAME == HARNESS_QUERY_LOG_NAME
    assert QUERY_LOG_NAME in LOADGEN_FILES
    assert QUERY_LOG_NAME in UPLOAD_NAMES["run_1"] and QUERY_LOG_NAME in UPLOAD_NAMES["ranging"]
