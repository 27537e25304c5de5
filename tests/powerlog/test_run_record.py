"""session.json's typed model: docs/file-formats.md lists exactly its fields; older records still read; a bad
field is a FormatError naming it."""

from __future__ import annotations

import re

import pytest

from powerlog.errors import FormatError
from powerlog.run_record import SessionJson, parse_session_json
from tests.support.paths import DOCS_DIR

DOCS = DOCS_DIR / "file-formats.md"


def test_the_docs_list_every_session_json_field_and_no_other() -> None:
    row = next(line for line in DOCS.read_text().splitlines() if line.startswith("| `session.json` |"))
    description = row.split(" | ")[2]
    top_level = re.sub(r"\([^()]*\)", "", re.sub(r"\([^()]*\)", "", description))  # drop (nested) asides
    named = set(re.findall(r"`([a-z_]+)`", top_level))
    assert named == set(SessionJson.model_fields), named ^ set(SessionJson.model_fields)


def test_an_older_record_reads_with_defaults_and_unknown_fields_are_ignored() -> None:
    old = {"state": "closed", "clock": [{"phase": "testing", "when": "before", "offset_ns": 5, "bound_ns": 1}]}
    record = parse_session_json({**old, "field_from_the_future": 1})
    assert record.state == "closed" and record.clock[0].agent_utc_ns == 0 and record.meter_gaps == []
    assert "sut_batches" not in record.model_fields_set  # a reader can tell "not recorded" from "empty"


@pytest.mark.parametrize(
    ("obj", "where"),
    [([], "a session record is a JSON object"), ({"clock": [{"phase": "testing"}]}, "clock.0.when"),
     ({"interval_ms": "fast"}, "interval_ms")],
)  # fmt: skip
def test_a_bad_record_is_a_format_error_naming_the_field(obj: object, where: str) -> None:
    with pytest.raises(FormatError, match=re.escape(where)):
        parse_session_json(obj)
