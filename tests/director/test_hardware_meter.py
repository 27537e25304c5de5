"""Runs only against a real analyzer: ``pytest tests/director/test_hardware_meter.py --meter-url URL``.

The same assertions as the simulator tests: identity, ranges read and restored, samples at the
meter's rate, none read twice, none rejected."""

from __future__ import annotations

import time

from director.meters.ranges import Ranges
from director.meters.urls import open_meter, parse_meter_url


def test_real_meter_session(meter_url: str) -> None:
    url = parse_meter_url(meter_url)
    meter = open_meter(url)
    meter.open()
    try:
        identity = meter.identify()
        assert identity.model and not identity.simulated
        initial = meter.read_ranges()
        meter.set_ranges(Ranges.automatic())
        meter.start("mlpower_hardware_test", url.interval_ms)
        time.sleep(10.5 * url.interval_ms / 1000)  # ten updates and a half
        samples = meter.read_new()
        meter.stop()
        samples += meter.read_new()
        assert 9 <= len(samples) <= 12
        times = [s.t_utc_ns for s in samples]
        assert len(set(times)) == len(times) and all(s.power_w >= 0 for s in samples)
        assert not getattr(meter, "rejected_lines", [])
        meter.restore_ranges()
        assert meter.read_ranges() == initial
    finally:
        meter.close()
