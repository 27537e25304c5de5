"""The SUT journals a session writes (``samples/<source>.jsonl``): every batch on disk before it is acknowledged, one
journal open per source while the session lives and none after, a line the disk takes only part of cut off again,
and the batch counts session.json shows (received, sequence numbers never received)."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import resource
from collections import Counter
from pathlib import Path

import pytest

from director.errors import StorageError
from director.session import run_writer
from director.session.run_writer import RunWriter
from director.session.sut_ingest import SutIngest
from powerlog.sut_samples import read_journal
from powerlog.wire import SampleBatch

LOG = logging.getLogger("test_sut_journals")


def _batch(source: str, seq: int) -> SampleBatch:
    columns: dict[str, list[int | float]] = {"t_utc_ns": [1_000, 1_010], "power_w": [100.0 + seq, 101.0 + seq]}
    return SampleBatch(source=source, seq=seq, simulated=True, columns=columns)


def _open_fds() -> Counter[str]:
    """What this process has open, and how often (the listing's own descriptor is gone by the time it is read)."""
    paths: Counter[str] = Counter()
    for fd in os.listdir("/proc/self/fd"):
        try:
            paths[os.readlink(f"/proc/self/fd/{fd}")] += 1
        except FileNotFoundError:
            continue
    return paths


def _created(folder: Path) -> tuple[RunWriter, SutIngest]:
    """A run folder's writer, made as a session makes it, and the SUT ingest writing through it."""
    writer = RunWriter(folder, LOG, None, 0)
    writer.create()
    return writer, SutIngest(writer, LOG)


def _journal(folder: Path, source: str) -> Path:
    return folder / "samples" / f"{source}.jsonl"


def test_each_batch_is_on_disk_at_once_and_no_journal_stays_open_after_the_end(tmp_path: Path) -> None:
    writer, ingest = _created(tmp_path)
    for seq in range(3):
        for source in ("gpu0", "gpu1"):
            assert ingest.add(_batch(source, seq), 0)
            columns, bad = read_journal(_journal(tmp_path, source))  # readable now: nothing waits in a buffer
            assert not bad and columns["power_w"][-2:].tolist() == [100.0 + seq, 101.0 + seq]
    journals = {str(_journal(tmp_path, source)) for source in ("gpu0", "gpu1")}
    assert journals <= set(_open_fds())  # one open journal per source, not one open per batch
    writer.finish()
    assert not journals & set(_open_fds())
    assert sorted(p.name for p in (tmp_path / "samples").iterdir()) == [
        "gpu0.jsonl", "gpu0.parquet", "gpu1.jsonl", "gpu1.parquet"]  # fmt: skip


def test_a_closed_ingest_leaves_nothing_open_and_a_later_batch_opens_its_journal_again(tmp_path: Path) -> None:
    ingest = SutIngest(RunWriter(tmp_path, LOG, None, 0), LOG)
    ingest.add(_batch("gpu0", 0), 0)
    ingest.close()
    assert str(_journal(tmp_path, "gpu0")) not in _open_fds()
    ingest.add(_batch("gpu0", 1), 0)
    columns, _ = read_journal(_journal(tmp_path, "gpu0"))
    assert columns["power_w"].tolist() == [100.0, 101.0, 101.0, 102.0]
    ingest.close()


def test_a_line_the_full_disk_takes_only_part_of_is_cut_off_and_the_journal_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer, ingest = _created(tmp_path)
    ingest.add(_batch("gpu0", 0), 0)
    whole = _journal(tmp_path, "gpu0").read_bytes()
    real_write = os.write
    calls = []

    def full_disk(fd: int, data: bytes) -> int:  # the disk's edge: half the line, then no space
        calls.append(len(data))
        if len(calls) == 1:
            return real_write(fd, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(run_writer.os, "write", full_disk)
    with pytest.raises(StorageError, match=r"cannot write samples/gpu0.jsonl: No space left on device"):
        ingest.add(_batch("gpu0", 1), 0)
    assert _journal(tmp_path, "gpu0").read_bytes() == whole  # the half line is gone: the journal ends whole
    monkeypatch.setattr(run_writer.os, "write", real_write)
    assert ingest.add(_batch("gpu0", 1), 0)  # space again: the same batch is stored (it was never acknowledged)
    columns, bad = read_journal(_journal(tmp_path, "gpu0"))
    assert not bad and columns["power_w"].tolist() == [100.0, 101.0, 101.0, 102.0]
    writer.finish()


def test_the_batch_counts_name_every_sequence_number_never_received(tmp_path: Path) -> None:
    ingest = SutIngest(RunWriter(tmp_path, LOG, None, 0), LOG)
    for seq in (0, 1, 2, 5, 3):
        ingest.add(_batch("gpu0", seq), 0)
    for seq in range(4):
        ingest.add(_batch("gpu1", seq), 0)
    assert not ingest.add(_batch("gpu0", 2), 0)  # a re-send: counted once
    record = ingest.batches_record()
    assert list(record) == ["gpu0", "gpu1"]
    assert (record["gpu0"].received, record["gpu0"].missing_seqs) == (5, [4])
    assert (record["gpu1"].received, record["gpu1"].missing_seqs) == (4, [])
    ingest.add(_batch("gpu1", 7), 0)
    assert ingest.batches_record()["gpu1"].missing_seqs == [4, 5, 6]
    ingest.close()


def test_journals_opened_ahead_off_the_event_loop_are_the_ones_written_and_none_twice(tmp_path: Path) -> None:
    writer, ingest = _created(tmp_path)
    batches = [_batch(f"gpu{i}.power", 0) for i in range(8)]
    asyncio.run(ingest.open_journals(batches))  # what a POST's first batches do before they are added
    journals = [str(_journal(tmp_path, f"gpu{i}.power")) for i in range(8)]
    assert all(_open_fds()[journal] == 1 for journal in journals)
    asyncio.run(ingest.open_journals(batches))  # open already: nothing more
    for batch in batches:
        assert ingest.add(batch, 0)
    assert all(_open_fds()[journal] == 1 for journal in journals)
    assert _journal(tmp_path, "gpu7.power").read_bytes().count(b"\n") == 1
    writer.finish()
    asyncio.run(ingest.open_journals([_batch("gpu8.power", 0)]))  # after the end: opened and closed again
    assert str(_journal(tmp_path, "gpu8.power")) not in _open_fds()


def test_a_journal_that_cannot_be_created_is_a_storage_error_and_leaves_nothing_open(tmp_path: Path) -> None:
    ingest = SutIngest(RunWriter(tmp_path, LOG, None, 0), LOG)
    (tmp_path / "samples" / "gpu1.power.jsonl").mkdir(parents=True)  # a folder where the journal should be
    before = _open_fds()
    with pytest.raises(StorageError, match=r"cannot write samples/gpu1.power.jsonl: Is a directory"):
        asyncio.run(ingest.open_journals([_batch("gpu0.power", 0), _batch("gpu1.power", 0)]))
    assert _open_fds() == before  # gpu0's, opened first, is closed again


def test_past_its_share_of_the_descriptor_limit_a_journal_is_opened_for_each_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(run_writer.HELD_JOURNALS, "limit", run_writer.HELD_JOURNALS.held + 1)  # room for one
    writer, ingest = _created(tmp_path)
    for seq in range(3):
        for source in ("gpu0.power", "gpu1.power"):
            assert ingest.add(_batch(source, seq), 0)
    open_now = _open_fds()
    assert (
        open_now[str(_journal(tmp_path, "gpu0.power"))] == 1 and str(_journal(tmp_path, "gpu1.power")) not in open_now
    )
    for source in ("gpu0.power", "gpu1.power"):  # written alike, whether held open or not
        columns, bad = read_journal(_journal(tmp_path, source))
        assert not bad and columns["power_w"].tolist() == [100.0, 101.0, 101.0, 102.0, 102.0, 103.0]
    held = run_writer.HELD_JOURNALS.held
    writer.finish()
    assert run_writer.HELD_JOURNALS.held == held - 1  # given back at the end


def test_serve_raises_the_soft_open_file_limit_to_the_hard_one() -> None:
    from director.serve import _raise_open_file_limit

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, 256), hard))
        _raise_open_file_limit()
        raised, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        assert raised == (hard if hard != resource.RLIM_INFINITY else max(min(soft, 256), 1 << 16))
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
