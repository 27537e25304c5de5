"""The event loop's lag (``mlpower_director_loop_lag_seconds``): a loop held up is measured as long as it was held,
bucketed as Prometheus reads it, and a serving director reports it on ``/metrics``."""

from __future__ import annotations

import asyncio
import bisect
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from director.loop_lag import LAG_BUCKETS_S, LoopLag
from powerlog.cli_support import stop_process
from tests.support.processes import start_director, wait_for


def test_a_loop_held_up_is_measured_as_long_as_it_was_held() -> None:
    lag = LoopLag(interval_s=0.01)

    async def hold_up_once() -> None:
        task = asyncio.create_task(lag.run())
        await asyncio.sleep(0.05)
        time.sleep(0.3)  # a handler that blocks the loop
        await asyncio.sleep(0.05)
        task.cancel()

    asyncio.run(hold_up_once())
    assert lag.max_s >= 0.29  # held 0.3 s, from at most one 10 ms interval after the timer was set
    assert lag.counts[bisect.bisect_left(LAG_BUCKETS_S, lag.max_s)] >= 1  # counted in its bucket (0.25-0.5 s here)
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


COUNT = ("mlpower_director_loop_lag_seconds_count", None)


def test_a_serving_director_reports_its_loop_lag(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    director, url = start_director(runs, "sim://?rate=0.1&signal=constant:200", settle_s=0)

    def scraped() -> dict[tuple[str, str | None], float]:
        text = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=30).text
        return {(s.name, s.labels.get("le")): s.value for f in text_string_to_metric_families(text) for s in f.samples}

    try:
        token = (runs / "director.token").read_text().strip()
        first = scraped()[COUNT]

        def more_checks() -> dict[tuple[str, str | None], float] | None:
            now = scraped()
            return now if now[COUNT] > first + 2 else None

        later = wait_for(more_checks, 60, "three more loop-lag checks")  # on a loaded machine the timer fires late
    finally:
        stop_process(director)
    assert later is not None  # wait_for returns the first true value or raises
    checks = later[COUNT]
    assert later[("mlpower_director_loop_lag_seconds_bucket", "+Inf")] == checks  # every check is in a bucket
    assert (
        later[("mlpower_director_loop_lag_seconds_sum", None)] >= later[("mlpower_director_loop_lag_max_seconds", None)]
    )
    assert later[("mlpower_director_loop_lag_max_seconds", None)] >= 0
