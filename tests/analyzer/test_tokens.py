"""Per-token figures (analyzer.tokens): the published LLM results show them, recomputed here from spl.txt and
LoadGen's detail log by hand; their error bars carry the wall's; LoadGen's token sum is recovered from its rates;
a result that is not token-based has none; scan and compare show the columns."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from analyzer.compare import render_comparison
from analyzer.metrics import Scenario
from analyzer.render import render_report
from analyzer.result import open_result
from analyzer.scan import scan_result
from analyzer.tokens import gpu_energy_budget_of, token_count, token_figures
from analyzer.uncertainty import Budget, Term
from powerlog.mllog import parse_detail_log
from powerlog.result_record import ErrorBarRecord, GpuPhaseSummary, GpuRecord, UncertaintyTermRecord
from tests.support.paths import DATA_DIR, FIXTURES

PUBLISHED = DATA_DIR / "mlperf-results-v4.1-v5.1"
LLAMA_SERVER = PUBLISHED / "v4.1/closed/NVIDIA/results/H200-SXM-141GBx8_TRT_MaxQ/llama2-70b-99/Server/performance"
LLAMA_OFFLINE = PUBLISHED / "v5.1/closed/Lenovo/results/SR680a_V3_B200SXMx8_TRT/llama2-70b-99/Offline/performance"
WHISPER = PUBLISHED / "v5.1/closed/Lenovo/results/SR680a_V3_B200SXMx8_TRT/whisper/Offline/performance"


def _detail(folder: Path) -> dict[str, object]:
    """The detail log's keys and values, read here line by line (not by powerlog)."""
    values: dict[str, object] = {}
    for line in (folder / "run_1" / "mlperf_log_detail.txt").read_text().splitlines():
        if line.startswith(":::MLLOG "):
            event = json.loads(line.removeprefix(":::MLLOG "))
            values[event["key"]] = event["value"]
    return values


def _time_s(text: str) -> float:
    return datetime.strptime(text, "%m-%d-%Y %H:%M:%S.%f").replace(tzinfo=UTC).timestamp()


def _wall_energy_j(folder: Path, detail: dict[str, object]) -> tuple[float, float]:
    """Mean of the Watts > 0 samples strictly inside LoadGen's window x the window's length, from spl.txt read by
    hand; and the window."""
    begin, end = _time_s(str(detail["power_begin"])), _time_s(str(detail["power_end"]))
    watts = []
    for line in (folder / "run_1" / "spl.txt").read_text().splitlines():
        if not line.strip():
            continue
        fields = line.split(",")
        t, w = _time_s(fields[1]), float(fields[fields.index("Watts") + 1])
        if begin < t < end and w > 0:
            watts.append(w)
    return sum(watts) / len(watts) * (end - begin), end - begin


@pytest.mark.parametrize("folder", [LLAMA_SERVER, LLAMA_OFFLINE, WHISPER], ids=["server", "offline", "whisper"])
def test_published_llm_results_give_energy_per_token_as_recomputed_by_hand(folder: Path) -> None:
    detail = _detail(folder)
    energy_j, window_s = _wall_energy_j(folder, detail)

    def number(key: str) -> float:
        return float(str(detail[key]))

    if detail["effective_scenario"] == "Server":  # LoadGen: completed samples/s = (n - 1) / D, tokens/s = N / D
        queries = int(number("result_query_count"))
        rate, duration_s = (
            number("result_completed_tokens_per_second"),
            (queries - 1) / number("result_completed_samples_per_sec"),
        )
    else:  # Offline: both rates over the last completion, result_max_latency_ns
        rate, duration_s = number("result_tokens_per_second"), number("result_max_latency_ns") / 1e9
        queries = int(number("generated_samples_per_query") * number("result_query_count"))
    tokens = round(rate * duration_s)

    figures = open_result(folder).report().tokens
    assert figures is not None
    assert figures.output_token_count == tokens and figures.query_count == queries
    assert figures.window_s == pytest.approx(window_s, abs=1e-6)
    assert figures.total_energy_joules is not None and figures.energy_per_output_token_joules is not None
    assert figures.total_energy_joules.value == pytest.approx(energy_j, rel=1e-9)
    assert figures.energy_per_output_token_joules.value == pytest.approx(energy_j / tokens, rel=1e-9)
    assert figures.output_tokens_per_joule is not None and figures.energy_per_query_joules is not None
    assert figures.output_tokens_per_joule.value == pytest.approx(tokens / energy_j, rel=1e-9)
    assert figures.energy_per_query_joules.value == pytest.approx(energy_j / queries, rel=1e-9)
    assert figures.gpu_energy_joules is None and figures.accelerator_count is None  # published: no GPU readings


def test_the_figures_are_plausible_and_sit_beside_ttft_and_tpot() -> None:
    server = open_result(LLAMA_SERVER).report()
    tokens = server.tokens
    assert tokens is not None and tokens.energy_per_output_token_joules is not None
    assert 250 < tokens.output_token_count / tokens.query_count < 350  # llama2-70b answers ~290 tokens
    # tokens/J is the official efficiency (tokens/s/W) scaled by LoadGen's duration over the window: at most it
    assert server.efficiency is not None and tokens.output_tokens_per_joule is not None
    ratio = tokens.loadgen_duration_s / tokens.window_s
    assert tokens.output_tokens_per_joule.value == pytest.approx(server.efficiency.value * ratio, rel=1e-5)
    assert 0.98 < ratio < 1.0  # the window opens before the first query and closes after the last completion
    assert tokens.ttft is not None and tokens.tpot is not None and tokens.perf_constraints_met is True
    assert (tokens.ttft.limit_ns, tokens.tpot.limit_ns) == (2_000_000_000, 200_000_000)  # llama2-70b Server's
    assert tokens.ttft.limit_percentile == pytest.approx(99.0) and tokens.ttft.within_limit is True
    assert tokens.ttft.percentiles_ns["99.00"] == 519270971 and tokens.tpot.percentiles_ns["50.00"] == 138267737
    text = render_report(server)
    assert "Output tokens     57,262,570 in 196,608 queries" in text and "0.2742 J/token ±" in text
    assert "limit 2,000.0 ms at p99: met" in text and "TPOT" in text
    offline = open_result(LLAMA_OFFLINE).report().tokens
    assert offline is not None and offline.ttft is None and offline.tpot is None  # LoadGen logs none for Offline
    assert offline.duration_from == "result_max_latency_ns"


def test_error_bars_carry_the_walls_relative_uncertainty() -> None:
    report = open_result(LLAMA_SERVER).report()
    power, tokens = report.avg_power_uncertainty, report.tokens
    assert power is not None and tokens is not None and report.avg_power_w is not None
    for figure in (tokens.total_energy_joules, tokens.energy_per_output_token_joules, tokens.output_tokens_per_joule,
                   tokens.energy_per_query_joules):  # fmt: skip
        assert figure is not None and figure.uncertainty is not None
        bar = figure.uncertainty
        assert bar.relative_pct == pytest.approx(power.relative_pct, rel=1e-9) and bar.unit == figure.unit
        assert bar.expanded == pytest.approx(figure.value * power.expanded / report.avg_power_w, rel=1e-9)
        assert [t.name for t in bar.terms] == [t.name for t in power.terms] and bar.dominant == power.dominant


def test_a_result_that_is_not_token_based_has_no_token_section() -> None:
    for folder in (FIXTURES["xe8545_resnet_offline"], FIXTURES["xe8545_bert_server"], FIXTURES["xr12_multistream"]):
        report = open_result(folder).report()
        assert report.tokens is None and "tokens" not in report.to_json_obj(), folder
        assert "Output tokens" not in render_report(report)
    assert "Output tokens" in open_result(WHISPER).html()


def _log(**values: object) -> str:
    return "".join(f':::MLLOG {{"key": "{k}", "value": {json.dumps(v)}, "time_ms": 0}}\n' for k, v in values.items())


def test_loadgens_token_sum_is_recovered_from_its_rates() -> None:
    # a real built-in LLM Interactive run: 21 queries whose responses reported 893 tokens in all (its query log)
    server = parse_detail_log(
        _log(
            result_query_count=21,
            result_completed_samples_per_sec=8.90714,
            result_completed_tokens_per_second=397.704,
            result_scheduled_samples_per_sec=9.088,
        )
    )
    count = token_count(server, Scenario.SERVER)
    assert count is not None and count.output_tokens == 893 and count.queries == 21
    assert count.duration_s == pytest.approx(20 / 8.90714)
    # Offline without generated_samples_per_query: the samples from LoadGen's samples/s over the same duration
    offline = parse_detail_log(
        _log(
            result_query_count=1,
            result_max_latency_ns=2_000_000_000,
            result_tokens_per_second=150.0,
            result_samples_per_second=5.0,
        )
    )
    count = token_count(offline, Scenario.OFFLINE)
    assert count is not None and (count.output_tokens, count.queries, count.duration_s) == (300, 10, 2.0)
    # no measured tokens (an inferred rate only, or a SUT that reported none), or no duration: no count
    inferred = parse_detail_log(_log(result_query_count=1, result_max_latency_ns=10**9,
                                     result_inferred_tokens_per_second=80.0))  # fmt: skip
    none_reported = parse_detail_log(_log(result_query_count=1, result_max_latency_ns=10**9,
                                          result_tokens_per_second=0))  # fmt: skip
    assert token_count(inferred, Scenario.OFFLINE) is None and token_count(none_reported, Scenario.OFFLINE) is None
    assert token_count(server, Scenario.SINGLE_STREAM) is None
    absurd = parse_detail_log(
        _log(
            result_query_count=10**30, result_completed_samples_per_sec=1e-300, result_completed_tokens_per_second=1e300
        )
    )
    assert token_count(absurd, Scenario.SERVER) is None  # no overflow, no figure
    assert token_figures(server, Scenario.SERVER, 0.0, 100.0) is None  # no window


def _gpu(index: int, energy_j: float, accuracy_j: float, sampling_j: float) -> GpuRecord:
    terms = [UncertaintyTermRecord(name="accuracy", standard=accuracy_j),
             UncertaintyTermRecord(name="sampling", standard=sampling_j)]  # fmt: skip
    standard = (accuracy_j**2 + sampling_j**2) ** 0.5
    return GpuRecord(
        gpu=index,
        energy_j=energy_j,
        uncertainty=ErrorBarRecord(expanded=2 * standard, unit="J", standard=standard, terms=terms),
    )


def test_gpu_figures_carry_the_gpus_energy_uncertainty() -> None:
    detail = parse_detail_log(
        _log(
            result_query_count=21, result_completed_samples_per_sec=8.90714, result_completed_tokens_per_second=397.704
        )
    )
    gpus = GpuPhaseSummary(per_gpu=[_gpu(0, 300.0, 3.0, 4.0), _gpu(1, 100.0, 4.0, 3.0)], total_energy_j=400.0)
    budget = gpu_energy_budget_of(gpus.per_gpu)
    assert budget is not None and budget.value == 400.0
    assert {t.name: t.standard for t in budget.terms} == {"accuracy": 5.0, "sampling": 5.0}  # in quadrature
    wall = Budget(250.0, "W", (Term("accuracy", 0.5, ""), Term("clock", 0.25, "")))
    figures = token_figures(detail, Scenario.SERVER, 2.0, 250.0, wall, gpus)
    assert figures is not None and figures.accelerator_count == 2 and figures.output_token_count == 893
    gpu = figures.gpu_energy_per_output_token_joules
    assert gpu is not None and gpu.value == pytest.approx(400.0 / 893) and gpu.uncertainty is not None
    assert gpu.uncertainty.relative_pct == pytest.approx(100 * 2 * 50**0.5 / 400.0)
    per_j = figures.gpu_output_tokens_per_joule
    assert per_j is not None and per_j.uncertainty is not None and per_j.value == pytest.approx(893 / 400.0)
    assert per_j.uncertainty.relative_pct == pytest.approx(gpu.uncertainty.relative_pct)
    wall_per_token = figures.energy_per_output_token_joules
    assert wall_per_token is not None and wall_per_token.value == pytest.approx(500.0 / 893)
    assert wall_per_token.uncertainty is not None
    assert wall_per_token.uncertainty.relative_pct == pytest.approx(wall.relative_pct)
    assert token_figures(detail, Scenario.SERVER, 2.0, None, None, None) is not None  # counts and latencies only


def test_scan_and_compare_show_the_per_token_columns() -> None:
    llm, resnet = scan_result(LLAMA_SERVER), scan_result(FIXTURES["xe8545_resnet_offline"])
    assert llm.j_per_token == pytest.approx(0.27419, rel=1e-4) and llm.tokens_per_j == pytest.approx(3.6471, rel=1e-4)
    assert llm.gpu_j_per_token is None and resnet.j_per_token is None and resnet.tokens_per_j is None
    table = render_comparison([llm, resnet])
    header, first, second = table.splitlines()
    assert "J/token" in header and "tokens/J" in header and "GPU J/token" not in header  # no GPUs in either
    assert "0.2742" in first and "3.65" in first and second.count("n/a") >= 2
    assert "J/token" not in render_comparison([resnet])  # only where a result is token-based
