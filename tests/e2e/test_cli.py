"""The console scripts, run as real subprocesses the way a user runs them."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import FIXTURES

BIN = Path(sys.executable).parent


def run(*args: str) -> subprocess.CompletedProcess[str]:
    command = [str(BIN / args[0]), *args[1:]]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def test_report_json_gives_the_official_anchors() -> None:
    result = run("mlpower-analyzer", "report", str(FIXTURES["xe8545_resnet_offline"]), "--json", "--round", "v2.1")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["scenario"] == "Offline"
    assert f"{report['power_metric']['value']:.2f}" == "1390.99" and report["power_metric"]["unit"] == "W"
    assert report["samples_in_window"] == 859
    assert f"{report['efficiency']['value']:.2f}" == "94.44" and report["efficiency"]["unit"] == "samples/s/W"
    assert report["performance"] == {
        "value": 131364.0,
        "unit": "samples/s",
        "key": "result_samples_per_second",
        "inferred": False,
    }
    assert [c["channel"] for c in report["channels"]] == [1, 2, 3]
    for key in ("avg_power_w", "ranging_avg_power_w", "window_s", "energy_j", "max_sample_gap_s"):
        assert isinstance(report[key], float), key
    assert report["meter"]["simulated"] is False


def test_report_text_for_singlestream() -> None:
    result = run("mlpower-analyzer", "report", str(FIXTURES["xr12_singlestream"]))
    assert result.returncode == 0
    assert "268.21 mJ/query" in result.stdout
    assert "Traceback" not in result.stderr


def test_check_exit_codes() -> None:
    ok = run("mlpower-analyzer", "check", "--round", "v2.1", str(FIXTURES["xe8545_bert_server"]))
    assert ok.returncode == 0 and "verdict: PASS" in ok.stdout
    bad = run("mlpower-analyzer", "check", "--round", "v2.1", "--json", str(FIXTURES["orin_offline"]))
    assert bad.returncode == 1
    data = json.loads(bad.stdout)
    assert data["verdict"] == "fail" and data["errors"] == 2
    power = next(f for f in data["findings"] if f["rule"] == "4.power_change")
    assert power["severity"] == "error" and "-7.34 %" in power["message"]


def test_parent_folder_is_accepted() -> None:
    result = run("mlpower-analyzer", "report", str(FIXTURES["orin_offline"].parent))
    assert result.returncode == 0 and "23.06 W" in result.stdout


@pytest.mark.parametrize("target", ["missing", "file", "empty"])
def test_unreadable_folder_exits_2_with_a_message(tmp_path: Path, target: str) -> None:
    path = tmp_path / "x"
    if target == "file":
        path.write_text("x")
    elif target == "empty":
        path.mkdir()
    for command in ("report", "check"):
        result = run("mlpower-analyzer", command, str(path))
        assert result.returncode == 2
        assert str(path) in result.stderr and "Traceback" not in result.stderr


def test_unknown_round_exits_2(tmp_path: Path) -> None:
    result = run("mlpower-analyzer", "check", "--round", "v9", str(FIXTURES["orin_offline"]))
    assert result.returncode == 2 and "unknown round" in result.stderr


def _damaged(tmp_path: Path, damage) -> Path:
    perf = tmp_path / "performance"
    shutil.copytree(FIXTURES["orin_offline"], perf)
    damage(perf)
    return perf


DAMAGES = {
    "missing spl": (lambda p: (p / "run_1" / "spl.txt").unlink(), "run_1/spl.txt"),
    "empty spl": (lambda p: (p / "run_1" / "spl.txt").write_bytes(b""), "no sample with Watts > 0"),
    "truncated mllog": (
        lambda p: (p / "run_1" / "mlperf_log_detail.txt").write_bytes(
            (p / "run_1" / "mlperf_log_detail.txt").read_bytes()[:-40]
        ),
        "run_1/mlperf_log_detail.txt",
    ),
    "non-utf8 spl byte": (
        lambda p: (p / "run_1" / "spl.txt").write_bytes(
            (p / "run_1" / "spl.txt").read_bytes().replace(b"Watts,22.", b"Watts,\xe922.", 1)
        ),
        "not UTF-8",
    ),
    "bad server.json": (lambda p: (p / "power" / "server.json").write_text("{"), "power/server.json"),
}


@pytest.mark.parametrize("case", sorted(DAMAGES))
def test_bad_input_gives_findings_not_tracebacks(tmp_path: Path, case: str) -> None:
    damage, expected = DAMAGES[case]
    perf = _damaged(tmp_path, damage)
    for command in ("report", "check"):
        result = run("mlpower-analyzer", command, str(perf))
        assert "Traceback" not in result.stderr, result.stderr
        assert result.returncode in (0, 1), (command, result.returncode, result.stderr)
    check = run("mlpower-analyzer", "check", "--json", str(perf))
    messages = " | ".join(f["message"] for f in json.loads(check.stdout)["findings"])
    assert expected in messages
    assert check.returncode == 1


def test_director_and_agent_scripts_exist() -> None:
    for script in ("mlpower-director", "mlpower-agent"):
        result = run(script, "--version")
        assert result.returncode == 0 and "mlpower" in result.stdout


def test_compare_runs_side_by_side(tmp_path: Path) -> None:
    runs = [str(FIXTURES["xe8545_resnet_offline"]), str(FIXTURES["orin_offline"])]
    table = run("mlpower-analyzer", "compare", "--round", "v2.1", *runs, "--html", str(tmp_path / "c.html"))
    assert table.returncode == 0
    lines = table.stdout.splitlines()
    assert len(lines) == 3 and "94.44 samples/s/W" in lines[1] and "152.88 samples/s/W" in lines[2]
    rows = json.loads(run("mlpower-analyzer", "compare", "--json", "--round", "v2.1", *runs).stdout)
    assert [round(r["power_metric"], 2) for r in rows] == [1390.99, 23.06]
    assert "23.06 W" in (tmp_path / "c.html").read_text()
    assert run("mlpower-analyzer", "compare", str(tmp_path / "missing")).returncode == 2
