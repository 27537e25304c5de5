"""The parsers under fuzzing: a few hundred cases a target here (``benchmarks/bench_fuzz.py`` runs 10,000),
then the inputs the fuzzer caught, as regression tests.

The targets and strategies live in ``benchmarks/fuzz_targets.py``: for any input a parser returns a result or
raises its own package's error (PowerlogError, DirectorError); readers that must agree do.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from benchmarks.fuzz_targets import TARGETS, StreamTransport, Tally, run_case
from director.errors import MeterErrorReply, MeterProtocolError
from director.meters.ptd import PtdMeter, parse_identify, parse_rl_header
from powerlog.errors import TimestampError
from powerlog.mllog import parse_detail_log
from powerlog.spl import PowerSample, format_spl_line, parse_spl_text, read_spl
from powerlog.timestamps import parse_ptd_timestamp, parse_ptd_timestamps

CASES = 120
LIMIT_S = 10.0  # a case past this is a hang


@pytest.mark.parametrize("name", list(TARGETS))
def test_parsers_return_or_raise_their_own_errors(name: str) -> None:
    target = TARGETS[name]

    @settings(
        max_examples=CASES,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
        report_multiple_bugs=False,
    )
    @given(target.strategy)
    def fuzz(case: object) -> None:
        run_case(target, case, Tally(), LIMIT_S)

    fuzz()


# -- what the fuzzer found --------------------------------------------------------------------------------------------


def _rows(*texts: str) -> np.ndarray:
    return np.frombuffer("".join(texts).encode(), dtype=np.uint8).reshape(len(texts), 23)


@pytest.mark.parametrize("text", ["04-11-2262 23:47:16.855", "03-29-9911 19:00:48.290", "01-01-1677 00:00:00.000"])
def test_timestamps_past_int64_nanoseconds_are_refused_by_both_parsers(text: str) -> None:
    # were 9223372036855000000 (scalar: too large for int64) and -9223372036854551616 (vectorised: wrapped)
    with pytest.raises(TimestampError, match="out of range"):
        parse_ptd_timestamp(text)
    _, valid = parse_ptd_timestamps(_rows(text))
    assert not valid.any()


def test_the_years_int64_nanoseconds_hold_still_parse() -> None:
    texts = ("01-01-1678 00:00:00.000", "12-31-2261 23:59:59.999")
    values, valid = parse_ptd_timestamps(_rows(*texts))
    assert valid.all() and values.tolist() == [parse_ptd_timestamp(t) for t in texts]


def _spl_line(t_ms: int, watts: float = 11.47, mark: str = "m") -> str:
    return format_spl_line(PowerSample(t_ms * 1_000_000, watts, 206.7, 0.17367, 0.3195, mark))


T0_MS = parse_ptd_timestamp("07-30-2022 04:40:04.430") // 1_000_000


def _read_both(tmp_path: Path, data: bytes):
    path = tmp_path / "spl.txt"
    path.write_bytes(data)
    return read_spl(path), parse_spl_text(data, str(path))


def _lines_and_bad(log) -> tuple[list[int], list[int]]:
    return log.line_number.tolist(), [b.line_number for b in log.bad_lines]


def test_spl_year_beyond_2261_is_a_bad_line_not_an_overflow(tmp_path: Path) -> None:
    # the PTD RL stream target: OverflowError from the line-by-line path, a wrapped negative time from pyarrow
    far = "Time,09-20-4626 05:33:17.784,Watts,779.000000,Volts,-1.000000,Amps,-1.000000,PF,-1.000000,Mark,"
    log = parse_spl_text(far + "\r\n")
    assert len(log) == 0 and "year 4626 out of range" in log.bad_lines[0].reason
    data = "".join(line + "\r\n" for line in (_spl_line(T0_MS), _spl_line(T0_MS + 1000).replace("2022", "2263")))
    for log in _read_both(tmp_path, data.encode()):
        assert _lines_and_bad(log) == ([1], [2])


@pytest.mark.parametrize(
    ("second", "bad_line"),
    [
        (_spl_line(T0_MS + 1000).replace("07-30-2022 04:40:05.430", '"07-30-2022 04:40:05.430"'), 2),  # quoted
        (_spl_line(T0_MS + 1000).replace("Mark,m", 'Mark,"m\r\nx"'), 3),  # a quoted line end: mark '"m', line 'x"'
        (_spl_line(T0_MS + 1000).replace("Volts", "Volt"), 2),  # a damaged label
    ],
    ids=["quoted field", "quoted line end", "damaged label"],
)
def test_spl_fast_path_reports_what_the_line_by_line_path_reports(tmp_path: Path, second: str, bad_line: int) -> None:
    # read_spl's pyarrow path took the first two as CSV quoting and never looked at labels: it kept lines that
    # parse_spl_text (and read_spl's own line-by-line path) report as bad, and numbered the rest differently
    data = "".join(line + "\r\n" for line in (_spl_line(T0_MS), second, _spl_line(T0_MS + 2000))).encode()
    fast, exact = _read_both(tmp_path, data)
    assert _lines_and_bad(fast) == _lines_and_bad(exact)
    assert [b.line_number for b in fast.bad_lines] == [bad_line]


def test_spl_lone_cr_ends_a_line_on_both_paths(tmp_path: Path) -> None:
    # "\n\r" line ends: read_spl numbered lines by LF only, parse_spl_text (and pyarrow) by CR too
    data = "".join(line + "\n\r" for line in (_spl_line(T0_MS), _spl_line(T0_MS + 1000))).encode()
    for log in _read_both(tmp_path, data):
        assert _lines_and_bad(log) == ([1, 3], [])
    old_mac = "".join(line + "\r" for line in (_spl_line(T0_MS), _spl_line(T0_MS + 1000))).encode()
    for log in _read_both(tmp_path, old_mac):
        assert _lines_and_bad(log) == ([1, 2], [])


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (':::MLLOG {"key": ' + "[" * 100_000, "nested too deeply"),  # RecursionError
        (':::MLLOG {"key": "power_begin", "value": ' + "9" * 5000 + "}", "4300 digits"),  # ValueError
        (':::MLLOG {"key": "power_begin", "value": 1, "time_ms": 1' + "0" * 400 + "}", "too large"),  # OverflowError
    ],
    ids=["deep nesting", "5000-digit integer", "time_ms past float"],
)
def test_mllog_lines_python_cannot_hold_are_bad_lines(line: str, reason: str) -> None:
    good = ':::MLLOG {"key": "power_end", "value": "07-30-2022 04:40:04.430", "time_ms": 1.5}'
    log = parse_detail_log(f"{line}\n{good}\n")
    assert [e.key for e in log.events] == ["power_end"]
    assert [b.line_number for b in log.bad_lines] == [1] and reason in log.bad_lines[0].reason


@pytest.mark.parametrize(
    "reply",
    [
        "Acme_multichannel,1000,1,1,1,1,0,0,1,version=,OS=Linux,mode=dc,0,910054," + "9" * 5000,  # ValueError
        "YokogawaWT330_multichannel,1000,1,1,1,1,0,0,1,version=1.9.2,OS=Linux,mode=power,1,1,\u00b2,0,0",  # '²'
    ],
    ids=["5000 digits", "superscript two"],
)
def test_identify_with_an_element_count_int_cannot_read_is_refused(reply: str) -> None:
    with pytest.raises(MeterProtocolError, match="element count"):
        parse_identify(reply)


def test_rl_header_with_a_count_int_cannot_read_is_refused() -> None:
    header = "Last " + "9" * 5000 + " samples"  # ValueError from int()
    with pytest.raises(MeterProtocolError, match="Last N samples"):
        parse_rl_header(header)
    meter = PtdMeter(StreamTransport(f"{header}\r\n".encode()))
    with pytest.raises(MeterErrorReply, match="unexpected reply"):
        meter.read_new()
