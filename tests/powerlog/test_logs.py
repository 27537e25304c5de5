"""The other files of a result: LoadGen's detail and summary logs, PTDaemon's own log and its phases, and the
session records (server.json, client.json), with errors that name the file and line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from powerlog.errors import FormatError
from powerlog.mllog import parse_detail_log, read_detail_log, read_summary_log
from powerlog.ptdlog import IDLE_PHASE, SETUP_PHASE, PtdEventKind, parse_ptd_log, read_ptd_log
from powerlog.session_record import parse_session_record, read_session_record
from powerlog.timestamps import parse_ptd_timestamp
from tests.support.paths import FIXTURES

OFFLINE = FIXTURES["xe8545_resnet_offline"]


def test_detail_log_fixture() -> None:
    log = read_detail_log(OFFLINE / "run_1" / "mlperf_log_detail.txt")
    assert log.bad_lines == ()
    assert log.value("effective_scenario") == "Offline"
    assert log.value("result_samples_per_second") == 131364
    assert log.timestamp_ns("power_begin") == parse_ptd_timestamp("08-02-2022 16:14:59.020")
    assert log.event("power_end").line_number > 0


def test_truncated_mllog_line_is_reported_with_its_number() -> None:
    good = ':::MLLOG {"key": "effective_scenario", "value": "Offline", "time_ms": 1.0, "metadata": {}}'
    log = parse_detail_log((good + "\n" + good[:50] + "\nnot mllog\n").encode(), "detail.txt")
    assert log.value("effective_scenario") == "Offline"
    assert [(b.line_number, b.reason.split(" (")[0]) for b in log.bad_lines] == [
        (2, "JSON does not parse"),
        (3, "line does not start with ':::MLLOG'"),
    ]


def test_missing_or_malformed_power_window_names_the_file() -> None:
    log = parse_detail_log(b':::MLLOG {"key": "power_begin", "value": "yesterday"}\n', "d.txt")
    with pytest.raises(FormatError, match=r"d.txt:1: power_begin"):
        log.timestamp_ns("power_begin")
    with pytest.raises(FormatError, match="no 'power_end' entry"):
        log.timestamp_ns("power_end")


def test_summary_log_fixture() -> None:
    summary = read_summary_log(OFFLINE / "run_1" / "mlperf_log_summary.txt")
    assert summary.get("Scenario") == "Offline"
    assert summary.get("Result is") == "VALID"


def test_ptd_log_fixture_phases() -> None:
    log = read_ptd_log(OFFLINE / "power" / "ptd_logs.txt")
    gos = log.of_kind(PtdEventKind.GO)
    assert [g.mark for g in gos] == ["2022-08-02_15-58-48_ranging", "2022-08-02_15-58-48_testing"]
    assert [g.phase for g in gos] == ["ranging", "testing"]
    assert [c.phase for c in log.of_kind(PtdEventKind.COMPLETED)] == ["ranging", "testing"]
    activated = log.of_kind(PtdEventKind.UNCERTAINTY_ACTIVATED)
    assert activated[0].phase == SETUP_PHASE and activated[0].line_number == 54
    ranging_errors = [e for e in log.of_kind(PtdEventKind.ERROR) if e.phase == "ranging"]
    assert len(ranging_errors) == len(log.of_kind(PtdEventKind.ERROR)) == 1810
    begin, end = log.phase_span_ns("testing")
    assert begin == parse_ptd_timestamp("08-02-2022 16:14:34.599") and end > begin


def test_ptd_log_continuation_lines_and_uncertainty_values() -> None:
    text = (
        b"banner without timestamp\r\r\n"
        b"07-30-2022 04:27:55.024: Go with mark 's_testing'\r\r\n"
        b"07-30-2022 04:39:50.371: ERROR: Bad pf reading nan from WT310\r\r\n"
        b"Buffer was 500.0E-03;1;300.0E+00;1\r\r\n"
        b"07-30-2022 04:40:24.441: WARNING: Uncertainty 1.01% above 1.00% limit for the last measurement sample!\r\n"
        b"07-30-2022 04:40:25.441: WARNING: Uncertainty 1.20%, which is above 1.00% limit for the last sample!\r\n"
        b"07-30-2022 04:51:38.106: Completed test\r\n"
        b"07-30-2022 04:51:39.106: Volt range set to 150\r\n"
        b"13-30-2022 04:51:39.106: bad month\r\n"
    )
    log = parse_ptd_log(text, "ptd_logs.txt")
    error = log.of_kind(PtdEventKind.ERROR)[0]
    assert error.detail == "Buffer was 500.0E-03;1;300.0E+00;1" and error.line_number == 3
    assert [w.uncertainty_percent for w in log.of_kind(PtdEventKind.WARNING)] == [1.01, 1.2]
    assert log.events[-1].phase == IDLE_PHASE
    assert log.bad_lines[0].line_number == 9


def test_session_record_fixture_and_ptd_config_shapes() -> None:
    record = read_session_record(OFFLINE / "power" / "server.json")
    assert record.session_name == "2022-08-02_15-58-48"
    assert record.ptd_reply("RR") == "Ranges,-1,-1.000000,-1,-1.000000"
    assert record.ptd_configs[0].device_type == 48 and record.ptd_configs[0].channels == (2,)
    assert len(record.phases["testing"]) == 4
    obj = json.loads((OFFLINE / "power" / "server.json").read_text())
    obj["ptd_config"] = [obj["ptd_config"], {**obj["ptd_config"], "device_type": 77, "channel": [1, 2]}]
    as_list = parse_session_record(obj)
    assert [c.device_type for c in as_list.ptd_configs] == [48, 77]


def test_session_record_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "server.json"
    path.write_text('{"uuid": ')
    with pytest.raises(FormatError, match=r"server\.json.*not valid JSON"):
        read_session_record(path)
    with pytest.raises(FormatError, match=r"phases.ranging\[0\]"):
        parse_session_record({"phases": {"ranging": [["x", 1]]}}, "s.json")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [("timezone", "abc", "'timezone' should be an integer"), ("ptd_config", {"channel": ["x"]}, "'channel' should be")],
)
def test_session_record_wrong_types_are_format_errors(field: str, value: object, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        parse_session_record({field: value}, "server.json")


def test_only_this_sessions_part_of_a_long_running_ptdaemon_log_is_kept() -> None:
    """The start-up block (with the uncertainty activation) and what came after the session opened: a probe
    run earlier, with its Auto-range errors, is not this session's."""
    from powerlog.ptdlog import parse_ptd_log, session_part

    header = (
        b"Version 1.11.1\r\n12-01-2026 10:00:00.000: Uncertainty checking for YokogawaWT310 is activated\r\n"
        b"12-01-2026 10:00:00.001: Waiting for a connection...\r\n"
    )
    probe = (
        b"12-01-2026 10:01:00.000: Accepted connection from 127.0.0.1:1\r\n"
        b"12-01-2026 10:01:00.100: Go with mark 'probe_2026-12-01_10-01-00'\r\n"
        b"12-01-2026 10:01:01.000: ERROR: Can't evaluate uncertainty of this sample!\r\n"
    )
    ours = (
        b"12-01-2026 10:05:00.000: Accepted connection from 127.0.0.1:2\r\n"
        b"12-01-2026 10:05:00.100: Go with mark 's_ranging'\r\n"
    )
    log = header + probe + ours
    part = session_part(log, len(header) + len(probe))
    assert part == header + ours
    events = parse_ptd_log(part)
    assert not [e for e in events.events if "ERROR" in e.message] and "activated" in part.decode()
    assert session_part(log, 0) == log and session_part(log, len(header) - 5) == log
    assert session_part(ours, len(log)) == ours  # the log was restarted (shorter than the offset): all of it


def test_ptd_log_bad_timestamps_and_bad_bytes_keep_their_places() -> None:
    """A line with a bad timestamp is left out but its continuation lines stay with the event before it;
    a line that is not UTF-8 is reported and the rest of the file still decodes; bad lines come in file
    order whichever way they were found."""
    text = (
        b"07-30-2022 04:27:55.024: ERROR: first\n"
        b"07-30-2022 04:27:5x.024: ERROR: bad seconds\n"
        b"continues the first\n"
        b"07-30-2022 04:27:56.024: Volt \xe9 range\n"
        b"07-30-2022 04:27:57.024: WARNING: second\n"
        b"02-30-2022 04:27:58.024: no such day\n"
    )
    log = parse_ptd_log(text, "ptd_logs.txt")
    assert [(e.line_number, e.message, e.detail) for e in log.events] == [
        (1, "ERROR: first", "continues the first"),
        (5, "WARNING: second", ""),
    ]
    assert [b.line_number for b in log.bad_lines] == [2, 4, 6]
    assert "not UTF-8" in log.bad_lines[1].reason and "day 30" in log.bad_lines[2].reason
    assert log.events[0].t_utc_ns == parse_ptd_timestamp("07-30-2022 04:27:55.024")
