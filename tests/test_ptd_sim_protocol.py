"""The simulator's command handler in-process: any input gets a reply a client can act on."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from director.ptd_sim.instrument import SimulatedAnalyzer
from director.ptd_sim.server import PtdLogFile, PtdSimulator
from director.ptd_sim.signal import ConstantSignal, Electrical

WORDS = ["Hello", "Identify", "RR", "SR", "Go", "Stop", "Mark", "Watts", "Uncertainty", "RL", "DC-RL", "V", "A", "Auto"]
commands = st.lists(
    st.one_of(
        st.text(max_size=30).filter(lambda s: "\n" not in s and "\r" not in s),
        st.lists(st.one_of(st.sampled_from(WORDS), st.integers(-5, 2000).map(str), st.just("*")), max_size=5).map(
            ",".join
        ),
    ),
    max_size=15,
)


def _simulator() -> PtdSimulator:
    return PtdSimulator(SimulatedAnalyzer(ConstantSignal(100.0), Electrical(noise=0)), PtdLogFile(None))


@settings(max_examples=300, deadline=None)
@given(commands)
def test_every_command_line_gets_a_reply(lines: list[str]) -> None:
    async def run() -> None:
        sim = _simulator()
        for line in lines:
            reply = sim.handle(line)
            assert reply and all(isinstance(r, str) and "\n" not in r for r in reply)
            if reply[0].startswith("Last "):
                assert len(reply) == 1 + int(reply[0].split()[1])
        await sim.close()

    asyncio.run(run())


def test_rl_returns_only_new_samples() -> None:
    async def run() -> None:
        sim = _simulator()
        assert sim.handle("Go,100,0,t_testing")[0].startswith("Starting untimed measurement")
        await asyncio.sleep(0.35)
        first = sim.handle("RL")
        second = sim.handle("RL")
        assert sim.handle("Stop") == ["Stopping untimed measurement"]
        assert int(first[0].split()[1]) >= 2 and second == ["Last 0 samples"]
        await sim.close()

    asyncio.run(run())


def test_timed_measurement_stops_by_itself() -> None:
    async def run() -> None:
        sim = _simulator()
        assert sim.handle("Go,100,3,t_testing")[0].startswith("Starting timed measurement, 3 samples")
        await asyncio.sleep(0.6)
        assert sim.handle("RL")[0] == "Last 3 samples"
        assert sim.handle("Stop") == ["Error: no measurement to stop"]
        await sim.close()

    asyncio.run(run())
