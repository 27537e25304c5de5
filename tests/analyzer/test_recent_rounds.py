"""Published v4.1 and v5.1 power results: the published figures and the official verdict, reproduced.

The seven results in tests/data/mlperf-results-v4.1-v5.1 keep their submission-tree paths, since the
official checker takes the benchmark and the scenario from the path; expected.jsonl holds the published
figures and what the official power checker of each round says (copied from ../shared/data).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from analyzer.checks import check_run, check_summary
from analyzer.cli import main
from analyzer.context import result_context, tree_position
from analyzer.metrics import Scenario
from analyzer.official import official_checks, official_verdict
from analyzer.report import build_report
from analyzer.rounds import ROUNDS, get_round
from analyzer.run import load_run
from powerlog.spl import SPL_FIELDS
from tests.support.paths import DATA_DIR

DATA = DATA_DIR / "mlperf-results-v4.1-v5.1"
EXPECTED = [json.loads(line) for line in (DATA / "expected.jsonl").read_text().splitlines()]
FALSE_ALARM_RULES = {"0.readable", "12.results", "9.testing_ranges", "1.files"}


def _folder(e: dict) -> Path:
    return DATA / e["round"] / e["repository_path"] / "performance"


def _close(a: float | None, b: float, rel: float) -> bool:
    return a is not None and abs(a - b) <= rel * abs(b)


@pytest.fixture(params=EXPECTED, ids=[e["folder"] for e in EXPECTED])
def published(request: pytest.FixtureRequest) -> dict:
    return request.param


@pytest.mark.parametrize("given_round", [True, False], ids=["--round", "detected"])
def test_published_figures(published: dict, given_round: bool) -> None:
    run = load_run(_folder(published))
    report = build_report(run, published["round"] if given_round else None).to_json_obj()
    assert report["round"] == published["round"], report["round_source"]
    assert _close(report["power_metric"]["value"], published["power_metric"], 1e-9)
    assert report["power_metric"]["unit"] == published["power_unit"]
    assert report["samples_in_window"] == published["samples_in_window"]
    assert report["scenario"] == published["scenario"]
    assert report["loadgen_scenario"] == published["loadgen_scenario"]
    assert report["inferred"] == (published["scenario"] != published["loadgen_scenario"])
    if "published_efficiency" in published:
        assert _close(report["efficiency"]["value"], published["published_efficiency"], 1e-6)
    if published["power_unit"] == "W":
        assert _close(report["performance"]["value"], published["published_performance"], 1e-6)
    assert not [p for p in report["problems"] if p["severity"] == "error"]


@pytest.mark.parametrize("given_round", [True, False], ids=["--round", "detected"])
def test_published_official_verdict(published: dict, given_round: bool) -> None:
    run = load_run(_folder(published), spl_fields=SPL_FIELDS, hash_files=True, marks=True)
    context = result_context(run, published["round"] if given_round else None)
    findings = check_run(run, context)
    summary = check_summary(run, context, findings, official_checks(run, context.round)).to_json_obj()
    assert summary["official_verdict"] == published["official_power_check"], [
        c for c in summary["official_checks"] if c["outcome"] == "fail"
    ]
    false_alarms = [f for f in findings if f.is_error and f.rule in FALSE_ALARM_RULES]
    assert not false_alarms, [f.message for f in false_alarms]
    assert all(f["official"] is not None for f in summary["findings"])


def test_llm_efficiency_is_tokens_per_second_per_watt() -> None:
    lenovo = next(e for e in EXPECTED if e["folder"].startswith("lenovo") and "llama2" in e["folder"])
    report = build_report(load_run(_folder(lenovo)), "v5.1")
    assert report.benchmark == "llama2-70b-99"
    assert report.performance is not None and report.performance.key == "result_tokens_per_second"
    assert report.performance.value == 102909.0
    assert report.efficiency is not None and report.efficiency.unit == "tokens/s/W"


def test_llm_server_uses_completed_tokens() -> None:
    nvidia = next(e for e in EXPECTED if "llama2-70b-99-server" in e["folder"])
    report = build_report(load_run(_folder(nvidia)), None)
    assert report.performance is not None and report.performance.key == "result_completed_tokens_per_second"
    assert report.efficiency is not None and report.efficiency.unit == "tokens/s/W"


def test_multistream_inferred_from_singlestream_is_eight_times_singlestream(tmp_path: Path) -> None:
    """The same SingleStream run filed as SingleStream, as MultiStream and as Offline."""
    multistream = next(
        e for e in EXPECTED if e["folder"].endswith("multistream") and e["loadgen_scenario"] != "MultiStream"
    )
    source = _folder(multistream)
    as_singlestream = tmp_path / "mobilenet" / "singlestream" / "performance"
    shutil.copytree(source, as_singlestream)
    single = build_report(load_run(as_singlestream), "v5.1")
    multi = build_report(load_run(source), "v5.1")
    assert not single.inferred and multi.inferred
    assert single.power_metric is not None and multi.power_metric is not None
    assert multi.power_metric.value == pytest.approx(8 * single.power_metric.value, rel=1e-12)
    assert single.efficiency is not None and multi.efficiency is not None
    assert multi.efficiency.value == pytest.approx(single.efficiency.value, rel=1e-12)  # 8 samples/query, 8x energy
    offline = build_report(load_run(source), result_context(load_run(source), "v5.1", scenario="Offline"))
    assert offline.power_metric is not None and offline.power_metric.unit == "W"
    assert offline.performance is not None and offline.performance.key == "result_qps_without_loadgen_overhead"


def test_tree_position_reads_the_submission_path() -> None:
    lenovo = next(e for e in EXPECTED if "whisper" in e["folder"])
    position = tree_position(_folder(lenovo))
    assert (position.division, position.submitter, position.system) == ("closed", "Lenovo", "SR680a_V3_B200SXMx8_TRT")
    assert (position.benchmark, position.scenario, position.round_folder) == ("whisper", Scenario.OFFLINE, "v5.1")


def test_round_detected_from_versions_outside_a_tree(tmp_path: Path) -> None:
    """Out of its tree, LoadGen 4.1 + PTDaemon 1.10.0 say v4.1; LoadGen 5.0 + PTDaemon 1.11.1 + a list
    ptd_config fit v5.1, v6.0 and v6.1: said so, and the newest is used."""
    nvidia = next(e for e in EXPECTED if "resnet50-offline" in e["folder"])
    target = tmp_path / "a" / "performance"
    shutil.copytree(_folder(nvidia), target)
    context = result_context(load_run(target))
    assert context.round.name == "v4.1" and "PTDaemon 1.10.0" in context.round_source
    gate = next(e for e in EXPECTED if e["folder"].endswith("offline") and "gateoverflow" in e["folder"])
    target = tmp_path / "b" / "performance"
    shutil.copytree(_folder(gate), target)
    context = result_context(load_run(target))
    assert context.round.name == "v6.1"
    assert context.round_source.startswith("ambiguous") and "v5.1, v6.0, v6.1" in context.round_source
    assert context.scenario is Scenario.SINGLE_STREAM  # outside a tree: LoadGen's scenario


def test_rounds_encode_what_each_official_checker_enforces() -> None:
    assert set(ROUNDS) >= {"v2.1", "v4.1", "v5.0", "v5.1", "v6.0", "v6.1"}
    assert get_round("v4.1").ptd_versions == ("1.10.0",) and get_round("v6.1").ptd_versions == ("1.11.1",)
    assert get_round("v5.0").amps_restore_positions == (3,) and get_round("v5.1").amps_restore_positions == (3, 4)
    assert not get_round("v5.0").ptd_config_list and get_round("v5.1").ptd_config_list
    assert get_round("v6.0").interactive_power and not get_round("v5.1").interactive_power
    assert get_round("v5.1").performance_key("whisper", "Offline") == "result_tokens_per_second"
    assert get_round("v5.1").performance_key("resnet50", "Offline") == "result_samples_per_second"


def test_cli_check_prints_both_verdicts_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    lenovo = next(e for e in EXPECTED if e["folder"].startswith("lenovo") and "llama2" in e["folder"])
    main(["check", str(_folder(lenovo))])
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-2].startswith("mlpower verdict: ") and lines[-1].startswith("official verdict: PASS")
    assert any("[stricter than official]" in line for line in lines)
    main(["check", str(_folder(lenovo)), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert out["official_verdict"] == "pass" and out["round"] == "v5.1"
    assert "submission tree" in out["round_source"]


def test_cli_report_scenario_and_benchmark_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lenovo = next(e for e in EXPECTED if e["folder"].startswith("lenovo") and "llama2" in e["folder"])
    target = tmp_path / "run" / "performance"
    shutil.copytree(_folder(lenovo), target)
    main(["report", str(target), "--json", "--round", "v5.1"])
    plain = json.loads(capsys.readouterr().out)
    assert plain["benchmark"] is None and plain["efficiency"]["unit"] == "samples/s/W"
    main(["report", str(target), "--json", "--round", "v5.1", "--benchmark", "llama2-70b-99"])
    named = json.loads(capsys.readouterr().out)
    assert named["efficiency"]["value"] == pytest.approx(lenovo["published_efficiency"], rel=1e-6)


def test_unknown_round_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(_folder(EXPECTED[0])), "--round", "v9.9"]) == 2
    assert "unknown round 'v9.9'" in capsys.readouterr().err


def test_metric_that_cannot_be_computed_says_why(tmp_path: Path) -> None:
    nvidia = next(e for e in EXPECTED if "resnet50-offline" in e["folder"])
    target = tmp_path / "x" / "performance"
    shutil.copytree(_folder(nvidia), target)
    (target / "run_1" / "spl.txt").write_text("")
    report = build_report(load_run(target), "v4.1")
    assert report.power_metric is None
    problems = [p for p in report.to_json_obj()["problems"] if p["rule"] == "0.metric"]
    assert problems and "run_1/spl.txt" in problems[0]["message"]


def test_official_verdict_is_pass_or_fail() -> None:
    run = load_run(_folder(EXPECTED[0]), spl_fields=SPL_FIELDS, hash_files=True, marks=True)
    assert official_verdict(official_checks(run, get_round("v4.1"))) == "pass"
    # the v5.1 checker wants a 4th SR,A command, which the v4.1-era power-dev never sent
    assert official_verdict(official_checks(run, get_round("v5.1"))) == "fail"
