"""``mlpower-director demo --nodes 2``, as ``make demo NODES=2`` runs it: the PTDaemon simulator, a simulated BMC,
``serve --system`` on the SYSTEM.toml the demo writes, a node agent and the LoadGen agent with the built-in
benchmark, each its own process; the session measures both nodes and the result joins them by time."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from powerlog.result_record import read_result_json
from powerlog.system_record import read_system_json
from tests.support.processes import BIN


@pytest.mark.slow
def test_the_two_node_demo_measures_both_nodes(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    done = subprocess.run(
        [str(BIN / "mlpower-director"), "demo", "--nodes", "2", "--scenario", "SingleStream", "--duration", "3",
         "--settle-s", "0.5", "--out", str(out)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "demo: 2 nodes, described in" in done.stdout and "System" in done.stdout
    (folder,) = [p for p in (out / "runs").iterdir() if p.is_dir()]
    system = read_system_json(folder)
    assert [n.name for n in system.nodes] == ["node0", "node1"] and system.loadgen_node == "node0"
    assert (folder / "wall" / "node1.0" / "run_1" / "spl.txt").is_file()
    assert list((folder / "nodes" / "node1" / "samples").glob("*.parquet"))
    joined = read_result_json(folder / "result.json").report.system_energy
    assert joined is not None and [n.node for n in joined.nodes] == ["node0", "node1"] and joined.complete
    assert joined.estimated and joined.energy_per_query_j is not None  # SingleStream: energy per query
