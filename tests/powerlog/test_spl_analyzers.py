"""spl.txt of several analyzers, as MLCommons power-dev merges them: one line per sample, the leading
fields (analyzer 1's Time and Mark, the sum of the analyzers' Watts, -1 Volts/Amps/PF), then
``Analyzer<k>,<analyzer k's own line>`` for each analyzer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from powerlog import spl
from powerlog.spl import (
    SPL_FIELDS,
    AnalyzerReadings,
    ChannelReadings,
    ChannelSample,
    PowerLog,
    PowerSample,
    format_spl_line,
    parse_spl_text,
    read_spl,
)
from powerlog.spl_arrow import read_fast
from powerlog.spl_layout import Layout, layout_of
from powerlog.timestamps import format_ptd_timestamp, parse_ptd_timestamp
from tests.support.paths import FIXTURES

T0_NS = parse_ptd_timestamp("08-02-2022 16:14:34.831")
MARK = "2022-08-02_16-14-34_testing"
DROPPED = -1.0
LINES = 5000  # about 1.7 MB: several of the fast path's 1 MiB blocks


def _analyzer_1(i: int) -> PowerSample:
    """A single-channel analyzer."""
    return PowerSample(T0_NS + i * 1_000_000_000, 100.0 + i % 7, 230.0 + (i % 5) / 10, 0.5 + (i % 3) / 100, 0.9, MARK)


def _analyzer_2(i: int) -> PowerSample:
    """A two-channel analyzer, its Time 7 ms after analyzer 1's."""
    channels = (
        ChannelSample(251.0 + i % 11, 128.0 + (i % 4) / 10, 3.2 + (i % 6) / 100, 0.6),
        ChannelSample(390.0 + i % 13, 123.0 + (i % 9) / 10, 3.1 + (i % 8) / 100, 0.97),
    )
    return PowerSample.multichannel(T0_NS + i * 1_000_000_000 + 7_000_000, channels, MARK)


def _dropped_analyzer_2(i: int) -> PowerSample:
    """Analyzer 2 when it dropped a sample: -1 in its own fields and in each channel's."""
    channels = (ChannelSample(DROPPED, DROPPED, DROPPED, DROPPED),) * 2
    return PowerSample(_analyzer_2(i).t_utc_ns, DROPPED, DROPPED, DROPPED, DROPPED, MARK, channels)


def _merged(analyzers: list[PowerSample], total_w: float | None = None) -> str:
    """One line as power-dev writes it; the total is the Watts of the analyzers, each abs(), -1 skipped."""
    if total_w is None:
        total_w = sum(abs(a.power_w) for a in analyzers if a.power_w != DROPPED)
    head = (
        f"Time,{format_ptd_timestamp(analyzers[0].t_utc_ns)},Watts,{total_w:.6f},"
        f"Volts,-1.000000,Amps,-1.000000,PF,-1.000000,Mark,{analyzers[0].mark}"
    )
    return ",".join([head, *(f"Analyzer{k},{format_spl_line(a)}" for k, a in enumerate(analyzers, start=1))])


def _line(i: int) -> str:
    return _merged([_analyzer_1(i), _analyzer_2(i)])


def _file(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "spl.txt"
    path.write_bytes("".join(line + "\r\n" for line in lines).encode())
    return path


def _both(path: Path, fields=SPL_FIELDS) -> tuple[PowerLog, PowerLog]:
    """read_spl (its pyarrow path for a clean file) and parse_spl_text (always line by line)."""
    return read_spl(path, fields), parse_spl_text(path.read_bytes(), str(path), fields)


def _assert_same_readings(a: ChannelReadings, b: ChannelReadings, what: str) -> None:
    for name in SPL_FIELDS:
        x, y = getattr(a, name), getattr(b, name)
        assert (x is None) == (y is None), f"{what} {name}"
        if x is not None:
            np.testing.assert_array_equal(x, y, err_msg=f"{what} {name}")


def _assert_same(a: PowerLog, b: PowerLog) -> None:
    for name in ("t_utc_ns", "mark_index", "line_number"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert a.marks == b.marks
    assert [(x.line_number, x.reason) for x in a.bad_lines] == [(x.line_number, x.reason) for x in b.bad_lines]
    _assert_same_readings(
        ChannelReadings(a.power_w, a.volts_v, a.amps_a, a.pf),
        ChannelReadings(b.power_w, b.volts_v, b.amps_a, b.pf),
        "total",
    )
    assert len(a.channels) == len(b.channels) and len(a.analyzers) == len(b.analyzers)
    for ch, (x, y) in enumerate(zip(a.channels, b.channels, strict=True), start=1):
        _assert_same_readings(x, y, f"Ch{ch}")
    for k, (x, y) in enumerate(zip(a.analyzers, b.analyzers, strict=True), start=1):
        _assert_same_readings(x.total, y.total, f"Analyzer{k}")
        assert len(x.channels) == len(y.channels)
        for ch, (cx, cy) in enumerate(zip(x.channels, y.channels, strict=True), start=1):
            _assert_same_readings(cx, cy, f"Analyzer{k} Ch{ch}")


def _takes_the_fast_path(path: Path, fields=SPL_FIELDS) -> bool:
    layout = layout_of(spl._first_line(path).split(","))
    return isinstance(layout, Layout) and read_fast(path, layout, tuple(fields)) is not None


# -- reading ----------------------------------------------------------------------------------------------------------


def test_two_analyzers_are_read_alike_by_both_paths(tmp_path: Path) -> None:
    path = _file(tmp_path, [_line(i) for i in range(LINES)])
    assert _takes_the_fast_path(path)
    fast, exact = _both(path)
    _assert_same(fast, exact)
    for log in (fast, exact):
        assert len(log) == LINES and log.bad_lines == () and not log.multichannel and log.channels == ()
        assert len(log.analyzers) == 2
        one, two = log.analyzers
        assert one.channels == () and len(two.channels) == 2
        i = LINES - 1
        assert log.t_utc_ns[i] == _analyzer_1(i).t_utc_ns and log.mark_of(i) == MARK
        a1, a2 = _analyzer_1(i), _analyzer_2(i)
        assert (log.power_w[i], log.volts_v[i], log.amps_a[i], log.pf[i]) == (a1.power_w + a2.power_w, -1, -1, -1)
        assert (one.total.power_w[i], one.total.volts_v[i], one.total.amps_a[i], one.total.pf[i]) == pytest.approx(
            (a1.power_w, a1.volts_v, a1.amps_a, a1.pf), abs=1e-6
        )
        assert (two.total.power_w[i], two.total.volts_v[i]) == pytest.approx((a2.power_w, -1.0), abs=1e-6)
        for got, want in zip(two.channels, a2.channels, strict=True):
            assert (got.power_w[i], got.volts_v[i], got.amps_a[i], got.pf[i]) == pytest.approx(
                (want.power_w, want.volts_v, want.amps_a, want.pf), abs=1e-6
            )


@pytest.mark.parametrize("fields", [("power_w",), ("power_w", "volts_v", "amps_a")])
def test_fields_not_requested_are_none_in_every_analyzer(tmp_path: Path, fields: tuple[str, ...]) -> None:
    path = _file(tmp_path, [_line(i) for i in range(50)])
    assert _takes_the_fast_path(path, fields)
    fast, exact = _both(path, fields)
    _assert_same(fast, exact)
    for readings in (fast.analyzers[0].total, fast.analyzers[1].total, *fast.analyzers[1].channels):
        assert readings.power_w.shape == (50,) and readings.pf is None
        assert (readings.volts_v is None) == ("volts_v" not in fields)


def test_marks_can_be_skipped_on_a_multi_analyzer_file(tmp_path: Path) -> None:
    log = read_spl(_file(tmp_path, [_line(i) for i in range(10)]), marks=False)
    assert log.marks == () and len(log.analyzers) == 2 and log.bad_lines == ()


def test_the_sum_column_is_what_was_written(tmp_path: Path) -> None:
    # not recomputed from the analyzers: a negative reading counts as abs(), a dropped analyzer (-1) not at all,
    # and a sum that matches neither rule is still read as written
    negative = PowerSample(T0_NS + 2_000_000_000, -12.5, 230.0, 0.1, -0.4, MARK)
    dropped = _dropped_analyzer_2(3)
    lines = [_line(0), _line(1), _merged([negative, _analyzer_2(2)]), _merged([_analyzer_1(3), dropped]), _line(4)]
    lines.append(_merged([_analyzer_1(5), _analyzer_2(5)], total_w=1234.5))
    path = _file(tmp_path, lines)
    fast, exact = _both(path)
    _assert_same(fast, exact)
    written = [float(line.split(",")[3]) for line in lines]
    assert fast.power_w.tolist() == written
    assert written[2] == 12.5 + _analyzer_2(2).power_w and written[3] == _analyzer_1(3).power_w
    assert fast.power_w[5] == 1234.5
    assert fast.analyzers[0].total.power_w[2] == -12.5 and fast.analyzers[1].total.power_w[3] == DROPPED


def test_a_dropped_sample_is_minus_one_everywhere_and_kept(tmp_path: Path) -> None:
    dropped = "Time,08-02-2022 16:14:35.831,Watts,-1.000000,Volts,-1.000000,Amps,-1.000000,PF,-1.000000,Mark,m"
    good = format_spl_line(PowerSample(T0_NS, 11.47, 206.7, 0.17367, 0.3195, "m"))
    path = _file(tmp_path, [good, dropped, good.replace("16:14:34", "16:14:36")])
    for log in _both(path):
        assert len(log) == 3 and log.bad_lines == ()
        assert (log.power_w[1], log.volts_v[1], log.amps_a[1], log.pf[1]) == (-1.0, -1.0, -1.0, -1.0)
    # an analyzer of a merged line that dropped its sample: -1 in its own fields and in its channels
    path = _file(tmp_path, [_line(0), _merged([_analyzer_1(1), _dropped_analyzer_2(1)]), _line(2)])
    fast, exact = _both(path)
    _assert_same(fast, exact)
    two = fast.analyzers[1]
    assert fast.bad_lines == () and two.total.power_w[1] == DROPPED
    assert [ch.volts_v[1] for ch in two.channels] == [DROPPED, DROPPED]
    assert fast.power_w[1] == _analyzer_1(1).power_w


def test_an_analyzer_timestamp_is_informative_and_a_damaged_one_does_not_crash(tmp_path: Path) -> None:
    lines = [_line(i) for i in range(20)]
    fields = lines[4].split(",")
    analyzer_2_time = fields.index("Analyzer2") + 2
    fields[analyzer_2_time] = "07-3O-20"  # damaged: too short, a letter O
    lines[4] = ",".join(fields)
    lines[5] = lines[5].replace(f"Analyzer1,Time,{format_ptd_timestamp(_analyzer_1(5).t_utc_ns)}", "Analyzer1,Time,")
    path = _file(tmp_path, lines)
    fast, exact = _both(path)
    _assert_same(fast, exact)
    assert len(fast) == 20 and fast.bad_lines == ()


def test_an_analyzer_field_that_is_not_utf8_is_a_bad_line_on_both_paths(tmp_path: Path) -> None:
    lines = [_line(i).encode() for i in range(20)]
    at = lines[6].index(b"Analyzer2")
    lines[6] = lines[6][:at] + lines[6][at:].replace(MARK.encode(), b"2022-08-02\xe9", 1)  # analyzer 2's mark
    path = tmp_path / "spl.txt"
    path.write_bytes(b"".join(line + b"\r\n" for line in lines))
    fast, exact = _both(path)
    _assert_same(fast, exact)
    assert [b.line_number for b in fast.bad_lines] == [7] and "not UTF-8" in fast.bad_lines[0].reason
    assert len(fast) == 19


# -- damage -----------------------------------------------------------------------------------------------------------

_LABEL_FIELDS = [i for i in layout_of(_line(0).split(",")).label_columns() if i >= 12]  # the analyzer blocks'


def test_every_analyzer_block_label_is_checked() -> None:
    labels = [_line(0).split(",")[i] for i in _LABEL_FIELDS]
    assert labels[:8] == ["Analyzer1", "Time", "Watts", "Volts", "Amps", "PF", "Mark", "Analyzer2"]
    assert labels.count("Ch1") == labels.count("Ch2") == 1 and labels.count("Watts") == 4 and len(labels) == 24


@pytest.mark.parametrize("field_index", _LABEL_FIELDS)
def test_a_damaged_analyzer_label_is_a_bad_line_and_the_good_lines_are_kept(tmp_path: Path, field_index: int) -> None:
    lines = [_line(i) for i in range(LINES)]
    fields = lines[99].split(",")
    label = fields[field_index]
    fields[field_index] = label[:-1]  # 'Analyzer', 'Tim', 'Ch', ... : no label at all
    lines[99] = ",".join(fields)
    path = _file(tmp_path, lines)
    fast, exact = _both(path)
    _assert_same(fast, exact)
    assert [(b.line_number, b.path) for b in fast.bad_lines] == [(100, str(path))]
    assert len(fast) == LINES - 1 and 100 not in fast.line_number.tolist()
    assert fast.line_number[0] == 1 and fast.line_number[-1] == LINES
    assert repr(label[:-1]) in fast.bad_lines[0].reason or label.startswith("Analyzer")


def test_the_reasons_name_the_field_and_the_analyzer() -> None:
    line = _line(0)
    block_2 = line.index("Analyzer2")
    cases = {
        line.replace("Analyzer2,Time", "Analyzer2,Tim"): "field 27 (analyzer 2) should be 'Time', found 'Tim'",
        line.replace("Ch2,Watts", "Ch2,Wats"): "(analyzer 2) should be 'Watts', found 'Wats'",
        line.replace(
            "Analyzer2", "Analyzer3"
        ): "field 26 (analyzer 1) should be 'Ch1' or 'Analyzer2', found 'Analyzer3'",
        line.replace("Analyzer1", "Analyzer2", 1): "field 13 should be 'Analyzer1', found 'Analyzer2'",
        line[:block_2]
        + line[block_2:].replace("Volts,123", "Volts,x23", 1): "Analyzer2 Ch2 Volts value 'x23.000000' is not a number",
        line[: line.rindex(",PF,")]: "analyzer 2's Ch2 block has 7 of its 9 fields",
        line[: block_2 + 30]: "analyzer 2's block has",
    }
    for text, reason in cases.items():
        log = parse_spl_text(text + "\n")
        assert len(log) == 0 and reason in log.bad_lines[0].reason, (reason, log.bad_lines[0].reason)


def test_a_file_mixing_layouts_reports_the_odd_lines(tmp_path: Path) -> None:
    one_channel = PowerSample.multichannel(_analyzer_2(0).t_utc_ns, _analyzer_2(0).channels[:1], MARK)
    odd = {
        3: _merged([_analyzer_1(3), one_channel]),  # fewer fields
        5: _merged([_analyzer_1(5), _analyzer_2(5), _analyzer_1(5)]),  # a third analyzer
        7: format_spl_line(_analyzer_2(7)),  # a single-analyzer multichannel line
        9: _merged([_analyzer_2(9), _analyzer_1(9)]),  # same field count, channels on the other analyzer
    }
    lines = [odd.get(i, _line(i)) for i in range(1, 400)]
    path = _file(tmp_path, lines)
    fast, exact = _both(path)
    _assert_same(fast, exact)
    assert [b.line_number for b in fast.bad_lines] == [3, 5, 7, 9]
    reasons = [b.reason for b in fast.bad_lines]
    assert reasons == [
        "analyzer 2 has 1 channel(s) where earlier lines have 2",
        "3 analyzer block(s) where earlier lines have 2",
        "0 analyzer block(s) where earlier lines have 2",
        "analyzer 1 has 2 channel(s) where earlier lines have 0",
    ]
    assert len(fast) == len(lines) - 4 and len(fast.analyzers) == 2
    # and the other way round: a merged line in a single-analyzer file
    single = [format_spl_line(_analyzer_2(i)) for i in range(100)]
    single[10] = _line(10)
    fast, exact = _both(_file(tmp_path, single))
    _assert_same(fast, exact)
    assert [(b.line_number, b.reason) for b in fast.bad_lines] == [
        (11, "2 analyzer block(s) where earlier lines have 0")
    ]
    assert fast.analyzers == () and len(fast.channels) == 2


# -- views ------------------------------------------------------------------------------------------------------------


def test_analyzer_views_of_a_single_analyzer_file_are_its_columns() -> None:
    for name in ("xe8545_resnet_offline", "orin_offline"):
        log = read_spl(FIXTURES[name] / "run_1" / "spl.txt")
        (view,) = log.analyzer_views()
        assert isinstance(view, AnalyzerReadings) and log.analyzers == ()
        assert view.total.power_w is log.power_w and view.total.volts_v is log.volts_v and view.channels == log.channels


def test_analyzer_views_of_a_multi_analyzer_file_are_its_analyzers(tmp_path: Path) -> None:
    log = read_spl(_file(tmp_path, [_line(i) for i in range(30)]))
    assert log.analyzer_views() == log.analyzers and len(log.analyzer_views()) == 2


def test_peak_volts_amps_is_unchanged_for_single_analyzer_files(fixture_dir: Path) -> None:
    log = read_spl(fixture_dir / "run_1" / "spl.txt")
    readings = log.channels or (ChannelReadings(log.power_w, log.volts_v, log.amps_a, log.pf),)
    expected = (max(float(np.nanmax(r.volts_v)) for r in readings), max(float(np.nanmax(r.amps_a)) for r in readings))
    assert log.peak_volts_amps() == expected
    assert read_spl(fixture_dir / "run_1" / "spl.txt", fields=("power_w",)).peak_volts_amps() is None


def test_peak_volts_amps_of_several_analyzers_skips_the_minus_one_totals(tmp_path: Path) -> None:
    log = read_spl(_file(tmp_path, [_line(i) for i in range(30)]))
    volts = [_analyzer_1(i).volts_v for i in range(30)] + [
        ch.volts_v for i in range(30) for ch in _analyzer_2(i).channels
    ]
    amps = [_analyzer_1(i).amps_a for i in range(30)] + [ch.amps_a for i in range(30) for ch in _analyzer_2(i).channels]
    assert log.peak_volts_amps() == pytest.approx((max(volts), max(amps)), abs=1e-6)
    assert log.analyzers[1].peak_volts_amps() == pytest.approx(
        (max(ch.volts_v for i in range(30) for ch in _analyzer_2(i).channels), max(amps[30:])), abs=1e-6
    )
    assert parse_spl_text(b"").peak_volts_amps() is None
