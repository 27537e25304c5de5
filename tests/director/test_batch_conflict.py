"""A SUT batch re-sent with its (source, seq): the same bytes are a duplicate, other readings are refused (409)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.http_sessions import agent_http_client, open_http_session
from tests.support.processes import start_director, stop


def test_a_resent_batch_with_other_readings_is_refused_and_the_stored_one_kept(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    director, url = start_director(runs, "sim://?rate=0.1&signal=constant:100")
    try:
        with agent_http_client(url, runs) as client:
            session = open_http_session(client, "sut")
            samples = f"{session}/samples"
            batch = {
                "source": "gpu0",
                "seq": 3,
                "simulated": True,
                "columns": {"t_utc_ns": [1, 2], "power_w": [300.5, 301.0]},
            }
            assert client.post(samples, json=batch).json()["status"] == "stored"
            # the agent's retry after a lost reply: the same batch, a duplicate
            again = client.post(samples, json=batch)
            assert again.status_code == 200 and again.json()["status"] == "duplicate"
            # the same (source, seq) with one reading changed: refused, saying which batch
            other = {**batch, "columns": {"t_utc_ns": [1, 2], "power_w": [300.5, 999.0]}}
            refused = client.post(samples, json=other)
            assert refused.status_code == 409, refused.text
            assert refused.json()["code"] == "batch_conflict"
            assert (
                "batch 3 of source 'gpu0'" in refused.json()["detail"] and "other readings" in refused.json()["detail"]
            )
            # in a request of several batches too
            many = client.post(samples.replace("/samples", "/sample-batches"), json={"batches": [other]})
            assert many.status_code == 409 and many.json()["code"] == "batch_conflict"
            # another seq of the source is stored as before
            assert client.post(samples, json={**other, "seq": 4}).json()["status"] == "stored"
            status = client.get(samples.removesuffix("/samples")).json()
            folder = Path(status["run_folder"])
        lines = [json.loads(line) for line in (folder / "samples" / "gpu0.jsonl").read_text().splitlines()]
        assert [(line["seq"], line["columns"]["power_w"]) for line in lines] == [
            (3, [300.5, 301.0]),
            (4, [300.5, 999.0]),
        ]
        assert status["state"] == "open"  # a refused batch changes nothing else
    finally:
        stop(director)
