"""spl.txt (PTDaemon's sample log as power-dev keeps it): reading one and several channels, the fast reader against
the exact parser, bad lines kept with their numbers, and the writer round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from powerlog import spl
from powerlog.errors import MissingFileError
from powerlog.spl import (
    SPL_FIELDS,
    ChannelSample,
    PowerSample,
    SplWriter,
    format_spl_line,
    parse_spl_text,
    read_spl,
    write_spl,
)
from powerlog.spl_arrow import read_fast
from powerlog.spl_layout import layout_of
from powerlog.timestamps import parse_ptd_timestamp
from tests.support.paths import FIXTURES

SINGLE = "Time,07-30-2022 04:40:04.430,Watts,11.470000,Volts,206.700000,Amps,0.173670,PF,0.319500,Mark,s_testing"
MULTI = (
    "Time,08-02-2022 16:14:34.831,Watts,641.000000,Volts,-1.000000,Amps,-1.000000,PF,-1.000000,Mark,m_testing,"
    "Ch1,Watts,251.000000,Volts,128.290000,Amps,3.233000,PF,0.605200,"
    "Ch2,Watts,390.000000,Volts,123.710000,Amps,3.232000,PF,0.975400"
)

_COLUMNS = ("t_utc_ns", "power_w", "volts_v", "amps_a", "pf", "mark_index", "line_number")


def _assert_same(a, b) -> None:
    for name in _COLUMNS:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert a.marks == b.marks
    assert len(a.channels) == len(b.channels)
    for ca, cb in zip(a.channels, b.channels, strict=True):
        for name in SPL_FIELDS:
            np.testing.assert_array_equal(getattr(ca, name), getattr(cb, name), err_msg=name)


def test_single_channel_line_is_read_into_columns() -> None:
    log = parse_spl_text(SINGLE + "\r\n")
    assert len(log) == 1 and not log.multichannel
    assert log.t_utc_ns[0] == parse_ptd_timestamp("07-30-2022 04:40:04.430")
    assert (log.power_w[0], log.volts_v[0], log.amps_a[0], log.pf[0]) == (11.47, 206.7, 0.17367, 0.3195)
    assert log.mark_of(0) == "s_testing"
    assert log.bad_lines == ()


def test_multichannel_line_keeps_every_channel() -> None:
    log = parse_spl_text(MULTI + "\r\n")
    assert log.multichannel and len(log.channels) == 2
    assert log.power_w[0] == 641.0 and log.volts_v[0] == -1.0
    assert log.channels[0].volts_v[0] == 128.29 and log.channels[1].pf[0] == 0.9754


def test_fast_reader_equals_exact_parser_on_every_fixture(fixture_dir: Path) -> None:
    for phase in ("ranging", "run_1"):
        path = fixture_dir / phase / "spl.txt"
        fast = read_spl(path)
        exact = parse_spl_text(path.read_bytes(), str(path))
        assert len(fast) > 600 and fast.bad_lines == ()
        _assert_same(fast, exact)


def test_fixture_line_numbers_and_marks() -> None:
    log = read_spl(FIXTURES["orin_offline"] / "run_1" / "spl.txt")
    assert log.line_number[0] == 1 and log.line_number[-1] == len(log)
    assert log.marks == ("2022-07-29_21-27-24_testing",)


def test_bad_lines_are_reported_with_numbers_and_good_lines_kept(tmp_path: Path) -> None:
    lines = [
        SINGLE,
        SINGLE.replace("Amps,0.173670", "Amps,abc"),
        SINGLE.replace("04:40:04.430", "04:40:05.430"),
        "garbage that is not a sample",
        SINGLE.replace("04:40:04.430", "04:4O:06.430"),
        SINGLE.replace("04:40:04.430", "04:40:07.430"),
    ]
    path = tmp_path / "spl.txt"
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode() + b"Time,07-30-2022 04:40:0\xff")
    log = read_spl(path)
    assert len(log) == 3
    assert log.line_number.tolist() == [1, 3, 6]
    assert [(b.line_number, b.path) for b in log.bad_lines] == [
        (2, str(path)),
        (4, str(path)),
        (5, str(path)),
        (7, str(path)),
    ]
    reasons = [b.reason for b in log.bad_lines]
    assert "Amps value 'abc' is not a number" in reasons[0]
    assert "expected at least 10 comma-separated fields, found 1" in reasons[1]
    assert "bad timestamp" in reasons[2]
    assert "not UTF-8" in reasons[3]


def test_truncated_last_line_says_the_file_may_be_truncated() -> None:
    log = parse_spl_text(SINGLE + "\r\n" + SINGLE[:40])
    assert len(log) == 1
    assert "truncated" in log.bad_lines[0].reason


def test_channel_count_change_is_a_bad_line() -> None:
    log = parse_spl_text(MULTI + "\n" + SINGLE + "\n")
    assert len(log) == 1
    assert "0 channel(s) where earlier lines have 2" in log.bad_lines[0].reason


def test_empty_file_gives_an_empty_log(tmp_path: Path) -> None:
    path = tmp_path / "spl.txt"
    path.write_bytes(b"")
    log = read_spl(path)
    assert len(log) == 0 and log.bad_lines == ()


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(MissingFileError, match=r"spl\.txt"):
        read_spl(tmp_path / "spl.txt")


def test_fields_not_requested_are_none() -> None:
    log = read_spl(FIXTURES["xe8545_resnet_offline"] / "run_1" / "spl.txt", fields=("power_w",))
    assert log.volts_v is None and log.channels[0].amps_a is None
    assert log.channels[1].power_w.shape == log.power_w.shape


def test_nan_readings_are_kept_as_nan(tmp_path: Path) -> None:
    path = tmp_path / "spl.txt"
    path.write_text(SINGLE + "\n" + SINGLE.replace("Watts,11.470000", "Watts,nan") + "\n")
    log = read_spl(path)
    assert len(log) == 2 and np.isnan(log.power_w[1]) and log.bad_lines == ()


watts = st.floats(min_value=0, max_value=100_000, allow_nan=False).map(lambda x: round(x, 6))
channel = st.builds(ChannelSample, watts, watts, watts, st.floats(min_value=-1, max_value=1).map(lambda x: round(x, 6)))
samples = st.lists(
    st.tuples(st.integers(min_value=0, max_value=4_000_000_000_000), st.lists(channel, min_size=0, max_size=3)),
    min_size=1,
    max_size=20,
)


@settings(max_examples=50, deadline=None)
@given(samples, st.sampled_from(["a_ranging", "b_testing"]))
def test_writer_and_reader_round_trip(tmp_path_factory: pytest.TempPathFactory, rows, mark: str) -> None:
    n_channels = len(rows[0][1])
    written = []
    for i, (t_ms, channels) in enumerate(rows):
        chans = tuple(channels[:n_channels]) + tuple(
            ChannelSample(1.0, 2.0, 3.0, 0.5) for _ in range(n_channels - len(channels))
        )
        total = round(sum(c.power_w for c in chans), 6) if chans else 10.0 + i
        written.append(PowerSample(t_ms * 1_000_000, total, 230.0, 1.5, 0.9, mark, chans))
    path = tmp_path_factory.mktemp("spl") / "spl.txt"
    assert write_spl(path, written) == len(written)
    log = read_spl(path)
    assert log.bad_lines == ()
    back = list(log.samples())
    assert len(back) == len(written)
    for w, b in zip(written, back, strict=True):
        assert b.t_utc_ns == w.t_utc_ns and b.mark == w.mark
        assert b.power_w == pytest.approx(w.power_w, abs=1e-6)
        for cw, cb in zip(w.channels, b.channels, strict=True):
            assert (cb.power_w, cb.volts_v, cb.amps_a, cb.pf) == pytest.approx(
                (cw.power_w, cw.volts_v, cw.amps_a, cw.pf), abs=1e-6
            )


def test_multichannel_line_format_matches_ptdaemon() -> None:
    log = parse_spl_text(MULTI)
    assert format_spl_line(next(log.samples())) == MULTI


def test_writer_appends_and_refuses_marks_with_commas(tmp_path: Path) -> None:
    path = tmp_path / "spl.txt"
    sample = next(parse_spl_text(SINGLE).samples())
    with SplWriter(path) as writer:
        writer.write([sample])
    with SplWriter(path) as writer:
        writer.write([sample])
        with pytest.raises(ValueError, match="commas"):
            writer.write([PowerSample(0, 1, 1, 1, 1, "a,b")])
    assert path.read_bytes().count(b"\r\n") == 2


_PARTIAL_WRITE = """
import resource, signal, sys
from powerlog.errors import PartialWriteError
from powerlog.spl import PowerSample, SplWriter, read_spl
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
path = sys.argv[1]
samples = [PowerSample(1_659_155_000_000_000_000 + i * 100_000_000, 100.0 + i, 230.0, 0.5, 0.9, "m") for i in range(40)]
with SplWriter(path) as writer:
    writer.write(samples[:10])
    resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[2]), resource.RLIM_INFINITY))
    try:
        writer.write(samples[10:])
    except PartialWriteError as e:
        print(e.written, e.errno, len(read_spl(path).power_w))
"""


def test_a_write_the_disk_refuses_part_way_keeps_whole_lines_and_says_how_many(tmp_path: Path) -> None:
    import errno
    import subprocess
    import sys

    line_bytes = len(format_spl_line(PowerSample(1_659_155_000_000_000_000, 100.0, 230.0, 0.5, 0.9, "m"))) + 2
    limit = 10 * line_bytes + 7 * line_bytes + line_bytes // 2  # the file may grow by 7.5 more lines
    out = subprocess.run(
        [sys.executable, "-c", _PARTIAL_WRITE, str(tmp_path / "spl.txt"), str(limit)],
        capture_output=True,
        text=True,
        check=True,
    )
    written, code, on_disk = map(int, out.stdout.split())
    assert (written, code, on_disk) == (7, errno.EFBIG, 17)
    assert (tmp_path / "spl.txt").stat().st_size == 17 * line_bytes  # the torn eighth line was cut off


def test_fixtures_take_the_fast_path_and_bad_files_do_not(tmp_path: Path) -> None:
    path = FIXTURES["xr12_singlestream"] / "run_1" / "spl.txt"
    layout = layout_of(spl._first_line(path).split(","))
    assert read_fast(path, layout, SPL_FIELDS) is not None
    damaged = tmp_path / "spl.txt"
    damaged.write_bytes(path.read_bytes().replace(b"Watts,", b"Watts,x", 1).replace(b"\r\n", b"\r\nTime\r\n", 1))
    assert read_fast(damaged, layout, SPL_FIELDS) is None


def test_marks_can_be_skipped_on_both_paths(tmp_path: Path) -> None:
    path = FIXTURES["orin_offline"] / "run_1" / "spl.txt"
    fast = read_spl(path, marks=False)
    assert fast.marks == () and fast.mark_of(0) == ""
    damaged = tmp_path / "spl.txt"
    damaged.write_bytes(path.read_bytes() + b"junk\r\n")
    exact = read_spl(damaged, marks=False)
    assert exact.marks == () and len(exact) == len(fast) and len(exact.bad_lines) == 1


def test_a_mark_that_is_not_utf8_sends_the_file_to_the_exact_parser(tmp_path: Path) -> None:
    path = tmp_path / "spl.txt"
    path.write_bytes((SINGLE + "\r\n").encode() + (SINGLE + "\r\n").encode().replace(b"s_testing", b"s_t\xe9sting"))
    log = read_spl(path)
    assert len(log) == 1 and "not UTF-8" in log.bad_lines[0].reason and log.bad_lines[0].line_number == 2


@pytest.mark.parametrize("ending", [b"\n\n", b"\n\r\n", b"\r\n\r\n\r\n"])
def test_blank_lines_at_the_end_keep_the_fast_path(tmp_path: Path, ending: bytes) -> None:
    """power-dev's server ends spl.txt with a blank line (every v4.1-v5.1 result does): the file is still
    read column-wise, with the same samples and line numbers as line by line; a blank line inside is not."""
    source = FIXTURES["xr12_singlestream"] / "run_1" / "spl.txt"
    path = tmp_path / "spl.txt"
    path.write_bytes(source.read_bytes().rstrip(b"\r\n") + ending)
    layout = layout_of(spl._first_line(path).split(","))
    fast = read_fast(path, layout, SPL_FIELDS)
    assert fast is not None
    _assert_same(fast, parse_spl_text(path.read_bytes(), str(path)))
    inside = tmp_path / "inside.txt"
    inside.write_bytes(source.read_bytes().replace(b"\r\n", b"\r\n\r\n", 1))
    assert read_fast(inside, layout, SPL_FIELDS) is None
