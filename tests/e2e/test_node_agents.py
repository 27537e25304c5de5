"""Node agents beside the LoadGen node, as real processes on loopback: ``mlpower-director serve`` on a ptd-sim
meter, ``mlpower-agent run`` with the built-in benchmark, and two ``mlpower-agent node --gpus sim:2`` (SIMULATED
GPUs; one with a SIMULATED clock 2.5 s ahead). One node is SIGKILLed mid-testing: the session still closes, both
nodes' samples are stored, the killed node has a gap naming it, and the skewed node's readings land on the
director's clock by its own clock measurements."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from powerlog.clock_map import SutClockMap
from powerlog.run_record import read_session_json
from powerlog.sut_samples import read_parquet
from tests.support.nodes import SKEW_MS, loadgen_into_testing, sessions, start_node
from tests.support.processes import start_director, stop


@pytest.mark.slow
def test_two_node_agents_stream_into_the_session_and_a_killed_one_is_a_gap(ptd_sim, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    sim = ptd_sim("--signal", "constant:300")
    director, url = start_director(runs, sim.url)
    logs = {name: tmp_path / f"{name}.log" for name in ("killed", "skewed")}
    killed = start_node(url, runs, "killed", logs["killed"])
    skewed = start_node(url, runs, "skewed", logs["skewed"], "--simulated-clock-skew-ms", f"{SKEW_MS:g}")
    agent = None
    try:
        agent = loadgen_into_testing(url, runs, tmp_path / "agent", logs.values(), 14)
        time.sleep(2)  # the node streams a while into testing
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=30)
        output, _ = agent.communicate(timeout=240)
        assert agent.returncode == 0, output
        assert skewed.wait(timeout=60) == 0, logs["skewed"].read_text()  # left after its one session
        (status,) = sessions(url, runs)
    finally:
        stop(agent, killed, skewed, director)
    folder = Path(status["run_folder"])
    record = read_session_json(folder / "session.json")
    assert (
        record.state == "closed" and record.error is None and record.simulated and "nodes" in record.simulated_sources
    )
    gone, skew = record.nodes["killed"], record.nodes["skewed"]
    (gap,) = gone.gaps
    assert gap.reason == "silent" and gap.phase == "testing" and gap.until_utc_ns is None
    assert gap.from_utc_ns == gone.last_heard_utc_ns
    testing = record.phases["testing"].director_utc_ns
    assert testing[0] < gap.from_utc_ns < testing[2] and gap.detected_utc_ns - gap.from_utc_ns >= 5 * 10**9
    assert skew.gaps == [] and skew.sources is not None and skew.sources.simulated_clock
    for node in (gone, skew):  # what the killed node sent before it died is kept
        assert node.samples["gpu0.power"] > 20 and node.samples["gpu1.power"] > 20, node.samples
        assert (folder / "nodes" / node.name / "samples" / "gpu0.power.parquet").is_file()
    # the skewed node measured its own offset (director - node = -2.5 s, within its bound) at each phase
    assert {(c.phase, c.when) for c in skew.clock} >= {("session", "before"), ("testing", "before")}
    for entry in skew.clock:
        assert abs(entry.offset_ns + SKEW_MS * 1e6) <= entry.bound_ns + 50_000_000, entry
    # and its readings land on the director's clock by that map: inside the session, not 2.5 s after
    times = read_parquet(folder / "nodes" / "skewed" / "samples" / "gpu0.power.parquet")["t_utc_ns"]
    on_director = SutClockMap.from_entries(skew.clock).to_director_array(times)
    assert skew.joined_utc_ns is not None and skew.last_heard_utc_ns is not None
    slack_ns = 50_000_000  # a reading is stamped before the call that carried it was heard, within the bound
    assert (
        skew.joined_utc_ns - 10**9 <= int(on_director[0]) and int(on_director[-1]) <= skew.last_heard_utc_ns + slack_ns
    )
    assert int(times[-1]) > skew.last_heard_utc_ns + slack_ns  # the raw node times are not (the skew is real)
    assert json.loads((folder / "result.json").read_text())["format"] == "mlpower-result-1"
