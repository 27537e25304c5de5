"""Prefill and decode in the report: a published LLM result given a query log (and GPU readings) splits its
window as worked out by hand, the parts adding up to the window's wall and GPU energy; the extra file changes
neither verdict; a token-based result without it says why; a CNN result says nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from analyzer.metrics import trapezoid_energy_j
from analyzer.render import render_report
from analyzer.result import open_result
from powerlog.llm_queries import QUERY_LOG_NAME
from powerlog.result_record import PrefillDecodeRecord
from powerlog.spl import read_spl
from powerlog.sut_samples import write_parquet
from tests.support.paths import DATA_DIR, FIXTURES

PUBLISHED = DATA_DIR / "mlperf-results-v4.1-v5.1"
LLM = Path("v4.1/closed/NVIDIA/results/H200-SXM-141GBx8_TRT_MaxQ/llama2-70b-99/Server/performance")
# per cent of the window: (prefill start, first token, completion, prompt tokens, output tokens)
QUERIES = [(10, 20, 50, 40, 11), (15, 25, 40, 30, 6), (60, 62, 70, 20, 9), (-5, 5, 8, 10, 4), (95, 98, 110, 12, 13)]
PARTS_PCT = {
    "prefill": [(0, 5), (10, 25), (60, 62), (95, 98)],
    "decode": [(5, 8), (25, 50), (62, 70), (98, 100)],
    "idle": [(8, 10), (50, 60), (70, 95)],
}


@pytest.fixture
def llm_copy(tmp_path: Path) -> Path:
    target = tmp_path / LLM
    shutil.copytree(PUBLISHED / LLM, target)
    return target


def _window(folder: Path) -> tuple[int, int]:
    testing = open_result(folder).report().testing
    assert testing is not None
    return testing.power_begin_utc_ns, testing.power_end_utc_ns


def _at(window: tuple[int, int], pct: float) -> int:
    return window[0] + round((window[1] - window[0]) * pct / 100)


def _write_queries(folder: Path, window: tuple[int, int], extra: str = "") -> None:
    names = ("prefill_start_ns", "first_token_ns", "completed_ns", "prompt_tokens", "output_tokens")
    lines = []
    for i, (s, f, c, prompt, output) in enumerate(QUERIES):
        values = (_at(window, s), _at(window, f), _at(window, c), prompt, output)
        lines.append(
            json.dumps({"query_id": i, "issued_ns": _at(window, s) - 1, **dict(zip(names, values, strict=True))})
        )
    (folder / "run_1" / QUERY_LOG_NAME).write_text("\n".join(lines) + "\n" + extra)


def _write_gpu(folder: Path, window: tuple[int, int], counter: bool = True) -> None:
    """One GPU read at 1 Hz from before the window to after it, its counter (when it has one) the integral of its
    power plus 5 %: the two sources give different figures."""
    t = np.arange(window[0] - 5 * 10**9, window[1] + 5 * 10**9, 10**9, dtype=np.int64)
    power = 300.0 + 100.0 * np.sin(np.arange(t.shape[0]) / 9.0)
    energy = 1e6 + 1.05 * np.concatenate(([0.0], np.cumsum(np.diff(t) / 1e9 * (power[1:] + power[:-1]) / 2)))
    (folder / "samples").mkdir()
    write_parquet(folder / "samples" / "gpu0.power.parquet", {"t_utc_ns": t, "power_w": power})
    if counter:
        write_parquet(folder / "samples" / "gpu0.energy.parquet", {"t_utc_ns": t, "energy_j": energy})


def _split(folder: Path) -> PrefillDecodeRecord:
    split = open_result(folder).report().prefill_decode
    assert split is not None
    return split


def test_a_query_log_splits_the_window_and_the_parts_add_up(llm_copy: Path) -> None:
    window = _window(llm_copy)
    _write_queries(llm_copy, window)
    _write_gpu(llm_copy, window)
    report = open_result(llm_copy).report()
    split = report.prefill_decode
    assert split is not None and split.available and split.file == f"run_1/{QUERY_LOG_NAME}"
    assert (split.queries, split.queries_in_window, split.bad_lines) == (5, 5, 0)
    parts = {p.part: p for p in split.parts}
    assert [p.share_of_window_pct for p in split.parts] == pytest.approx([25, 38, 37], abs=1e-6)
    assert [p.intervals for p in split.parts] == [4, 4, 3]
    # every part's wall energy is the integral over its stretches, and together they are the window's
    spl = read_spl(llm_copy / "run_1" / "spl.txt")
    valid = spl.power_w > 0
    for name, stretches in PARTS_PCT.items():
        each = sum(trapezoid_energy_j(spl.t_utc_ns[valid], spl.power_w[valid], _at(window, a), _at(window, b))
                   for a, b in stretches)  # fmt: skip
        assert parts[name].energy_j == pytest.approx(each, rel=1e-9)
        assert parts[name].avg_power_w == pytest.approx(each / parts[name].duration_s)
    assert report.energy_j is not None and sum(p.energy_j or 0 for p in split.parts) == pytest.approx(report.energy_j)
    assert split.energy_j == pytest.approx(report.energy_j)
    # tokens: the prompt tokens in prefill, the output tokens after the first in decode
    assert parts["prefill"].tokens == pytest.approx(40 + 30 + 20 + 10 * 0.5 + 12)
    assert parts["decode"].tokens == pytest.approx(10 + 5 + 8 + 3 + 12 * 2 / 12)
    assert parts["idle"].tokens is None and parts["idle"].energy_per_token_j is None
    prefill = parts["prefill"]
    assert prefill.energy_per_token_j == pytest.approx((prefill.energy_j or 0) / (prefill.tokens or 1))
    assert "time-based attribution, not a per-request one" in split.note
    assert "Prefill/decode" in render_report(report) and "time-based attribution" in render_report(report)
    assert 'id="prefill-decode"' in open_result(llm_copy).html()


@pytest.mark.parametrize("counter", [True, False])
def test_the_gpus_parts_add_up_to_their_window_energy_from_the_counter_or_the_power(
    llm_copy: Path, counter: bool
) -> None:
    window = _window(llm_copy)
    _write_queries(llm_copy, window)
    _write_gpu(llm_copy, window, counter)
    report = open_result(llm_copy).report()
    assert report.gpus is not None and report.gpus.total_energy_j is not None and report.prefill_decode is not None
    assert report.gpus.per_gpu[0].energy_from == ("counter" if counter else "power")
    parts = report.prefill_decode.parts
    assert sum(p.gpu_energy_j or 0 for p in parts) == pytest.approx(report.gpus.total_energy_j, rel=1e-9)
    assert report.prefill_decode.gpu_energy_j == pytest.approx(report.gpus.total_energy_j, rel=1e-9)
    for p in parts:
        assert p.gpu_avg_power_w == pytest.approx((p.gpu_energy_j or 0) / p.duration_s)


def test_the_query_log_fails_neither_verdict(llm_copy: Path) -> None:
    before = open_result(llm_copy)
    verdicts = (before.verdict, before.official_verdict, {f.rule: f.status for f in before.check()})
    _write_queries(llm_copy, _window(llm_copy))
    after = open_result(llm_copy)
    assert (after.verdict, after.official_verdict, {f.rule: f.status for f in after.check()}) == verdicts


def test_bad_lines_are_left_out_and_said(llm_copy: Path) -> None:
    _write_queries(llm_copy, _window(llm_copy), extra='{"query_id": 99, "issued_ns": "soon"}\n')
    report = open_result(llm_copy).report()
    assert report.prefill_decode is not None and report.prefill_decode.bad_lines == 1
    assert report.prefill_decode.queries_in_window == 5
    (problem,) = [p for p in report.problems if QUERY_LOG_NAME in p.message]
    assert problem.severity == "warning" and "line 6" in problem.message


def test_a_log_with_no_query_in_the_window_says_so(llm_copy: Path) -> None:
    window = _window(llm_copy)
    _write_queries(llm_copy, (window[1] + 10**9, window[1] + 2 * 10**9))
    split = _split(llm_copy)
    assert not split.available and "none of the 5 queries" in split.reason and split.parts == []


def test_a_token_based_result_without_the_log_says_why_and_a_cnn_result_says_nothing() -> None:
    split = _split(PUBLISHED / LLM)
    assert not split.available and QUERY_LOG_NAME in split.reason and "cannot be split" in split.reason
    report = open_result(FIXTURES["orin_offline"]).report()
    assert report.prefill_decode is None and "prefill_decode" not in report.to_json_obj()
