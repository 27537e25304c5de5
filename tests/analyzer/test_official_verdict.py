"""The official verdict against what the official power checker said of the same damaged folders.

Each case copies a published result, changes one thing and asserts which official checks fail or warn.
The expected outcomes were recorded by running the official ``power_checker.py`` of the round (v4.1 and
v5.1 tags of mlcommons/inference) on the same mutations; the checker itself is not needed here.
Where the mutation touches a file whose sha1 is recorded, the records are updated, so that only the
mutation is judged.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from analyzer.checks import check_run
from analyzer.official import official_checks, official_verdict
from analyzer.rounds import get_round
from analyzer.run import load_run
from powerlog.spl import SPL_FIELDS
from powerlog.timestamps import format_ptd_timestamp, parse_ptd_timestamp
from tests.support.folders import read_json, rehash, write_json
from tests.support.paths import DATA_DIR

DATA = DATA_DIR / "mlperf-results-v4.1-v5.1"
RESNET = DATA / "v4.1/closed/NVIDIA/results/H200-SXM-141GBx8_TRT_MaxQ/resnet50/Offline/performance"
WHISPER = DATA / "v5.1/closed/Lenovo/results/SR680a_V3_B200SXMx8_TRT/whisper/Offline/performance"


def _window_s(perf: Path) -> tuple[float, float]:
    times = []
    for line in (perf / "run_1" / "mlperf_log_detail.txt").read_text().splitlines():
        for key in ("power_begin", "power_end"):
            if f'"key": "{key}"' in line:
                times.append(parse_ptd_timestamp(json.loads(line.split(" ", 1)[1])["value"]) / 1e9)
    return times[0], times[1]


def _ptd_line(perf: Path, t_s: float, message: str) -> None:
    """Insert ``message`` at time ``t_s`` into ptd_logs.txt, keeping the lines in time order."""
    path = perf / "power" / "ptd_logs.txt"
    lines = path.read_bytes().decode("utf-8").splitlines(keepends=True)
    stamp = format_ptd_timestamp(round(t_s * 1e9))
    at = len(lines)
    for i, line in enumerate(lines):
        if line[:2].isdigit() and line[2] == "-" and line[:23] > stamp:
            at = i
            break
    end = "\r\n" if lines and lines[0].endswith("\r\n") else "\n"
    lines.insert(at, f"{stamp}: {message}{end}")
    path.write_bytes("".join(lines).encode("utf-8"))
    rehash(perf, "power/ptd_logs.txt")


def _ranging_go_s(perf: Path) -> float:
    for line in (perf / "power" / "ptd_logs.txt").read_text().splitlines():
        if ": Go with mark '" in line and line.rstrip().endswith("_ranging'"):
            return parse_ptd_timestamp(line[:23]) / 1e9
    raise AssertionError("no ranging Go")


def usb_error_in_testing(perf: Path) -> None:
    begin, end = _window_s(perf)
    _ptd_line(perf, (begin + end) / 2, "ERROR: USB.")


def old_uncertainty_warning_60s_in(perf: Path) -> None:
    begin, _ = _window_s(perf)
    _ptd_line(perf, begin + 60, "WARNING: Uncertainty 1.50%, which is above 1.00% limit for the last sample!")


def error_in_testing(perf: Path) -> None:
    begin, end = _window_s(perf)
    _ptd_line(perf, (begin + end) / 2, "ERROR: Something odd")


def uncommon_ranging_error_then_testing_error(perf: Path) -> None:
    _ptd_line(perf, _ranging_go_s(perf) + 5, "ERROR: Weird thing")
    error_in_testing(perf)


def _client_checkpoint(shift_s: float) -> Callable[[Path], None]:
    def shift(perf: Path) -> None:
        client = read_json(perf / "power" / "client.json")
        client["phases"]["testing"][1][0] += shift_s
        write_json(perf / "power" / "client.json", client)

    return shift


def extra_file(perf: Path) -> None:
    (perf / "run_1" / "extra.txt").write_text("not a result file\n")


def debug_on(perf: Path) -> None:
    server = read_json(perf / "power" / "server.json")
    server["debug"] = True
    write_json(perf / "power" / "server.json", server)


def ptd_config_as_list(perf: Path) -> None:
    server = read_json(perf / "power" / "server.json")
    server["ptd_config"] = [server["ptd_config"]]
    write_json(perf / "power" / "server.json", server)


def client_ptd_config_null(perf: Path) -> None:
    client = read_json(perf / "power" / "client.json")
    client["ptd_config"] = [None]
    write_json(perf / "power" / "client.json", client)


def without_the_second_sr_a_auto(perf: Path) -> None:
    server = read_json(perf / "power" / "server.json")
    messages = server["ptd_messages"]
    autos = [i for i, m in enumerate(messages) if m["cmd"] == "SR,A,Auto"]
    del messages[autos[1]]
    write_json(perf / "power" / "server.json", server)


def none(perf: Path) -> None:
    pass


CASES = [
    # (source, round, mutation, official verdict, failed official checks, warned official checks)
    (RESNET, "v4.1", none, "pass", set(), set()),
    (RESNET, "v5.1", none, "fail", {"ptd_messages", "ptd_config"}, set()),
    (RESNET, "v4.1", usb_error_in_testing, "pass", set(), {"ptd_logs"}),
    (RESNET, "v4.1", old_uncertainty_warning_60s_in, "pass", set(), set()),
    (RESNET, "v4.1", error_in_testing, "fail", {"ptd_logs"}, set()),
    (RESNET, "v4.1", uncommon_ranging_error_then_testing_error, "pass", set(), {"ptd_logs"}),
    (RESNET, "v4.1", _client_checkpoint(0.9), "fail", {"phases"}, set()),
    (RESNET, "v4.1", _client_checkpoint(0.7), "pass", set(), set()),
    (RESNET, "v4.1", extra_file, "pass", set(), set()),
    (RESNET, "v4.1", debug_on, "fail", {"debug"}, set()),
    (RESNET, "v4.1", ptd_config_as_list, "fail", {"ptd_config"}, set()),
    (RESNET, "v4.1", client_ptd_config_null, "pass", set(), set()),
    (WHISPER, "v5.1", none, "pass", set(), set()),
    (WHISPER, "v5.1", without_the_second_sr_a_auto, "fail", {"ptd_messages"}, set()),
    (WHISPER, "v5.1", usb_error_in_testing, "pass", set(), {"ptd_logs"}),
    (WHISPER, "v5.1", error_in_testing, "fail", {"ptd_logs"}, set()),
]


@pytest.mark.parametrize(
    ("source", "round_name", "mutate", "verdict", "failed", "warned"),
    CASES,
    ids=[f"{c[0].parents[1].name}-{c[1]}-{c[2].__name__}" for c in CASES],
)
def test_official_verdict_matches_the_official_checker(
    tmp_path: Path,
    source: Path,
    round_name: str,
    mutate: Callable[[Path], None],
    verdict: str,
    failed: set[str],
    warned: set[str],
) -> None:
    perf = tmp_path / "performance"
    shutil.copytree(source, perf)
    mutate(perf)
    run = load_run(perf, spl_fields=SPL_FIELDS, hash_files=True, marks=True)
    checks = official_checks(run, get_round(round_name))
    assert {c.check for c in checks if c.outcome.value == "fail"} == failed, [c.to_record() for c in checks]
    assert {c.check for c in checks if c.outcome.value == "warning"} == warned
    assert official_verdict(checks) == verdict


def test_the_audit_sees_what_the_official_scan_skips(tmp_path: Path) -> None:
    """An uncertainty warning 60 s into a 15-minute window, and an error hidden behind an uncommon
    ranging error: the official checker passes both; mlpower's audit fails them."""
    for mutate, rule in (
        (old_uncertainty_warning_60s_in, "10.testing_uncertainty"),
        (uncommon_ranging_error_then_testing_error, "11.errors"),
    ):
        perf = tmp_path / mutate.__name__ / "performance"
        shutil.copytree(RESNET, perf)
        mutate(perf)
        run = load_run(perf, spl_fields=SPL_FIELDS, hash_files=True, marks=True)
        assert official_verdict(official_checks(run, get_round("v4.1"))) == "pass"
        errors = [f for f in check_run(run, "v4.1") if f.is_error]
        assert [f.rule for f in errors] == [rule]
        assert errors[0].official is not None and errors[0].official.value == "stricter"


def test_official_checks_need_the_file_hashes() -> None:
    """Without the sha1 of every file the checksum check cannot be judged: a clear error, not a false FAIL."""
    with pytest.raises(ValueError, match="hash_files=True"):
        official_checks(load_run(RESNET), get_round("v4.1"))
