"""A four-node system in one session, as real processes on loopback: ``mlpower-director serve --system`` with the
LoadGen node on a ptd-sim analyzer and three nodes on SIMULATED Redfish BMCs, ``mlpower-agent run`` with the
built-in benchmark on the LoadGen node, and three ``mlpower-agent node`` (SIMULATED GPUs; one with a SIMULATED
clock 2.5 s ahead). Mid-testing one node agent is SIGKILLed and another node's BMC is unplugged (its simulator
SIGKILLed). The session closes; every wall source is joined by time over the LoadGen window; the per-node figures
sum to the total within 1e-9; the skewed node's GPUs are placed on the director's clock by its own clock map;
the check fails the killed agent's node and the unplugged BMC's node by name, and the rest stands."""

from __future__ import annotations

import json
import math
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from powerlog.clock_map import SutClockMap
from powerlog.result_record import read_result_json
from powerlog.run_record import read_session_json
from powerlog.sut_samples import read_parquet
from powerlog.system_record import read_system_json
from tests.support.nodes import SKEW_MS, loadgen_into_testing, sessions, start_node
from tests.support.processes import start_director, start_redfish_sim, stop

BMC_W = {"node1": 500.0, "node2": 600.0, "node3": 700.0}  # each BMC's constant reading (SIMULATED)
LOADGEN_W = 300.0
SWITCH_MAX_W, SWITCH_SHARE = 400.0, 0.25


def _system_toml(path: Path, ptd_url: str, bmc_urls: dict[str, str]) -> Path:
    nodes = [("node0", ptd_url), *bmc_urls.items()]
    text = 'name = "rack-test"\nloadgen_node = "node0"\n'
    text += "".join(f'\n[[node]]\nname = "{name}"\nwall = ["{url}"]\n' for name, url in nodes)
    text += f'\n[interconnect]\nmax_power_w = {SWITCH_MAX_W}\nshare = {SWITCH_SHARE}\nnote = "test switch"\n'
    path.write_text(text)
    return path


def _metrics(url: str, runs: Path) -> str:
    token = (runs / "director.token").read_text().strip()
    reply = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    reply.raise_for_status()
    return reply.text


def _findings(result: dict[str, Any], rule: str) -> list[dict[str, Any]]:
    return [f for f in result["check"]["findings"] if f["rule"] == rule]


@pytest.mark.slow
def test_four_nodes_one_session_with_an_agent_killed_and_a_bmc_unplugged(ptd_sim, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    sim = ptd_sim("--signal", f"constant:{LOADGEN_W:g}", "--noise", "0")
    bmcs = {name: start_redfish_sim("--signal", f"constant:{w:g}", "--noise", "0") for name, w in BMC_W.items()}
    system = _system_toml(tmp_path / "SYSTEM.toml", sim.url, {name: url for name, (_, url) in bmcs.items()})
    director, url = start_director(runs, extra=["--system", str(system)])
    logs = {name: tmp_path / f"{name}.log" for name in BMC_W}
    nodes = {
        "node1": start_node(url, runs, "node1", logs["node1"], "--simulated-clock-skew-ms", f"{SKEW_MS:g}"),
        "node2": start_node(url, runs, "node2", logs["node2"]),
        "node3": start_node(url, runs, "node3", logs["node3"]),
    }
    agent = None
    try:
        agent = loadgen_into_testing(url, runs, tmp_path / "agent", logs.values(), 16)
        time.sleep(4)  # every source measures a while into testing
        metrics = _metrics(url, runs)
        nodes["node2"].send_signal(signal.SIGKILL)  # node2's agent dies
        bmcs["node3"][0].send_signal(signal.SIGKILL)  # node3's BMC is unplugged
        nodes["node2"].wait(timeout=30)
        output, _ = agent.communicate(timeout=240)
        assert agent.returncode == 0, output
        (status,) = sessions(url, runs)
    finally:
        stop(agent, *nodes.values(), director, *(p for p, _ in bmcs.values()))
    # live, per node: each wall meter's power by node, and each node agent's GPUs
    for name, watts in BMC_W.items():
        assert f'mlpower_node_wall_power_watts{{meter="{name}.0",node="{name}"}} {watts:.1f}' in metrics, metrics
    assert f'mlpower_node_wall_power_watts{{meter="session",node="node0"}} {LOADGEN_W:.1f}' in metrics
    assert 'mlpower_node_sut_power_watts{node="node1",source="gpu0.power"}' in metrics
    folder = Path(status["run_folder"])
    record = read_session_json(folder / "session.json")
    assert record.state == "closed" and record.error is None and "wall_meters" in record.simulated_sources
    assert read_system_json(folder).loadgen_node == "node0"
    assert {m.key: m.nodes for m in record.wall_meters} == {"node1.0": ["node1"], "node2.0": ["node2"],
                                                            "node3.0": ["node3"]}  # fmt: skip
    # the unplugged BMC: a gap of its own, still open when testing stopped; the others were never lost
    (gap,) = record.meter_gaps
    assert gap.source == "node3.0" and gap.phase == "testing" and gap.restored_utc_ns is None
    for key in ("node1.0", "node2.0", "node3.0"):
        assert (folder / "wall" / key / "run_1" / "spl.txt").is_file()

    result = read_result_json(folder / "result.json")
    report = result.report
    system_energy = report.system_energy
    assert system_energy is not None
    by_node = {n.node: n for n in system_energy.nodes}
    assert list(by_node) == ["node0", "node1", "node2", "node3"]
    assert all(s.simulated for n in system_energy.nodes for s in n.sources)  # ptd-sim and redfish-sim say so
    window_s = system_energy.window_s
    # the per-node figures (and the estimated switch) sum to the total within 1e-9
    parts = [n.energy_j for n in system_energy.nodes] + [system_energy.interconnect.energy_j]
    assert system_energy.energy_j is not None and all(p is not None for p in parts)
    assert math.fsum(p for p in parts if p is not None) == pytest.approx(system_energy.energy_j, rel=1e-9)
    assert system_energy.estimated == ["interconnect (test switch)"]
    assert system_energy.interconnect.avg_power_w == pytest.approx(SWITCH_MAX_W * SWITCH_SHARE)
    # the rest of the result stands: the LoadGen node's official figure, and each complete node's own wall power
    assert report.avg_power_w == pytest.approx(LOADGEN_W, rel=1e-6)
    assert by_node["node0"].avg_power_w == pytest.approx(LOADGEN_W, rel=1e-6) and by_node["node0"].complete
    for name in ("node1", "node2"):
        assert by_node[name].complete and by_node[name].avg_power_w == pytest.approx(BMC_W[name], rel=1e-6)
    # node3's BMC went in testing (under load, LoadGen's window may begin only after that: the hole can be the whole
    # window): its energy holds the last reading over the hole, and it is marked incomplete
    assert not by_node["node3"].complete and not system_energy.complete
    (hole,) = by_node["node3"].sources[0].gaps
    assert hole.kind == "window_end" and 5 < hole.length_s <= window_s
    # the skewed node measured its own offset (director - node = -2.5 s) within its bound, and its GPU readings
    # land inside the session on the director's clock by that map, not 2.5 s after
    skewed = record.nodes["node1"]
    assert skewed.clock and all(abs(c.offset_ns + SKEW_MS * 1e6) <= c.bound_ns + 50_000_000 for c in skewed.clock)
    times = read_parquet(folder / "nodes" / "node1" / "samples" / "gpu0.power.parquet")["t_utc_ns"]
    placed = SutClockMap.from_entries(skewed.clock).to_director_array(times)
    assert skewed.joined_utc_ns is not None and skewed.last_heard_utc_ns is not None
    assert skewed.joined_utc_ns - 10**9 <= int(placed[0]) and int(placed[-1]) <= skewed.last_heard_utc_ns + 50_000_000
    assert int(times[-1]) > skewed.last_heard_utc_ns + 10**9  # the raw node times are off: the skew is real
    # the session closed only once each live node's readings reached the testing stop: none of testing is lost
    stop_ns = record.phases["testing"].director_utc_ns[2]
    assert int(placed[-1]) >= stop_ns
    node3 = read_parquet(folder / "nodes" / "node3" / "samples" / "gpu0.power.parquet")["t_utc_ns"]
    assert int(SutClockMap.from_entries(record.nodes["node3"].clock).to_director_array(node3)[-1]) >= stop_ns
    # its GPUs (2 x 60 W, SIMULATED) over the window, and their share of its wall energy (a loaded machine can
    # stall a node's sampler for a moment: the shares are checked loosely, the sums above exactly)
    sensors = {n.node: n for n in report.node_sensors or []}
    assert sensors["node1"].gpu_energy_j == pytest.approx(120.0 * window_s, rel=0.15)
    assert by_node["node1"].gpu_share_pct == pytest.approx(
        100 * sensors["node1"].gpu_energy_j / by_node["node1"].energy_j, rel=1e-9
    )
    # the check names both broken nodes, and nothing else of the system
    raw = json.loads((folder / "result.json").read_text())
    walls = [f for f in _findings(raw, "0.system_wall") if f["status"] == "fail"]
    assert len(walls) == 1 and "node node3" in walls[0]["message"] and walls[0]["severity"] == "error"
    agents = [f for f in _findings(raw, "0.node_gaps") if f["status"] == "fail"]
    assert agents and all("node node2" in f["message"] for f in agents)
    assert any(f["severity"] == "error" for f in agents)
    lost = [f for f in _findings(raw, "0.meter_gaps") if f["status"] == "fail"]
    assert len(lost) == 1 and "wall meter node3.0 of node3" in lost[0]["message"]
