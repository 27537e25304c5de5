"""``scan`` and ``compare`` over many results: the published figures, every output format, the search
rules, a bad folder among good ones, sorting, and the progress bar on a real terminal."""

from __future__ import annotations

import csv
import json
import os
import pty
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import analyzer.result as result_module
from analyzer.cli import main
from analyzer.scan import ScanRow, find_results, scan_results
from analyzer.table import sort_rows
from tests.support.paths import DATA_DIR, FIXTURES

BIN = Path(sys.executable).parent
RECENT = DATA_DIR / "mlperf-results-v4.1-v5.1"


def _published() -> dict[str, dict]:
    """Relative path under tests/data -> the published figures."""
    out = {}
    for line in (DATA_DIR / "expected-v2.1.jsonl").read_text().splitlines():
        e = json.loads(line)
        out[f"data/{e['repository_path']}/performance"] = e
    for line in (RECENT / "expected.jsonl").read_text().splitlines():
        e = json.loads(line)
        out[f"data/mlperf-results-v4.1-v5.1/{e['round']}/{e['repository_path']}/performance"] = e
    return out


PUBLISHED = _published()


def _close(a: float | None, b: float) -> bool:
    return a is not None and abs(a - b) <= 5e-7 * abs(b)


def _run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "mlpower-analyzer"), *args], capture_output=True, text=True, timeout=300, check=False, cwd=cwd
    )


def test_scan_of_the_published_results_gives_the_published_figures() -> None:
    result = scan_results([DATA_DIR], jobs=2)
    rows = {r.path: r for r in result.rows}
    assert set(PUBLISHED) <= set(rows), sorted(set(PUBLISHED) - set(rows))
    assert len(PUBLISHED) == 12
    for path, e in PUBLISHED.items():
        row = rows[path]
        assert row.error is None, (path, row.error)
        assert row.round == e["round"], path
        assert _close(row.power_metric, e["power_metric"]) and row.power_unit == e["power_unit"], path
        assert row.samples_in_window == e["samples_in_window"], path
        assert row.scenario == e["scenario"], path
        if e.get("published_efficiency") is not None:
            assert _close(row.efficiency, e["published_efficiency"]), path
        if e.get("official_power_check") is not None:
            assert row.official_verdict == e["official_power_check"], path
    lenovo = rows[
        "data/mlperf-results-v4.1-v5.1/v5.1/closed/Lenovo/results/SR680a_V3_B200SXMx8_TRT/whisper/Offline/performance"
    ]
    assert (lenovo.division, lenovo.submitter, lenovo.system, lenovo.benchmark) == (
        "closed",
        "Lenovo",
        "SR680a_V3_B200SXMx8_TRT",
        "whisper",
    )
    orin = rows["data/nvidia-orin-maxq-resnet50-offline/performance"]
    assert orin.mlpower_verdict == "fail" and "4.power_change" in orin.error_rules


def test_every_output_format_holds_the_same_rows(tmp_path: Path) -> None:
    out = {ext: tmp_path / f"scan.{ext}" for ext in ("csv", "parquet", "html")}
    done = _run("scan", str(RECENT), "--json", "--jobs", "2", *(f"--{k}={v}" for k, v in out.items()))
    assert done.returncode == 0, done.stderr  # all seven pass the official check
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(lines) == 7 and all(r["error"] is None for r in lines)
    with out["csv"].open(newline="") as f:
        from_csv = list(csv.DictReader(f))
    frame = pd.read_parquet(out["parquet"])
    assert len(from_csv) == len(frame) == 7
    for row, csv_row, (_, pq_row) in zip(lines, from_csv, frame.iterrows(), strict=True):
        assert csv_row["path"] == pq_row["path"] == row["path"]
        assert float(csv_row["power_metric"]) == pq_row["power_metric"] == row["power_metric"]
        assert csv_row["error_rules"] == " ".join(pq_row["error_rules"]) == " ".join(row["error_rules"])
        assert csv_row["official_verdict"] == pq_row["official_verdict"] == row["official_verdict"]
    assert frame["efficiency"].dtype == "float64" and frame["samples_in_window"].dtype == "int64"
    page = out["html"].read_text()
    assert page.count("<tr") == 1 + 7  # header + one row per result
    # one scatter per benchmark and scenario: llama2 Server and Offline, resnet50 Offline and MultiStream,
    # whisper Offline, mobilenet Offline and MultiStream
    assert page.count('class="plotly-graph-div"') == 7
    assert page.count("Copyright (c) 20") <= 2 and "<script src=" not in page  # plotly embedded once, offline


def test_text_table_is_readable(tmp_path: Path) -> None:
    done = _run("scan", str(RECENT), "--no-progress", "--jobs", "1")
    lines = done.stdout.splitlines()
    assert lines[0].split()[:4] == ["result", "round", "benchmark", "scenario"]
    assert max(len(line) for line in lines) < 200
    untether = next(line for line in lines if "UntetherAI" in line)
    assert "0.2125 ms" in untether and "61.32 mJ/query" in untether and "PASS" in untether
    assert "/closed/" not in done.stdout  # submitter/system, not the tree's path


def _tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    shutil.copytree(FIXTURES["xr12_singlestream"], root / "closed/Dell/results/XR12/resnet50/SingleStream/performance")
    shutil.copytree(FIXTURES["orin_offline"], root / "runs/orin/performance")
    # a compliance test's performance/ holds LoadGen logs only: no power result
    compliance = root / "closed/Dell/compliance/XR12/resnet50/SingleStream/TEST01/performance/run_1"
    compliance.mkdir(parents=True)
    (compliance / "mlperf_log_detail.txt").write_text("")
    shutil.copytree(FIXTURES["orin_offline"], root / ".snapshot/orin/performance")  # hidden: not searched
    (root / "runs" / "link").symlink_to(FIXTURES["xe8545_resnet_offline"].parent)  # links are not followed
    (root / "runs" / "director.token").write_text("secret\n")
    return root


def test_search_rules(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    found, notes = find_results([root, root / "runs" / "orin", root / "runs" / "director.token", tmp_path / "nope"])
    assert [rel for _, rel in found] == [
        "tree/closed/Dell/results/XR12/resnet50/SingleStream/performance",
        "tree/runs/orin/performance",
    ]  # the orin folder, given again, is counted once
    assert notes == [
        f"{root}/runs/orin: no power result in it (a result folder holds run_1/ and ranging/ or power/)",
        f"{root}/runs/director.token: not a folder, skipped",
        f"{tmp_path}/nope: no such file or folder, skipped",
    ]
    single, _ = find_results([FIXTURES["orin_offline"]])
    assert [rel for _, rel in single] == [FIXTURES["orin_offline"].as_posix()]  # named as given


def test_a_bad_folder_is_a_row_and_the_scan_goes_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _tree(tmp_path)
    garbage = root / "runs" / "garbage"
    (garbage / "run_1").mkdir(parents=True)
    (garbage / "ranging").mkdir()
    (garbage / "run_1" / "spl.txt").write_bytes(b"\x00\xff not a sample log\n")
    real_build_report = result_module.build_report

    def build_report_failing_on_orin(run, context):  # type: ignore[no-untyped-def]
        if "orin" in str(run.folder.root):
            raise RuntimeError("simulated bug")
        return real_build_report(run, context)

    monkeypatch.setattr(result_module, "build_report", build_report_failing_on_orin)
    rows = {r.path: r for r in scan_results([root], jobs=1).rows}
    assert set(rows) == {
        "tree/closed/Dell/results/XR12/resnet50/SingleStream/performance",
        "tree/runs/garbage",
        "tree/runs/orin/performance",
    }
    assert rows["tree/runs/orin/performance"].error == "internal error, please report: RuntimeError: simulated bug"
    assert rows["tree/runs/garbage"].error is None  # readable as a folder: judged, and failed, rule by rule
    assert rows["tree/runs/garbage"].official_verdict == rows["tree/runs/garbage"].mlpower_verdict == "fail"
    assert "1.files" in rows["tree/runs/garbage"].error_rules
    good = rows["tree/closed/Dell/results/XR12/resnet50/SingleStream/performance"]
    assert good.error is None and good.power_unit == "mJ/query"


def test_scan_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", str(RECENT), "--no-progress", "--jobs", "1"]) == 0
    assert main(["scan", str(DATA_DIR / "nvidia-orin-maxq-resnet50-offline"), "--no-progress"]) == 1  # official fail
    capsys.readouterr()
    assert main(["scan", str(tmp_path), "--no-progress"]) == 2
    assert "no power result in it" in capsys.readouterr().err
    assert main(["scan", str(RECENT), "--round", "v9.9"]) == 2
    with pytest.raises(SystemExit) as bad_sort:
        main(["scan", str(RECENT), "--sort", "watts"])
    assert bad_sort.value.code == 2
    assert "no column 'watts'; one of path, round" in capsys.readouterr().err


def test_sorting_puts_rows_without_a_value_last() -> None:
    rows = [
        ScanRow(path="a", efficiency=2.0),
        ScanRow(path="b", error="unreadable"),
        ScanRow(path="c", efficiency=7.5),
        ScanRow(path="d", efficiency=0.5),
    ]
    assert [r.path for r in sort_rows(rows, "-efficiency")] == ["c", "a", "d", "b"]
    assert [r.path for r in sort_rows(rows, "efficiency")] == ["d", "a", "c", "b"]
    assert [r.path for r in sort_rows(rows, None)] == ["a", "b", "c", "d"]
    with pytest.raises(ValueError, match="cannot sort by 'watts'"):
        sort_rows(rows, "watts")


def test_compare_keeps_the_order_given_searches_folders_and_skips_the_rest(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    shutil.copytree(FIXTURES["orin_offline"], runs / "s1" / "performance")
    (runs / "director.token").write_text("secret\n")
    args = [str(FIXTURES["xr12_multistream"]), str(runs), str(runs / "director.token")]
    done = _run("compare", "--round", "v2.1", *args, "--html", str(tmp_path / "c.html"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split()[:2] == ["path", "scenario"] and "official" in lines[0] and "mlpower" in lines[0]
    assert len(lines) == 3
    assert lines[1].split()[0].endswith("/dell-xr12-a2x1-maxq-resnet50-multistream") and "3.447 ms" in lines[1]
    assert lines[2].startswith("runs/s1 ") and "23.06 W" in lines[2] and "FAIL" in lines[2]
    assert "director.token: not a folder, skipped" in done.stderr
    assert "plotly-graph-div" in (tmp_path / "c.html").read_text()
    rows = json.loads(_run("compare", "--json", "--sort=-power_metric", *args).stdout)
    assert [round(r["power_metric"], 2) for r in rows] == [894.43, 23.06]
    assert _run("compare", str(tmp_path / "missing")).returncode == 2


def test_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    """On a real terminal (a pty) the scan shows a progress bar on stderr; the table still goes to stdout."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [str(BIN / "mlpower-analyzer"), "scan", str(RECENT), "--jobs", "2"],
        stdout=subprocess.PIPE,
        stderr=follower,
        env={**os.environ, "COLUMNS": "120", "TERM": "xterm"},
    )
    os.close(follower)
    seen = b""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 1.0)
        if ready:
            try:
                chunk = os.read(leader, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        elif process.poll() is not None:
            break
    out, _ = process.communicate(timeout=60)
    os.close(leader)
    assert process.returncode == 0
    assert b"analyzing" in seen and b"/7" in seen, seen[-400:]
    assert out.decode().count("PASS") >= 7 and b"analyzing" not in out
