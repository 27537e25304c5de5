"""A full disk mid-phase fails loudly: the batch that could not be stored gets 507, the phase stops (the meter
with it), the session ends failed with the cause, and session.json says so as soon as the disk takes it.

Real processes: ``serve`` with its runs folder on a small tmpfs (mounted as root), ptd-sim as the meter.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.http_sessions import agent_http_client, open_http_session
from tests.support.processes import start_director, stop, wait_for

LONG_LEASE = ("--lease-s", "600")  # the session is driven by hand, with pauses between calls


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MB tmpfs, unmounted after the test; skipped where it cannot be mounted."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def _fill(disk: Path) -> Path:
    """Take every free byte of ``disk`` with a filler file."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as f:
        with contextlib.suppress(OSError):
            os.posix_fallocate(f.fileno(), 0, os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize)
        f.seek(0, os.SEEK_END)
        with contextlib.suppress(OSError):
            while True:
                f.write(b"\0" * 4096)
    return filler


def _batch(seq: int, rows: int) -> dict:
    t0 = time.time_ns()
    return {
        "source": "gpu0",
        "seq": seq,
        "simulated": True,
        "columns": {
            "t_utc_ns": [t0 + i * 10_000_000 for i in range(rows)],
            "power_w": [250.0 + i % 7 for i in range(rows)],
        },
    }


def test_disk_full_mid_ranging_answers_507_stops_the_meter_and_records_the_cause(
    ptd_sim, small_disk: Path, tmp_path: Path
) -> None:
    sim = ptd_sim("--signal", "constant:150")
    runs = small_disk / "runs"
    director, url = start_director(runs, sim.url, settle_s=0, extra=LONG_LEASE)
    try:
        with agent_http_client(url, runs) as client:
            session = open_http_session(client, "full")
            folder = Path(client.get(session).json()["run_folder"])
            # the wall samples go to a roomy disk (a phase needs 100 MB free to start): the tmpfs takes the run's
            # records and the SUT journals, and it is these that fill up
            (folder / "ranging").rmdir()
            (tmp_path / "ranging").mkdir()
            (folder / "ranging").symlink_to(tmp_path / "ranging")
            start = client.post(f"{session}/phases/ranging/start", json={"agent_utc_ns": time.time_ns()})
            assert start.status_code == 200, start.text
            for seq in range(5):
                assert client.post(f"{session}/samples", json=_batch(seq, 100)).json()["status"] == "stored"
            journal = folder / "samples" / "gpu0.jsonl"
            stored = journal.read_bytes()
            wait_for(lambda: (tmp_path / "ranging" / "spl.txt").read_bytes().count(b"\n") >= 2, 60, "wall samples")

            filler = _fill(small_disk)
            refused = client.post(f"{session}/samples", json=_batch(5, 20_000))
            assert refused.status_code == 507, refused.text
            assert refused.json()["code"] == "storage_full"
            cause = "cannot write samples/gpu0.jsonl: No space left on device; the ranging phase was stopped"
            assert cause in refused.json()["detail"]
            wait_for(lambda: client.get(session).json()["state"] == "failed", 60, "the session to fail")
            status = client.get(session).json()
            assert status["error"].startswith(cause) and status["error"].endswith("samples written are kept")
            # the meter was stopped, and nothing more is recorded
            log = sim.log_path.read_text()
            assert log.rfind("Stop command received") > log.rfind("Go with mark"), log[-2000:]
            # the journal holds the batches stored before, whole: the refused one left no part of a line
            assert journal.read_bytes() == stored and stored.endswith(b"\n")
            assert [json.loads(line)["seq"] for line in stored.splitlines()] == [0, 1, 2, 3, 4]
            # the disk is full: session.json could not take the end yet; once there is room, it does
            assert json.loads((folder / "session.json").read_text())["state"] == "ranging"
            filler.unlink()

            def recorded() -> bool:
                record = json.loads((folder / "session.json").read_text())
                return record["state"] == "failed" and record["error"] == status["error"]

            wait_for(recorded, 60, "session.json to record the failure")
            assert (folder / "samples" / "gpu0.parquet").is_file()  # the records of the end were written too
            # and the agent's next call is told the session has ended
            again = client.post(f"{session}/samples", json=_batch(6, 10))
            assert again.status_code == 409
    finally:
        stop(director)
