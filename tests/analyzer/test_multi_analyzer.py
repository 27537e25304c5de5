"""A result folder measured by MLCommons power-dev with two analyzers (``analyzerCount = 2``).

The folder is built from a published single-analyzer result (its LoadGen logs, client.json and
ptd_logs.txt) with a synthetic two-analyzer ``power/server.json`` and merged ``spl.txt`` files:

- analyzer 1: a single-channel Yokogawa WT310 (device type 49, no ``channel`` config);
- analyzer 2: a Yokogawa WT500 multichannel (device type 48, ``channel: [2]``) whose samples carry
  three ChN blocks, of which power-dev counts Ch1 and Ch2 for the testing ranges. Ch3 carries the
  largest current, so a range derived from every channel is wrong.

Each merged line is ``Time,<analyzer 1's time>,Watts,<sum of abs(analyzer Watts), -1 skipped>,
Volts,-1.000000,Amps,-1.000000,PF,-1.000000,Mark,<mark>,Analyzer1,<own line>,Analyzer2,<own line>``;
``ptd_messages`` holds analyzer 1's exchange, then analyzer 2's, each from its ``Hello``.
Everything expected here is computed in this file from the values written, never read back
through the code under test.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from analyzer.checks import check_run
from analyzer.findings import Finding, Severity, Status
from analyzer.official import OfficialOutcome, official_checks, official_verdict
from analyzer.report import build_report
from analyzer.rounds import get_round
from analyzer.run import RunData, load_run
from powerlog.spl import SPL_FIELDS
from tests.support.folders import read_json, rehash, write_json
from tests.support.paths import DATA_DIR

SOURCE = (
    DATA_DIR / "mlperf-results-v4.1-v5.1/v5.1/closed/Lenovo/results/SR680a_V3_B200SXMx8_TRT/whisper/Offline/performance"
)
PHASES = {"ranging": "ranging", "testing": "run_1"}  # mode -> folder
TIME_FORMAT = "%m-%d-%Y %H:%M:%S.%f"
MARGIN_MS = 4_000  # samples start this long before LoadGen's window and end this long after it
FIRST_SAMPLE_OFFSET_MS = 457  # no sample falls on a window edge
ANALYZER_2_LAG_MS = 7  # analyzer 2's own Time trails analyzer 1's
DROPPED = (-1.0, -1.0, -1.0, -1.0)  # what PTDaemon logs in every field of a sample it has no reading for

GO_REPLY = "Starting untimed measurement, maximum 500000 samples at 1000ms with 0 rampup samples"
STOP_REPLY = "Stopping untimed measurement"
WT310_IDENTIFY = (
    "YokogawaWT310,1000,1,1,1,1,0,0,1,version=1.11.1-69286632-20240907,"
    "OS=Linux 6.8.0-64-generic #67-Ubuntu SMP PREEMPT_DYNAMIC Sun Jun 15 20:23:31 UTC 2025 x86_64,"
    "mode=power,1,1,1,0,0,no_cal_date,YOKOGAWA;760201;C3T123456;F2.02"
)
WT500_IDENTIFY = (
    "YokogawaWT500_multichannel,1000,1,1,1,1,0,0,1,version=1.11.1-69286632-20240907,"
    "OS=Linux 6.8.0-64-generic #67-Ubuntu SMP PREEMPT_DYNAMIC Sun Jun 15 20:23:31 UTC 2025 x86_64,"
    "mode=power,1,1,3,0,0,no_cal_date,YOKOGAWA;760203;91L222238;F1.21"
)
WT310_INITIAL = ("10.000000", "300.000000")  # (amps, volts) ranges before the session, as RR reports them
WT500_INITIAL = ("40.000000", "1000.000000")
WT500_CONFIGURED_CHANNELS = 2  # ptd_config "channel": [2] of a WT500: channels 1 .. 2

# special lines (0-based sample indices of a phase)
ANALYZER_1_DROPPED_IN_TESTING = 100  # inside run_1's window
ANALYZER_2_DROPPED_IN_RANGING = 50  # inside ranging's window
OFF_BY_5_W_IN_TESTING = 200  # inside run_1's window, used by one test only

Reading = tuple[float, float, float, float]  # watts, volts, amps, pf


def _num(x: float) -> str:
    return f"{x:.6f}"


def _as_written(reading: Reading) -> Reading:
    """A reading as the file holds it: each value rounded to PTDaemon's 6 decimals."""
    return tuple(float(_num(x)) for x in reading)  # type: ignore[return-value]


def _utc_ms(text: str) -> int:
    t = datetime.strptime(text, TIME_FORMAT).replace(tzinfo=UTC)
    return round(t.timestamp() * 1000)


def _ptd_time(t_ms: int) -> str:
    t = datetime.fromtimestamp(t_ms / 1000, tz=UTC)
    return t.strftime(TIME_FORMAT)[:-3]  # milliseconds


def _window_ms(perf: Path, folder: str) -> tuple[int, int]:
    """power_begin and power_end of one mode, read off its mlperf_log_detail.txt."""
    values = {}
    for line in (perf / folder / "mlperf_log_detail.txt").read_text().splitlines():
        if line.startswith(":::MLLOG "):
            event = json.loads(line.removeprefix(":::MLLOG "))
            if event["key"] in ("power_begin", "power_end"):
                values[event["key"]] = _utc_ms(event["value"])
    return values["power_begin"], values["power_end"]


def _analyzer_1(i: int) -> Reading:
    """WT310, one channel, about 180 W."""
    volts, amps, pf = 230.0 + (i % 7) / 10, 0.80 + (i % 11) / 100, 0.95
    return _as_written((volts * amps * pf, volts, amps, pf))


def _analyzer_2_channels(i: int) -> tuple[Reading, Reading, Reading]:
    """WT500, three channels: Ch3 carries the largest current (and is not counted), Ch2 the largest
    current of the counted ones, above the analyzer's own (mean) Amps."""
    out = []
    for volts, amps in (
        (210.5 + (i % 5) / 10, 2.00 + (i % 13) / 100),
        (211.0 + (i % 3) / 10, 6.00 + (i % 9) / 100),
        (209.0 + (i % 4) / 10, 7.00 + (i % 17) / 100),
    ):
        out.append(_as_written((volts * amps * 0.98, volts, amps, 0.98)))
    return tuple(out)  # type: ignore[return-value]


def _wt500_total(channels: tuple[Reading, ...]) -> Reading:
    """The analyzer's own fields, as a WT500 logs them: the sum of the Watts, the mean V, A and PF."""
    n = len(channels)
    return _as_written(
        (
            sum(c[0] for c in channels),
            sum(c[1] for c in channels) / n,
            sum(c[2] for c in channels) / n,
            sum(c[3] for c in channels) / n,
        )
    )


@dataclass
class Sample:
    t_ms: int
    analyzer_1: Reading
    analyzer_2: Reading
    analyzer_2_channels: tuple[Reading, ...]
    analyzer_1_watts_error: float = 0.0  # added to analyzer 1's Watts in its block, not to the merged total

    @property
    def merged_w(self) -> float:
        """power-dev's merged Watts: abs() of each analyzer's Watts, an analyzer logging -1 skipped."""
        return float(_num(sum(abs(a[0]) for a in (self.analyzer_1, self.analyzer_2) if a[0] != -1)))

    def line(self, mark: str) -> str:
        a1 = (self.analyzer_1[0] + self.analyzer_1_watts_error, *self.analyzer_1[1:])
        own_1 = _own_line(self.t_ms, a1, mark)  # type: ignore[arg-type]
        own_2 = _own_line(self.t_ms + ANALYZER_2_LAG_MS, self.analyzer_2, mark, self.analyzer_2_channels)
        head = (
            f"Time,{_ptd_time(self.t_ms)},Watts,{_num(self.merged_w)},"
            f"Volts,-1.000000,Amps,-1.000000,PF,-1.000000,Mark,{mark}"
        )
        return f"{head},Analyzer1,{own_1},Analyzer2,{own_2}"


def _own_line(t_ms: int, total: Reading, mark: str, channels: tuple[Reading, ...] = ()) -> str:
    w, v, a, pf = total
    line = f"Time,{_ptd_time(t_ms)},Watts,{_num(w)},Volts,{_num(v)},Amps,{_num(a)},PF,{_num(pf)},Mark,{mark}"
    for k, (cw, cv, ca, cpf) in enumerate(channels, start=1):
        line += f",Ch{k},Watts,{_num(cw)},Volts,{_num(cv)},Amps,{_num(ca)},PF,{_num(cpf)}"
    return line


def _samples(window_ms: tuple[int, int]) -> list[Sample]:
    begin, end = window_ms
    first = begin - MARGIN_MS + FIRST_SAMPLE_OFFSET_MS
    out = []
    for i, t_ms in enumerate(range(first, end + MARGIN_MS, 1000)):
        channels = _analyzer_2_channels(i)
        out.append(Sample(t_ms, _analyzer_1(i), _wt500_total(channels), channels))
    return out


def _drop_analyzer_1(sample: Sample) -> None:
    sample.analyzer_1 = DROPPED


def _drop_analyzer_2(sample: Sample) -> None:
    sample.analyzer_2 = DROPPED
    sample.analyzer_2_channels = (DROPPED,) * len(sample.analyzer_2_channels)


@dataclass(frozen=True)
class Peaks:
    """Max volts and max amps of one analyzer over some of its ranging columns, as their text."""

    volts: str
    amps: str

    @property
    def sr_v(self) -> str:
        return f"SR,V,{self.volts}"  # power-dev sends str(Decimal(<the logged text>))

    @property
    def sr_a(self) -> str:
        return f"SR,A,{float(self.amps) * 1.1}"  # power-dev sends str(float(max amps) * 1.1)


def _peaks(readings: list[Reading]) -> Peaks:
    volts = max(r[1] for r in readings)
    amps = max(r[2] for r in readings)
    return Peaks(_num(volts), _num(amps))


def _analyzer_1_peaks(ranging: list[Sample]) -> Peaks:
    return _peaks([s.analyzer_1 for s in ranging])


def _analyzer_2_peaks(ranging: list[Sample], channels: str) -> Peaks:
    """``configured``: the analyzer's own columns and Ch1 .. Ch<configured> (as power-dev picks them);
    ``all``: every channel; ``totals``: the analyzer's own columns alone."""
    count = {"configured": WT500_CONFIGURED_CHANNELS, "all": 3, "totals": 0}[channels]
    return _peaks([r for s in ranging for r in (s.analyzer_2, *s.analyzer_2_channels[:count])])


def _exchange(
    identify: str,
    initial: tuple[str, str],
    session: str,
    testing: Peaks,
    multichannel: bool,
    samples: dict[str, int],
    watts: dict[str, tuple[float, float, float]],
) -> list[dict[str, str]]:
    """One analyzer's PTDaemon commands and replies through a power-dev session."""
    initial_a, initial_v = initial

    def read_log(mode: str) -> list[dict[str, str]]:
        n = samples[mode]
        if multichannel:
            return [{"cmd": "RL,*,*", "reply": f"Last {n} samples from sum channel and channels 1 - 3"}]
        return [
            {"cmd": "RL,*,*", "reply": "Invalid number of parameters"},
            {"cmd": "RL", "reply": f"Last {n} samples"},
        ]

    def watts_reply(mode: str) -> dict[str, str]:
        avg, low, high = watts[mode]
        n = samples[mode]
        return {"cmd": "Watts", "reply": f"Watts,{_num(avg)},{_num(low)},{_num(high)},{n},0,{n}"}

    ranging_uncertainty = {
        "cmd": "Uncertainty",
        "reply": f"Uncertainty,-1.0,10000000.000000,0.000000,{samples['ranging']},0,0,{samples['ranging']}",
    }
    testing_uncertainty = {
        "cmd": "Uncertainty",
        "reply": f"Uncertainty,0.005072,0.003544,0.008467,{samples['testing']},0,{samples['testing']},0",
    }
    return [
        {"cmd": "Hello", "reply": "Hello, PTDaemon here!"},
        {"cmd": "Identify", "reply": identify},
        {"cmd": "RR", "reply": f"Ranges,0,{initial_a},0,{initial_v}"},
        {"cmd": "SR,V,Auto", "reply": "Range V changed"},
        {"cmd": "SR,A,Auto", "reply": "Range A changed"},
        {"cmd": "SR,A,Auto", "reply": "Range A changed"},
        {"cmd": f"Go,1000,0,{session}_ranging", "reply": GO_REPLY},
        {"cmd": "Stop", "reply": STOP_REPLY},
        *read_log("ranging"),
        ranging_uncertainty,
        watts_reply("ranging"),
        {"cmd": testing.sr_v, "reply": "Range V changed"},
        {"cmd": testing.sr_a, "reply": "Range A changed"},
        {"cmd": f"Go,1000,0,{session}_testing", "reply": GO_REPLY},
        watts_reply("testing"),
        testing_uncertainty,
        {"cmd": "Stop", "reply": STOP_REPLY},
        *read_log("testing"),
        testing_uncertainty,
        watts_reply("testing"),
        {"cmd": f"SR,V,{initial_v}", "reply": "Range V changed"},
        {"cmd": f"SR,A,{initial_a}", "reply": "Range A changed"},
    ]


def _ptd_config(index: int, device_type: int, channel: list[int] | None) -> dict[str, Any]:
    port = f"/dev/usbtmc{index}"
    flags = ["-c", ",".join(str(c) for c in channel)] if channel else []
    return {
        "command": [
            "/usr/bin/ptd-linux-x86",
            "-l",
            f"/tmp/tmpteevd_b3/ptd_logfile_{index + 1}.log",
            "-p",
            str(8888 + index),
            *flags,
            str(device_type),
            port,
        ],
        "device_type": device_type,
        "interface_flag": "",
        "dc_flag": None,
        "device_port": port,
        "channel": channel,
    }


@dataclass
class Folder:
    perf: Path
    samples: dict[str, list[Sample]]  # mode -> samples, line i + 1 of the mode's spl.txt
    windows_ms: dict[str, tuple[int, int]]
    peaks: dict[int, Peaks]  # analyzer (1-based) -> the peaks its testing SR commands were derived from

    def inside(self, mode: str) -> list[Sample]:
        begin, end = self.windows_ms[mode]
        return [s for s in self.samples[mode] if begin < s.t_ms < end]

    def load(self) -> RunData:
        return load_run(self.perf, spl_fields=SPL_FIELDS, hash_files=True, marks=True)


def build_two_analyzer_folder(
    tmp_path: Path, analyzer_2_amps_from: str = "configured", off_by_5_w: bool = False
) -> Folder:
    """The published folder with a two-analyzer server.json and merged spl.txt files.

    ``analyzer_2_amps_from``: which of analyzer 2's ranging columns its testing SR,A is derived from
    (see :func:`_analyzer_2_peaks`; its SR,V always as power-dev derives it). ``off_by_5_w``: one
    line of run_1 logs analyzer 1's Watts 5 W above what the merged total counted.
    """
    perf = tmp_path / "performance"
    shutil.copytree(SOURCE, perf)
    for path in perf.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    server_path = perf / "power" / "server.json"
    server = read_json(server_path)
    session = server["session_name"]

    windows = {mode: _window_ms(perf, folder) for mode, folder in PHASES.items()}
    samples = {mode: _samples(window) for mode, window in windows.items()}
    _drop_analyzer_2(samples["ranging"][ANALYZER_2_DROPPED_IN_RANGING])
    _drop_analyzer_1(samples["testing"][ANALYZER_1_DROPPED_IN_TESTING])
    if off_by_5_w:
        samples["testing"][OFF_BY_5_W_IN_TESTING].analyzer_1_watts_error = 5.0
    for mode, folder in PHASES.items():
        text = "".join(s.line(f"{session}_{mode}") + "\n" for s in samples[mode])
        (perf / folder / "spl.txt").write_text(text)

    ranging = samples["ranging"]
    peaks = {1: _analyzer_1_peaks(ranging), 2: _analyzer_2_peaks(ranging, "configured")}
    wrong = _analyzer_2_peaks(ranging, analyzer_2_amps_from)
    sent = {1: peaks[1], 2: Peaks(peaks[2].volts, wrong.amps)}

    def watts(analyzer: int) -> dict[str, tuple[float, float, float]]:
        out = {}
        for mode, mode_samples in samples.items():
            values = [(s.analyzer_1 if analyzer == 1 else s.analyzer_2)[0] for s in mode_samples]
            values = [w for w in values if w > 0]
            out[mode] = (sum(values) / len(values), min(values), max(values))
        return out

    counts = {mode: len(s) for mode, s in samples.items()}
    server["ptd_messages"] = [
        *_exchange(WT310_IDENTIFY, WT310_INITIAL, session, sent[1], False, counts, watts(1)),
        *_exchange(WT500_IDENTIFY, WT500_INITIAL, session, sent[2], True, counts, watts(2)),
    ]
    server["ptd_config"] = [_ptd_config(0, 49, None), _ptd_config(1, 48, [WT500_CONFIGURED_CHANNELS])]
    write_json(server_path, server)
    for folder in PHASES.values():
        rehash(perf, f"{folder}/spl.txt")
    return Folder(perf, samples, windows, sent)


def _findings(run: RunData, rule: str, round_name: str = "v5.1") -> list[Finding]:
    return [f for f in check_run(run, round_name) if f.rule == rule]


@pytest.fixture
def folder(tmp_path: Path) -> Folder:
    return build_two_analyzer_folder(tmp_path)


# the folder itself ---------------------------------------------------------------------


def test_the_folder_is_what_power_dev_writes(folder: Folder) -> None:
    """Guards the builder: samples cover both LoadGen windows at 1 Hz, every line has both analyzer
    blocks, analyzer 2 logs three channels, the special lines are inside the windows, and the records
    list the rewritten files with their sha1."""
    for mode, folder_name in PHASES.items():
        begin, end = folder.windows_ms[mode]
        times = [s.t_ms for s in folder.samples[mode]]
        assert times[0] < begin and times[-1] > end
        assert {b - a for a, b in itertools.pairwise(times)} == {1000}
        lines = (folder.perf / folder_name / "spl.txt").read_text().splitlines()
        assert len(lines) == len(times)
        for line in lines:
            fields = line.split(",")
            assert fields[4:10] == ["Volts", "-1.000000", "Amps", "-1.000000", "PF", "-1.000000"]
            assert fields[12] == "Analyzer1" and fields[25] == "Analyzer2"
            assert fields[38::9] == ["Ch1", "Ch2", "Ch3"]
        server = read_json(folder.perf / "power" / "server.json")
        digest = hashlib.sha1((folder.perf / folder_name / "spl.txt").read_bytes()).hexdigest()
        assert server["results"][f"{folder_name}/spl.txt"] == digest
    testing_inside = folder.inside("testing")
    assert folder.samples["testing"][ANALYZER_1_DROPPED_IN_TESTING] in testing_inside
    assert folder.samples["testing"][OFF_BY_5_W_IN_TESTING] in testing_inside
    assert folder.samples["ranging"][ANALYZER_2_DROPPED_IN_RANGING] in folder.inside("ranging")
    server = read_json(folder.perf / "power" / "server.json")
    assert [m["cmd"] for m in server["ptd_messages"]].count("Hello") == 2
    assert [c["device_type"] for c in server["ptd_config"]] == [49, 48]
    # Ch3 is what makes the analyzer-2 range differ: the counted channels and the totals give less
    ranging = folder.samples["ranging"]
    assert float(_analyzer_2_peaks(ranging, "all").amps) > float(folder.peaks[2].amps)
    assert float(folder.peaks[2].amps) > float(_analyzer_2_peaks(ranging, "totals").amps)


def test_loaded_as_two_analyzers(folder: Folder) -> None:
    run = folder.load()
    assert not [p for p in run.problems if p.is_error], run.problems
    for mode in PHASES:
        log = run.phases[mode].spl
        assert log is not None and not log.bad_lines
        assert len(log) == len(folder.samples[mode])
        assert [len(a.channels) for a in log.analyzers] == [0, 3]
        assert log.power_w.tolist() == [s.merged_w for s in folder.samples[mode]]
    assert [c.device_type for c in run.server.ptd_configs] == [49, 48]  # type: ignore[union-attr]
    assert [c.channels for c in run.server.ptd_configs] == [(), (2,)]  # type: ignore[union-attr]


# 1. the power metric -------------------------------------------------------------------


def test_power_metric_is_the_mean_merged_watts_inside_run_1s_window(folder: Folder) -> None:
    inside = [s.merged_w for s in folder.inside("testing")]
    assert all(w > 0 for w in inside)
    expected = sum(inside) / len(inside)
    report = build_report(folder.load(), "v5.1")
    assert report.power_metric is not None
    assert report.power_metric.unit == "W"
    assert report.power_metric.value == pytest.approx(expected, rel=1e-12)
    assert report.testing is not None and report.testing.samples_in_window == len(inside)
    # the line whose analyzer 1 logged -1 counts with analyzer 2's Watts alone, as power-dev merged it
    dropped = folder.samples["testing"][ANALYZER_1_DROPPED_IN_TESTING]
    assert dropped.merged_w == dropped.analyzer_2[0]
    ranging = [s.merged_w for s in folder.inside("ranging")]
    assert report.ranging is not None
    assert report.ranging.avg_power_w == pytest.approx(sum(ranging) / len(ranging), rel=1e-12)


# 2. testing ranges per analyzer --------------------------------------------------------


def test_testing_ranges_pass_for_each_analyzer_derived_as_power_dev_does(folder: Folder) -> None:
    findings = _findings(folder.load(), "9.testing_ranges")
    assert len(findings) == 2, findings
    assert [f.message.split(":")[0] for f in findings] == ["analyzer 1", "analyzer 2"]
    assert all(f.status is Status.PASS for f in findings), [f.message for f in findings]
    for analyzer, finding in enumerate(findings, start=1):
        values = finding.evidence[0].values
        assert values["ranging_max_v"] == pytest.approx(float(folder.peaks[analyzer].volts))
        assert values["ranging_max_a"] == pytest.approx(float(folder.peaks[analyzer].amps))


@pytest.mark.parametrize("amps_from", ["all", "totals"])
def test_testing_ranges_fail_for_analyzer_2_derived_from_other_channels(tmp_path: Path, amps_from: str) -> None:
    """``all``: Ch3, which the channel config does not count, carries the largest current; ``totals``:
    the analyzer's own columns alone miss the larger current of Ch2."""
    folder = build_two_analyzer_folder(tmp_path, analyzer_2_amps_from=amps_from)
    findings = _findings(folder.load(), "9.testing_ranges")
    assert len(findings) == 2, findings
    first, second = findings
    assert first.message.startswith("analyzer 1:") and first.status is Status.PASS
    assert second.message.startswith("analyzer 2:"), second.message
    assert second.status is Status.FAIL and second.severity is Severity.ERROR
    expected_a = float(_analyzer_2_peaks(folder.samples["ranging"], "configured").amps) * 1.1
    assert f"A={expected_a:g}" in second.message
    assert f"A={float(folder.peaks[2].amps) * 1.1:g}" in second.message  # what was sent


def test_other_per_analyzer_range_rules_pass(folder: Folder) -> None:
    run = folder.load()
    for rule in ("9.ranging_ranges", "9.restore", "8.ptd_config"):
        findings = _findings(run, rule)
        assert len(findings) == 2, (rule, findings)
        assert all(f.status is Status.PASS for f in findings), (rule, [f.message for f in findings])


def test_go_and_replies_are_judged_per_analyzer(folder: Folder) -> None:
    """Each analyzer is stopped twice and its third Stop finds nothing: the audit counts per analyzer
    (the official checker counts over both and rejects the record, see below); a bad reply to
    analyzer 2's Go is caught."""
    run = folder.load()
    for rule in ("9.go", "9.replies"):
        findings = _findings(run, rule)
        assert all(f.status is Status.PASS for f in findings), (rule, [f.message for f in findings])
        assert {f.message.split(":")[0] for f in findings} == {"analyzer 1", "analyzer 2"}
    server = read_json(folder.perf / "power" / "server.json")
    testing_go = [i for i, m in enumerate(server["ptd_messages"]) if m["cmd"].endswith("_testing")]
    server["ptd_messages"][testing_go[-1]]["reply"] = "Error: bad Go"
    write_json(folder.perf / "power" / "server.json", server)
    failed = [f for f in _findings(folder.load(), "9.go") if f.status is Status.FAIL]
    assert [f.message.split(":")[0] for f in failed] == ["analyzer 2"]


# 3. the merged total against its analyzers ---------------------------------------------


def test_channel_sum_passes_against_the_analyzers(folder: Folder) -> None:
    findings = _findings(folder.load(), "0.channel_sum")
    assert len(findings) == 2
    for finding in findings:
        assert "analyzers" in finding.title
        assert finding.status is Status.PASS, finding.message
        assert finding.evidence[0].values["max_difference_w"] == pytest.approx(0.0, abs=1e-6)


def test_channel_sum_leaves_out_an_analyzer_logging_minus_1(folder: Folder) -> None:
    """One line of each mode has an analyzer at -1: counting it as 1 W would exceed the 0.5 W
    tolerance, so the pass shows it was left out, and no warning says otherwise."""
    run = folder.load()
    lines = {
        "ranging": folder.samples["ranging"][ANALYZER_2_DROPPED_IN_RANGING],
        "testing": folder.samples["testing"][ANALYZER_1_DROPPED_IN_TESTING],
    }
    for sample in lines.values():
        assert DROPPED in (sample.analyzer_1, sample.analyzer_2)
        assert abs(sample.merged_w - (abs(sample.analyzer_1[0]) + abs(sample.analyzer_2[0]))) == pytest.approx(1.0)
    findings = _findings(run, "0.channel_sum")
    assert [f.status for f in findings] == [Status.PASS, Status.PASS], [f.message for f in findings]
    assert not [f for f in check_run(run, "v5.1") if f.rule == "0.channel_sum" and f.severity is Severity.WARNING]


def test_channel_sum_warns_when_one_analyzer_is_off_by_5_w(tmp_path: Path) -> None:
    folder = build_two_analyzer_folder(tmp_path, off_by_5_w=True)
    findings = {f.message.split(":")[0]: f for f in _findings(folder.load(), "0.channel_sum")}
    assert findings["ranging"].status is Status.PASS
    testing = findings["testing"]
    assert testing.status is Status.FAIL and testing.severity is Severity.WARNING
    assert "analyzers" in testing.message and "5.000 W" in testing.message
    assert testing.evidence[0].file == "run_1/spl.txt"
    assert testing.evidence[0].line == OFF_BY_5_W_IN_TESTING + 1
    assert testing.evidence[0].values["max_difference_w"] == pytest.approx(5.0, abs=1e-6)


# 4. the official verdict ----------------------------------------------------------------


def test_official_checks_of_v5_1(folder: Folder) -> None:
    """v5.1's checker reads ptd_config as a list of analyzers: both are accepted. Its reply check
    counts Stop commands over the whole merged ptd_messages and expects the third to be answered
    'Error: no measurement to stop' (power_checker.py ``check_reply``); with two analyzers the third
    Stop is analyzer 2's ranging Stop, answered 'Stopping untimed measurement', so the official
    checker rejects every two-analyzer record power-dev writes, and mlpower reproduces that."""
    checks = {c.check: c for c in official_checks(folder.load(), get_round("v5.1"))}
    assert checks["ptd_config"].outcome is OfficialOutcome.PASS, checks["ptd_config"].message
    assert "2 analyzer(s)" in checks["ptd_config"].message
    assert checks["ptd_messages"].outcome is OfficialOutcome.FAIL
    assert "'Stop' answered 'Stopping untimed measurement'" in checks["ptd_messages"].message
    others = [c for name, c in checks.items() if name not in ("ptd_messages", "sources")]
    assert all(c.outcome is OfficialOutcome.PASS for c in others), [(c.check, c.message) for c in others]
    assert official_verdict(others) == "pass"
    assert official_verdict(checks.values()) == "fail"


def test_official_verdict_of_v5_0_fails_on_the_list_of_analyzers(folder: Folder) -> None:
    checks = {c.check: c for c in official_checks(folder.load(), get_round("v5.0"))}
    assert checks["ptd_config"].outcome is OfficialOutcome.FAIL
    assert "one object" in checks["ptd_config"].message
    assert official_verdict(checks.values()) == "fail"


def test_the_check_audits_the_line_merge_against_the_time_join(folder: Folder) -> None:
    """0.line_merge runs with the checks: analyzer 2's own Time lags each merged line by ANALYZER_2_LAG_MS."""
    (finding,) = [f for f in check_run(folder.load(), "v5.1") if f.rule == "0.line_merge"]
    assert finding.evidence[0].values["max_offset_analyzer"] == 2
    assert finding.evidence[0].values["max_offset_s"] == pytest.approx(ANALYZER_2_LAG_MS / 1000)
    assert finding.status is Status.PASS  # 7 ms apart: under the 0.5 s that warns
    assert "2 analyzers merged by line" in finding.message
