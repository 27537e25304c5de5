"""The documented Python API: docs/python-api.md's examples run, and open_result's DataFrames agree with the
report on every published result."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analyzer import (
    AnalyzerError,
    Result,
    Status,
    UnknownPhaseError,
    UnreadableRunError,
    build_report,
    get_round,
    open_result,
)
from analyzer.cli import main
from analyzer.context import result_context
from analyzer.export import export_frame, write_samples
from analyzer.gpu import GpuSeries
from analyzer.result import GPU_COLUMNS, INDEX_NAME, SAMPLE_COLUMNS, gpu_frame, samples_frame, utc_index
from analyzer.run import PhaseData, load_run
from powerlog.spl import parse_spl_text
from powerlog.sut_samples import SAMPLES_DIR, write_parquet
from tests.support.paths import REPO_ROOT

ROOT = REPO_ROOT
DATA_DIR = ROOT / "tests" / "data"
FIXTURES = {  # the published v2.1 results (tests/conftest.py names the same folders)
    "xe8545_bert_server": DATA_DIR / "dell-xe8545-a100x4-maxq-bert99-server" / "performance",
    "xe8545_resnet_offline": DATA_DIR / "dell-xe8545-a100x4-maxq-resnet50-offline" / "performance",
    "xr12_multistream": DATA_DIR / "dell-xr12-a2x1-maxq-resnet50-multistream" / "performance",
    "xr12_singlestream": DATA_DIR / "dell-xr12-a2x1-maxq-resnet50-singlestream" / "performance",
    "orin_offline": DATA_DIR / "nvidia-orin-maxq-resnet50-offline" / "performance",
}
DOC = ROOT / "docs" / "python-api.md"
RECENT = DATA_DIR / "mlperf-results-v4.1-v5.1"
SHARED_DATA = ROOT.parent / "shared" / "data"
BIN = Path(sys.executable).parent
LENOVO_LLAMA = RECENT / "v5.1/closed/Lenovo/results/SR680a_V3_B200SXMx8_TRT/llama2-70b-99/Offline/performance"
ORIN = FIXTURES["orin_offline"]


def _published() -> dict[str, tuple[Path, str]]:
    """The 12 published results: folder name -> (performance folder, round)."""
    out = {path.parent.name: (path, "v2.1") for path in FIXTURES.values()}
    for line in (RECENT / "expected.jsonl").read_text().splitlines():
        e = json.loads(line)
        out[e["folder"]] = (RECENT / e["round"] / e["repository_path"] / "performance", e["round"])
    return out


PUBLISHED = _published()


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```$", text, flags=re.DOTALL | re.MULTILINE)


BLOCKS = _python_blocks(DOC.read_text(encoding="utf-8"))


def test_the_doc_has_examples() -> None:
    assert len(BLOCKS) >= 6


@pytest.mark.parametrize("index", range(len(BLOCKS)), ids=[f"block{i + 1}" for i in range(len(BLOCKS))])
def test_doc_example_runs(index: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(ROOT)  # the examples name the published results relative to the repository's root
    code = compile(BLOCKS[index], f"{DOC.name} block {index + 1}", "exec")
    exec(code, {"__name__": f"python_api_example_{index + 1}"})
    assert capsys.readouterr().out  # each example shows something


def test_the_published_results_are_the_twelve_of_shared_data() -> None:
    assert len(PUBLISHED) == 12
    listed = sorted(SHARED_DATA.glob("*/expected.jsonl"))
    if not listed:
        pytest.skip(f"no {SHARED_DATA}")
    names = {json.loads(line)["folder"] for path in listed for line in path.read_text().splitlines() if line.strip()}
    assert names == set(PUBLISHED)


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_in_window_mean_is_the_reports_average_power(name: str) -> None:
    folder, round_name = PUBLISHED[name]
    result = open_result(folder, round_name)
    df = result.samples()
    inside = df[df.in_window & (df.power_w > 0)]
    report = result.report()
    assert report.testing is not None and report.avg_power_w is not None
    assert len(inside) == report.testing.samples_in_window
    assert inside.power_w.mean() == pytest.approx(report.avg_power_w, rel=1e-12)
    assert int(df.in_window.sum()) == report.testing.all_samples_in_window
    ranging = result.samples("ranging")
    assert report.ranging is not None and report.ranging.avg_power_w is not None
    assert ranging[ranging.in_window & (ranging.power_w > 0)].power_w.mean() == pytest.approx(
        report.ranging.avg_power_w, rel=1e-12
    )


def test_columns_and_index_of_a_single_channel_result() -> None:
    result = open_result(ORIN)
    df = result.samples("testing")
    spl = result.run.testing.spl
    assert spl is not None
    assert list(df.columns) == list(SAMPLE_COLUMNS) == ["power_w", "volts_v", "amps_a", "pf", "in_window"]
    assert isinstance(df.index, pd.DatetimeIndex)
    assert str(df.index.dtype) == "datetime64[ns, UTC]" and df.index.name == INDEX_NAME == "time_utc"
    np.testing.assert_array_equal(df.index.asi8, spl.t_utc_ns)
    assert {c: str(t) for c, t in df.dtypes.items()} == {
        "power_w": "float64",
        "volts_v": "float64",
        "amps_a": "float64",
        "pf": "float64",
        "in_window": "bool",
    }
    np.testing.assert_array_equal(df.power_w.to_numpy(), spl.power_w)
    np.testing.assert_array_equal(df.volts_v.to_numpy(), spl.volts_v)  # type: ignore[arg-type]
    assert len(df) == len(spl)
    pd.testing.assert_frame_equal(result.samples("run_1"), df)


def test_multichannel_columns() -> None:
    result = open_result(LENOVO_LLAMA)
    df = result.samples()
    spl = result.run.testing.spl
    assert spl is not None and len(spl.channels) == 3
    channel_columns = [f"ch{k}_{f}" for k in (1, 2, 3) for f in ("power_w", "volts_v", "amps_a", "pf")]
    assert list(df.columns) == ["power_w", "volts_v", "amps_a", "pf", *channel_columns, "in_window"]
    assert all(str(df[c].dtype) == "float64" for c in channel_columns)
    for k, channel in enumerate(spl.channels, start=1):
        np.testing.assert_array_equal(df[f"ch{k}_power_w"].to_numpy(), channel.power_w)
    total = df.ch1_power_w + df.ch2_power_w + df.ch3_power_w
    np.testing.assert_allclose(total.to_numpy(), df.power_w.to_numpy(), rtol=1e-3)
    report = result.report()
    assert report.testing is not None
    inside = df[df.in_window & (df.power_w > 0)]
    assert tuple(inside[f"ch{k}_power_w"].mean() for k in (1, 2, 3)) == pytest.approx(
        report.testing.channel_avg_power_w, rel=1e-12
    )


def _own(t: str, watts: float, channels: tuple[float, ...] = ()) -> str:
    line = f"Time,{t},Watts,{watts:.6f},Volts,230.000000,Amps,1.000000,PF,0.990000,Mark,m"
    for k, w in enumerate(channels, start=1):
        line += f",Ch{k},Watts,{w:.6f},Volts,230.000000,Amps,0.500000,PF,0.980000"
    return line


def test_multi_analyzer_columns_pure() -> None:
    times = ("07-30-2022 04:40:04.430", "07-30-2022 04:40:05.430", "07-30-2022 04:40:06.430")
    lines = [
        f"Time,{t},Watts,{300 + i:.6f},Volts,-1.000000,Amps,-1.000000,PF,-1.000000,Mark,m,"
        f"Analyzer1,{_own(t, 100 + i)},Analyzer2,{_own(t, 200, (120, 80))}"
        for i, t in enumerate(times)
    ]
    log = parse_spl_text("\n".join(lines) + "\n")
    assert len(log.analyzers) == 2 and not log.bad_lines
    t = log.t_utc_ns
    phase = PhaseData("testing", log, None, None, (int(t[0]), int(t[2])), None)
    df = samples_frame(phase)
    assert df.a1_power_w.tolist() == [100, 101, 102]
    assert df.a2_ch1_power_w.tolist() == [120] * 3 and df.a2_ch2_power_w.tolist() == [80] * 3
    assert "ch1_power_w" not in df.columns and df.columns[-1] == "in_window"
    assert df.in_window.tolist() == [False, True, False]  # strictly inside: the edges are out


def test_a_field_not_read_is_nan() -> None:
    run = load_run(ORIN)  # power_w only
    df = samples_frame(run.testing)
    assert list(df.columns) == list(SAMPLE_COLUMNS)
    assert df.volts_v.isna().all() and df.pf.isna().all() and not df.power_w.isna().any()


def test_a_phase_without_spl_is_an_empty_frame(tmp_path: Path) -> None:
    perf = tmp_path / "orin" / "performance"
    shutil.copytree(ORIN, perf)
    (perf / "ranging" / "spl.txt").unlink()
    result = open_result(perf)
    df = result.samples("ranging")
    assert df.empty and list(df.columns) == list(SAMPLE_COLUMNS)
    assert str(df.index.dtype) == "datetime64[ns, UTC]" and df.index.name == INDEX_NAME
    assert str(df.in_window.dtype) == "bool" and str(df.power_w.dtype) == "float64"
    assert len(result.samples("testing")) > 0
    assert samples_frame(PhaseData("testing", None, None, None, None, None)).columns.tolist() == list(SAMPLE_COLUMNS)


def test_unknown_phase() -> None:
    result = open_result(ORIN)
    for call in (result.samples, result.gpu):
        with pytest.raises(UnknownPhaseError, match="one of ranging, testing") as caught:
            call("warmup")
        assert isinstance(caught.value, ValueError)


def _with_gpu_readings(tmp_path: Path) -> tuple[Path, np.ndarray, tuple[int, int]]:
    """The Orin result with two GPUs' readings every 100 ms from before ranging to after testing."""
    perf = tmp_path / "orin" / "performance"
    shutil.copytree(ORIN, perf)
    run = load_run(perf)
    assert run.ranging.spl is not None and run.testing.spl is not None
    begin = int(run.ranging.spl.t_utc_ns.min()) - 5_000_000_000
    end = int(run.testing.spl.t_utc_ns.max()) + 5_000_000_000
    t = np.arange(begin, end, 100_000_000, dtype=np.int64)
    (perf / SAMPLES_DIR).mkdir()
    for gpu, watts in ((0, 10.0), (1, 20.0)):
        offset = np.int64(gpu * 50_000_000)  # the second GPU read 50 ms after the first
        write_parquet(
            perf / SAMPLES_DIR / f"gpu{gpu}.power.parquet",
            {"t_utc_ns": t + offset, "power_w": np.full(t.shape, watts)},
        )
        write_parquet(
            perf / SAMPLES_DIR / f"gpu{gpu}.energy.parquet",
            {"t_utc_ns": t[::10] + offset, "energy_j": watts * (t[::10] - begin) / 1e9},
        )
    span = (int(run.testing.spl.t_utc_ns.min()), int(run.testing.spl.t_utc_ns.max()))
    return perf, t, span


def test_gpu_readings(tmp_path: Path) -> None:
    perf, _, span = _with_gpu_readings(tmp_path)
    result = open_result(perf)
    assert len(result.run.gpus) == 2
    gpu = result.gpu()
    assert list(gpu.columns) == list(GPU_COLUMNS) == ["gpu", "power_w", "in_window"]
    assert str(gpu.index.dtype) == "datetime64[ns, UTC]" and gpu.index.name == INDEX_NAME
    assert {c: str(t) for c, t in gpu.dtypes.items()} == {"gpu": "int64", "power_w": "float64", "in_window": "bool"}
    t = gpu.index.asi8
    assert (np.diff(t) >= 0).all() and t.min() >= span[0] and t.max() <= span[1]
    assert set(gpu.gpu) == {0, 1}
    window = result.run.testing.meter_window_utc_ns
    assert window is not None
    np.testing.assert_array_equal(gpu.in_window.to_numpy(), (t > window[0]) & (t < window[1]))
    means = gpu[gpu.in_window].groupby("gpu").power_w.mean()
    assert means.to_dict() == {0: 10.0, 1: 20.0}
    ranging = result.gpu("ranging")
    assert len(ranging) > 0 and ranging.index.max() < gpu.index.min()
    assert result.report().gpus is not None


def test_no_gpu_readings_is_an_empty_frame() -> None:
    gpu = open_result(ORIN).gpu()
    assert gpu.empty and list(gpu.columns) == list(GPU_COLUMNS)
    assert str(gpu.index.dtype) == "datetime64[ns, UTC]"
    assert {c: str(t) for c, t in gpu.dtypes.items()} == {"gpu": "int64", "power_w": "float64", "in_window": "bool"}


def test_gpu_frame_pure() -> None:
    series = GpuSeries(
        3,
        np.array([5, 1, 3, 9], dtype=np.int64),
        np.array([50.0, 10.0, 30.0, 90.0]),
        np.zeros(0, dtype=np.int64),
        np.zeros(0),
    )
    log = parse_spl_text(
        "Time,07-30-2022 04:40:04.430,Watts,1.0,Volts,1.0,Amps,1.0,PF,1.0,Mark,m\n"
        "Time,07-30-2022 04:40:05.430,Watts,1.0,Volts,1.0,Amps,1.0,PF,1.0,Mark,m\n"
    )
    t0 = int(log.t_utc_ns[0])
    shifted = replace(series, power_t_ns=series.power_t_ns + t0)
    phase = PhaseData("testing", log, None, None, (t0 + 1, t0 + 9), None)
    frame = gpu_frame([shifted], phase)
    assert frame.power_w.tolist() == [10.0, 30.0, 50.0, 90.0]  # sorted by time, the 9 ns one within the span
    assert frame.in_window.tolist() == [False, True, True, False]
    assert frame.gpu.tolist() == [3] * 4
    no_window = gpu_frame([shifted], PhaseData("testing", None, None, None, None, None))
    assert no_window.empty and list(no_window.columns) == list(GPU_COLUMNS)


def test_to_parquet_round_trip(tmp_path: Path) -> None:
    perf, _, _ = _with_gpu_readings(tmp_path)
    result = open_result(perf)
    out = tmp_path / "out" / "nested"
    paths = result.to_parquet(out)
    assert [p.name for p in paths] == [
        "ranging_samples.parquet",
        "ranging_gpu.parquet",
        "testing_samples.parquet",
        "testing_gpu.parquet",
        "report.json",
    ]
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in paths)  # no temporary file left
    for phase in ("ranging", "testing"):
        pd.testing.assert_frame_equal(pd.read_parquet(out / f"{phase}_samples.parquet"), result.samples(phase))
        pd.testing.assert_frame_equal(pd.read_parquet(out / f"{phase}_gpu.parquet"), result.gpu(phase))
    report = json.loads((out / "report.json").read_text())
    assert report["avg_power_w"] == result.report().avg_power_w and report["round"] == result.round.name


def test_to_parquet_without_gpu(tmp_path: Path) -> None:
    result = open_result(LENOVO_LLAMA)
    paths = result.to_parquet(tmp_path)
    assert [p.name for p in paths] == ["ranging_samples.parquet", "testing_samples.parquet", "report.json"]
    back = pd.read_parquet(paths[1])
    pd.testing.assert_frame_equal(back, result.samples())
    assert str(back.index.dtype) == "datetime64[ns, UTC]"


def test_result_properties_and_verdicts() -> None:
    result = open_result(LENOVO_LLAMA, "v5.1", benchmark="llama2-70b-99", scenario="Offline")
    assert result.round is get_round("v5.1") and result.context.round_source == "--round"
    assert result.folder == LENOVO_LLAMA
    assert result.official_verdict == "pass"
    assert result.verdict is Status.FAIL  # mlpower's 10.testing_uncertainty, stricter than the official checker
    assert [f.rule for f in result.check() if f.is_error] == ["10.testing_uncertainty"]
    assert result.report() is result.report()
    assert "v5.1" in repr(result)


def test_a_result_opened_for_the_report_only_has_the_report_and_no_checks() -> None:
    """``report`` without --html reads only what the report needs: the same figures, and no checks."""
    light, full = open_result(ORIN, "v2.1", checks=False), open_result(ORIN, "v2.1")
    assert light.report().power_metric == full.report().power_metric is not None
    assert light.run.file_sha1 == {} != full.run.file_sha1
    for refused in (light.check, light.official_checks, light.result_json):
        with pytest.raises(AnalyzerError, match="report only"):
            refused()


def test_a_result_from_run_data_does_no_io() -> None:
    run = load_run(ORIN)  # no hashes: the official checks cannot run
    result = Result(run, result_context(run, "v2.1"))
    assert result.report().avg_power_w is not None
    with pytest.raises(ValueError, match="hash_files=True"):
        result.official_checks()


def test_open_result_of_no_result_folder(tmp_path: Path) -> None:
    with pytest.raises(UnreadableRunError):
        open_result(tmp_path / "missing")
    with pytest.raises(UnreadableRunError):
        open_result(tmp_path)


@pytest.mark.parametrize("name", ["v2.1", "2.1"])
def test_build_report_takes_a_round_name(name: str) -> None:
    run = load_run(FIXTURES["xe8545_resnet_offline"])
    by_name = build_report(run, name)
    assert by_name.round == "v2.1"
    assert by_name.model_copy(update={"round_source": "given"}) == build_report(run, get_round("v2.1"))
    assert by_name.power_metric is not None and by_name.power_metric.value == pytest.approx(1390.987544, rel=1e-9)


# the export command


def test_export_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "testing.csv"
    assert main(["export", str(ORIN), "--csv", str(out)]) == 0
    assert "samples (testing)" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["testing.csv"]
    header, first = out.read_text().splitlines()[:2]
    assert header == "time_utc,power_w,volts_v,amps_a,pf,in_window"
    assert first.startswith("2022-07-30T04:40:04.430Z,")  # ISO 8601 UTC
    table = pd.read_csv(out, index_col=INDEX_NAME, parse_dates=[INDEX_NAME])
    expected = open_result(ORIN).samples()
    assert len(table) == len(expected)
    assert isinstance(table.index, pd.DatetimeIndex) and str(table.index.tz) == "UTC"
    np.testing.assert_array_equal(table.index.as_unit("ns").asi8, expected.index.asi8)  # read back as us
    np.testing.assert_allclose(table.power_w.to_numpy(), expected.power_w.to_numpy())
    assert table.in_window.tolist() == expected.in_window.tolist()


def test_csv_times_keep_their_ns(tmp_path: Path) -> None:
    t = np.array([1_659_156_004_430_000_000, 1_659_156_004_430_000_001], dtype=np.int64)
    frame = pd.DataFrame({"power_w": [1.0, 2.0]}, index=utc_index(t))
    write_samples(frame, tmp_path / "t.csv", "csv")
    lines = (tmp_path / "t.csv").read_text().splitlines()
    assert lines == ["time_utc,power_w", "2022-07-30T04:40:04.430Z,1.0", "2022-07-30T04:40:04.430000001Z,2.0"]
    with pytest.raises(ValueError, match="csv or parquet"):
        write_samples(frame, tmp_path / "t.xlsx", "xlsx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv"]


def test_export_both_phases_to_csv_has_a_phase_column(tmp_path: Path) -> None:
    out = tmp_path / "both.csv"
    assert main(["export", str(LENOVO_LLAMA), "--csv", str(out), "--phase", "both", "--round", "v5.1"]) == 0
    table = pd.read_csv(out)
    result = open_result(LENOVO_LLAMA)
    assert table.columns[:3].tolist() == ["time_utc", "phase", "power_w"] and "ch3_pf" in table.columns
    counts = table.phase.value_counts().to_dict()
    assert counts == {"ranging": len(result.samples("ranging")), "testing": len(result.samples("testing"))}
    assert table.phase.iloc[0] == "ranging" and table.phase.iloc[-1] == "testing"


@pytest.mark.parametrize("phase", ["ranging", "testing", "both"])
def test_export_parquet(tmp_path: Path, phase: str) -> None:
    out = tmp_path / "samples.parquet"
    assert main(["export", str(ORIN), "--parquet", str(out), "--phase", phase]) == 0
    back = pd.read_parquet(out)
    expected = export_frame(open_result(ORIN), ["ranging", "testing"] if phase == "both" else [phase])
    pd.testing.assert_frame_equal(back, expected)
    assert ("phase" in back.columns) == (phase == "both")
    assert str(back.index.dtype) == "datetime64[ns, UTC]"


def test_export_of_a_bad_folder_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "x.csv"
    assert main(["export", str(tmp_path / "missing"), "--csv", str(out)]) == 2
    assert "no such folder" in capsys.readouterr().err
    assert main(["export", str(tmp_path), "--csv", str(out)]) == 2
    assert "not an MLPerf power result folder" in capsys.readouterr().err
    assert main(["export", str(ORIN), "--csv", str(out), "--round", "v0.7"]) == 2
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_export_that_cannot_write_leaves_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "no-such-dir" / "x.parquet"
    assert main(["export", str(ORIN), "--parquet", str(out)]) == 2
    assert f"no folder {out.parent} for --parquet {out}: create it first" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_export_needs_one_output() -> None:
    with pytest.raises(SystemExit) as exited:
        main(["export", str(ORIN)])
    assert exited.value.code == 2
    with pytest.raises(SystemExit):
        main(["export", str(ORIN), "--csv", "a.csv", "--parquet", "b.parquet"])


def test_export_as_a_subprocess(tmp_path: Path) -> None:
    out = tmp_path / "ranging.csv"
    done = subprocess.run(
        [str(BIN / "mlpower-analyzer"), "export", str(ORIN), "--csv", str(out), "--phase", "ranging"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert out.read_text().splitlines()[0] == "time_utc,power_w,volts_v,amps_a,pf,in_window"
    assert len(out.read_text().splitlines()) == len(open_result(ORIN).samples("ranging")) + 1
    bad = subprocess.run(
        [str(BIN / "mlpower-analyzer"), "export", str(tmp_path / "missing"), "--parquet", str(tmp_path / "x")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert bad.returncode == 2 and "mlpower-analyzer: " in bad.stderr and not (tmp_path / "x").exists()
