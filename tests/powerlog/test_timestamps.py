"""LoadGen's and PTDaemon's timestamp text to UTC nanoseconds: exact on real values, strict on bad ones, the
vectorised parser equal to the scalar one."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from powerlog.errors import TimestampError
from powerlog.timestamps import format_ptd_timestamp, parse_ptd_timestamp, parse_ptd_timestamps


def _reference_ns(text: str) -> int:
    dt = datetime.strptime(text, "%m-%d-%Y %H:%M:%S.%f").replace(tzinfo=UTC)
    return int(dt.timestamp()) * 1_000_000_000 + dt.microsecond * 1000


def test_parses_a_real_loadgen_timestamp_exactly() -> None:
    # power_begin of the XE8545 ResNet50 Offline fixture
    assert parse_ptd_timestamp("08-02-2022 16:14:59.020") == 1_659_456_899_020_000_000


def test_leap_day_and_epoch() -> None:
    assert parse_ptd_timestamp("01-01-1970 00:00:00.000") == 0
    assert parse_ptd_timestamp("02-29-2024 23:59:59.999") == _reference_ns("02-29-2024 23:59:59.999")


@pytest.mark.parametrize(
    "bad",
    ["", "2022-08-02 16:14:59.020", "08-02-2022 16:14:59", "13-01-2022 00:00:00.000", "02-29-2023 00:00:00.000",
     "08-02-2022 24:00:00.000", "08-32-2022 00:00:00.000", "08-02-2022 16:60:00.000"],
)  # fmt: skip
def test_rejects_malformed_or_impossible_timestamps(bad: str) -> None:
    with pytest.raises(TimestampError):
        parse_ptd_timestamp(bad)


moments = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2099, 12, 31)).map(
    lambda d: d.replace(microsecond=(d.microsecond // 1000) * 1000)
)


@given(moments)
def test_matches_datetime_and_round_trips(moment: datetime) -> None:
    text = moment.strftime("%m-%d-%Y %H:%M:%S.") + f"{moment.microsecond // 1000:03d}"
    ns = parse_ptd_timestamp(text)
    assert ns == _reference_ns(text)
    assert format_ptd_timestamp(ns) == text


@given(st.lists(moments, min_size=1, max_size=50))
def test_vectorised_parser_agrees_with_scalar_parser(values: list[datetime]) -> None:
    texts = [v.strftime("%m-%d-%Y %H:%M:%S.") + f"{v.microsecond // 1000:03d}" for v in values]
    chars = np.frombuffer("".join(texts).encode(), dtype=np.uint8).reshape(len(texts), 23)
    ns, valid = parse_ptd_timestamps(chars)
    assert valid.all()
    assert ns.tolist() == [parse_ptd_timestamp(t) for t in texts]


def test_vectorised_parser_flags_invalid_rows() -> None:
    texts = ["08-02-2022 16:14:59.020", "08-02-2022 16:14:5x.020", "02-30-2022 16:14:59.020", "08-02-2022T16:14:59.020"]
    chars = np.frombuffer("".join(texts).encode(), dtype=np.uint8).reshape(len(texts), 23)
    ns, valid = parse_ptd_timestamps(chars)
    assert valid.tolist() == [True, False, False, False]
    assert ns[0] == parse_ptd_timestamp(texts[0])
