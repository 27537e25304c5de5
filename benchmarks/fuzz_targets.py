"""Fuzz targets for mlpower's parsers: hypothesis strategies and the checks run on each input.

Shared by ``benchmarks/bench_fuzz.py`` (10,000 cases a target) and ``tests/powerlog/test_fuzz_parsers.py``
(a few hundred, in the normal test suite).

Each target draws one input from its strategy and feeds it to the real parser(s): files are
written to a scratch folder and read with the real reader, meter replies go through the real
driver over a :class:`StreamTransport`. The strategies mix near-valid inputs (real lines from
the fixtures and generated ones, then fields dropped, duplicated, swapped or replaced by garbage,
text truncated or repeated, bytes flipped, huge numbers, NaN/inf, Unicode digits, NUL, lone
surrogates, CR/LF variations) with random text and bytes. Hypothesis draws the shape of an input
(which generator, how many lines, how damaged) and a seed; a seeded ``random.Random`` fills in the
bulk, because a hypothesis draw costs ~50 us and a 40-line file drawn value by value ~30 ms.

The property: a parser returns a result or raises an error of its own package's tree
(:class:`~powerlog.errors.PowerlogError` for powerlog, :class:`~director.errors.DirectorError`
for the director's meter drivers). Each call is counted in a :class:`Tally`; any other exception
escapes and fails the case. So does :class:`Inconsistent`, raised where two readers of the same
input must agree and do not (spl.txt's pyarrow path and its line-by-line path; the scalar and the
vectorised timestamp parsers).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import json
import random
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import strategies as st

from director.errors import DirectorError, MeterConnectionError
from director.meters.base import MeterIdentity
from director.meters.ptd import (
    PtdMeter,
    parse_identify,
    parse_ranges,
    parse_rl_header,
    parse_uncertainty,
    parse_watts,
)
from director.meters.ranges import Ranges
from director.meters.transport import LineTransport
from director.meters.yokogawa import YokogawaWT310, YokogawaWT330, parse_element_values, parse_values
from powerlog.errors import PowerlogError
from powerlog.mllog import MLLOG_PREFIX, read_detail_log, read_summary_log
from powerlog.ptdlog import read_ptd_log
from powerlog.spl import SPL_FIELDS, ChannelSample, PowerLog, PowerSample, format_spl_line, parse_spl_text, read_spl
from powerlog.timestamps import (
    NS_PER_MS,
    PTD_TIMESTAMP_LENGTH,
    format_ptd_timestamp,
    parse_ptd_timestamp,
    parse_ptd_timestamps,
)

__all__ = [
    "TARGETS",
    "CaseTimeout",
    "Inconsistent",
    "StreamTransport",
    "Tally",
    "Target",
    "run_case",
    "time_limit",
]

DATA_DIR = Path(__file__).resolve().parents[1] / "tests" / "data"


# -- outcomes ---------------------------------------------------------------------------------------------------------


class Inconsistent(AssertionError):
    """Two readers of the same input disagree: a bug, like an untyped exception."""


class CaseTimeout(BaseException):
    """One case ran past the time limit (a hang). A BaseException, so no ``except Exception`` swallows it."""


TYPED = object()  # what Tally.attempt returns when the call raised a typed error


@dataclass
class Tally:
    """Parser calls made, and how each ended: a result or a typed error."""

    calls: int = 0
    parsed: int = 0
    typed: int = 0

    def attempt(self, typed: type[BaseException], call: Callable[..., Any], *args: Any) -> Any:
        """``call(*args)``, or :data:`TYPED` when it raised ``typed``; anything else propagates."""
        self.calls += 1
        try:
            result = call(*args)
        except typed:
            self.typed += 1
            return TYPED
        self.parsed += 1
        return result


@dataclass(frozen=True)
class Target:
    name: str
    calls: str  # what one case calls, for the report
    strategy: st.SearchStrategy[Any]
    check: Callable[[Any, Tally], None]


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise :class:`CaseTimeout` in the main thread if the block runs longer than ``seconds`` (SIGALRM, Unix)."""

    def expire(signum: int, frame: object) -> None:
        raise CaseTimeout(f"case ran longer than {seconds * 1000:.0f} ms")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@functools.cache
def _scratch_dir() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="mlpower-fuzz-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def _scratch_file(name: str, data: bytes) -> Path:
    path = _scratch_dir() / name
    path.write_bytes(data)
    return path


class StreamTransport(LineTransport):
    """A meter whose side of the wire is a fixed byte string, handed out ``chunk`` bytes per read.

    Every command gets the next line of it as its reply; past its end the connection is closed,
    reported as :class:`~director.errors.MeterConnectionError` the way :class:`TcpLineTransport` does.
    """

    def __init__(self, data: bytes, chunk: int = 4096) -> None:
        super().__init__("fuzz", timeout_s=1.0, clock=lambda: 0)
        self._data = data
        self._chunk = chunk

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def _send(self, data: bytes, command: str) -> None:
        pass

    def _recv(self, command: str, deadline: float) -> bytes:
        if not self._data:
            raise MeterConnectionError("connection closed by the meter", meter=self.name, command=command)
        head, self._data = self._data[: self._chunk], self._data[self._chunk :]
        return head


# -- seeds: lines from the real fixtures ------------------------------------------------------------------------------


@functools.cache
def _fixture_lines(pattern: str, per_file: int = 60) -> tuple[str, ...]:
    """Distinct lines of the fixture files matching ``pattern``, spread over each file."""
    lines: dict[str, None] = {}
    for path in sorted(DATA_DIR.glob(pattern)):
        distinct = list(dict.fromkeys(path.read_bytes().decode("utf-8", "replace").splitlines()))
        step = max(1, len(distinct) // per_file)
        lines.update(dict.fromkeys(distinct[::step][:per_file]))
    return tuple(lines) or ("",)


@functools.cache
def _fixture_replies() -> tuple[str, ...]:
    replies: dict[str, None] = {}
    for path in sorted(DATA_DIR.glob("*/performance/power/*.json")):
        with contextlib.suppress(ValueError, AttributeError, TypeError):
            for message in json.loads(path.read_text()).get("ptd_messages", []):
                replies[str(message.get("reply", ""))] = None
    return tuple(replies) or ("",)


# -- randomness: hypothesis draws the shape and a seed, random.Random fills in the bulk ------------------------------
#
# A hypothesis draw costs ~50 us; a 40-line file drawn value by value costs 20-40 ms a case. So each strategy draws
# its structure (which generator, how many lines, how damaged) and a seed, and a seeded random.Random does the rest.


def _rng(draw: st.DrawFn) -> random.Random:
    return random.Random(draw(st.integers(0, 2**64 - 1)))


SPECIAL_TOKENS = (
    "", " ", "\t", "-", ".", "nan", "NaN", "-nan", "NAN", "inf", "-inf", "Infinity", "INF", "1e309", "-1e309",
    "1e-400", "4.9e-324", "1.7976931348623157e308", "9.91E+37", "0x1p3", "0x10", "1_000", "+1", "-0", ".5", "5.",
    "1e", "e5", "--1", "1,5", "1;5", '"1.5"', '"', "'", "\\", "\x00", "\x00\x00", "\ufeff", "\u2028", "\u0085",
    "\x1c", "\x0b", "\x0c", "\u22121", "\u0661\u0662\u0663", "\u00b2", "\u2155", "\uff11\uff12", "\ud800", "\U0001f600",
    "\r", "\n", "\r\n", "\n\r", ",", ",,,", ";", ":", ": ", "Mark", "Time", "Watts", "Ch1", "Ch9", "Ch0", "Auto",
    "Last", "Ranges", "9" * 400, "9" * 5000, "1" + "0" * 400, "-" + "9" * 4400, "0." + "0" * 500 + "1",
    "1e99999999999", "A" * 2000,
)  # fmt: skip
_SHORT_TOKENS = tuple(t for t in SPECIAL_TOKENS if len(t) < 40)
_SPECIAL_FLOATS = (
    0.0,
    -0.0,
    -1.0,
    float("nan"),
    float("inf"),
    float("-inf"),
    1e300,
    -1e300,
    5e-324,
    1.7976931348623157e308,
)
# code point ranges for random text, weighted towards ASCII; surrogates become invalid UTF-8 when encoded
_CODE_POINTS = ((0x20, 0x7E),) * 6 + ((0x00, 0x1F), (0x7F, 0xFF), (0x100, 0xD7FF), (0xD800, 0xDFFF), (0xE000, 0x10FFFF))


def _random_text(rng: random.Random, max_size: int) -> str:
    return "".join(chr(rng.randint(*rng.choice(_CODE_POINTS))) for _ in range(rng.randint(0, max_size)))


def _number_text(rng: random.Random) -> str:
    roll = rng.randrange(6)
    if roll == 0:
        return repr(rng.choice(_SPECIAL_FLOATS))
    if roll == 1:
        return str(rng.randint(-(10**20), 10**20))
    value = rng.uniform(-1e4, 1e4) * 10 ** rng.randint(-10, 10)
    return (f"{value:.6f}", f"{value:.4E}", repr(value), f"{value:g}")[roll - 2]


def _garbage(rng: random.Random) -> str:
    roll = rng.randrange(3)
    if roll == 0:
        return rng.choice(SPECIAL_TOKENS)
    return _number_text(rng) if roll == 1 else _random_text(rng, 12)


def _mutate_fields(rng: random.Random, fields: list[str]) -> list[str]:
    """Drop, duplicate, swap, empty or replace (by garbage) a few fields."""
    fields = list(fields)
    for _ in range(rng.randint(1, 3)):
        if not fields:
            break
        i = rng.randrange(len(fields))
        op = rng.choice(("drop", "dup", "swap", "empty", "garbage", "garbage", "garbage"))
        if op == "drop":
            del fields[i]
        elif op == "dup":
            fields.insert(i, fields[i])
        elif op == "swap":
            j = rng.randrange(len(fields))
            fields[i], fields[j] = fields[j], fields[i]
        elif op == "empty":
            fields[i] = ""
        else:
            fields[i] = _garbage(rng)
    return fields


def _insert(rng: random.Random) -> str:
    return rng.choice(_SHORT_TOKENS) if rng.randrange(2) else _random_text(rng, 3)


def _mutate_text(rng: random.Random, text: str) -> str:
    """Truncate, insert, delete, replace or repeat a few characters."""
    for _ in range(rng.randint(1, 3)):
        i = rng.randint(0, len(text))
        op = rng.choice(("truncate", "insert", "delete", "replace", "repeat"))
        if op == "truncate":
            text = text[:i]
        elif op == "insert":
            text = text[:i] + _insert(rng) + text[i:]
        elif op == "delete":
            text = text[:i] + text[i + rng.randint(1, 8) :]
        elif op == "replace":
            text = text[:i] + _insert(rng) + text[i + 1 :]
        else:
            text = text[:i] + text[i : i + rng.randint(1, 40)] * rng.randint(2, 50) + text[i:]
    return text


def _mutate_bytes(rng: random.Random, data: bytes) -> bytes:
    """Flip, insert or delete a few bytes (often leaving invalid UTF-8 behind), or cut the end off."""
    buffer = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        i = rng.randint(0, len(buffer))
        op = rng.choice(("flip", "insert", "delete", "truncate"))
        if op == "flip" and i < len(buffer):
            buffer[i] ^= rng.randint(1, 255)
        elif op == "insert":
            buffer[i:i] = rng.choice((b"\xff", b"\xc3", b"\xe2\x82", b"\x00", b"\r", b"\n", b"\x80", b"\xed\xa0\x80"))
        elif op == "delete":
            del buffer[i : i + rng.randint(1, 4)]
        elif op == "truncate":
            del buffer[i:]
    return bytes(buffer)


def _near_valid(rng: random.Random, line: str, sep: str, percent: int) -> str:
    """``line``, damaged ``percent`` % of the time (field-wise, character-wise or both)."""
    if rng.randrange(100) >= percent:
        return line
    how = rng.randrange(3)
    if how != 1:
        line = sep.join(_mutate_fields(rng, line.split(sep)))
    if how != 0:
        line = _mutate_text(rng, line)
    return line


LINE_ENDS = ("\r\n", "\n", "\r\n", "\n", "\r", "", "\n\n", "\r\r\n", " \r\n", "\n\r")


def _file(rng: random.Random, lines: Sequence[str]) -> bytes:
    """Lines joined with one line end (usually) or a random one each; sometimes a BOM, sometimes damaged bytes."""
    if rng.randrange(10) < 7:
        end = rng.choice(LINE_ENDS[:4])
        text = "".join(line + end for line in lines)
    else:
        text = "".join(line + rng.choice(LINE_ENDS) for line in lines)
    if rng.randrange(20) == 0:
        text = "\ufeff" + text
    data = text.encode("utf-8", "surrogatepass")  # a lone surrogate becomes invalid UTF-8
    return _mutate_bytes(rng, data) if rng.randrange(10) == 0 else data


RANDOM_BYTES = st.one_of(
    st.binary(max_size=2048),
    st.text(max_size=400).map(lambda t: t.encode("utf-8", "surrogatepass")),
)


@st.composite
def _garbage_lines(draw: st.DrawFn, sep: str = ",") -> bytes:
    rng = _rng(draw)
    lines = [sep.join(_garbage(rng) for _ in range(rng.randint(0, 14))) for _ in range(rng.randint(0, 20))]
    return _file(rng, lines)


def _random_input() -> st.SearchStrategy[bytes]:
    return st.one_of(RANDOM_BYTES, _garbage_lines())


# -- timestamps -------------------------------------------------------------------------------------------------------

MS_YEAR_0_TO_9999 = (-62_167_219_200_000, 253_402_300_799_999)


def _valid_timestamp(rng: random.Random) -> str:
    if rng.randrange(2):  # around now, where the real logs are
        return format_ptd_timestamp(rng.randint(1_500_000_000_000, 2_000_000_000_000) * NS_PER_MS)
    return format_ptd_timestamp(rng.randint(*MS_YEAR_0_TO_9999) * NS_PER_MS)


def _timestamp_text(rng: random.Random) -> str:
    roll = rng.randrange(9)
    if roll <= 1:
        return _valid_timestamp(rng)
    if roll == 2:  # every field in range of its width: month 00-99, Feb 29 in any year, hour 24...
        month, day, hour, minute, second = (rng.randint(0, 99) for _ in range(5))
        year, millis = (
            rng.choice((rng.randint(0, 9999), rng.randint(1677, 1678), rng.randint(2261, 2263))),
            rng.randint(0, 999),
        )
        return f"{month:02d}-{day:02d}-{year:04d} {hour:02d}:{minute:02d}:{second:02d}.{millis:03d}"
    if roll <= 4:
        return _mutate_text(rng, _valid_timestamp(rng))
    if roll == 5:
        return "".join(rng.choice("0123456789-: .\t/\x00\u0663") for _ in range(rng.randint(20, 26)))
    if roll == 6:
        return _random_text(rng, PTD_TIMESTAMP_LENGTH + 2)
    if roll == 7:
        return bytes(rng.randrange(256) for _ in range(PTD_TIMESTAMP_LENGTH)).decode("latin-1")
    return _garbage(rng)


@st.composite
def timestamp_lists(draw: st.DrawFn) -> list[str]:
    rng = _rng(draw)
    return [_timestamp_text(rng) for _ in range(draw(st.integers(1, 8)))]


def check_timestamps(texts: list[str], tally: Tally) -> None:
    """Each text through the scalar parser; the 23-byte ones also as one batch through the vectorised one."""
    rows: list[tuple[str, Any, bytes]] = []
    for text in texts:
        t_ns = tally.attempt(PowerlogError, parse_ptd_timestamp, text)
        raw = text.encode("utf-8", "surrogatepass")
        if len(raw) == PTD_TIMESTAMP_LENGTH:
            rows.append((text, t_ns, raw))
    if not rows:
        return
    chars = np.frombuffer(b"".join(raw for _, _, raw in rows), dtype=np.uint8).reshape(len(rows), -1)
    values, valid = tally.attempt(PowerlogError, parse_ptd_timestamps, chars)
    for (text, t_ns, _), value, ok in zip(rows, values.tolist(), valid.tolist(), strict=True):
        scalar_ok = t_ns is not TYPED
        if ok and (not scalar_ok or value != t_ns):
            raise Inconsistent(f"vectorised parser gives {value} for {text!r}, the scalar one {t_ns!r}")
        if text.isascii() and scalar_ok and not ok:
            raise Inconsistent(f"scalar parser accepts {text!r} ({t_ns}), the vectorised one does not")


# -- spl.txt ----------------------------------------------------------------------------------------------------------

REAL_MARKS = ("", "2022-08-03_01-02-05_testing", "2022-08-03_01-02-05_ranging", "m")


def _watts(rng: random.Random) -> float:
    return (
        rng.choice(_SPECIAL_FLOATS) if rng.randrange(20) == 0 else round(rng.uniform(-1.0, 2000.0), rng.randint(0, 6))
    )


def _mark(rng: random.Random) -> str:
    if rng.randrange(4):
        return rng.choice(REAL_MARKS)
    return _random_text(rng, 20).replace(",", "").replace("\r", "").replace("\n", "")


def _spl_lines(rng: random.Random, count: int, percent: int) -> list[str]:
    """``count`` lines of one layout, as PTDaemon writes them, ``percent`` % of them damaged."""
    n_channels = rng.choice((0, 0, 1, 2, 4))
    has_mark = rng.randrange(5) > 0
    mark = _mark(rng)
    t_ms = rng.randint(*MS_YEAR_0_TO_9999) if rng.randrange(4) == 0 else rng.randint(1_500_000_000_000, 2**41)
    lines = []
    for _ in range(count):
        channels = tuple(ChannelSample(*(_watts(rng) for _ in range(4))) for _ in range(n_channels))
        sample = PowerSample(t_ms * NS_PER_MS, *(_watts(rng) for _ in range(4)), mark, channels)
        line = format_spl_line(sample)
        if not has_mark:
            fields = line.split(",")
            line = ",".join(fields[:10] + fields[12:])
        lines.append(_near_valid(rng, line, ",", percent))
        t_ms += rng.choice((1000, 1000, 1000, 999, 1001, 100, 0, -1000, 86_400_000))
    return lines


@st.composite
def spl_files(draw: st.DrawFn) -> bytes:
    how = draw(st.sampled_from(("generated", "generated", "generated", "fixture", "random")))
    if how == "random":
        return draw(_random_input())
    rng = _rng(draw)
    percent = draw(st.sampled_from((0, 0, 2, 10, 50, 100)))
    count = draw(st.integers(0, 40))
    if how == "generated":
        return _file(rng, _spl_lines(rng, count, percent))
    seeds = _fixture_lines("*/performance/*/spl.txt", per_file=20)
    return _file(rng, [_near_valid(rng, rng.choice(seeds), ",", percent) for _ in range(count)])


FIELD_CHOICES = (SPL_FIELDS, ("power_w",), ("power_w", "volts_v", "amps_a"))
SPL_CASES = st.tuples(spl_files(), st.sampled_from(FIELD_CHOICES), st.booleans())


def check_spl(case: tuple[bytes, tuple[str, ...], bool], tally: Tally) -> None:
    """read_spl on the bytes as a file, and parse_spl_text on the same bytes: they must agree."""
    data, fields, marks = case
    path = _scratch_file("spl.txt", data)
    log = tally.attempt(PowerlogError, read_spl, path, fields, marks)
    exact = tally.attempt(PowerlogError, parse_spl_text, data, str(path), fields)
    if log is not TYPED and exact is not TYPED:
        _same_log(data, log, exact, marks)


SPL_LABELS = frozenset(("Time", "Watts", "Volts", "Amps", "PF", "Mark"))


def _labels_swapped(data: bytes, line_number: int) -> bool:
    """Whether a line has the first line's fields, with labels in every label field, if not the right ones.

    read_spl's fast path checks label fields only for being a label (cheaply, as booleans); the line-by-line
    path wants the right one. That is the one difference allowed between the two."""
    first = next((raw.rstrip(b"\r\n") for raw in data.split(b"\n") if raw.rstrip(b"\r\n")), b"")
    expected = first.decode("utf-8", "replace").split(",")
    found = data.splitlines()[line_number - 1].decode("utf-8", "replace").split(",")
    mark_value = 11 if len(expected) > 10 and expected[10] == "Mark" else None
    label_fields = [
        i for i, text in enumerate(expected) if i != mark_value and (text in SPL_LABELS or text.startswith("Ch"))
    ]
    allowed = SPL_LABELS | {expected[i] for i in label_fields}
    return len(found) == len(expected) and all(found[i] in allowed for i in label_fields)


def _same_log(data: bytes, log: PowerLog, exact: PowerLog, marks: bool) -> None:
    def differ(what: str) -> Inconsistent:
        return Inconsistent(f"read_spl and parse_spl_text disagree on {what}")

    extra = np.setdiff1d(log.line_number, exact.line_number)
    if not all(_labels_swapped(data, int(n)) for n in extra):
        raise differ(f"the lines read ({len(log)} samples vs {len(exact)})")
    keep = ~np.isin(log.line_number, extra)
    if int(keep.sum()) != len(exact):
        raise differ(f"the lines read ({len(log)} samples vs {len(exact)})")
    if not np.array_equal(log.line_number[keep], exact.line_number):
        raise differ("line numbers")
    if not np.array_equal(log.t_utc_ns[keep], exact.t_utc_ns):
        raise differ("timestamps")
    pairs = [(name, getattr(log, name), getattr(exact, name)) for name in SPL_FIELDS]
    if len(log.channels) != len(exact.channels) and len(exact) > 0:
        raise differ(f"the channel count ({len(log.channels)} vs {len(exact.channels)})")
    for ch, (a, b) in enumerate(zip(log.channels, exact.channels, strict=False), start=1):
        pairs += [(f"Ch{ch} {name}", getattr(a, name), getattr(b, name)) for name in SPL_FIELDS]
    for name, a, b in pairs:
        if (a is None) != (b is None) or (a is not None and not np.array_equal(a[keep], b, equal_nan=True)):
            raise differ(name)
    if marks and [log.mark_of(i) for i in np.flatnonzero(keep)] != [exact.mark_of(i) for i in range(len(exact))]:
        raise differ("marks")
    swapped = set(extra.tolist())
    if [(b.line_number, b.reason) for b in log.bad_lines] != [
        (b.line_number, b.reason) for b in exact.bad_lines if b.line_number not in swapped
    ]:
        raise differ("bad lines")


# -- ptd_logs.txt -----------------------------------------------------------------------------------------------------

PTD_LOG_MESSAGES = (
    "Completed test",
    "ERROR: Can't evaluate uncertainty of this sample!",
    "WARNING: Uncertainty unknown for the last measurement sample! channel 1",
    "Uncertainty checking for Yokogawa WT310 is activated",
    "Response to client sent: Hello, PTDaemon here!",
    "Starting untimed measurement, maximum 500000 samples at 1000ms with 0 rampup samples",
)


def _ptd_log_line(rng: random.Random) -> str:
    roll = rng.randrange(10)
    if roll == 0:  # a continuation line, or a separator
        return rng.choice(("...", "", "0E+00;1", "   ", _random_text(rng, 40)))
    if roll <= 3:
        message = rng.choice(PTD_LOG_MESSAGES)
    elif roll <= 5:
        message = f"Go with mark '{_mark(rng)}'"
    elif roll <= 7:
        which = rng.choice(("", ", which is"))
        message = f"WARNING: Uncertainty {_number_text(rng)}%{which} above {_number_text(rng)}% limit for the last"
    else:
        message = _random_text(rng, 60)
    stamp = _valid_timestamp(rng) if rng.randrange(4) else _timestamp_text(rng)
    return f"{stamp}: {message}"


def _log_files(
    make_line: Callable[[random.Random], str], separator: str, fixture_glob: str, max_lines: int, per_file: int = 60
) -> st.SearchStrategy[bytes]:
    """Files of generated or fixture lines, a share of them damaged, or random bytes."""

    @st.composite
    def files(draw: st.DrawFn) -> bytes:
        how = draw(st.sampled_from(("generated", "generated", "fixture", "random")))
        if how == "random":
            return draw(_random_input())
        rng = _rng(draw)
        percent = draw(st.sampled_from((0, 5, 20, 100)))
        count = draw(st.integers(0, max_lines))
        if how == "generated":
            return _file(rng, [_near_valid(rng, make_line(rng), separator, percent) for _ in range(count)])
        seeds = _fixture_lines(fixture_glob, per_file=per_file)
        return _file(rng, [_near_valid(rng, rng.choice(seeds), separator, percent) for _ in range(count)])

    return files()


def ptd_log_files() -> st.SearchStrategy[bytes]:
    return _log_files(_ptd_log_line, " ", "*/performance/power/ptd_logs.txt", 40)


def check_ptd_log(data: bytes, tally: Tally) -> None:
    log = tally.attempt(PowerlogError, read_ptd_log, _scratch_file("ptd_logs.txt", data))
    if log is not TYPED:
        for phase in {event.phase for event in log.events}:
            log.phase_span_ns(phase)


# -- MLLOG (mlperf_log_detail.txt) ------------------------------------------------------------------------------------

MLLOG_KEYS = (
    "power_begin", "power_end", "result_validity", "effective_scenario", "loadgen_version", "error_invalid_config",
    "result_samples_per_second", "key", "",
)  # fmt: skip
RAW_JSON = (
    "NaN", "Infinity", "-Infinity", "1" + "0" * 400, "-1" + "0" * 400, "9" * 5000, "1e400", "-1e400", "1e-400",
    "[" * 100_000, "[" * 500 + "]" * 500, '{"a":' * 50_000, '"\\ud800"', '"\\u0000"', "true", "null", "[]", "{}",
    '"' + "x" * 10_000 + '"', "0x10", "01", "+1", ".5", "'single'", "",
)  # fmt: skip
_HOLE = "\x00hole\x00"


def _json_value(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.randrange(10 if depth < 3 else 8)
    if roll == 0:
        return rng.choice((None, True, False))
    if roll == 1:
        return rng.randint(-(10**12), 10**12)
    if roll == 2:
        return rng.choice(_SPECIAL_FLOATS) if rng.randrange(4) == 0 else rng.uniform(-1e9, 1e9)
    if roll in (3, 4):
        return _random_text(rng, 20)
    if roll in (5, 6):
        return _valid_timestamp(rng)
    if roll == 7:
        return _timestamp_text(rng)
    if roll == 8:
        return [_json_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {_random_text(rng, 6): _json_value(rng, depth + 1) for _ in range(rng.randint(0, 3))}


def _mllog_line(rng: random.Random) -> str:
    metadata: Any = {"is_error": rng.randrange(2) == 0, "is_warning": rng.randrange(2) == 0, "file": "x.cc"}
    entry: dict[str, Any] = {
        "key": rng.choice(MLLOG_KEYS) if rng.randrange(5) else _random_text(rng, 10),
        "value": _json_value(rng),
        "time_ms": rng.uniform(0, 1e9) if rng.randrange(3) else _json_value(rng),
        "namespace": "mlperf::logging",
        "event_type": "POINT_IN_TIME",
        "metadata": metadata if rng.randrange(4) else _json_value(rng),
    }
    for name in list(entry):
        if rng.randrange(10) == 0:
            del entry[name]
    raw = None
    if entry and rng.randrange(4) == 0:  # one value becomes a raw JSON token: huge, deep, NaN...
        name = rng.choice(sorted(entry))
        entry[name], raw = _HOLE, rng.choice(RAW_JSON)
    top: Any = entry if rng.randrange(20) else _json_value(rng)
    text = json.dumps(top, ensure_ascii=rng.randrange(2) == 0)
    if raw is not None:
        text = text.replace(json.dumps(_HOLE), raw)
    prefix = MLLOG_PREFIX + " " if rng.randrange(20) else rng.choice(("", ":::MLLOG", "::MLLOG ", " :::MLLOG "))
    return prefix + text


def mllog_files() -> st.SearchStrategy[bytes]:
    return _log_files(_mllog_line, ",", "*/performance/run_1/mlperf_log_detail.txt", 25, per_file=80)


def check_mllog(data: bytes, tally: Tally) -> None:
    path = _scratch_file("mlperf_log_detail.txt", data)
    log = tally.attempt(PowerlogError, read_detail_log, path)
    if log is not TYPED:
        for key in ("power_begin", "power_end", "result_validity"):
            tally.attempt(PowerlogError, log.timestamp_ns, key)
        _ = (log.errors, log.warnings, log.value("effective_scenario"))
    tally.attempt(PowerlogError, read_summary_log, path)


# -- PTDaemon replies -------------------------------------------------------------------------------------------------

PTD_FIXED_REPLIES = (
    "Hello, PTDaemon here!",
    "Starting untimed measurement, maximum 500000 samples at 1000ms with 0 rampup samples",
    "Stopping untimed measurement",
    "Error: no measurement to stop",
    "Range V changed",
    "Range A changed",
    "Invalid number of parameters",
    "Unknown command",
    "Last 1 sample",
    "Ranges,-1,-1.000000,-1,-1.000000",
)


def _ptd_reply(rng: random.Random) -> str:
    def f() -> str:
        return f"{rng.uniform(-1e3, 1e4):.6f}"

    def i() -> str:  # a count, sometimes a number that is not one (NaN, 4,400 digits, Unicode digits...)
        return str(rng.choice((0, 1, 692, rng.randint(-5, 10**6)))) if rng.randrange(8) else _garbage(rng)

    def flag() -> str:
        return rng.choice(("-1", "0", "1"))

    roll = rng.randrange(8)
    if roll == 0:
        return rng.choice(PTD_FIXED_REPLIES)
    if roll == 1:
        return rng.choice(_fixture_replies())
    if roll == 2:
        return f"Ranges,{flag()},{f()},{flag()},{f()}"
    if roll == 3:
        return f"Watts,{f()},{f()},{f()},{i()},{i()},{i()}"
    if roll == 4:
        return f"Uncertainty,{f()},{f()},{f()},{i()},{i()},{i()},{i()}"
    if roll == 5:
        return f"Last {i()} samples"
    model = rng.choice(("YokogawaWT310", "YokogawaWT330E", "YokogawaWT500", "SimulatedWT310", "Acme"))
    model += rng.choice(("", "_multichannel", "_DC", "E"))
    version = rng.choice(("1.9.2-3976349f-20201208", "1.11.1-x", "dev", ""))
    mode = rng.choice(("power", "dc", "DC", ""))
    return f"{model},1000,1,1,1,1,0,0,1,version={version},OS=Linux,mode={mode},{i()},{i()},{i()},0,0"


@st.composite
def ptd_replies(draw: st.DrawFn) -> bytes:
    """One reply as bytes on the wire (usually CRLF-terminated, sometimes cut off or followed by more)."""
    if draw(st.integers(0, 4)) == 0:
        return draw(_random_input())
    rng = _rng(draw)
    reply = _near_valid(rng, _ptd_reply(rng), ",", draw(st.sampled_from((0, 50, 100))))
    data = (reply + rng.choice(("\r\n", "\r\n", "\n", "", "\r"))).encode("utf-8", "surrogatepass")
    return _mutate_bytes(rng, data) if rng.randrange(10) == 0 else data


PTD_PARSERS = (parse_identify, parse_ranges, parse_watts, parse_uncertainty, parse_rl_header)
PTD_DRIVER_CALLS: tuple[Callable[[PtdMeter], object], ...] = (
    PtdMeter.open,
    PtdMeter.identify,
    PtdMeter.read_ranges,
    lambda meter: meter.set_ranges(Ranges(150.0, None)),
    lambda meter: meter.start("fuzz_testing"),
    PtdMeter.stop,
    PtdMeter.watts,
    PtdMeter.uncertainty,
)


def check_ptd_reply(data: bytes, tally: Tally) -> None:
    """Every reply parser on the text, and every driver command with the bytes as the daemon's answer."""
    text = data.decode("utf-8", "replace")
    for parse in PTD_PARSERS:
        tally.attempt(DirectorError, parse, text)
    for call in PTD_DRIVER_CALLS:
        tally.attempt(DirectorError, call, PtdMeter(StreamTransport(data)))


@st.composite
def ptd_rl_streams(draw: st.DrawFn) -> tuple[bytes, str, int]:
    """What the daemon sends after RL: maybe wrong-variant replies, 'Last N samples', then N spl lines (or not)."""
    identity = draw(st.sampled_from(("none", "multichannel", "dc")))
    chunk = draw(st.sampled_from((1, 7, 64, 4096)))
    if draw(st.integers(0, 9)) == 0:
        return draw(_random_input()), identity, chunk
    rng = _rng(draw)
    refusals = [rng.choice(("Invalid number of parameters", "Unknown command")) for _ in range(rng.randint(0, 3))]
    lines = _spl_lines(rng, draw(st.integers(0, 20)), draw(st.sampled_from((0, 5, 30, 100))))
    count = len(lines) + rng.choice((0, 0, 0, -1, 1, 5))
    header = _near_valid(rng, f"Last {count} sample{'' if count == 1 else 's'}", " ", rng.choice((0, 20)))
    end = rng.choice(("\r\n", "\r\n", "\n"))
    data = "".join(line + end for line in [*refusals, header, *lines]).encode("utf-8", "surrogatepass")
    return (_mutate_bytes(rng, data) if rng.randrange(10) == 0 else data), identity, chunk


_IDENTITIES = {
    "none": None,
    "multichannel": MeterIdentity("YokogawaWT330_multichannel", "1.9.2", 2, False, False, ""),
    "dc": MeterIdentity("YokogawaWT310_DC", "1.9.2", 1, True, False, ""),
}


def check_ptd_rl(case: tuple[bytes, str, int], tally: Tally) -> None:
    data, identity, chunk = case
    meter = PtdMeter(StreamTransport(data, chunk))
    meter.identity = _IDENTITIES[identity]
    tally.attempt(DirectorError, meter.read_new)


# -- SCPI replies (Yokogawa WT310, WT332/WT333) -----------------------------------------------------------------------

SCPI_FIXED_REPLIES = (
    "9.91E+37,9.91E+37,9.91E+37,9.91E+37",
    "NAN,NAN,NAN,NAN",
    "YOKOGAWA,WT310E,C2VL22012V,F1.04",
    "YOKOGAWA,WT310E,SIMULATED-MLPOWER,F1.00",
    "YOKOGAWA,WT332E,C2VL22012V,F1.04",
    "YOKOGAWA,WT333E,SIMULATED-MLPOWER,F1.00",
    "YOKOGAWA,WT333",
    '0,"No error"',
    "1",
    "0",
)


def _scpi_reply(rng: random.Random) -> str:
    def e() -> str:
        return f"{rng.uniform(-1e3, 1e3) * 10 ** rng.randint(-3, 3):.4E}"

    def auto() -> str:
        return rng.choice(("0", "1"))

    roll = rng.randrange(5)
    elements = rng.choice((1, 1, 2, 3))
    if roll == 0:  # U,I,P,PF of each element
        return ",".join(e() for _ in range(4 * elements))
    if roll == 1:
        return rng.choice(SCPI_FIXED_REPLIES)
    if roll == 2:
        return f":VOLT:RANG {e()};AUTO {auto()};:CURR:RANG {e()};AUTO {auto()}"
    if roll == 3:  # the range answers once per element
        return ";".join(";".join(value for _ in range(elements)) for value in (e(), auto(), e(), auto()))
    return f"YOKOGAWA,WT3{rng.choice(('10', '10E', '32', '32E', '33E', '34', '1'))},{_garbage(rng)},F1.0{elements}"


@st.composite
def scpi_replies(draw: st.DrawFn) -> bytes:
    if draw(st.integers(0, 4)) == 0:
        return draw(_random_input())
    rng = _rng(draw)
    reply = _near_valid(rng, _scpi_reply(rng), rng.choice((",", ";", " ")), draw(st.sampled_from((0, 50, 100))))
    data = (reply + rng.choice(("\n", "\r\n", "\n", ""))).encode("utf-8", "surrogatepass")
    return _mutate_bytes(rng, data) if rng.randrange(10) == 0 else data


def _wt330(data: bytes, elements: int | None) -> YokogawaWT330:
    meter = YokogawaWT330(StreamTransport(data))
    meter.elements = elements
    return meter


def check_scpi_values(data: bytes, tally: Tally) -> None:
    """The value parsers on the text, and *IDN? through both drivers with the bytes as the analyzer's answer."""
    text = data.decode("utf-8", "replace")
    tally.attempt(DirectorError, parse_values, text)
    for elements in (2, 3):
        tally.attempt(DirectorError, parse_element_values, text, elements)
    tally.attempt(DirectorError, YokogawaWT310(StreamTransport(data)).identify)
    tally.attempt(DirectorError, YokogawaWT330(StreamTransport(data)).identify)


def check_scpi_ranges(data: bytes, tally: Tally) -> None:
    """The range query through the drivers (WT330 with 2, 3 or unknown elements), the bytes as the answer."""
    tally.attempt(DirectorError, YokogawaWT310(StreamTransport(data)).read_ranges)
    for elements in (None, 2, 3):
        tally.attempt(DirectorError, _wt330(data, elements).read_ranges)


# -- the targets ------------------------------------------------------------------------------------------------------

TARGETS: dict[str, Target] = {
    target.name: target
    for target in (
        Target(
            "timestamps",
            "parse_ptd_timestamp on each text, parse_ptd_timestamps on the 23-byte ones (must agree)",
            timestamp_lists(),
            check_timestamps,
        ),
        Target("spl.txt", "read_spl(file) and parse_spl_text(bytes) (must agree)", SPL_CASES, check_spl),
        Target("ptd_logs", "read_ptd_log(file), phase_span_ns", ptd_log_files(), check_ptd_log),
        Target("MLLOG", "read_detail_log(file), timestamp_ns; read_summary_log", mllog_files(), check_mllog),
        Target(
            "PTD replies",
            "parse_identify/ranges/watts/uncertainty/rl_header; 8 PtdMeter commands over a stream",
            ptd_replies(),
            check_ptd_reply,
        ),
        Target("PTD RL stream", "PtdMeter.read_new over a stream", ptd_rl_streams(), check_ptd_rl),
        Target(
            "SCPI values",
            "parse_values, parse_element_values x2; WT310/WT330 identify over a stream",
            scpi_replies(),
            check_scpi_values,
        ),
        Target(
            "SCPI ranges", "WT310 read_ranges, WT330 read_ranges x3 over a stream", scpi_replies(), check_scpi_ranges
        ),
    )
}


def run_case(target: Target, case: Any, tally: Tally, limit_s: float | None = None) -> float:
    """One case of ``target``; returns its run time in seconds. Untyped exceptions propagate."""
    start = time.perf_counter()
    if limit_s is None:
        target.check(case, tally)
    else:
        with time_limit(limit_s):
            target.check(case, tally)
    return time.perf_counter() - start
