"""UTC timestamps as integer nanoseconds since the Unix epoch.

PTDaemon, LoadGen and spl.txt write ``MM-DD-YYYY HH:MM:SS.mmm`` in UTC. We turn
them into ``int`` nanoseconds once, at the edge, with plain integer arithmetic
(no ``datetime``, no floating point), so equal strings always give equal
integers and comparisons are exact.
"""

from __future__ import annotations

import re

import numpy as np
import numpy.typing as npt

from powerlog.errors import TimestampError

__all__ = [
    "NS_PER_MS",
    "NS_PER_S",
    "PTD_TIMESTAMP_LENGTH",
    "days_from_civil",
    "format_ptd_timestamp",
    "parse_ptd_timestamp",
    "parse_ptd_timestamps",
]

NS_PER_MS = 1_000_000
NS_PER_S = 1_000_000_000
NS_PER_DAY = 86_400 * NS_PER_S
PTD_TIMESTAMP_LENGTH = 23  # len("07-30-2022 04:40:04.430")
# int64 nanoseconds since the epoch reach from 1677-09-21 to 2262-04-11: we take the whole years in between
MIN_YEAR, MAX_YEAR = 1678, 2261

_PATTERN = re.compile(r"(\d\d)-(\d\d)-(\d{4}) (\d\d):(\d\d):(\d\d)\.(\d{3})")
_DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    year -= month <= 2
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _check_fields(text: str, year: int, month: int, day: int, hour: int, minute: int, second: int) -> None:
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise TimestampError(f"year {year} out of range {MIN_YEAR}-{MAX_YEAR} (int64 nanoseconds) in {text!r}")
    if not 1 <= month <= 12:
        raise TimestampError(f"month {month} out of range in {text!r}")
    last_day = 29 if month == 2 and _is_leap(year) else _DAYS_IN_MONTH[month - 1]
    if not 1 <= day <= last_day:
        raise TimestampError(f"day {day} out of range in {text!r}")
    if hour > 23 or minute > 59 or second > 59:
        raise TimestampError(f"time of day out of range in {text!r}")


def parse_ptd_timestamp(text: str) -> int:
    """Parse ``MM-DD-YYYY HH:MM:SS.mmm`` (UTC) into integer nanoseconds since the epoch.

    Years outside 1678-2261 are refused: their nanoseconds do not fit the int64 columns they go into."""
    match = _PATTERN.fullmatch(text.strip())
    if match is None:
        raise TimestampError(f"expected MM-DD-YYYY HH:MM:SS.mmm, got {text!r}")
    month, day, year, hour, minute, second, millis = (int(g) for g in match.groups())
    _check_fields(text, year, month, day, hour, minute, second)
    seconds_of_day = hour * 3600 + minute * 60 + second
    return days_from_civil(year, month, day) * NS_PER_DAY + seconds_of_day * NS_PER_S + millis * NS_PER_MS


def format_ptd_timestamp(t_utc_ns: int) -> str:
    """Format integer nanoseconds as ``MM-DD-YYYY HH:MM:SS.mmm`` (truncated to the millisecond)."""
    days, rest_ns = divmod(int(t_utc_ns), NS_PER_DAY)
    # civil_from_days, the inverse of days_from_civil
    z = days + 719468
    era = z // 146097
    day_of_era = z - era * 146097
    year_of_era = (day_of_era - day_of_era // 1460 + day_of_era // 36524 - day_of_era // 146096) // 365
    day_of_year = day_of_era - (365 * year_of_era + year_of_era // 4 - year_of_era // 100)
    mp = (5 * day_of_year + 2) // 153
    day = day_of_year - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    year = year_of_era + era * 400 + (month <= 2)
    seconds, sub_ns = divmod(rest_ns, NS_PER_S)
    hour, rem = divmod(seconds, 3600)
    minute, second = divmod(rem, 60)
    return f"{month:02d}-{day:02d}-{year:04d} {hour:02d}:{minute:02d}:{second:02d}.{sub_ns // NS_PER_MS:03d}"


_SEPARATORS = {2: ord("-"), 5: ord("-"), 10: ord(" "), 13: ord(":"), 16: ord(":"), 19: ord(".")}


def _digit_pair_table() -> npt.NDArray[np.int16]:
    # two ASCII bytes read as one little-endian uint16 -> their value 0..99, or -1 when not two digits
    table = np.full(1 << 16, -1, dtype=np.int16)
    for tens in range(10):
        for ones in range(10):
            table[(ord("0") + tens) | ((ord("0") + ones) << 8)] = tens * 10 + ones
    return table


_PAIR_VALUE = _digit_pair_table()


def _days_from_civil(
    year: npt.NDArray[np.int32], month: npt.NDArray[np.int32], day: npt.NDArray[np.int32]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """Vectorised :func:`days_from_civil`, with whether each date exists."""
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    month_index = np.clip(month - 1, 0, 11)
    last_day = np.asarray(_DAYS_IN_MONTH, dtype=np.int32)[month_index] + ((month == 2) & leap)
    valid = (month >= 1) & (month <= 12) & (day >= 1) & (day <= last_day)
    shifted_year = year - (month <= 2)
    era = np.floor_divide(shifted_year, 400)
    year_of_era = shifted_year - era * 400
    day_of_year = (153 * (month + np.where(month > 2, -3, 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return (era * 146097 + day_of_era - 719468).astype(np.int64), valid


def parse_ptd_timestamps(chars: npt.NDArray[np.uint8]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """Vectorised :func:`parse_ptd_timestamp` over an ``(n, 23)`` array of ASCII bytes.

    Returns ``(t_utc_ns, valid)``; where ``valid`` is False the time is 0 and the
    row must be parsed (and reported) one at a time.
    """
    if chars.ndim != 2 or chars.shape[1] != PTD_TIMESTAMP_LENGTH:
        raise ValueError(f"expected an (n, {PTD_TIMESTAMP_LENGTH}) byte array, got shape {chars.shape}")
    n = chars.shape[0]
    flat = np.ascontiguousarray(chars, dtype=np.uint8).reshape(-1)
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.bool_)

    def column(offset: int, dtype: str) -> npt.NDArray[np.uint16]:
        # one field of every row, read in place (rows are 23 bytes apart)
        return np.ndarray((n,), dtype=dtype, buffer=flat, offset=offset, strides=(PTD_TIMESTAMP_LENGTH,))

    def pair(offset: int) -> npt.NDArray[np.int32]:
        values: npt.NDArray[np.int32] = _PAIR_VALUE[column(offset, "<u2")].astype(np.int32)
        return values

    month, day, century, year_in_century = pair(0), pair(3), pair(6), pair(8)
    hour, minute, second, centis = pair(11), pair(14), pair(17), pair(20)
    last_digit = column(22, "u1").astype(np.int32) - ord("0")
    valid = (last_digit >= 0) & (last_digit <= 9)
    for value in (month, day, century, year_in_century, hour, minute, second, centis):
        valid &= value >= 0
    for offset, byte in _SEPARATORS.items():
        valid &= column(offset, "u1") == byte
    year = century * 100 + year_in_century
    millis = centis * 10 + last_digit
    valid &= (hour <= 23) & (minute <= 59) & (second <= 59) & (year >= MIN_YEAR) & (year <= MAX_YEAR)

    # consecutive samples nearly always share a date: do the calendar once per run of equal dates
    date_key = (year * 100 + month) * 100 + day
    run_starts = np.flatnonzero(np.concatenate(([True], date_key[1:] != date_key[:-1])))
    run_lengths = np.diff(np.append(run_starts, n))
    run_days, run_valid = _days_from_civil(year[run_starts], month[run_starts], day[run_starts])
    days = np.repeat(run_days, run_lengths)
    valid &= np.repeat(run_valid, run_lengths)
    seconds_of_day = (hour * 3600 + minute * 60 + second).astype(np.int64)
    t_utc_ns = days * NS_PER_DAY + seconds_of_day * NS_PER_S + millis.astype(np.int64) * NS_PER_MS
    return np.where(valid, t_utc_ns, 0), valid
