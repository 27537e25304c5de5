"""The SIMULATED ``utc-profile`` load signal: a function of UTC time alone (two processes that know its spec see
the same watts at the same instant), smooth, within its range, and a wrong spec refused with what to give."""

from __future__ import annotations

import itertools
import math

import pytest

from director.errors import MeterConfigError
from director.sim.signal import UtcProfileSignal, parse_signal

T0 = 1_765_000_000 * 10**9


def test_the_same_spec_gives_the_same_watts_at_the_same_instant() -> None:
    one, two = parse_signal("utc-profile:200,100,2,7"), parse_signal("utc-profile:200,100,2,7")
    other_seed = parse_signal("utc-profile:200,100,2,8")
    instants = [T0 + k * 10**8 for k in range(200)]
    watts = [one.power_w(t) for t in instants]
    assert watts == [two.power_w(t) for t in instants] and watts != [other_seed.power_w(t) for t in instants]
    assert all(200 <= w <= 300 for w in watts) and max(watts) - min(watts) > 30
    steps = [abs(b - a) for a, b in itertools.pairwise(watts)]
    assert max(steps) <= 100 * math.pi / (2 * 2) * 0.1  # the steepest half cosine (100 W over 2 s), 0.1 s apart
    assert "UTC profile: 200 W + 100 W" in one.description
    assert parse_signal("utc-profile:50,10").power_w(T0) == UtcProfileSignal(50, 10, 2.0, 0).power_w(T0)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("utc-profile:", "unknown signal"),
        ("utc-profile:200", "needs numbers"),
        ("utc-profile:200,x", "needs numbers"),
        ("utc-profile:1,2,3,4,5", "needs numbers"),
        ("utc-profile:200,100,0", "KNOT_S must be positive"),
        ("utc-profile:-1,100", "must not be negative"),
    ],
)
def test_a_wrong_spec_is_refused(spec: str, message: str) -> None:
    with pytest.raises(MeterConfigError, match=message):
        parse_signal(spec)
