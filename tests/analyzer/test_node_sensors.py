"""Node agents in a run folder: each node's GPUs and components over the testing window, its gaps as a rule.

The folders are a published v5.1 result plus hand-written ``nodes/<node>/samples/`` Parquet files (written with
powerlog's own writer) and a session.json ``nodes`` entry, as the director writes them; the node's clock is
set 2 s behind the director's so that only its own clock measurements place its readings right.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from analyzer.findings import Severity, Status
from analyzer.render import render_report
from analyzer.result import open_result
from analyzer.run import load_run
from powerlog.sut_samples import write_parquet
from tests.support.paths import DATA_DIR

LENOVO_LLAMA = (
    DATA_DIR / "mlperf-results-v4.1-v5.1" / "v5.1" / "closed" / "Lenovo" / "results" / "SR680a_V3_B200SXMx8_TRT"
    / "llama2-70b-99" / "Offline" / "performance"
)  # fmt: skip
S = 1_000_000_000
NODE = "rack1-node2"
NODE_BEHIND_NS = 2 * S  # the node's clock reads 2 s less than the director's
WATTS = {"gpu0": 400.0, "gpu1": 250.0, "rapl.package-0": 150.0}


def _copy(tmp_path: Path) -> tuple[Path, tuple[int, int]]:
    perf = tmp_path / "performance"
    shutil.copytree(LENOVO_LLAMA, perf)
    window = load_run(perf).testing.window_utc_ns
    assert window is not None
    return perf, window


def _write_node_samples(perf: Path, window: tuple[int, int]) -> None:
    """Constant power from 5 s before to 5 s after the window, every 100 ms, stamped on the node's clock; each
    energy counter the integral of that power."""
    samples = perf / "nodes" / NODE / "samples"
    samples.mkdir(parents=True)
    director_t = np.arange(window[0] - 5 * S, window[1] + 5 * S, S // 10, dtype=np.int64)
    node_t = director_t - NODE_BEHIND_NS
    elapsed_s = (director_t - director_t[0]) / S
    for source, watts in WATTS.items():
        write_parquet(samples / f"{source}.power.parquet", {"t_utc_ns": node_t, "power_w": np.full(len(node_t), watts)})
        write_parquet(
            samples / f"{source}.energy.parquet", {"t_utc_ns": node_t, "energy_j": 1000.0 + watts * elapsed_s}
        )


def _write_session(perf: Path, window: tuple[int, int], gaps: list[dict[str, Any]]) -> None:
    clock = [
        {"phase": "testing", "when": when, "offset_ns": NODE_BEHIND_NS, "bound_ns": 100_000, "agent_utc_ns": t}
        for when, t in (("before", window[0] - 3 * S), ("after", window[1] + 3 * S))
    ]
    node = {"name": NODE, "clock": clock, "gaps": gaps, "samples": {"gpu0.power": 1}}
    (perf / "session.json").write_text(json.dumps({"clock": [], "nodes": {NODE: node}}))


def _node_folder(tmp_path: Path, gaps: list[dict[str, Any]]) -> tuple[Path, tuple[int, int]]:
    perf, window = _copy(tmp_path)
    _write_node_samples(perf, window)
    _write_session(perf, window, gaps)
    return perf, window


def _node_findings(perf: Path) -> list[Any]:
    return [f for f in open_result(perf, "v5.1").check() if f.rule == "0.node_gaps"]


def test_each_node_gpu_and_component_over_the_testing_window(tmp_path: Path) -> None:
    perf, window = _node_folder(tmp_path, [])
    window_s = (window[1] - window[0]) / S
    report = open_result(perf, "v5.1").report()
    assert report.node_sensors is not None
    (node,) = report.node_sensors
    assert node.node == NODE and node.gaps == []
    gpus = {g.gpu: g for g in node.gpus}
    for index, watts in ((0, WATTS["gpu0"]), (1, WATTS["gpu1"])):
        assert gpus[index].counter_energy_j == pytest.approx(watts * window_s, rel=1e-9)
        assert gpus[index].mean_power_w == pytest.approx(watts, rel=1e-9)
        # 2 s off (the LoadGen node's clock, not the node's own) would leave readings out at one edge
        assert gpus[index].power_readings == pytest.approx(window_s * 10, abs=1)
    assert node.gpu_energy_j == pytest.approx((400.0 + 250.0) * window_s, rel=1e-9)
    assert node.gpu_avg_power_w == pytest.approx(650.0, rel=1e-9)
    (package,) = node.components
    assert package.name == "rapl:package-0" and package.energy_j == pytest.approx(150.0 * window_s, rel=1e-9)
    assert package.share_of_wall_pct is None  # the LoadGen node's wall meter does not hold this node
    text = render_report(report)
    assert f"Node {NODE}" in text and "650.00 W" in text
    html = open_result(perf, "v5.1").html()
    assert '<table id="nodes">' in html and "rapl:package-0" in html
    (passed,) = _node_findings(perf)
    assert passed.status is Status.PASS


def test_the_node_readings_are_placed_by_the_nodes_own_clock(tmp_path: Path) -> None:
    perf, window = _node_folder(tmp_path, [])
    run = load_run(perf)
    (node,) = run.nodes
    first_director_ns = window[0] - 5 * S
    assert int(node.gpus[0].power_t_ns[0]) == first_director_ns
    assert run.gpus == ()  # the LoadGen node streamed nothing here


def test_a_node_silent_in_the_testing_window_fails_naming_node_phase_and_seconds(tmp_path: Path) -> None:
    perf, window = _copy(tmp_path)
    baseline = open_result(perf, "v5.1").official_verdict
    _write_node_samples(perf, window)
    silent = {"reason": "silent", "phase": "testing", "from_utc_ns": window[0] + 10 * S, "detected_utc_ns": 0}
    _write_session(perf, window, [{**silent, "until_utc_ns": window[0] + 22 * S}])
    (finding,) = _node_findings(perf)
    assert finding.status is Status.FAIL and finding.severity is Severity.ERROR
    assert NODE in finding.message and "testing" in finding.message
    assert "12.0 s" in finding.message and "12.0 s of the testing window" in finding.message
    assert open_result(perf, "v5.1").official_verdict == baseline  # mlpower's own rule
    (gap,) = open_result(perf, "v5.1").report().node_sensors[0].gaps  # type: ignore[index]
    assert gap.length_s == pytest.approx(12.0) and gap.in_testing_window_s == pytest.approx(12.0)


def test_a_node_missing_at_a_phase_start_fails(tmp_path: Path) -> None:
    missing = {
        "reason": "missing",
        "phase": "ranging",
        "from_utc_ns": 1,
        "detected_utc_ns": 1,
        "until_utc_ns": 3 * S + 1,
    }
    perf, _ = _node_folder(tmp_path, [missing])
    (finding,) = _node_findings(perf)
    assert finding.severity is Severity.ERROR and finding.status is Status.FAIL
    assert f"node {NODE}: missing when the phase started (ranging)" in finding.message and "3.0 s" in finding.message


def test_a_node_silent_only_outside_the_testing_window_is_a_warning(tmp_path: Path) -> None:
    perf, window = _copy(tmp_path)
    _write_node_samples(perf, window)
    after = {"reason": "silent", "phase": "", "from_utc_ns": window[1] + S, "detected_utc_ns": 0, "until_utc_ns": None}
    _write_session(perf, window, [after])
    (finding,) = _node_findings(perf)
    assert finding.status is Status.FAIL and finding.severity is Severity.WARNING
    assert NODE in finding.message and "outside the testing window" in finding.message


def test_a_folder_without_nodes_gives_the_report_it_gave_before(tmp_path: Path) -> None:
    """No nodes/ and no session.json nodes: no node section and no node rule; a node's readings only add their
    section, every other field of the report as it was."""
    perf, window = _copy(tmp_path / "without")
    result = open_result(perf, "v5.1")
    obj = result.result_json().to_json_obj()
    assert "node_sensors" not in obj["report"]
    assert not [f for f in obj["check"]["findings"] if f["rule"] == "0.node_gaps"]
    assert load_run(perf).nodes == ()
    assert '<table id="nodes">' not in result.html()
    with_nodes, _ = _copy(tmp_path / "with")
    _write_node_samples(with_nodes, window)
    added = open_result(with_nodes, "v5.1").report().to_json_obj()
    assert added.pop("node_sensors")[0]["node"] == NODE
    assert {**added, "folder": ""} == {**obj["report"], "folder": ""}
