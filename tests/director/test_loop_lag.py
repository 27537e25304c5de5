"""The event loop's lag (``mlpower_director_loop_lag_seconds``): a loop held up is measured as long as it was held,
bucketed as Prometheus reads it, and a serving director reports it on ``/metrics``."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from director.loop_lag import LAG_BUCKETS_S, LoopLag
from powerlog.cli_support import stop_process
from tests.support.processes import start_director


def test_a_loop_held_up_is_measured_as_long_as_it_was_held() -> None:
    lag = LoopLag(interval_s=0.01)

    async def hold_up_once() -> None:
        task = asyncio.create_task(lag.run())
        await asyncio.sleep(0.05)
        time.sleep(0.3)  # a handler that blocks the loop
        await asyncio.sleep(0.05)
        task.cancel()

    asyncio.run(hold_up_once())
    assert 0.29 <= lag.max_s < 1.0
    assert lag.counts[LAG_BUCKETS_S.index(0.5)] >= 1  # the 0.25-0.5 s bucket holds it
    assert lag.checks >= 3 and lag.total_s >= lag.max_s


def test_the_histogram_is_cumulative_and_ends_with_every_check() -> None:
    lag = LoopLag()
    for lag_s in (0.0, 0.0004, 0.003, 0.003, 0.07, 9.0, -0.001):  # a timer that woke early counts as no lag
        lag.record(lag_s)
    samples = {(s.name, s.labels.get("le")): s.value for s in lag.metric().samples}
    assert samples[("mlpower_director_loop_lag_seconds_bucket", "0.001")] == 3
    assert samples[("mlpower_director_loop_lag_seconds_bucket", "0.005")] == 5
    assert samples[("mlpower_director_loop_lag_seconds_bucket", "0.1")] == 6
    assert samples[("mlpower_director_loop_lag_seconds_bucket", "5")] == 6
    assert samples[("mlpower_director_loop_lag_seconds_bucket", "+Inf")] == 7
    assert samples[("mlpower_director_loop_lag_seconds_count", None)] == 7
    assert abs(samples[("mlpower_director_loop_lag_seconds_sum", None)] - 9.0764) < 1e-9
    assert lag.max_s == 9.0


def test_a_serving_director_reports_its_loop_lag(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    director, url = start_director(runs, "sim://?rate=0.1&signal=constant:200", settle_s=0)
    try:
        token = (runs / "director.token").read_text().strip()
        time.sleep(0.5)  # ten checks at least
        text = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=30).text
    finally:
        stop_process(director)
    samples = {(s.name, s.labels.get("le")): s.value for f in text_string_to_metric_families(text) for s in f.samples}
    checks = samples[("mlpower_director_loop_lag_seconds_count", None)]
    assert checks >= 5 and samples[("mlpower_director_loop_lag_seconds_bucket", "+Inf")] == checks
    assert 0 <= samples[("mlpower_director_loop_lag_max_seconds", None)] < 5
