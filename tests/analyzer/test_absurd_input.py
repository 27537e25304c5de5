"""Absurd input refused at the door, nonsense never reported as a number: readings no analyzer measures,
LoadGen figures that are no figures, JSON nested past reason, and outputs over anything but a regular file."""

from __future__ import annotations

import json
import math
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from analyzer.cli import main
from tests.support.paths import DATA_DIR

LLM_SERVER = (
    DATA_DIR / "mlperf-results-v4.1-v5.1" / "v4.1" / "closed" / "NVIDIA" / "results" / "H200-SXM-141GBx8_TRT_MaxQ"
    / "llama2-70b-99" / "Server" / "performance"
)  # fmt: skip


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict]:
    code = main(list(argv))
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return code, json.loads(out.out)


def _set_watts(spl: Path, value: str, every: int = 1, start: int = 0) -> int:
    """Replace the leading Watts of every ``every``-th line from ``start``; how many lines were changed."""
    lines = spl.read_text().splitlines()
    changed = 0
    for i in range(start, len(lines), every):
        fields = lines[i].split(",")
        fields[3] = value
        lines[i] = ",".join(fields)
        changed += 1
    spl.write_text("\n".join(lines) + "\n")
    return changed


def _rules(findings: list[dict], rule: str) -> list[dict]:
    return [f for f in findings if f["rule"] == rule]


@pytest.mark.parametrize("value", ["1e308", "inf", "nan", "-1e12"])
def test_readings_no_analyzer_measures_are_left_out_and_fail_the_run(copy_fixture, capsys, value: str) -> None:
    folder = copy_fixture("xe8545_resnet_offline")
    _, clean = _json(capsys, "report", str(folder), "--json")
    assert _set_watts(folder / "run_1" / "spl.txt", value, every=50, start=120) > 3
    code, report = _json(capsys, "report", str(folder), "--json")
    metric = report["power_metric"]["value"]
    assert code == 0 and math.isfinite(metric) and abs(metric - clean["power_metric"]["value"]) < 5  # W: still ~1.4 kW
    (bad,) = _rules(report["problems"], "3.plausible")
    assert bad["severity"] == "error" and "left out" in bad["message"]
    code, check = _json(capsys, "check", str(folder), "--json")
    assert code == 1 and check["verdict"] == "fail"
    (failed,) = [f for f in _rules(check["findings"], "3.plausible") if f["status"] == "fail"]
    assert failed["message"].startswith("testing:")


def test_a_testing_log_of_absurd_readings_gives_no_metric_and_no_power_change_pass(copy_fixture, capsys) -> None:
    folder = copy_fixture("xe8545_resnet_offline")
    _set_watts(folder / "run_1" / "spl.txt", "1e308")
    code, report = _json(capsys, "report", str(folder), "--json")
    assert code == 1 and report["power_metric"] is None and report["efficiency"] is None
    assert "inf" not in json.dumps(report["power_metric"]) and report["power_change_pct"] is None
    code, check = _json(capsys, "check", str(folder), "--json")
    assert code == 1 and {f["status"] for f in _rules(check["findings"], "4.power_change")} == {"skipped"}
    code = main(["report", str(folder)])
    text = capsys.readouterr().out
    assert code == 1 and "inf W" not in text and "read what no analyzer measures (such as 1e+308 W" in text


@pytest.mark.parametrize("value", ["NaN", "Infinity", "1e400", "-12.5", '"fast"'])
def test_a_loadgen_performance_that_is_no_number_is_a_finding_and_no_efficiency(
    copy_fixture, capsys, value: str
) -> None:
    folder = copy_fixture("xe8545_resnet_offline")
    detail = folder / "run_1" / "mlperf_log_detail.txt"
    lines = detail.read_text().splitlines()
    (i,) = [n for n, line in enumerate(lines) if '"key": "result_samples_per_second"' in line]
    head, _, _ = lines[i].partition('"value": ')
    lines[i] = (
        head
        + '"value": '
        + value
        + ', "time_ms": 1.0, "namespace": "mlperf::logging", "event_type": "POINT_IN_TIME", "metadata": {}}'
    )
    detail.write_text("\n".join(lines) + "\n")
    _, report = _json(capsys, "report", str(folder), "--json")
    assert report["performance"] is None and report["efficiency"] is None
    (problem,) = [p for p in report["problems"] if "result_samples_per_second" in p["message"]]
    assert problem["severity"] == "error" and "not a finite number" in problem["message"]
    main(["report", str(folder)])
    text = capsys.readouterr().out
    assert not [line for line in text.splitlines() if "samples/s" in line and "not a finite number" not in line]


def test_an_llm_server_result_with_measured_tokens_gets_its_efficiency(tmp_path: Path, capsys) -> None:
    """v5.1's checker read llama3.1-8b's inferred tokens, v5.1.1's the completed tokens LoadGen measured: the
    summary and detail logs of a real LLM Server run give only the latter."""
    folder = tmp_path / "v5.1" / "closed" / "Acme" / "results" / "sys" / "llama3.1-8b" / "Server" / "performance"
    shutil.copytree(LLM_SERVER, folder)
    summary = (folder / "run_1" / "mlperf_log_summary.txt").read_text()
    assert "Completed tokens per second" in summary and "inferred" not in summary.lower()
    code, report = _json(capsys, "report", str(folder), "--json", "--round", "v5.1")
    assert report["performance"]["key"] == "result_completed_tokens_per_second"
    assert report["performance"]["unit"] == "tokens/s" and report["efficiency"]["unit"] == "tokens/s/W"
    expected = report["performance"]["value"] / report["power_metric"]["value"]
    assert report["efficiency"]["value"] == pytest.approx(expected) and code == 0


def test_the_inferred_key_of_the_first_v51_checker_is_still_read(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "v5.1" / "closed" / "Acme" / "results" / "sys" / "llama3.1-8b" / "Server" / "performance"
    shutil.copytree(LLM_SERVER, folder)
    detail = folder / "run_1" / "mlperf_log_detail.txt"
    detail.write_text(
        detail.read_text().replace(
            '"result_completed_tokens_per_second"', '"result_inferred_completed_tokens_per_second"'
        )
    )
    _, report = _json(capsys, "report", str(folder), "--json", "--round", "v5.1")
    assert report["performance"]["key"] == "result_inferred_completed_tokens_per_second"
    assert report["efficiency"] is not None


def _analyzer(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "analyzer.cli", *argv], capture_output=True, text=True, timeout=300, check=False
    )


def _special_outputs(tmp_path: Path) -> list[tuple[Path, str]]:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    (tmp_path / "folder").mkdir()
    (tmp_path / "link").symlink_to(fifo)
    outputs = [
        (fifo, "is a FIFO"),
        (tmp_path / "folder", "is a folder"),
        (tmp_path / "link", "is a symbolic link to a FIFO"),
    ]
    outputs += [(Path(dev), "is a character device") for dev in ("/dev/null", "/dev/full") if os.path.exists(dev)]
    return outputs


def test_export_writes_over_nothing_but_a_regular_file(tmp_path: Path) -> None:
    """As root, the rename that ends a write replaced /dev/full with a regular file: now refused up front."""
    fixture = str(DATA_DIR / "dell-xr12-a2x1-maxq-resnet50-singlestream" / "performance")
    for path, says in _special_outputs(tmp_path):
        kind = stat.S_IFMT(os.lstat(path).st_mode)
        done = _analyzer("export", fixture, "--csv", str(path))
        assert done.returncode == 2 and "Traceback" not in done.stderr, (path, done.stderr)
        assert f"--csv {path} {says}" in done.stderr and "name a file" in done.stderr
        assert stat.S_IFMT(os.lstat(path).st_mode) == kind  # the node is still what it was
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo", "folder", "link"]  # no partial file left
    done = _analyzer("export", fixture, "--csv", str(tmp_path / "out.csv"))
    assert done.returncode == 0 and (tmp_path / "out.csv").stat().st_size > 0  # a new file: written


@pytest.mark.parametrize("option", ["--csv", "--parquet", "--html"])
def test_scan_to_a_missing_folder_or_a_device_is_a_clear_error(tmp_path: Path, capsys, option: str) -> None:
    fixture = str(DATA_DIR / "dell-xr12-a2x1-maxq-resnet50-singlestream")
    missing = tmp_path / "nonexistent" / "x.out"
    assert main(["scan", fixture, option, str(missing)]) == 2
    err = capsys.readouterr().err
    assert f"no folder {missing.parent} for {option} {missing}: create it first" in err
    for path, says in _special_outputs(tmp_path):
        assert main(["scan", fixture, option, str(path), "--no-progress"]) == 2
        assert f"{option} {path} {says}" in capsys.readouterr().err


def test_report_html_into_a_missing_folder_is_a_clear_error(tmp_path: Path, capsys) -> None:
    fixture = str(DATA_DIR / "dell-xr12-a2x1-maxq-resnet50-singlestream" / "performance")
    assert main(["report", fixture, "--html", str(tmp_path / "no" / "r.html")]) == 2
    assert "create it first" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["client.json", "server.json"])
def test_json_nested_100000_deep_is_a_finding_not_a_traceback(copy_fixture, name: str) -> None:
    folder = copy_fixture("xr12_singlestream")
    (folder / "power" / name).write_text("[" * 100_000 + "]" * 100_000)
    for command, code in (("check", 1), ("report", 0)):  # report: the metric does not need the record
        done = _analyzer(command, str(folder))
        assert done.returncode == code and "Traceback" not in done.stderr, done.stderr[-500:]
        assert f"power/{name}: not valid JSON: JSON nested too deeply" in done.stdout, done.stdout


def test_a_session_json_with_an_absurd_clock_offset_is_a_finding_not_a_traceback(copy_fixture) -> None:
    """Taken by an older director, an offset of 10**25 ns made report and check an OverflowError traceback."""
    from analyzer.run import load_run

    folder = copy_fixture("xe8545_resnet_offline")
    begin, end = load_run(folder).testing.window_utc_ns  # type: ignore[misc]
    clock = [
        {"phase": "testing", "when": "before", "offset_ns": 10**25, "bound_ns": 1, "agent_utc_ns": begin - 10**9},
        {"phase": "testing", "when": "after", "offset_ns": 10**25, "bound_ns": 1, "agent_utc_ns": end + 10**9},
    ]
    (folder / "session.json").write_text(json.dumps({"clock": clock}))
    for command, code in (("check", 1), ("report", 0)):  # report: the metric, on the meter's clock alone
        done = _analyzer(command, str(folder))
        assert done.returncode == code and "Traceback" not in done.stderr, done.stderr[-500:]
        assert "session.json: clock[0] (testing before): offset_ns 10000000000000000000000000 is beyond" in done.stdout
