"""One rule for concurrency: every route that touches a session runs on the event loop. Checked on a real
uvicorn director with 16 agents posting GPU batches while /metrics and the live feed are read."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import httpx

from powerlog.cli_support import stop_process
from tests.support.http_sessions import carry_session_secret
from tests.support.processes import start_director

AGENTS, GPUS, BATCHES, ROWS = 16, 4, 12, 50


async def _agent(client: httpx.AsyncClient, path: str, index: int, failures: list[str]) -> int:
    stored = 0
    for seq in range(BATCHES):
        t0 = time.time_ns()
        for gpu in range(GPUS):
            body = {
                "source": f"a{index:02d}.gpu{gpu}.power",
                "seq": seq,
                "simulated": True,
                "columns": {"t_utc_ns": [t0 + k * 10_000_000 for k in range(ROWS)], "power_w": [300.0] * ROWS},
            }
            reply = await client.post(path, json=body)
            if reply.status_code != 200 or reply.json()["status"] != "stored":
                failures.append(f"agent {index} seq {seq}: {reply.status_code} {reply.text[:200]}")
            else:
                stored += ROWS
        await asyncio.sleep(0.01)
    return stored


async def _scrape(client: httpx.AsyncClient, done: asyncio.Event, failures: list[str]) -> int:
    scrapes = 0
    while not done.is_set():
        reply = await client.get("/metrics")
        if reply.status_code != 200 or "mlpower_" not in reply.text:
            failures.append(f"/metrics: {reply.status_code} {reply.text[:300]}")
        scrapes += 1
    return scrapes


async def _follow_live(client: httpx.AsyncClient, done: asyncio.Event, failures: list[str]) -> int:
    events = 0
    async with client.stream("GET", "/v1/live") as reply:
        if reply.status_code != 200:
            failures.append(f"/v1/live: {reply.status_code}")
            return 0
        async for line in reply.aiter_lines():
            events += line.startswith("event: ")
            if done.is_set():
                break
    return events


def test_metrics_and_live_feed_while_16_agents_post(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    director, url = start_director(runs, "sim://?rate=0.1&signal=constant:200", settle_s=0)
    try:
        token = (runs / "director.token").read_text().strip()

        async def run() -> tuple[list[int], int, int, list[str]]:
            headers = {"Authorization": f"Bearer {token}"}
            async with carry_session_secret(httpx.AsyncClient(base_url=url, headers=headers, timeout=30)) as client:
                opened = await client.post(
                    "/v1/sessions", json={"agent": {"label": "load", "host": "sut"}, "client_uuid": str(uuid.uuid4())}
                )
                assert opened.status_code == 201, opened.text
                session_id = opened.json()["session_id"]
                start = await client.post(
                    f"/v1/sessions/{session_id}/phases/ranging/start", json={"agent_utc_ns": time.time_ns()}
                )
                assert start.status_code == 200, start.text
                failures: list[str] = []
                done = asyncio.Event()
                watchers = [
                    asyncio.create_task(_scrape(client, done, failures)),
                    asyncio.create_task(_follow_live(client, done, failures)),
                ]
                path = f"/v1/sessions/{session_id}/samples"
                stored = await asyncio.gather(*(_agent(client, path, i, failures) for i in range(AGENTS)))
                done.set()
                scrapes, events = await asyncio.wait_for(asyncio.gather(*watchers), timeout=30)
                return list(stored), scrapes, events, failures

        stored, scrapes, events, failures = asyncio.run(run())
    finally:
        stop_process(director)
    assert not failures, failures[:5]
    assert sum(stored) == AGENTS * GPUS * BATCHES * ROWS  # nothing refused, nothing stored twice
    assert scrapes >= 3 and events >= 1
