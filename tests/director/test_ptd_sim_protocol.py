"""The simulator's command handler in-process: any input gets a reply a client can act on."""

from __future__ import annotations

import asyncio
import io
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from director.ptd_front.server import PtdLogFile, PtdSimulator
from director.sim.ptd_analyzer import SimulatedAnalyzer
from director.sim.signal import ConstantSignal, Electrical
from tests.support.paths import DATA_DIR

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


REAL_1_11_1_LOG = (
    DATA_DIR
    / "mlperf-results-v4.1-v5.1/v5.1/closed/Lenovo/results/SR680a_V3_B200SXMx8_TRT/llama2-70b-99/Offline"
    / "performance/power/ptd_logs.txt"
)


def _shape(message: str) -> str:
    """A log message with its numbers taken out: the shape two PTDaemons share."""
    return re.sub(r"\d+(\.\d+)?", "N", message)


def _logged(channels: int, volts_range: str, amps_range: str, watts: float) -> list[str]:
    """The debug log's messages (timestamps cut) of a short measurement on the given ranges."""
    out = io.StringIO()

    async def run() -> None:
        analyzer = SimulatedAnalyzer(ConstantSignal(watts), Electrical(noise=0), channels=channels)
        sim = PtdSimulator(analyzer, PtdLogFile(None, stream=out))
        for line in (f"SR,V,{volts_range}", f"SR,A,{amps_range}", "Go,100,0,x_testing"):
            sim.handle(line)
        await asyncio.sleep(0.25)
        sim.handle("Stop")
        await sim.close()

    asyncio.run(run())
    return [line.split(": ", 1)[1] for line in out.getvalue().splitlines() if ": " in line]


@pytest.mark.parametrize("channels", [1, 3])
def test_uncertainty_lines_have_the_shapes_of_ptdaemon_1_11_1(channels: int) -> None:
    """Unknown (Auto) and above-limit uncertainty, Go and Stop, as a real 1.11.1 log of a three-channel WT333E
    writes them: per logical channel 1..n then 0 (the sum); one line with no channel for one channel."""
    real = {_shape(line.split(": ", 1)[1]) for line in REAL_1_11_1_LOG.read_text().splitlines() if ": " in line}
    auto = [_shape(m) for m in _logged(channels, "Auto", "Auto", 300.0)]
    high = [_shape(m) for m in _logged(channels, "600", "20", 60.0)]  # 0.1 % of 12 kW on 60 W: far above 1 %
    assert "Go command received" in auto and "Stop command received" in auto
    unknown = [m for m in auto if "Uncertainty unknown" in m]
    above = [m for m in high if "above N% limit" in m]
    if channels == 1:
        assert set(unknown) == {"WARNING: Uncertainty unknown for the last measurement sample!"}
        assert set(above) == {"WARNING: Uncertainty N%, which is above N% limit for the last sample!"}
        return
    per_sample = [f"WARNING: Uncertainty unknown for the last measurement sample, logical channel {n}!" for n in "1230"]
    assert unknown[:4] == [_shape(m) for m in per_sample] and set(unknown) <= real
    assert set(above) <= real and len(above) % 4 == 0 and above[3].endswith("logical channel N!")
    assert auto.count("ERROR: Can't evaluate uncertainty of this sample!") == 3 * len(unknown) // 4


def test_uncertainty_reply_counts_samples_above_the_limit_as_errors() -> None:
    """PTDaemon 1.11.1: ``Uncertainty,avg,min,max,samples,errors,valid,unknown`` with errors = samples above
    the limit (a real reply: 611 samples, 555 above, 56 valid, 0 unknown), avg/min/max over all of them."""

    async def run() -> tuple[str, str]:
        sim = PtdSimulator(SimulatedAnalyzer(ConstantSignal(60.0), Electrical(noise=0)), PtdLogFile(None))
        sim.handle("SR,V,600")
        sim.handle("SR,A,20")
        sim.handle("Go,100,0,x_testing")
        await asyncio.sleep(0.35)
        sim.handle("Stop")
        high = sim.handle("Uncertainty")[0]
        sim.handle("SR,A,0.5")
        sim.handle("Go,100,0,y_testing")
        await asyncio.sleep(0.35)
        sim.handle("Stop")
        low = sim.handle("Uncertainty")[0]
        await sim.close()
        return high, low

    high, low = asyncio.run(run())
    avg, _, _, samples, errors, valid, unknown = high.split(",")[1:]
    assert float(avg) > 0.01 and int(samples) == int(errors) >= 2 and int(valid) == int(unknown) == 0
    avg, _, _, samples, errors, valid, unknown = low.split(",")[1:]
    assert float(avg) < 0.01 and int(samples) == int(valid) >= 2 and int(errors) == int(unknown) == 0
