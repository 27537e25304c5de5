"""After a crash: a run folder whose session.json says the session was still going is marked interrupted, and
every SUT journal in it, the LoadGen node's and each node agent's, becomes Parquet as a clean close would make
it; nothing written before is changed."""

from __future__ import annotations

import json
from pathlib import Path

from director.recovery import recover_interrupted
from powerlog.run_record import SessionJson, read_session_json, write_session_json
from powerlog.sut_samples import read_parquet


def _journal(path: Path, *batches: tuple[int, list[int], list[float]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({"seq": seq, "columns": {"t_utc_ns": t, "power_w": w}}) for seq, t, w in batches]
    path.write_text("\n".join(lines) + "\n")


def test_an_interrupted_session_gets_every_node_journal_as_parquet(tmp_path: Path) -> None:
    folder = tmp_path / "runs" / "2026-12-07_10-00-00_abc123"
    folder.mkdir(parents=True)
    write_session_json(folder / "session.json", SessionJson(session_id=folder.name, state="testing"))
    _journal(folder / "samples" / "gpu0.power.jsonl", (0, [1, 2], [10.0, 11.0]))
    _journal(folder / "nodes" / "node1" / "samples" / "gpu0.power.jsonl", (1, [5, 6], [30.0, 31.0]), (0, [3], [29.0]))
    _journal(folder / "nodes" / "node2" / "samples" / "gpu1.power.jsonl", (0, [7], [40.0]))
    (found,) = recover_interrupted(tmp_path / "runs")
    assert found.session_id == folder.name and found.state == "testing"
    record = read_session_json(folder / "session.json")
    assert record.state == "failed" and record.interrupted is not None and record.interrupted.state == "testing"
    node1 = read_parquet(folder / "nodes" / "node1" / "samples" / "gpu0.power.parquet")
    assert node1["t_utc_ns"].tolist() == [3, 5, 6] and node1["power_w"].tolist() == [29.0, 30.0, 31.0]  # seq order
    assert read_parquet(folder / "nodes" / "node2" / "samples" / "gpu1.power.parquet")["power_w"].tolist() == [40.0]
    assert read_parquet(folder / "samples" / "gpu0.power.parquet")["power_w"].tolist() == [10.0, 11.0]
    assert (folder / "nodes" / "node1" / "samples" / "gpu0.power.jsonl").is_file()  # the journal is kept
