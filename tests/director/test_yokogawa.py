"""The WT310 SCPI driver: scripted exchanges, loop:// framing, and the simulated instrument on a real pty."""

from __future__ import annotations

import contextlib
import time

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from director.errors import MeterConnectionError, MeterErrorReply, MeterProtocolError, MeterTimeoutError
from director.meters.ranges import Ranges
from director.meters.scripted import ScriptedTransport
from director.meters.serial_transport import SerialLineTransport
from director.meters.yokogawa import YokogawaWT310, parse_values, power_uncertainty
from director.sim.signal import ConstantSignal, Electrical
from director.sim.wt3xx import PtyServer, ScpiWT310
from tests.support.meter_reading import assert_every_update_once, missed_updates, read_for
from tests.support.processes import wait_for


def test_values_parse_and_refuse_overrange_and_garbage() -> None:
    assert parse_values("2.3010E+02,4.3500E-01,9.0100E+01,9.0000E-01") == (230.1, 0.435, 90.1, 0.9)
    for bad in ("2.3E+02,9.91E+37,1.0,0.9", "1,2,3", "a,b,c,d", "1,2,3,nan"):
        with pytest.raises(MeterProtocolError):
            parse_values(bad)


@given(st.text(max_size=60))
def test_value_parser_raises_only_typed_errors(reply: str) -> None:
    with contextlib.suppress(MeterProtocolError):
        parse_values(reply)


def test_uncertainty_model() -> None:
    assert power_uncertainty(100.0, Ranges(300.0, 1.0)) == pytest.approx(0.004)
    assert power_uncertainty(10.0, Ranges(600.0, 20.0)) == pytest.approx(1.201)  # a load far below its range
    assert power_uncertainty(100.0, Ranges.automatic()) is None


def test_scripted_identify_ranges_and_a_refused_setting() -> None:
    script = [
        ("*IDN?", ["YOKOGAWA,WT310E,C2VL22012V,F1.04"]),
        (":VOLTAGE:RANGE?;AUTO?;:CURRENT:RANGE?;AUTO?", [":VOLT:RANG 150.0E+00;AUTO 0;:CURR:RANG 1.0E+00;AUTO 0"]),
        (":VOLTAGE:RANGE 300", []),
        (":STATUS:ERROR?", ['0,"No error"']),
        (":CURRENT:AUTO ON", []),
        (":STATUS:ERROR?", ['0,"No error"']),
        (":RATE 100MS", []),
        (":STATUS:ERROR?", ['222,"Data out of range"']),
    ]
    meter = YokogawaWT310(ScriptedTransport(script))
    identity = meter.identify()
    assert identity.model == "YokogawaWT310E" and identity.version == "F1.04" and not identity.simulated
    assert meter.read_ranges() == Ranges(150.0, 1.0)
    meter.set_ranges(Ranges(206.0, None))
    with pytest.raises(MeterErrorReply, match="Data out of range"):
        meter.start("m", 100)
    with pytest.raises(ValueError, match="updates every"):
        meter.start("m", 200)


class _GoneTransport(ScriptedTransport):
    """A port that fails with an error nobody translated (termios.error from a tcdrain once the adapter is gone)."""

    def _send(self, data: bytes, command: str) -> None:
        raise RuntimeError("(5, 'Input/output error')")


def test_a_poller_that_fails_unexpectedly_says_so_instead_of_going_quiet() -> None:
    """It died silently: the phase read no sample and recorded no gap for the rest of its length (seen under load
    when a serial adapter was pulled); now the next read raises, so the director reconnects and records the gap."""
    meter = YokogawaWT310(_GoneTransport([]))
    meter._poller.start(meter._poll, "gone")  # the poller alone: start() would fail on its settings first
    wait_for(lambda: meter.poll_error, 30, "the poller to fail")
    with pytest.raises(MeterConnectionError, match="poller stopped: RuntimeError"):
        meter.read_new()


def test_not_a_wt310_is_refused() -> None:
    with pytest.raises(MeterProtocolError, match="not a Yokogawa WT310"):
        YokogawaWT310(ScriptedTransport([("*IDN?", ["ACME,PM9000,1,1"])])).identify()


def test_loop_framing_and_timeout() -> None:
    transport = SerialLineTransport("loop://", timeout_s=0.3)
    transport.open()
    reply, _ = transport.exchange("*IDN?")  # loop:// echoes: the reply is our own line, framed
    assert reply == "*IDN?"
    with pytest.raises(MeterTimeoutError):
        transport.read_line("nothing", time.monotonic() + 0.2)
    transport.close()


@pytest.fixture
def wt310(pty_meter):
    def start(**kwargs) -> tuple[PtyServer, YokogawaWT310]:
        return pty_meter(YokogawaWT310, ScpiWT310(ConstantSignal(100.0), Electrical(noise=0), **kwargs))

    return start


def test_instrument_errors_on_the_pty(wt310) -> None:
    _server, meter = wt310()
    assert meter.identify().simulated
    with pytest.raises(MeterErrorReply, match="refused"):
        meter._write(":VOLTAGE:RANGE 1000")
    meter._write(":VOLTAGE:RANGE 300")  # the session goes on after a refused setting
    meter.transport.send_only(":BOGUS:HEADER 1")
    assert meter._query(":STATUS:ERROR?").startswith("113,")
    meter.close()


def test_garbage_on_the_wire_is_rejected_and_the_measurement_continues(wt310) -> None:
    _server, meter = wt310(garbage_every=5)
    meter.set_ranges(Ranges(300.0, 1.0))
    meter.start("g_testing", 100)
    time.sleep(2.05)
    samples = meter.read_new()
    meter.stop()
    assert len(meter.rejected_lines) >= 3 and "expected 4 values" in meter.rejected_lines[0].reason
    assert len(samples) >= 14 and all(s.power_w == pytest.approx(100.0) for s in samples)
    meter.close()


@pytest.mark.slow
@pytest.mark.realtime
def test_ten_hertz_for_thirty_seconds_on_a_pty(wt310) -> None:
    _server, meter = wt310()
    meter.identify()
    meter.start("r_testing", 100)
    samples = read_for(meter, 30.0)
    assert_every_update_once(samples, 300, 100_000_000)
    assert meter.rejected_lines == [] and all(u is None for u in meter.uncertainties)  # Auto ranges: unknown
    meter.close()


def test_missed_updates_counts_every_update_a_gap_holds() -> None:
    ms = 1_000_000
    assert missed_updates(np.array([0, 100, 200, 300]) * ms, 100 * ms) == 0
    assert missed_updates(np.array([0, 100, 300, 600, 640]) * ms, 100 * ms) == 3  # one, then two never read
    assert missed_updates(np.array([0, 140, 240]) * ms, 100 * ms) == 0  # late, not lost
